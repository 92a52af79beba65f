"""Benchmark: what intermittent execution costs and whether it holds.

For each model:
  - instructions of one inference, plain against intermittent with no
    failure (valgrind callgrind, counting only inside freeml_runtime_invoke
    and freeml_intermittent_run: exact and repeatable), for several tile
    budgets, and the instructions of one boot's runtime init;
  - wall time of both modes in process (median, interleaved; noisy), with
    the runtime init that every boot repeats given apart;
  - SRAM and NVM bytes, NVM writes and bytes written per inference;
  - MACs re-executed per failure, exactly, at sampled failure points;
  - a soak: random failure schedules (many failures per inference, at random
    NVM writes of every boot), counting wrong answers against TFLM.

  .venv/bin/python bench/intermittent.py [--models digits,kws,ic]
      [--soak_failures 300000] [--runs 30] [--tile_macs 1024,16384,65536]
"""

from __future__ import annotations

import itertools
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench.common import MODELS, REPO, model_paths, print_table, random_input  # noqa: E402
from converter import tflm_oracle  # noqa: E402
from tflm_freeml.intermittent import IntermittentRuntime  # noqa: E402
from tflm_freeml.runtime import Runtime  # noqa: E402

FREEML_RUN = REPO / "build" / "bin" / "freeml_run"
DEFAULT_TILE_MACS = 16384

FLAGS = flags.FLAGS
flags.DEFINE_list("models", list(MODELS), "Models to measure: " + ", ".join(MODELS))
flags.DEFINE_integer("soak_failures", 300_000, "Power failures in the soak, over all models.")
flags.DEFINE_integer("runs", 30, "Timed inferences per mode and model.")
flags.DEFINE_list("tile_macs", ["1024", str(DEFAULT_TILE_MACS), "65536"],
                  "Tile MAC budgets whose instruction overhead is measured.")
flags.DEFINE_integer("seed", 0, "Seed of inputs and failure schedules.")


def callgrind_instructions(function: str, args: List[str]) -> int:
  """Instructions executed inside `function` (and what it calls)."""
  result = subprocess.run(
      ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
       f"--toggle-collect={function}", str(FREEML_RUN), *args],
      capture_output=True, text=True, check=True)
  match = re.search(r"Collected : (\d+)", result.stderr)
  if match is None:
    raise RuntimeError(f"no callgrind total in: {result.stderr[-400:]}")
  return int(match.group(1))


def instruction_rows(name: str, path: Path, x: np.ndarray, folder: Path) -> List[Dict]:
  input_path = folder / "in.bin"
  input_path.write_bytes(x.tobytes())
  io = [str(path), "--input", str(input_path), "--output", str(folder / "out.bin")]
  plain = callgrind_instructions("freeml_runtime_invoke", io)
  rows = []
  for budget in (int(b) for b in FLAGS.tile_macs):
    nvm = folder / f"{budget}.nvm"
    nvm.unlink(missing_ok=True)
    args = [*io, "--nvm", str(nvm), "--max-tile-macs", str(budget)]
    ours = callgrind_instructions("freeml_intermittent_run", args)
    init = callgrind_instructions("freeml_intermittent_init", args)
    rt = IntermittentRuntime(path.read_bytes(), max_tile_macs=budget)
    rows.append({
        "model": name, "tile MACs": budget, "tiles": rt.total_tiles,
        "plain instr": plain, "intermittent instr": ours,
        "overhead": f"{100 * (ours / plain - 1):+.2f}%", "boot init instr": init,
    })
  return rows


def time_ratio(rt: IntermittentRuntime, plain: Runtime, inputs: List[np.ndarray]) -> Dict:
  """Median times of a plain invoke and of an intermittent boot that runs
  the whole inference; the boot also builds the runtime (init), which a
  device does at every power-on, so its init time (a boot that finds the run
  done) is given apart and left out of the ratio."""
  plain_s, boot_s, init_s = [], [], []
  for x in inputs[:2]:  # warm-up
    plain.invoke([x])
    rt.boot(rt.new_nvm(), [x])
  for x in inputs:
    nvm = rt.new_nvm()
    start = time.perf_counter()
    plain.invoke([x])
    plain_s.append(time.perf_counter() - start)
    start = time.perf_counter()
    rt.boot(nvm, [x])
    boot_s.append(time.perf_counter() - start)
    start = time.perf_counter()
    rt.boot(nvm, [x])
    init_s.append(time.perf_counter() - start)
  plain_ms, boot_ms, init_ms = (statistics.median(s) * 1e3 for s in (plain_s, boot_s, init_s))
  return {"plain ms": f"{plain_ms:.3f}", "intermittent ms": f"{boot_ms - init_ms:.3f}",
          "boot init ms": f"{init_ms:.3f}", "time ratio": f"{(boot_ms - init_ms) / plain_ms:.3f}"}


def re_executed_per_failure(rt: IntermittentRuntime, x: np.ndarray, writes: int,
                            samples: int) -> List[int]:
  """Exact MACs re-executed by one failure, at evenly spread write indexes."""
  points = np.unique(np.linspace(1, writes, min(samples, writes)).astype(int))
  return [sum(b.macs for b in rt.run_through_failures([x], iter([int(write)])))
          - rt.total_macs for write in points]


def soak(name: str, rt: IntermittentRuntime, inputs: List[np.ndarray],
         expected: List[np.ndarray], failures_wanted: int, rng: np.random.Generator) -> Dict:
  failures = inferences = wrong = 0
  macs = 0
  report_every = max(1, failures_wanted // 10)
  next_report = report_every
  start = time.perf_counter()
  while failures < failures_wanted:
    k = int(rng.integers(len(inputs)))
    gap = int(rng.choice([3, 10, 30, 100]))
    boots = rt.run_through_failures(
        [inputs[k]], (int(rng.integers(1, 2 * gap + 1)) for _ in itertools.count()))
    failures += len(boots) - 1
    macs += sum(b.macs for b in boots)
    inferences += 1
    wrong += int(not np.array_equal(boots[-1].outputs[0], expected[k]))
    if failures >= next_report:
      print(f"  soak {name}: {failures:,} failures, {inferences:,} inferences, {wrong} wrong "
            f"({time.perf_counter() - start:.0f} s)", file=sys.stderr)
      next_report += report_every
  return {"model": name, "failures": failures, "inferences": inferences,
          "failures per inference": f"{failures / inferences:.0f}",
          "re-executed MACs per failure": f"{(macs - inferences * rt.total_macs) / failures:.0f}",
          "wrong answers": wrong, "seconds": f"{time.perf_counter() - start:.0f}"}


def main(argv: List[str]) -> None:
  del argv
  if not FREEML_RUN.exists():
    raise app.UsageError(f"{FREEML_RUN} not built: run `make build`")
  try:
    paths = model_paths(FLAGS.models)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  rng = np.random.default_rng(FLAGS.seed)
  instructions, costs, soaks = [], [], []
  with tempfile.TemporaryDirectory() as tmp:
    for name, path in paths.items():
      model = path.read_bytes()
      plain = Runtime(model)
      rt = IntermittentRuntime(model)
      details = plain.inputs[0]
      inputs = [random_input(details.shape, details.dtype, rng) for _ in range(FLAGS.runs)]
      print(f"{name}: instructions under callgrind...", file=sys.stderr)
      instructions += instruction_rows(name, path, inputs[0], Path(tmp))
      print(f"{name}: time, memory, re-executed work...", file=sys.stderr)
      boot = rt.boot(rt.new_nvm(), [inputs[0]])
      lost = re_executed_per_failure(rt, inputs[0], boot.nvm_writes, samples=400)
      costs.append({
          "model": name, **time_ratio(rt, plain, inputs),
          "plain SRAM B": plain.ram.total_bytes, "SRAM B": rt.memory.sram_bytes,
          "NVM B": rt.memory.nvm_bytes, "NVM writes": boot.nvm_writes,
          "NVM B written": boot.nvm_bytes_written,
          "max tile MACs": max(op.tile_units * op.unit_macs for op in rt.ops),
          "re-exec MACs/failure mean": f"{statistics.mean(lost):.0f}",
          "max": max(lost),
      })
      expected = [tflm_oracle.invoke(model, [x])[0] for x in inputs[:8]]
      soaks.append(soak(name, rt, inputs[:8], expected,
                        FLAGS.soak_failures // len(paths), rng))
  print("\n### Instructions per inference (callgrind, exact)\n")
  print_table(instructions)
  print("\n### Time, memory, NVM traffic, re-executed work\n")
  print_table(costs)
  print("\n### Soak: random power failures against TFLM's answers\n")
  print_table(soaks)


if __name__ == "__main__":
  app.run(main)
