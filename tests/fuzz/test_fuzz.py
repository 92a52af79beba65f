"""The libFuzzer targets of fuzz/ (clang, AddressSanitizer, UBSan): each
runs for a bounded time from seeds and the committed regression inputs; any
crash, leak, timeout, sanitizer report or wrong answer fails. Every input
that once failed is replayed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fuzz.seeds import MODEL_TARGETS, RECOVERY_TARGET, write_model_seeds, write_recovery_seeds

REPO = Path(__file__).resolve().parents[2]
TARGETS = [*MODEL_TARGETS, RECOVERY_TARGET]
FUZZ_SECONDS = 60


@pytest.fixture(scope="session")
def fuzzers(tmp_path_factory) -> Path:
  """The targets, built once per test worker into its own folder."""
  out = tmp_path_factory.mktemp("fuzzers")
  done = subprocess.run(["bash", str(REPO / "scripts" / "build_fuzzers.sh"), str(out)],
                        cwd=REPO, capture_output=True, text=True)
  assert done.returncode == 0, done.stderr
  return out


@pytest.fixture(scope="session")
def fuzz_env(tmp_path_factory, digits_model) -> dict:
  """nvm_recovery_fuzzer recovers runs of the default model."""
  model = tmp_path_factory.mktemp("recovery") / "model.tflite"
  model.write_bytes(digits_model)
  return {**os.environ, "FREEML_FUZZ_MODEL": str(model)}


@pytest.fixture(scope="session")
def seeds(tmp_path_factory, digits_model, digits_gnet_out, digits_gnet_rank_out,
          shared_dir) -> dict:
  """Per target: the default model (plain and with gNet exits, one- and
  two-layer heads) and the shared models, whole and truncated; for
  recovery, failure histories and NVM images of the default model."""
  models = {"digits": digits_model,
            "digits_gnet": (digits_gnet_out / "model.tflite").read_bytes(),
            "digits_gnet_rank": (digits_gnet_rank_out / "model.tflite").read_bytes()}
  for name in ("kws_dscnn_int8", "ic_resnet8_int8"):
    models[name] = (shared_dir / "models" / f"{name}.tflite").read_bytes()
  model_seeds = write_model_seeds(tmp_path_factory.mktemp("seeds"), models)
  recovery = write_recovery_seeds(tmp_path_factory.mktemp("recovery_seeds"), digits_model)
  return {**{target: model_seeds for target in MODEL_TARGETS}, RECOVERY_TARGET: recovery}


def _regressions(target: str) -> Path:
  return REPO / "fuzz" / "regressions" / target


@pytest.mark.parametrize("target", TARGETS)
def test_regression_inputs_pass(fuzzers, fuzz_env, target):
  inputs = sorted(_regressions(target).iterdir())
  if not inputs:
    return
  done = subprocess.run([str(fuzzers / target), *map(str, inputs)], capture_output=True,
                        text=True, timeout=300, env=fuzz_env)
  assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("target", TARGETS)
def test_fuzzing_finds_nothing(fuzzers, fuzz_env, seeds, target, tmp_path):
  corpus = tmp_path / "corpus"
  corpus.mkdir()
  done = subprocess.run(
      [str(fuzzers / target), f"-max_total_time={FUZZ_SECONDS}", "-timeout=10",
       "-rss_limit_mb=2048", "-print_final_stats=1", f"-artifact_prefix={tmp_path}/",
       str(corpus), str(seeds[target]), str(_regressions(target))],
      capture_output=True, text=True, timeout=FUZZ_SECONDS + 240, env=fuzz_env)
  findings = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
  assert done.returncode == 0 and not findings, (
      f"{findings}: keep the input in fuzz/regressions/{target}/ once fixed\n"
      + done.stderr[-3000:])
  assert "stat::number_of_executed_units" in done.stderr
