"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.converter.helpers import DIGITS_H5, run_converter

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
  """../shared beside the repo (override with $FREEML_SHARED_DIR).

  The shared models and datasets are part of the test contract: a missing
  folder is a failed setup, not a reason to skip.
  """
  path = Path(os.environ.get("FREEML_SHARED_DIR", REPO.parent / "shared"))
  if not (path / "models").is_dir():
    pytest.fail(f"shared data not found at {path}; set FREEML_SHARED_DIR")
  return path


@pytest.fixture(scope="session")
def freeml_run() -> Path:
  path = REPO / "build" / "bin" / "freeml_run"
  if not path.exists():
    pytest.fail(f"{path} not built: run `make build`")
  return path


@pytest.fixture(scope="session")
def digits_out(tmp_path_factory) -> Path:
  """The converter's output folder for the bundled default model
  (examples/digits/digits_cnn.h5), converted once per session and worker and
  shared read-only."""
  out = tmp_path_factory.mktemp("digits")
  result = run_converter("--in", DIGITS_H5, "--data", "digits", "--out", out)
  assert result.returncode == 0, result.stderr
  return out


@pytest.fixture(scope="session")
def digits_gnet_out(tmp_path_factory) -> Path:
  """The default model converted with gNet exits (--exits auto), once per
  session and worker; its stderr is kept as stderr.txt."""
  out = tmp_path_factory.mktemp("digits_gnet")
  result = run_converter("--in", DIGITS_H5, "--data", "digits", "--exits", "auto",
                         "--exit-steps", "1500", "--out", out)
  assert result.returncode == 0, result.stderr
  (out / "stderr.txt").write_text(result.stderr)
  return out


@pytest.fixture(scope="session")
def digits_gnet_rank_out(tmp_path_factory) -> Path:
  """The default model with a two-layer gNet head: features pooled to 2x2
  (the first exit by average and maximum, the others by average), through 4
  hidden units (--exit-rank 4), int4 first-layer weights, no distillation."""
  out = tmp_path_factory.mktemp("digits_gnet_rank")
  result = run_converter("--in", DIGITS_H5, "--data", "digits", "--exits", "auto",
                         "--exit-grid", "2", "--exit-pool", "avg+max,avg,avg", "--exit-rank", "4",
                         "--exit-weight-bits", "4", "--exit-distillation", "0",
                         "--exit-steps", "1500", "--out", out)
  assert result.returncode == 0, result.stderr
  return out


@pytest.fixture(scope="session")
def digits_model(digits_out) -> bytes:
  return (digits_out / "model.tflite").read_bytes()
