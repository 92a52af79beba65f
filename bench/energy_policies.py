"""Benchmark: exit policies on real harvesting recordings, for the MLPerf
Tiny DS-CNN (speech commands) and ResNet-8 (CIFAR-10) with gNet exits.

Each model is converted once with `--exits auto` (into --out, kept between
runs), then `python -m converter.simulate` runs it for every trace and
capacitor: the three Powercast recordings and the jogging PV cell, 100 uF and
1 mF, the other settings at the simulator's defaults but --period and
--samples. Prints one table row per model, trace, capacitor and policy:
answers, accuracy, correct answers per minute, latency, energy, failures,
deadline misses, answers per exit, and whether the run stalled (a supply
that cannot pay for a boot).

  FREEML_DATA_DIR=../shared/datasets .venv/bin/python bench/energy_policies.py \\
      [--models kws,ic] [--samples 20] [--period 5]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, SHARED, print_table  # noqa: E402

MODELS = {
    "kws": (SHARED / "models" / "kws_dscnn.h5", "speech_commands"),
    "ic": (SHARED / "models" / "ic_resnet8.h5", "cifar10"),
}
TRACES = ["powercast-cart", "powercast-mobile", "powercast-obstruction", "pv-jogging"]

FLAGS = flags.FLAGS
flags.DEFINE_list("models", list(MODELS), "Models: " + ", ".join(MODELS))
flags.DEFINE_list("traces", TRACES, "Shared recordings to run on.")
flags.DEFINE_list("capacitors-uf", ["100", "1000"], "Storage capacitors (uF).")
flags.DEFINE_integer("samples", 20, "Test inputs per run.")
flags.DEFINE_float("period", 5.0, "Seconds between inputs.")
flags.DEFINE_string("mcu", "msp430fr5994-8mhz", "MCU preset.")
flags.DEFINE_string("out", str(REPO / "out" / "bench" / "energy"), "Output folder.")


def _python(*args) -> subprocess.CompletedProcess:
  env = {**os.environ, "FREEML_DATA_DIR": os.environ.get("FREEML_DATA_DIR",
                                                         str(SHARED / "datasets"))}
  return subprocess.run([sys.executable, *map(str, args)], cwd=REPO, capture_output=True,
                        text=True, env=env)


def _converted(name: str) -> Path:
  path, data = MODELS[name]
  out = Path(FLAGS.out) / name
  if not (out / "report.json").exists():
    print(f"[bench] converting {name} with exits", file=sys.stderr, flush=True)
    result = _python("-m", "converter", "--in", path, "--data", data, "--exits", "auto",
                     "--out", out)
    if result.returncode != 0:
      raise RuntimeError(f"converting {name} failed: {result.stderr[-500:]}")
  return out


def _simulate(model_dir: Path, trace: str, capacitor_uf: str) -> List[Dict[str, object]]:
  out = model_dir / "simulation" / f"{trace}-{capacitor_uf}uF"
  result = _python("-m", "converter.simulate", "--model", model_dir, "--trace", trace,
                   "--traces-dir", SHARED / "traces", "--capacitor-uf", capacitor_uf,
                   "--samples", FLAGS.samples, "--period", FLAGS.period, "--mcu", FLAGS.mcu,
                   "--out", out)
  if result.returncode != 0:
    raise RuntimeError(f"simulating {model_dir.name} on {trace} failed: "
                       f"{result.stderr.strip().splitlines()[-1:]}")
  report = json.loads((out / "report.json").read_text())
  rows = []
  for p in report["policies"]:
    rows.append({
        "model": model_dir.name, "trace": trace, "C (uF)": capacitor_uf,
        "policy": p["policy"], "answers": p["answers"],
        "accuracy": "-" if p["answers"] == 0 else f"{100 * p['accuracy']:.1f}%",
        "correct/min": f"{p['correct_per_minute']:.2f}",
        "latency (s)": "-" if p["answers"] == 0 else f"{p['mean_latency_s']:.2f}",
        "mJ/inference": "-" if p["answers"] == 0 else f"{p['energy_per_inference_mj']:.2f}",
        "wasted mJ": f"{p['wasted_mj']:.1f}", "failures": p["failures"],
        "deadline misses": p["deadline_misses"],
        "per exit": "/".join(map(str, p["answers_per_exit"])),
        "stalled": p["stalled"] or "no"})
  return rows


def main(argv: List[str]) -> None:
  del argv
  rows: List[Dict[str, object]] = []
  for name in FLAGS.models:
    if not MODELS[name][0].exists():
      print(f"skipping {name}: {MODELS[name][0]} not found", file=sys.stderr)
      continue
    model_dir = _converted(name)
    for trace in FLAGS.traces:
      for capacitor in FLAGS["capacitors-uf"].value:
        print(f"[bench] {name} on {trace}, {capacitor} uF", file=sys.stderr, flush=True)
        rows += _simulate(model_dir, trace, capacitor)
  Path(FLAGS.out).mkdir(parents=True, exist_ok=True)
  (Path(FLAGS.out) / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
  print_table(rows)


if __name__ == "__main__":
  app.run(main)
