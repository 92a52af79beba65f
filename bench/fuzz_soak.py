"""A long fuzzing run of every target of fuzz/ (docs/fuzzing.md).

  .venv/bin/python bench/fuzz_soak.py [--minutes 60] [--jobs 2]

Builds the targets, then fuzzes each for --minutes from the seeds of
fuzz/seeds.py (the default and shared models, whole and truncated; failure
histories and NVM images of the default model for nvm_recovery_fuzzer, which
recovers out/digits/model.tflite from `make demo`) and fuzz/regressions/,
keeping the grown corpus in out/fuzz/<target>/ so that a later soak goes
on from it. Prints, per target: executions, executions per second, edges
covered, corpus size and findings (crash, leak, timeout or out-of-memory
inputs, written to out/fuzz/findings/). Exit status 1 if anything was
found: move each finding into fuzz/regressions/<target>/ once fixed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import MODELS, REPO, print_table  # noqa: E402
from fuzz.seeds import (  # noqa: E402
  MODEL_TARGETS,
  RECOVERY_TARGET,
  write_model_seeds,
  write_recovery_seeds,
)

FLAGS = flags.FLAGS
flags.DEFINE_float("minutes", 60.0, "Fuzzing time per target.")
flags.DEFINE_integer("jobs", 2, "Parallel fuzzing processes per target (libFuzzer -fork).")

OUT = REPO / "out" / "fuzz"


def _seeds() -> Dict[str, Path]:
  """Seed folder per target."""
  models = {}
  for name, path in MODELS.items():
    if path.exists():
      models[name] = path.read_bytes()
    else:
      print(f"no seed from {name}: {path} not found", file=sys.stderr)
  if "digits" not in models:
    sys.exit(f"{MODELS['digits']} not found: run `make demo` first")
  model_seeds = write_model_seeds(OUT / "seeds", models)
  recovery = write_recovery_seeds(OUT / "recovery_seeds", models["digits"])
  return {**{target: model_seeds for target in MODEL_TARGETS}, RECOVERY_TARGET: recovery}


def _stat(log: str, name: str) -> int:
  found = re.findall(rf"stat::{name}:\s+(\d+)", log)
  return int(found[-1]) if found else 0


def soak(target: str, binary: Path, seeds: Path, findings: Path) -> Dict[str, object]:
  corpus = OUT / target
  corpus.mkdir(parents=True, exist_ok=True)
  seconds = int(FLAGS.minutes * 60)
  print(f"fuzzing {target} for {seconds} s", file=sys.stderr)
  args = [str(binary), f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=2048",
          "-print_final_stats=1", f"-artifact_prefix={findings}/{target}-",
          str(corpus), str(seeds), str(REPO / "fuzz" / "regressions" / target)]
  if FLAGS.jobs > 1:
    args.insert(1, f"-fork={FLAGS.jobs}")
  env = {**os.environ, "FREEML_FUZZ_MODEL": str(MODELS["digits"])}
  done = subprocess.run(args, capture_output=True, text=True, env=env)
  log = done.stderr
  executions = _stat(log, "number_of_executed_units")
  if executions == 0:  # -fork prints "#N: cov: ..." progress lines, no stats
    runs = re.findall(r"#(\d+): cov: \d+", log)
    executions = int(runs[-1]) if runs else 0
  edges = re.findall(r"cov: (\d+)", log)
  found = sorted(p.name for p in findings.glob(f"{target}-*"))
  return {"target": target, "seconds": seconds, "executions": f"{executions:,}",
          "executions/s": f"{executions / max(seconds, 1):,.0f}",
          "edges": edges[-1] if edges else "?",
          "corpus": len(list(corpus.iterdir())), "findings": len(found),
          "exit": done.returncode}


def main(argv: List[str]) -> None:
  del argv
  build = subprocess.run(["bash", str(REPO / "scripts" / "build_fuzzers.sh")], cwd=REPO)
  if build.returncode != 0:
    sys.exit("could not build the fuzz targets")
  seeds = _seeds()
  findings = OUT / "findings"
  findings.mkdir(parents=True, exist_ok=True)
  rows = [soak(target, REPO / "build" / "fuzz" / target, seeds[target], findings)
          for target in (*MODEL_TARGETS, RECOVERY_TARGET)]
  print()
  print_table(rows)
  if any(row["findings"] or row["exit"] for row in rows):
    print(f"\nfindings in {findings}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  app.run(main)
