"""python -m converter.device_profile: the model's cost on a Cortex-M4, per op.

  make firmware MODEL_DIR=out/digits     # build/firmware/freeml_fw.elf
  python -m converter.device_profile --model-dir out/digits

Runs the firmware built for the folder under QEMU (STM32F405, `-icount
shift=0`) on one seeded random input, checks that its output is the host
runtime's, runs it again through 20 power failures (--failures) and checks
the output is unchanged, and adds a "device" section to report.json and
report.md: instructions, MACs and instructions per MAC of each op, the boot,
the flash, SRAM, NVM and stack the firmware uses, and the failure run. `make profile MODEL_DIR=DIR`
does both steps.

Errors (no such folder, an ELF built for another model, a firmware failure)
print one line starting 'device_profile: error:' and exit with status 2.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
from absl import app, flags

from converter import report
from converter.atomic_io import write_all
from tflm_freeml import firmware

FLAGS = flags.FLAGS
flags.DEFINE_string("model-dir", None, "Converter output folder (required): model.tflite, "
                    "report.json and report.md; the firmware must carry its model_data.c.")
flags.DEFINE_string("elf", str(firmware.REPO / "build" / "firmware" / "freeml_fw.elf"),
                    "Firmware to run (`make firmware MODEL_DIR=...` writes it).")
flags.DEFINE_integer("seed", 0, "Seed of the random input the profile runs on.")
flags.DEFINE_integer("failures", 20, "Then run the same input through this many power "
                     "failures (0: skip) and check the output is unchanged.")


class ProfileError(RuntimeError):
  """Something the user must fix: the message says what."""


def _section_bytes(elf: Path) -> Dict[str, int]:
  """Section sizes of the ELF (arm-none-eabi-size -A)."""
  done = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True,
                        check=True)
  sizes = {}
  for line in done.stdout.splitlines():
    parts = line.split()
    if len(parts) == 3 and parts[1].isdigit():
      sizes[parts[0]] = int(parts[1])
  return sizes


def _random_input(model: bytes, seed: int) -> Tuple[bytes, bytes]:
  """A seeded random input, and the host runtime's output for it."""
  from tflm_freeml.runtime import Runtime
  runtime = Runtime(model)
  rng = np.random.default_rng(seed)
  parts = []
  for details in runtime.inputs:
    info = np.iinfo(details.dtype)
    parts.append(rng.integers(info.min, info.max + 1, size=details.shape).astype(details.dtype))
  host = runtime.invoke(parts)
  return b"".join(p.tobytes() for p in parts), b"".join(np.asarray(o).tobytes() for o in host)


def _through_failures(elf: Path, input_bytes: bytes, expected: bytes, run_instructions: int,
                     failures: int, seed: int) -> Dict[str, Any]:
  """One run through `failures` power failures spread over the inference."""
  # Intervals uniform in [1, 4/3 of a failures-th of the inference] add up to
  # two thirds of it on average: every failure lands before the end.
  max_interval = max(1, 4 * run_instructions // (3 * failures))
  result = firmware.run(elf, input_bytes, failures=failures, seed=seed + 1,
                        max_interval=max_interval)
  if result.returncode != firmware.EXIT_OK or result.output != expected:
    raise ProfileError(f"the firmware's output changed through {failures} power failures "
                       f"(exit {result.returncode})")
  return {"failures": result.failures, "boots": len(result.boots),
          "max_interval_instructions": max_interval,
          "total_instructions": result.done["total_instructions"]}


def profile(model_dir: Path, elf: Path, layer_macs: List[int], seed: int = 0,
            failures: int = 0) -> Dict[str, Any]:
  """Runs the firmware once and returns the report's "device" section.

  layer_macs: the report's MACs per op (CONV_2D, DEPTHWISE_CONV_2D and
  FULLY_CONNECTED; 0 for the rest), the MACs instructions are set against.
  failures: if > 0, a second run through that many power failures must give
  the same output; its counts go into the section's "power_failures".
  """
  model = (model_dir / "model.tflite").read_bytes()
  if not elf.exists():
    raise ProfileError(f"{elf} is missing: run `make firmware MODEL_DIR={model_dir}`")
  input_bytes, host_output = _random_input(model, seed)
  result = firmware.run(elf, input_bytes)
  if result.boots and result.boots[0].get("model_crc32") != zlib.crc32(model):
    raise ProfileError(f"{elf} carries another model than {model_dir}: run "
                       f"`make firmware MODEL_DIR={model_dir}`")
  if result.returncode != firmware.EXIT_OK or not result.done:
    last = result.log.strip().splitlines()[-1:] or ["no output"]
    raise ProfileError(f"the firmware failed (exit {result.returncode}): {last[0]}")
  boot = result.boots[0]
  if result.output != host_output:
    raise ProfileError("the firmware's output differs from the host runtime's")
  sections = _section_bytes(elf)
  done = result.done
  model_check = done.get("model_check_instructions", 0)
  run_instructions = done["instructions"] - done["boot_instructions"] - model_check
  device = {
      "board": firmware.BOARD,
      "elf": str(elf.relative_to(firmware.REPO)) if elf.is_relative_to(firmware.REPO)
             else str(elf),
      "kernels": boot["kernels"],
      "mode": boot["mode"],
      "flash_bytes": sum(sections.get(s, 0) for s in (".vectors", ".text", ".ARM.exidx",
                                                        ".data")),
      "model_bytes": len(model),
      "sram_static_bytes": sum(sections.get(s, 0) for s in (".data", ".bss", ".stack")),
      "arena_bytes": done["sram_bytes"],
      "stack_reserved_bytes": sections.get(".stack", 0),
      "stack_used_bytes": done["stack_bytes"],
      "nvm_bytes": sections.get(".nvm", 0),
      "boot_instructions": done["boot_instructions"],
      "model_check_instructions": model_check,
      "run_instructions": run_instructions,
      "macs": sum(layer_macs),
      "ops": [{"index": op.index, "instructions": op.instructions,
               "macs": layer_macs[op.index], "tiles": op.tiles} for op in result.ops],
  }
  if boot["mode"] == "intermittent":
    # The boot above prepared the tables on blank NVM; a boot after a power
    # failure restores them from their NVM snapshot: what later boots cost.
    resumed = firmware.run(elf, input_bytes, failures=1, seed=seed)
    if resumed.returncode != firmware.EXIT_OK or resumed.output != host_output:
      raise ProfileError("the firmware's output after a power failure differs")
    device["resume_boot_instructions"] = resumed.done["boot_instructions"]
  if failures > 0 and boot["mode"] == "intermittent":
    device["power_failures"] = _through_failures(elf, input_bytes, host_output,
                                                 run_instructions, failures, seed)
  return device


def _fail(message: str) -> None:
  print(f"device_profile: error: {message}", file=sys.stderr)
  sys.exit(2)


def main(argv: List[str]) -> None:
  del argv
  if not FLAGS["model-dir"].value:
    _fail("--model-dir is required")
  model_dir = Path(FLAGS["model-dir"].value)
  try:
    result = json.loads((model_dir / "report.json").read_text())
    device = profile(model_dir, Path(FLAGS.elf), [layer["macs"] for layer in result["layers"]],
                     FLAGS.seed, FLAGS.failures)
  except (OSError, ValueError, ProfileError, firmware.FirmwareError) as e:
    _fail(str(e))
  result["device"] = device
  write_all(model_dir, {"report.json": report.to_json(result),
                        "report.md": report.to_markdown(result)})
  print(f"device_profile: {device['board']}, {device['kernels']} kernels: boot "
        f"{device['boot_instructions']:,} instructions, inference "
        f"{device['run_instructions']:,} instructions for {device['macs']:,} MACs; "
        f"flash {device['flash_bytes']:,} B, SRAM {device['sram_static_bytes']:,} B, "
        f"NVM {device['nvm_bytes']:,} B; added to {model_dir}/report.md")
  if "power_failures" in device:
    pf = device["power_failures"]
    print(f"device_profile: through {pf['failures']} power failures ({pf['boots']} boots, "
          f"{pf['total_instructions']:,} instructions in all): output unchanged")


if __name__ == "__main__":
  app.run(main)
