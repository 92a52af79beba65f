"""The host runner: outputs, exit statuses, and bad input that must give a
clear error, never a crash or a hang."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from tflm_freeml.runtime import Runtime

TIMEOUT_S = 20


def run(freeml_run: Path, *args) -> subprocess.CompletedProcess:
  return subprocess.run([str(freeml_run), *map(str, args)], capture_output=True,
                        text=True, timeout=TIMEOUT_S)


@pytest.fixture(scope="module")
def kws_model(shared_dir) -> bytes:
  return (shared_dir / "models" / "kws_dscnn_int8.tflite").read_bytes()


@pytest.fixture()
def kws_input(tmp_path, shared_dir) -> Path:
  data = np.load(shared_dir / "datasets" / "speech_commands" / "kws12_test1000.npz")
  path = tmp_path / "in.bin"
  path.write_bytes(data["mfcc_int8"][0].astype(np.int8).tobytes())
  return path


def assert_clean_refusal(result: subprocess.CompletedProcess, *fragments: str) -> None:
  assert result.returncode == 2, (result.returncode, result.stderr)
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr
  assert lines[0].startswith("freeml_run: ")
  for fragment in fragments:
    assert fragment in lines[0], lines[0]


def test_output_matches_binding(freeml_run, kws_model, kws_input, tmp_path, shared_dir):
  out = tmp_path / "out.bin"
  result = run(freeml_run, shared_dir / "models" / "kws_dscnn_int8.tflite",
               "--input", kws_input, "--output", out, "--print-memory")
  assert result.returncode == 0, result.stderr
  x = np.frombuffer(kws_input.read_bytes(), np.int8).reshape(1, 49, 10, 1)
  runtime = Runtime(kws_model)
  (expected,) = runtime.invoke([x])
  assert out.read_bytes() == expected.tobytes()
  assert f"total_bytes={runtime.ram.total_bytes}" in result.stdout


def test_usage_errors(freeml_run, kws_input, tmp_path, shared_dir):
  model = shared_dir / "models" / "kws_dscnn_int8.tflite"
  assert_clean_refusal(run(freeml_run), "usage")
  assert_clean_refusal(run(freeml_run, model, "--input", kws_input), "usage")
  assert_clean_refusal(run(freeml_run, model, "--input", kws_input, "--output",
                           tmp_path / "o", "--bogus"), "--bogus")
  assert_clean_refusal(run(freeml_run, tmp_path / "missing.tflite", "--input", kws_input,
                           "--output", tmp_path / "o"), "missing.tflite")
  short = tmp_path / "short.bin"
  short.write_bytes(b"\0" * 10)
  assert_clean_refusal(run(freeml_run, model, "--input", short, "--output", tmp_path / "o"),
                       "10 bytes", "490")


def test_not_a_model(freeml_run, kws_input, tmp_path):
  text = tmp_path / "notes.tflite"
  text.write_text("this is a text file, not a model\n")
  assert_clean_refusal(run(freeml_run, text, "--input", kws_input, "--output",
                           tmp_path / "o"), "not a .tflite model")
  empty = tmp_path / "empty.tflite"
  empty.write_bytes(b"")
  assert_clean_refusal(run(freeml_run, empty, "--input", kws_input, "--output",
                           tmp_path / "o"), "not a .tflite model")


def test_truncated_models_are_refused(freeml_run, kws_model, kws_input, tmp_path):
  rng = np.random.default_rng(2)
  cuts = sorted(set(rng.integers(0, len(kws_model), size=40).tolist()) | {0, 8, 100})
  model = tmp_path / "cut.tflite"
  for cut in cuts:
    model.write_bytes(kws_model[:cut])
    result = run(freeml_run, model, "--input", kws_input, "--output", tmp_path / "o")
    assert_clean_refusal(result)


def test_corrupted_models_never_crash(freeml_run, kws_model, kws_input, tmp_path):
  """Random bytes overwritten anywhere: either a clean refusal or a normal
  run (a flipped weight is still a valid model), never a signal or hang."""
  rng = np.random.default_rng(3)
  model = tmp_path / "bad.tflite"
  refused = 0
  for _ in range(80):
    data = bytearray(kws_model)
    for position in rng.integers(0, len(data), size=4):
      data[position] = int(rng.integers(0, 256))
    model.write_bytes(bytes(data))
    result = run(freeml_run, model, "--input", kws_input, "--output", tmp_path / "o")
    assert result.returncode in (0, 2), (result.returncode, result.stderr)
    if result.returncode == 2:
      refused += 1
      assert_clean_refusal(result)
  assert refused < 80  # the corruptions hit weights too, which still run
