"""Fixtures of the converter tests. The bundled digits model is converted
once per test session (per xdist worker) and shared read-only."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.converter.helpers import DIGITS_H5, run_converter


@pytest.fixture(scope="session")
def digits_out(tmp_path_factory) -> Path:
  """The converter's output folder for examples/digits/digits_cnn.h5."""
  out = tmp_path_factory.mktemp("digits")
  result = run_converter("--in", DIGITS_H5, "--data", "digits", "--out", out)
  assert result.returncode == 0, result.stderr
  return out


@pytest.fixture(scope="session")
def digits_model(digits_out) -> bytes:
  return (digits_out / "model.tflite").read_bytes()


@pytest.fixture()
def data_dir(shared_dir, monkeypatch) -> Path:
  """$FREEML_DATA_DIR pointed at the shared datasets for this test."""
  path = shared_dir / "datasets"
  monkeypatch.setenv("FREEML_DATA_DIR", str(path))
  return path
