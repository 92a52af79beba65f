"""Fixtures of the converter tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture()
def data_dir(shared_dir, monkeypatch) -> Path:
  """$FREEML_DATA_DIR pointed at the shared datasets for this test."""
  path = shared_dir / "datasets"
  monkeypatch.setenv("FREEML_DATA_DIR", str(path))
  return path
