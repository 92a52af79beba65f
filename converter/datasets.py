"""Built-in data loaders for calibration and evaluation (`--data NAME`).

Every loader returns a Dataset with three disjoint, deterministic splits
(fixed seed): `calibration` (representative samples for int8 quantization;
training data where a script trains), `validation` (model selection) and
`test` (reported accuracy only, never used to calibrate). Retraining
(SparseComp) asks for a fourth, `train`, which holds every sample outside
validation and test; only MNIST and CIFAR-10 have more of it than
calibration, and CIFAR-10 decodes it only when asked (about 50,000 JPEGs). The test split is
shuffled with the same seed, so any prefix of it (--max-eval) is a uniform
sample rather than, say, the first class of a class-ordered file.

Files are read from $FREEML_DATA_DIR, laid out as the project's shared
datasets folder:
  mnist/*-ubyte.gz, cifar10/cifar10_jpeg.npz,
  speech_commands/kws12_test1000.npz, uci_har/uci_har_test_inertial.npz
Without $FREEML_DATA_DIR, mnist and cifar10 are downloaded with
tf_keras.datasets when the network allows (the originals; cifar10 from the
folder is a JPEG-degraded copy, so accuracies differ). `digits` is bundled
with scikit-learn and needs neither.

Inputs are float32 in the scale the usual pre-trained models expect (each
loader says which). Labels are int64 class indexes.

Example:
  data = load("digits")
  data.x_calibration.shape   # (1079, 8, 8, 1)
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import socket
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from converter.errors import ConverterError

SEED = 0
DATA_DIR_VARIABLE = "FREEML_DATA_DIR"
_DOWNLOAD_TIMEOUT_S = 30


@dataclasses.dataclass(frozen=True)
class Dataset:
  """Three disjoint splits of one dataset; x float32 (N, ...), y int64 (N,)."""
  name: str
  x_calibration: np.ndarray
  y_calibration: np.ndarray
  x_validation: np.ndarray
  y_validation: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray
  x_train: Optional[np.ndarray] = None
  y_train: Optional[np.ndarray] = None

  def training(self) -> Tuple[np.ndarray, np.ndarray]:
    """The samples to retrain on: the train split where the loader has one,
    else calibration (itself outside validation and test)."""
    if self.x_train is not None and self.y_train is not None:
      return self.x_train, self.y_train
    return self.x_calibration, self.y_calibration

  def describe(self) -> str:
    """'digits: 1078 calibration, 360 validation, 359 test, samples (8, 8, 1)'."""
    train = f"{len(self.x_train)} train, " if self.x_train is not None else ""
    return (f"{self.name}: {train}{len(self.x_calibration)} calibration, "
            f"{len(self.x_validation)} validation, {len(self.x_test)} test, samples "
            f"{tuple(self.x_test.shape[1:])}")


def _permutation(n: int) -> np.ndarray:
  return np.random.default_rng(SEED).permutation(n)


def _split(name: str, x: np.ndarray, y: np.ndarray, test_fraction: float,
           validation_fraction: float) -> Dataset:
  """Shuffles with the fixed seed, then cuts test, validation, calibration."""
  order = _permutation(len(x))
  x, y = x[order], y[order]
  n_test = int(round(len(x) * test_fraction))
  n_val = int(round(len(x) * validation_fraction))
  return Dataset(name, x[n_test + n_val:], y[n_test + n_val:], x[n_test:n_test + n_val],
                 y[n_test:n_test + n_val], x[:n_test], y[:n_test])


def _shuffled(x: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  order = _permutation(len(x))
  return x[order], y[order]


def _data_dir(name: str, can_download: bool = False) -> Path | None:
  """$FREEML_DATA_DIR/name, or None when unset and the loader may download."""
  root = os.environ.get(DATA_DIR_VARIABLE)
  if not root:
    if can_download:
      return None
    raise ConverterError(f"--data {name} reads ${DATA_DIR_VARIABLE} (a folder holding {name}/, "
                         f"laid out as the project's shared datasets), which is not set: "
                         f"export {DATA_DIR_VARIABLE}=/path/to/datasets")
  path = Path(root) / name
  if not path.is_dir():
    raise ConverterError(f"--data {name}: {path} does not exist "
                         f"(${DATA_DIR_VARIABLE}={root}); expected {name}/ in that folder")
  return path


def _download(name: str, loader: Callable[[], tuple]) -> tuple:
  """tf_keras.datasets download, bounded in time; a clear error offline."""
  previous = socket.getdefaulttimeout()
  socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)
  try:
    return loader()
  except Exception as e:  # urllib, HTTP and file errors alike
    reason = " ".join(str(e).split()) or type(e).__name__
    if len(reason) > 120:  # keep the end, where urllib puts the cause
      reason = "..." + reason[-120:].split(" ", 1)[-1]
    raise ConverterError(f"--data {name}: ${DATA_DIR_VARIABLE} is not set and downloading "
                         f"{name} failed ({reason}); export {DATA_DIR_VARIABLE}=/path/to/datasets "
                         f"(a folder holding {name}/)") from e
  finally:
    socket.setdefaulttimeout(previous)


def _file(folder: Path, name: str) -> Path:
  path = folder / name
  if not path.is_file():
    raise ConverterError(f"--data: {path} is missing")
  return path


def load_digits() -> Dataset:
  """scikit-learn's bundled 8x8 digits (1,797 images, no download).

  x: (N, 8, 8, 1) float32, pixel / 16, i.e. 0..1 (the bundled digits_cnn.h5
  was trained on this). Split 60/20/20 into calibration/validation/test
  (1079/359/359) after a seeded shuffle; examples/digits/train.py trains on
  the calibration split, so the test split is unseen.
  """
  from sklearn.datasets import load_digits as sklearn_digits
  digits = sklearn_digits()
  x = (digits.images / 16.0).astype(np.float32)[..., None]
  return _split("digits", x, digits.target.astype(np.int64), 0.2, 0.2)


def _read_idx(path: Path) -> np.ndarray:
  with gzip.open(path, "rb") as f:
    data = f.read()
  dims = data[3]
  shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
  return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_mnist(calibration_size: int = 5000, training: bool = False) -> Dataset:
  """MNIST: x (N, 28, 28, 1) float32 in 0..1 (pixel / 255).

  Calibration is a seeded random `calibration_size` of the first 55,000
  training images, validation the last 5,000 training images, test the
  official 10,000 (shuffled with the seed); with `training`, train is all
  55,000.
  """
  root = _data_dir("mnist", can_download=True)
  if root is None:
    import tf_keras
    (x_train, y_train), (x_test, y_test) = _download("mnist", tf_keras.datasets.mnist.load_data)
  else:
    x_train = _read_idx(_file(root, "train-images-idx3-ubyte.gz"))
    y_train = _read_idx(_file(root, "train-labels-idx1-ubyte.gz"))
    x_test = _read_idx(_file(root, "t10k-images-idx3-ubyte.gz"))
    y_test = _read_idx(_file(root, "t10k-labels-idx1-ubyte.gz"))

  def scale(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32)[..., None] / np.float32(255)

  calibration = _permutation(len(x_train) - 5000)[:calibration_size]
  x_test, y_test = _shuffled(scale(x_test), y_test.astype(np.int64))
  train = _permutation(len(x_train) - 5000) if training else None
  return Dataset("mnist", scale(x_train[calibration]), y_train[calibration].astype(np.int64),
                 scale(x_train[-5000:]), y_train[-5000:].astype(np.int64), x_test, y_test,
                 None if train is None else scale(x_train[train]),
                 None if train is None else y_train[train].astype(np.int64))


def _decode_jpegs(blob: np.ndarray, offsets: np.ndarray, indexes: np.ndarray) -> np.ndarray:
  import tensorflow as tf
  return np.stack([tf.io.decode_jpeg(blob[offsets[i]:offsets[i + 1]].tobytes()).numpy()
                   for i in indexes]).astype(np.float32)


def load_cifar10(calibration_size: int = 2000, validation_size: int = 5000,
                 training: bool = False) -> Dataset:
  """CIFAR-10: x (N, 32, 32, 3) float32 pixels in 0..255, the range the
  MLPerf Tiny ResNet-8 (ic_resnet8.h5) takes.

  Calibration and validation are disjoint seeded random subsets of the
  50,000 training images (decoding all of them is slow); test is all 10,000
  test images, shuffled with the seed (the shared file orders them by
  class). From $FREEML_DATA_DIR these are the JPEG copies (quality about 75).
  With `training`, train is every training image outside validation
  (calibration included), in seeded random order.
  """
  root = _data_dir("cifar10", can_download=True)
  if root is None:
    import tf_keras
    (x_train, y_train), (x_test, y_test) = _download("cifar10",
                                                     tf_keras.datasets.cifar10.load_data)
    order = _permutation(len(x_train))
    cal, val = order[:calibration_size], order[calibration_size:calibration_size + validation_size]
    x_test, y_test = _shuffled(x_test.astype(np.float32), y_test.reshape(-1).astype(np.int64))
    y_train = y_train.reshape(-1).astype(np.int64)
    train = _training_order(order, calibration_size, validation_size) if training else None
    return Dataset("cifar10", x_train[cal].astype(np.float32), y_train[cal],
                   x_train[val].astype(np.float32), y_train[val], x_test, y_test,
                   None if train is None else x_train[train].astype(np.float32),
                   None if train is None else y_train[train])
  with np.load(_file(root, "cifar10_jpeg.npz")) as data:
    train_blob, train_offsets = data["train_jpeg"], data["train_offsets"]
    test_blob, test_offsets = data["test_jpeg"], data["test_offsets"]
    y_train = data["train_labels"].astype(np.int64)
    y_test_all = data["test_labels"].astype(np.int64)
  order = _permutation(len(y_train))
  cal, val = order[:calibration_size], order[calibration_size:calibration_size + validation_size]
  test = _permutation(len(y_test_all))
  train = _training_order(order, calibration_size, validation_size) if training else None
  return Dataset(
      "cifar10",
      _decode_jpegs(train_blob, train_offsets, cal), y_train[cal],
      _decode_jpegs(train_blob, train_offsets, val), y_train[val],
      _decode_jpegs(test_blob, test_offsets, test), y_test_all[test],
      None if train is None else _decode_jpegs(train_blob, train_offsets, train),
      None if train is None else y_train[train])


def _training_order(order: np.ndarray, calibration_size: int, validation_size: int) -> np.ndarray:
  """Every training index but validation's, calibration's first."""
  return np.concatenate([order[:calibration_size], order[calibration_size + validation_size:]])


def load_speech_commands() -> Dataset:
  """Speech Commands v2, the 1,000 MLPerf Tiny KWS test clips, as the float
  input of the MLPerf Tiny DS-CNN (kws_dscnn.h5): (mfcc_int8 - 83) *
  0.5847029, shape (N, 49, 10, 1); 12 classes.

  Only this test selection ships, so it is split 50/20/30 after a seeded
  shuffle: 500 calibration, 200 validation, 300 test clips. The model was
  trained on other clips, so none of these was seen in training.
  """
  with np.load(_file(_data_dir("speech_commands"), "kws12_test1000.npz")) as data:
    mfcc, y = data["mfcc_int8"], data["y"]
  x = ((mfcc.astype(np.float32) - np.float32(83)) * np.float32(0.5847029))[..., None]
  return _split("speech_commands", x, y.astype(np.int64), 0.3, 0.2)


def load_uci_har() -> Dataset:
  """UCI HAR inertial windows: x (N, 128, 9) float32 as shipped (body
  acceleration in g, gyroscope in rad/s, total acceleration in g); labels
  0..5 (activity id - 1).

  Only the 2,947 windows of the test subjects ship, so they are split
  50/20/30 after a seeded shuffle (windows of one subject can land in
  several splits).
  """
  with np.load(_file(_data_dir("uci_har"), "uci_har_test_inertial.npz")) as data:
    x, y = data["X"].astype(np.float32), data["y"].astype(np.int64) - 1
  return _split("uci_har", x, y, 0.3, 0.2)


def _labels(y: np.ndarray) -> np.ndarray:
  """Class indexes from indexes or one-hot rows."""
  return (np.argmax(y, axis=-1) if y.ndim == 2 else y.reshape(-1)).astype(np.int64)


def load_npz(path: Path) -> Dataset:
  """A user's .npz: arrays x and y, used as given (scale them as the model
  expects). Split 60/20/20 after a seeded shuffle; with x_test and y_test
  too, those are the test split and x, y are split 80/20 into calibration
  and validation. y may hold class indexes or one-hot rows.
  """
  try:
    data = np.load(path)
  except Exception as e:
    raise ConverterError(f"--data {path}: not a readable .npz file ({type(e).__name__})") from e
  with data:
    missing = [k for k in ("x", "y") if k not in data.files]
    if missing:
      raise ConverterError(f"--data {path}: an .npz dataset needs arrays 'x' and 'y'; it has "
                           f"{', '.join(data.files) or 'none'}")
    x, y = data["x"].astype(np.float32), _labels(data["y"])
    test = (data["x_test"].astype(np.float32), _labels(data["y_test"])) \
        if "x_test" in data.files and "y_test" in data.files else None
  if len(x) != len(y) or (test and len(test[0]) != len(test[1])):
    raise ConverterError(f"--data {path}: x and y have different lengths")
  # NaN or infinite samples would reach TFLite's calibration, which crashes.
  for name, values in (("x", x), ("x_test", test[0] if test else x)):
    if not np.all(np.isfinite(values)):
      raise ConverterError(f"--data {path}: array '{name}' holds NaN or infinite values")
  if test is None:
    return _split(path.stem, x, y, 0.2, 0.2)
  part = _split(path.stem, x, y, 0.0, 0.2)
  return dataclasses.replace(part, x_test=test[0], y_test=test[1])


_FROM_DATA_DIR = frozenset({"mnist", "cifar10", "speech_commands", "uci_har"})
_DOWNLOADABLE = frozenset({"mnist", "cifar10"})
_WITH_TRAIN_SPLIT = frozenset({"mnist", "cifar10"})

LOADERS: Dict[str, Callable[..., Dataset]] = {
    "digits": load_digits,
    "mnist": load_mnist,
    "cifar10": load_cifar10,
    "speech_commands": load_speech_commands,
    "uci_har": load_uci_har,
}


def check_spec(spec: str) -> None:
  """Refuses a --data value that cannot load, before anything slow runs.

  Raises:
    ConverterError: neither a built-in name nor an existing .npz file, or a
      loader whose $FREEML_DATA_DIR folder is missing (and cannot download).
  """
  if spec in LOADERS:
    if spec in _FROM_DATA_DIR:
      _data_dir(spec, can_download=spec in _DOWNLOADABLE)
    return
  if Path(spec).suffix != ".npz":
    raise ConverterError(f"--data must be one of {', '.join(LOADERS)} or an .npz file, "
                         f"got '{spec}'")
  if not Path(spec).is_file():
    raise ConverterError(f"--data {spec}: no such file")


def load(spec: str, training: bool = False) -> Dataset:
  """A built-in loader by name, or an .npz path.

  Args:
    training: also load the train split where it is separate (MNIST,
      CIFAR-10); see Dataset.training().

  Raises:
    ConverterError: unknown name, missing file or data folder.
  """
  check_spec(spec)
  if spec in _WITH_TRAIN_SPLIT and training:
    return LOADERS[spec](training=True)
  return LOADERS[spec]() if spec in LOADERS else load_npz(Path(spec))


def fit_to_shape(x: np.ndarray, shape: Tuple[int, ...], name: str) -> np.ndarray:
  """Reshapes samples to a model's input shape (without batch axis) when
  only the layout differs: a missing or extra trailing channel axis of 1, or
  flattening. Anything else is a mismatch, not a layout question.

  Raises:
    ConverterError: the samples do not fit the model input.
  """
  have, want = tuple(x.shape[1:]), tuple(int(d) for d in shape)
  if have == want:
    return x
  same_size = int(np.prod(have)) == int(np.prod(want))
  layout_only = (want == have + (1,) or have == want + (1,)
                 or (same_size and (len(want) == 1 or len(have) == 1)))
  if layout_only:
    return x.reshape((len(x),) + want)
  raise ConverterError(f"--data {name} gives samples of shape {have}, the model takes {want}; "
                       "give data shaped like the model input")
