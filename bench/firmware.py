"""The firmware on the Cortex-M4 under QEMU: instruction counts that do not
drift (QEMU -icount shift=0, SysTick; see docs/firmware.md).

  .venv/bin/python bench/firmware.py [--models digits,kws,ic] [--failures 20]

For each model it builds four ELFs (plain and intermittent mode, DSP and
portable kernels) and prints:
  - whole-inference instructions of each, and intermittent mode's overhead
    over plain mode with the same kernels (no power failure);
  - per dense CONV_2D and FULLY_CONNECTED op: instructions per MAC with the
    portable and the DSP kernels, side by side;
  - one run with --failures power failures: boots, and the instructions
    spent against an uninterrupted run.
The models are converted into out/bench/ first (the default model is
out/digits, from `make demo`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Dict, List

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench.common import REPO, model_paths, print_table, random_input  # noqa: E402
from tflm_freeml import firmware  # noqa: E402
from tflm_freeml.runtime import Runtime  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("models", ["digits", "kws", "ic"], "Models to measure.")
flags.DEFINE_integer("failures", 20, "Power failures of the failure run.")
flags.DEFINE_integer("seed", 0, "Seed of the random input and of the failure schedule.")

VARIANTS = {  # name: (plain, portable_kernels)
    "plain, portable": (True, True),
    "plain, dsp": (True, False),
    "intermittent, portable": (False, True),
    "intermittent, dsp": (False, False),
}
DENSE_OPS = ("CONV_2D", "FULLY_CONNECTED")


def converted(name: str, tflite: Path) -> Path:
  """The converter's output folder for the model (converted if missing)."""
  if name == "digits":
    return tflite.parent
  out = REPO / "out" / "bench" / name
  if not (out / "model_data.h").exists() or (out / "model.tflite").read_bytes() != \
      tflite.read_bytes():
    print(f"converting {tflite.name} into {out}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "converter", "--in", str(tflite), "--out", str(out)],
                   cwd=REPO, check=True, capture_output=True)
  return out


def op_names(model: bytes) -> List[str]:
  from converter.tflite_graph import check_int8
  return [layer.op for layer in check_int8(model).layers]


def measure(name: str, model_dir: Path) -> Dict[str, object]:
  model = (model_dir / "model.tflite").read_bytes()
  details = Runtime(model).inputs[0]
  x = random_input(details.shape, details.dtype, np.random.default_rng(FLAGS.seed)).tobytes()
  runs = {}
  for variant, (plain, portable) in VARIANTS.items():
    elf = REPO / "build" / "firmware" / "bench" / f"{name}_{variant.replace(', ', '_')}.elf"
    print(f"{name}: building and running {variant}", file=sys.stderr)
    firmware.build(model_dir, elf, plain=plain, portable_kernels=portable)
    runs[variant] = firmware.run(elf, x)
    assert runs[variant].returncode == 0, runs[variant].log
  outputs = {run.output for run in runs.values()}
  assert len(outputs) == 1, f"{name}: the variants disagree"
  return {"runs": runs, "input": x, "ops": op_names(model)}


def inference(run: firmware.FirmwareRun) -> int:
  """This boot's instructions after the boot, leaving out the model image's
  check (intermittent mode checks it once per run, after the boot)."""
  return (run.done["instructions"] - run.done["boot_instructions"]
          - run.done.get("model_check_instructions", 0))


def main(argv: List[str]) -> None:
  del argv
  measured = {name: measure(name, converted(name, path))
              for name, path in model_paths(FLAGS.models).items()}

  print("\n## Instructions per inference on the Cortex-M4 (QEMU, no failure)\n")
  rows = []
  for name, m in measured.items():
    runs = m["runs"]
    row = {"model": name, "MACs": f"{runs['plain, dsp'].done['macs']:,}"}
    for variant, run in runs.items():
      row[variant] = f"{inference(run):,}"
    for kernels in ("portable", "dsp"):
      plain, inter = inference(runs[f"plain, {kernels}"]), inference(
          runs[f"intermittent, {kernels}"])
      row[f"intermittent overhead ({kernels})"] = f"{100 * (inter - plain) / plain:+.2f}%"
    row["boot (intermittent, dsp)"] = f"{runs['intermittent, dsp'].done['boot_instructions']:,}"
    rows.append(row)
  print_table(rows)

  print("\n## Dense ops: instructions per MAC, portable against DSP kernels (plain mode)\n")
  rows = []
  for name, m in measured.items():
    portable = {op.index: op for op in m["runs"]["plain, portable"].ops}
    dsp = {op.index: op for op in m["runs"]["plain, dsp"].ops}
    for index, op_name in enumerate(m["ops"]):
      if op_name not in DENSE_OPS or portable[index].macs == 0:
        continue
      macs = portable[index].macs
      rows.append({"model": name, "op": f"{index} {op_name}", "MACs": f"{macs:,}",
                   "portable": f"{portable[index].instructions:,}",
                   "dsp": f"{dsp[index].instructions:,}",
                   "portable / MAC": f"{portable[index].instructions / macs:.2f}",
                   "dsp / MAC": f"{dsp[index].instructions / macs:.2f}",
                   "speedup": f"{portable[index].instructions / dsp[index].instructions:.2f}x"})
  print_table(rows)

  print(f"\n## {FLAGS.failures} power failures per inference (intermittent, dsp)\n")
  rows = []
  for name, m in measured.items():
    continuous = m["runs"]["intermittent, dsp"]
    elf = REPO / "build" / "firmware" / "bench" / f"{name}_intermittent_dsp.elf"
    max_interval = 2 * inference(continuous) // (FLAGS.failures + 1)
    result = firmware.run(elf, m["input"], failures=FLAGS.failures, seed=FLAGS.seed + 1,
                          max_interval=max_interval, timeout=600)
    assert result.returncode == 0 and result.output == continuous.output, result.log
    total, alone = result.done["total_instructions"], continuous.done["instructions"]
    rows.append({"model": name, "failures": result.failures, "boots": len(result.boots),
                 "max interval": f"{max_interval:,}", "instructions": f"{total:,}",
                 "uninterrupted": f"{alone:,}",
                 "extra per failure": f"{(total - alone) // max(result.failures, 1):,}",
                 "output": "identical"})
  print_table(rows)


if __name__ == "__main__":
  app.run(main)
