"""Data loaders: fixed, disjoint splits; the input scale each model family
expects; shapes fitted only when the layout alone differs."""

from __future__ import annotations

import numpy as np
import pytest

from converter import datasets
from converter.errors import ConverterError


def test_digits_splits_are_deterministic_and_cover_the_set():
  a, b = datasets.load_digits(), datasets.load_digits()
  assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_calibration, b.y_calibration)
  sizes = (len(a.x_calibration), len(a.x_validation), len(a.x_test))
  assert sizes == (1079, 359, 359)
  assert a.x_test.shape[1:] == (8, 8, 1) and a.x_test.dtype == np.float32
  assert 0.0 <= a.x_test.min() and a.x_test.max() <= 1.0
  assert set(np.unique(a.y_test)) == set(range(10))


def test_fit_to_shape_only_changes_layout():
  x = np.zeros((5, 8, 8), np.float32)
  assert datasets.fit_to_shape(x, (8, 8, 1), "d").shape == (5, 8, 8, 1)
  assert datasets.fit_to_shape(x, (64,), "d").shape == (5, 64)
  assert datasets.fit_to_shape(x[..., None], (8, 8), "d").shape == (5, 8, 8)
  with pytest.raises(ConverterError, match=r"shape \(8, 8\), the model takes \(4, 16\)"):
    datasets.fit_to_shape(x, (4, 16), "d")
  with pytest.raises(ConverterError, match="the model takes"):
    datasets.fit_to_shape(x, (28, 28, 1), "d")


def test_npz_with_and_without_a_test_split(tmp_path):
  rng = np.random.default_rng(0)
  x, y = rng.random((50, 3)), rng.integers(0, 4, 50)
  np.savez(tmp_path / "plain.npz", x=x, y=y)
  plain = datasets.load(str(tmp_path / "plain.npz"))
  assert (len(plain.x_calibration), len(plain.x_validation), len(plain.x_test)) == (30, 10, 10)
  np.savez(tmp_path / "split.npz", x=x, y=np.eye(4)[y], x_test=x[:7], y_test=y[:7])
  split = datasets.load(str(tmp_path / "split.npz"))
  assert np.array_equal(split.y_test, y[:7]) and len(split.x_calibration) == 40
  np.savez(tmp_path / "bad.npz", images=x)
  with pytest.raises(ConverterError, match="needs arrays 'x' and 'y'"):
    datasets.load(str(tmp_path / "bad.npz"))


def test_unknown_name_and_missing_variable(monkeypatch):
  with pytest.raises(ConverterError, match="--data must be one of digits, mnist"):
    datasets.load("imagenet")
  monkeypatch.delenv("FREEML_DATA_DIR", raising=False)
  for name in ("speech_commands", "uci_har"):
    with pytest.raises(ConverterError, match=r"\$FREEML_DATA_DIR"):
      datasets.load(name)
  monkeypatch.setenv("FREEML_DATA_DIR", "/nonexistent")
  with pytest.raises(ConverterError, match="/nonexistent/mnist does not exist"):
    datasets.load("mnist")


@pytest.mark.shared_data
def test_shared_loaders(data_dir):
  kws = datasets.load("speech_commands")
  assert (len(kws.x_calibration), len(kws.x_validation), len(kws.x_test)) == (500, 200, 300)
  raw = np.load(data_dir / "speech_commands" / "kws12_test1000.npz")["mfcc_int8"]
  assert kws.x_test.shape[1:] == (49, 10, 1)
  assert np.isin(np.round(kws.x_test / np.float32(0.5847029) + 83).astype(int),
                 np.unique(raw)).all()
  mnist = datasets.load("mnist")
  assert mnist.x_test.shape == (10000, 28, 28, 1) and mnist.x_test.max() <= 1.0
  har = datasets.load("uci_har")
  assert har.x_test.shape[1:] == (128, 9) and set(np.unique(har.y_test)) == set(range(6))
  cifar = datasets.load("cifar10")
  assert cifar.x_test.shape == (10000, 32, 32, 3) and cifar.x_test.max() > 200
  # The shared file orders test images by class: a prefix must still mix them.
  assert len(np.unique(cifar.y_test[:100])) == 10
