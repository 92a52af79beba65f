"""Benchmark: the FreeML C runtime against the TFLM interpreter, same process.

For each model: median wall time per inference of both engines on the same
inputs (interleaved, so machine noise hits both alike), their ratio, the
runtime's arena against TFLM's arena, model bytes, and whether every output
byte agreed. Times are host wall-clock and noisy on a shared machine: compare
the ratio, not the absolute numbers; byte counts are exact.

  .venv/bin/python bench/runtime_vs_tflm.py [--runs 50] [--models digits,kws,ic]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench.common import MODELS, model_paths, print_table, random_input  # noqa: E402
from converter import tflm_oracle  # noqa: E402
from tflm_freeml.runtime import Runtime  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("runs", 50, "Timed inferences per engine and model.")
flags.DEFINE_list("models", list(MODELS), "Models to measure: " + ", ".join(MODELS))


def measure(name: str, path: Path, runs: int) -> Dict[str, object]:
  model = path.read_bytes()
  ours = Runtime(model)
  tflm = tflm_oracle.make_interpreter(model)
  details = ours.inputs[0]
  rng = np.random.default_rng(0)
  inputs = [random_input(details.shape, details.dtype, rng) for _ in range(runs)]
  ours_s: List[float] = []
  tflm_s: List[float] = []
  agree = 0
  for x in inputs[:3]:  # warm-up: caches, lazy binding
    ours.invoke([x])
    tflm_oracle.invoke_on(tflm, [x], len(ours.outputs))
  for x in inputs:
    start = time.perf_counter()
    (ours_out,) = ours.invoke([x])
    ours_s.append(time.perf_counter() - start)
    start = time.perf_counter()
    (tflm_out,) = tflm_oracle.invoke_on(tflm, [x], 1)
    tflm_s.append(time.perf_counter() - start)
    agree += int(np.array_equal(ours_out.reshape(-1), tflm_out.reshape(-1)))
  ours_ms = statistics.median(ours_s) * 1e3
  tflm_ms = statistics.median(tflm_s) * 1e3
  tflm_arena = tflm_oracle.arena_bytes(model)
  return {
      "model": name,
      "model bytes": len(model),
      "ours ms": f"{ours_ms:.3f}",
      "TFLM ms": f"{tflm_ms:.3f}",
      "time ratio": f"{ours_ms / tflm_ms:.2f}",
      "ours arena B": ours.ram.total_bytes,
      "ours activations B": ours.ram.activation_bytes,
      "TFLM arena B": tflm_arena,
      "RAM ratio": f"{ours.ram.total_bytes / tflm_arena:.2f}",
      "outputs equal": f"{agree}/{len(inputs)}",
  }


def main(argv: List[str]) -> None:
  del argv
  try:
    paths = model_paths(FLAGS.models)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  rows = []
  for name, path in paths.items():
    print(f"measuring {name} ({FLAGS.runs} runs per engine)...", file=sys.stderr)
    rows.append(measure(name, path, FLAGS.runs))
  print_table(rows)


if __name__ == "__main__":
  app.run(main)
