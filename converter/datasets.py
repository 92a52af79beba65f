"""Built-in data loaders for calibration and evaluation.

Every loader returns the same Dataset with three disjoint, deterministic
splits: `calibration` (representative data for int8 quantization, and
training where a script trains), `validation` (model selection) and `test`
(reported accuracy only; never used to calibrate). Files are read from
$FREEML_DATA_DIR laid out as the project's shared datasets folder:
  mnist/*-ubyte.gz, cifar10/cifar10_jpeg.npz,
  speech_commands/kws12_test1000.npz, uci_har/uci_har_test_inertial.npz
Inputs are float32 in the scale the usual pre-trained models expect (see
each loader).
"""

from __future__ import annotations

import dataclasses
import gzip
import os
from pathlib import Path
from typing import Callable, Dict, Tuple

import numpy as np

from converter.errors import ConverterError

_SEED = 0


@dataclasses.dataclass(frozen=True)
class Dataset:
  name: str
  x_calibration: np.ndarray
  y_calibration: np.ndarray
  x_validation: np.ndarray
  y_validation: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray


def _split(name: str, x: np.ndarray, y: np.ndarray, test_fraction: float,
           validation_fraction: float) -> Dataset:
  """Shuffles with a fixed seed, then cuts test, validation, calibration."""
  order = np.random.default_rng(_SEED).permutation(len(x))
  x, y = x[order], y[order]
  n_test = int(round(len(x) * test_fraction))
  n_val = int(round(len(x) * validation_fraction))
  return Dataset(name, x[n_test + n_val:], y[n_test + n_val:], x[n_test:n_test + n_val],
                 y[n_test:n_test + n_val], x[:n_test], y[:n_test])


def _data_dir(name: str) -> Path:
  root = os.environ.get("FREEML_DATA_DIR")
  if not root:
    raise ConverterError(f"--data {name} reads $FREEML_DATA_DIR (a folder with {name}/ in it), "
                         "which is not set")
  path = Path(root) / name
  if not path.is_dir():
    raise ConverterError(f"--data {name}: {path} does not exist ($FREEML_DATA_DIR={root})")
  return path


def load_digits() -> Dataset:
  """scikit-learn's bundled 8x8 digits (no download): (N, 8, 8, 1) in 0..1.
  Split 60/20/20 into calibration/validation/test."""
  from sklearn.datasets import load_digits as sklearn_digits
  digits = sklearn_digits()
  x = (digits.images / 16.0).astype(np.float32)[..., None]
  return _split("digits", x, digits.target.astype(np.int64), 0.2, 0.2)


def _read_idx(path: Path) -> np.ndarray:
  with gzip.open(path, "rb") as f:
    data = f.read()
  magic = int.from_bytes(data[:4], "big")
  dims = magic & 0xFF
  shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
  return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_mnist() -> Dataset:
  """MNIST: (N, 28, 28, 1) in 0..1. Calibration and validation come from
  the 60,000 training images (the last 5,000 validate); test is the
  official 10,000."""
  root = _data_dir("mnist")
  x_train = _read_idx(root / "train-images-idx3-ubyte.gz").astype(np.float32)[..., None] / 255
  y_train = _read_idx(root / "train-labels-idx1-ubyte.gz").astype(np.int64)
  x_test = _read_idx(root / "t10k-images-idx3-ubyte.gz").astype(np.float32)[..., None] / 255
  y_test = _read_idx(root / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
  return Dataset("mnist", x_train[:-5000], y_train[:-5000], x_train[-5000:], y_train[-5000:],
                 x_test, y_test)


def _decode_jpegs(blob: np.ndarray, offsets: np.ndarray, indexes: np.ndarray) -> np.ndarray:
  import tensorflow as tf
  return np.stack([tf.io.decode_jpeg(blob[offsets[i]:offsets[i + 1]].tobytes()).numpy()
                   for i in indexes]).astype(np.float32)


def load_cifar10(calibration_size: int = 2000, validation_size: int = 1000) -> Dataset:
  """CIFAR-10 (JPEG copies): (N, 32, 32, 3) float pixels 0..255, the range
  the MLPerf Tiny ResNet-8 takes. Calibration and validation are seeded
  random subsets of the 50,000 training images (decoding all of them is
  slow); test is all 10,000 test images."""
  data = np.load(_data_dir("cifar10") / "cifar10_jpeg.npz")
  order = np.random.default_rng(_SEED).permutation(len(data["train_labels"]))
  cal, val = order[:calibration_size], order[calibration_size:calibration_size + validation_size]
  test = np.arange(len(data["test_labels"]))
  train_blob, train_offsets = data["train_jpeg"], data["train_offsets"]
  y_train = data["train_labels"].astype(np.int64)
  return Dataset(
      "cifar10",
      _decode_jpegs(train_blob, train_offsets, cal), y_train[cal],
      _decode_jpegs(train_blob, train_offsets, val), y_train[val],
      _decode_jpegs(data["test_jpeg"], data["test_offsets"], test),
      data["test_labels"].astype(np.int64))


def load_speech_commands() -> Dataset:
  """1,000 Speech Commands test clips as the MLPerf Tiny DS-CNN's float
  input: (mfcc_int8 - 83) * 0.5847029, shape (N, 49, 10, 1). Only a test
  selection exists, so it is split 50/20/30 (300 test clips)."""
  data = np.load(_data_dir("speech_commands") / "kws12_test1000.npz")
  x = ((data["mfcc_int8"].astype(np.float32) - 83.0) * 0.5847029)[..., None]
  return _split("speech_commands", x, data["y"].astype(np.int64), 0.3, 0.2)


def load_uci_har() -> Dataset:
  """UCI HAR inertial windows (N, 128, 9), labels 0..5. Only the test
  subjects are shipped, so they are split 50/20/30."""
  data = np.load(_data_dir("uci_har") / "uci_har_test_inertial.npz")
  return _split("uci_har", data["X"].astype(np.float32), data["y"].astype(np.int64) - 1,
                0.3, 0.2)


def load_npz(path: Path) -> Dataset:
  """An .npz with x and y (split 60/20/20), or also x_test and y_test (then
  x, y split 80/20 into calibration and validation)."""
  with np.load(path) as data:
    if "x" not in data or "y" not in data:
      raise ConverterError(f"{path}: an .npz dataset needs arrays 'x' and 'y', has "
                           + ", ".join(data.files))
    x, y = data["x"].astype(np.float32), data["y"].astype(np.int64)
    if "x_test" in data:
      part = _split(path.stem, x, y, 0.0, 0.2)
      return dataclasses.replace(part, x_test=data["x_test"].astype(np.float32),
                                 y_test=data["y_test"].astype(np.int64))
  return _split(path.stem, x, y, 0.2, 0.2)


LOADERS: Dict[str, Callable[[], Dataset]] = {
    "digits": load_digits,
    "mnist": load_mnist,
    "cifar10": load_cifar10,
    "speech_commands": load_speech_commands,
    "uci_har": load_uci_har,
}


def load(spec: str) -> Dataset:
  """A built-in loader by name, or an .npz path.

  Raises:
    ConverterError: unknown name, missing file or data folder.
  """
  if spec in LOADERS:
    return LOADERS[spec]()
  path = Path(spec)
  if path.suffix == ".npz":
    if not path.is_file():
      raise ConverterError(f"--data {spec}: no such file")
    return load_npz(path)
  raise ConverterError(f"--data must be one of {', '.join(LOADERS)} or an .npz file, got '{spec}'")


def fit_to_shape(x: np.ndarray, shape: Tuple[int, ...], name: str) -> np.ndarray:
  """Reshapes samples to a model's input shape when only the layout differs
  (a missing channel axis, flattening)."""
  target = tuple(int(d) for d in shape[1:])
  if x.shape[1:] == target:
    return x
  if int(np.prod(x.shape[1:])) == int(np.prod(target)):
    return x.reshape((len(x),) + target)
  raise ConverterError(f"--data {name} gives samples of shape {x.shape[1:]}, the model takes "
                       f"{target}")
