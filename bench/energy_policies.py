"""Benchmark: exit policies on real harvesting recordings, for the MLPerf
Tiny DS-CNN (speech commands) and ResNet-8 (CIFAR-10) with gNet exits.

Each model is converted once with `--exits auto` and its head of
bench.common.GNET_HEADS (into --out, kept between runs while the converter
command stays the same). Per-exit branches
(bench/branches.py: 2x2 average pooling, 64 hidden units, as many steps as
the converter's head, their thresholds calibrated like gNet's) are trained
on the same exits for the "branches" policies (BranchyNet's: by confidence;
"branches-energy": by FreeML's rule). Then every policy runs on the same
inputs for every trace and capacitor: the three Powercast recordings and
the jogging PV cell, 100 uF and 1 mF, the device at the simulator's
defaults (python -m converter.simulate --help) but --period, --samples and
--mcu. Prints one row per model, trace, capacitor and policy: answers,
accuracy, correct answers per minute, latency, energy, wasted energy,
failures, deadline misses, answers per exit, and whether the run stalled
(a supply that cannot pay for a boot); then the correct answers per minute
side by side, the best of each row marked.

  FREEML_DATA_DIR=../shared/datasets .venv/bin/python bench/energy_policies.py \\
      [--models kws,ic] [--samples 100] [--period 5]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import branches  # noqa: E402
from bench.common import GNET_HEADS, REPO, SHARED, print_table  # noqa: E402

MODELS = {
    "kws": (SHARED / "models" / "kws_dscnn.h5", "speech_commands"),
    "ic": (SHARED / "models" / "ic_resnet8.h5", "cifar10"),
}
TRACES = ["powercast-cart", "powercast-mobile", "powercast-obstruction", "pv-jogging"]
POLICIES = ["full", "freeml", "confidence", "branches", "branches-energy", "exit-0"]

FLAGS = flags.FLAGS
flags.DEFINE_list("models", list(MODELS), "Models: " + ", ".join(MODELS))
flags.DEFINE_list("traces", TRACES, "Shared recordings to run on.")
flags.DEFINE_list("capacitors-uf", ["100", "1000"], "Storage capacitors (uF).")
flags.DEFINE_integer("samples", 100, "Test inputs per run.")
flags.DEFINE_float("period", 5.0, "Seconds between inputs.")
flags.DEFINE_float("deadline", 2.0, "Answers later than this after their input are misses.")
flags.DEFINE_string("mcu", "msp430fr5994-8mhz", "MCU preset.")
flags.DEFINE_integer("seed", 0, "Seed of the input draw.")
flags.DEFINE_string("out", str(REPO / "out" / "bench" / "energy"), "Output folder.")


def _converted(name: str) -> Path:
  path, data = MODELS[name]
  out = Path(FLAGS.out) / name
  command = [sys.executable, "-m", "converter", "--in", str(path), "--data", data, "--exits",
             "auto", *GNET_HEADS[name].flags(), "--out", str(out)]
  # Kept between runs while the command is the same.
  recorded = out / "converter_command.json"
  if not (out / "report.json").exists() or not recorded.exists() or \
      json.loads(recorded.read_text()) != command[1:]:
    print(f"[bench] converting {name} with exits", file=sys.stderr, flush=True)
    env = {**os.environ, "FREEML_DATA_DIR": os.environ.get("FREEML_DATA_DIR",
                                                           str(SHARED / "datasets"))}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode != 0:
      raise RuntimeError(f"converting {name} failed: {result.stderr[-500:]}")
    recorded.write_text(json.dumps(command[1:]) + "\n")
  return out


def _row(name: str, trace: str, capacitor_uf: str, s) -> Dict[str, object]:
  answered = s.answers > 0
  return {
      "model": name, "trace": trace, "C (uF)": capacitor_uf, "policy": s.policy,
      "answers": s.answers, "accuracy": f"{100 * s.accuracy:.1f}%" if answered else "-",
      "correct/min": f"{s.correct_per_minute:.2f}",
      "latency (s)": f"{s.mean_latency_s:.2f}" if answered else "-",
      "mJ/inference": f"{s.energy_per_inference_mj:.2f}" if answered else "-",
      "wasted mJ": f"{s.wasted_mj:.1f}", "failures": s.failures,
      "deadline misses": s.deadline_misses, "changed by failures": s.changed_by_failures,
      "per exit": "/".join(map(str, s.answers_per_exit)), "stalled": s.stalled or "no"}


def _side_by_side(rows: List[Dict[str, object]]) -> List[Dict[str, object]]:
  """Correct answers per minute per policy, one row per run; the best in
  bold (ties too)."""
  runs: Dict[tuple, Dict[str, float]] = {}
  for r in rows:
    runs.setdefault((r["model"], r["trace"], r["C (uF)"]), {})[r["policy"]] = \
        float(r["correct/min"])
  table = []
  for (model, trace, capacitor), rates in runs.items():
    best = max(rates.values())
    table.append({"model": model, "trace": trace, "C (uF)": capacitor,
                  **{p: f"**{v:.2f}**" if v == best and best > 0 else f"{v:.2f}"
                     for p, v in rates.items()}})
  return table


def main(argv: List[str]) -> None:
  del argv
  from converter.simulate import energy, policies, traces
  rows: List[Dict[str, object]] = []
  mcu = energy.mcu(FLAGS.mcu)
  for name in FLAGS.models:
    keras_path, data = MODELS[name]
    if not keras_path.exists():
      print(f"skipping {name}: {keras_path} not found", file=sys.stderr)
      continue
    model_dir = _converted(name)
    model = (model_dir / "model.tflite").read_bytes()
    report = json.loads((model_dir / "report.json").read_text())
    x, y, chosen = policies.draw_inputs(model, data, FLAGS.samples, FLAGS.seed)
    start = time.monotonic()
    exits = [e["layer"] for e in report["gnet"]["exits"]]
    trained, thresholds = branches.for_simulation(keras_path, data, exits, chosen,
                                                  report["gnet"]["max_drop"])
    print(f"[bench] {name}: branches trained on {', '.join(exits)} "
          f"(thresholds {thresholds}, {time.monotonic() - start:.0f} s)", file=sys.stderr,
          flush=True)
    for trace_name in FLAGS.traces:
      trace = traces.load(trace_name, SHARED / "traces")
      for capacitor_uf in FLAGS["capacitors-uf"].value:
        print(f"[bench] {name} on {trace_name}, {capacitor_uf} uF", file=sys.stderr,
              flush=True)
        setting = policies.Setting(trace, energy.Capacitor(float(capacitor_uf) * 1e-6), mcu,
                                   0.8, FLAGS.period, FLAGS.deadline)
        _, summaries, _ = policies.compare(
            model, report, POLICIES, x, y, setting, trained,
            progress=lambda line: print(f"[bench]   {line}", file=sys.stderr, flush=True))
        rows += [_row(name, trace_name, capacitor_uf, s) for s in summaries]
  Path(FLAGS.out).mkdir(parents=True, exist_ok=True)
  (Path(FLAGS.out) / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
  print_table(rows)
  print()
  print_table(_side_by_side(rows))


if __name__ == "__main__":
  app.run(main)
