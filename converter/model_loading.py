"""Loads what a user brings: a Keras HDF5 file, a SavedModel folder or an
int8 .tflite file, recognised by content rather than by file name.

Keras files are loaded with tf_keras (Keras 2; see converter/__init__.py for
why) and compile=False, since only the forward pass is converted.

Example:
  model = load_model(Path("examples/digits/digits_cnn.h5"))
  model.kind, model.input_shape      # ('keras', (8, 8, 1))
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from converter.errors import ConverterError
from converter.tflite_graph import KerasLayers

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"
_EXPECTED = ("expected a Keras HDF5 file (.h5), a SavedModel folder or an int8 .tflite file")


@dataclasses.dataclass
class LoadedModel:
  """A model ready to convert or pass through.

  kind: 'keras' (HDF5 or a Keras SavedModel), 'saved_model' (a plain TF
    SavedModel) or 'tflite'.
  keras_model: the tf_keras model for kind 'keras'.
  signature: the serving function of a plain SavedModel.
  tflite_bytes: the file for kind 'tflite'.
  saved_model: the loaded SavedModel object; held because `signature`
    reads its variables.
  """
  kind: str
  path: Path
  keras_model: Optional[Any] = None
  signature: Optional[Callable[..., Any]] = None
  tflite_bytes: Optional[bytes] = None
  saved_model: Optional[Any] = None

  @property
  def is_float(self) -> bool:
    """True when the model still has to be quantized."""
    return self.kind != "tflite"

  @property
  def input_shape(self) -> Tuple[int, ...]:
    """The float model's input shape without the batch axis."""
    if self.keras_model is not None:
      shape = self.keras_model.inputs[0].shape
    elif self.signature is not None:
      (spec,) = self.signature.structured_input_signature[1].values()
      shape = spec.shape
    else:
      raise ConverterError("the input shape of a .tflite model comes from the file")
    return tuple(int(d) if d is not None else -1 for d in list(shape)[1:])

  def predict(self, x: np.ndarray) -> np.ndarray:
    """Float outputs (first output) of the source model for a batch."""
    if self.keras_model is not None:
      out = self.keras_model.predict(x, batch_size=256, verbose=0)
      return np.asarray(out[0] if isinstance(out, list) else out)
    if self.signature is not None:
      import tensorflow as tf
      (name,) = self.signature.structured_input_signature[1].keys()
      results = []
      for start in range(0, len(x), 256):
        out = self.signature(**{name: tf.constant(x[start:start + 256], tf.float32)})
        results.append(next(iter(out.values())).numpy())
      return np.concatenate(results)
    raise ConverterError("a .tflite model has no float reference to predict with")

  def keras_layers(self) -> Optional[KerasLayers]:
    """Layer names and types, to name the Keras layer each op came from."""
    if self.keras_model is None:
      return None
    names: List[str] = []
    types: Dict[str, str] = {}

    def visit(layer) -> None:
      names.append(layer.name)
      types[layer.name] = type(layer).__name__
      for inner in getattr(layer, "layers", []):
        visit(inner)

    for layer in self.keras_model.layers:
      visit(layer)
    outputs = tuple(self.keras_model.output_names)
    return KerasLayers(tuple(names), types, outputs)


def detect_kind(path: Path) -> str:
  """The model format from the content: 'saved_model', 'tflite', 'hdf5' or
  'keras_archive' (a .keras zip saved by tf_keras).
  Cheap (no TensorFlow), so bad paths are refused at once.

  Raises:
    ConverterError: missing path, empty or unknown file, a folder that is not
      a SavedModel.
  """
  path = Path(path)
  if path.is_dir():
    if not (path / "saved_model.pb").exists() and not (path / "saved_model.pbtxt").exists():
      raise ConverterError(f"--in {path}: a folder but not a SavedModel (no saved_model.pb); "
                           f"{_EXPECTED}")
    return "saved_model"
  if not path.exists():
    raise ConverterError(f"--in {path}: no such file or folder")
  if not path.is_file():
    raise ConverterError(f"--in {path}: not a regular file; {_EXPECTED}")
  with open(path, "rb") as f:
    head = f.read(8)
  if not head:
    raise ConverterError(f"--in {path}: the file is empty; {_EXPECTED}")
  if len(head) == 8 and head[4:8] == b"TFL3":
    return "tflite"
  if head == _HDF5_SIGNATURE:
    _check_keras_hdf5(path)
    return "hdf5"
  if head[:4] == _ZIP_SIGNATURE:
    if path.suffix != ".keras":
      raise ConverterError(f"--in {path}: a zip archive but not a .keras model file; {_EXPECTED}")
    return "keras_archive"
  raise ConverterError(f"--in {path}: not a Keras HDF5 file, a SavedModel folder or a .tflite "
                       f"model (it starts with {head!r}); {_EXPECTED}")


def load_model(path: Path) -> LoadedModel:
  """Detects the format from the content and loads the model.

  Raises:
    ConverterError: what detect_kind refuses, an HDF5 file without a Keras
      model, a model Keras cannot load, or a model with more than one input
      or unknown input dimensions.
  """
  path = Path(path)
  kind = detect_kind(path)
  if kind == "saved_model":
    return _check_inputs(_load_saved_model(path))
  if kind == "tflite":
    return LoadedModel("tflite", path, tflite_bytes=path.read_bytes())
  return _check_inputs(LoadedModel("keras", path, keras_model=_load_keras_file(path)))


def _first_line(error: Exception) -> str:
  text = str(error).strip()
  return text.splitlines()[0] if text else type(error).__name__


def _check_keras_hdf5(path: Path) -> None:
  """Refuses HDF5 files that hold no Keras model (data, weights only)."""
  import h5py
  try:
    with h5py.File(path, "r") as f:
      has_model = "model_config" in f.attrs
  except OSError as e:
    raise ConverterError(f"--in {path}: a damaged HDF5 file ({_first_line(e)})") from e
  if not has_model:
    raise ConverterError(f"--in {path}: an HDF5 file without a Keras model in it (no "
                         "model_config; a weights-only file needs the code that builds the model: "
                         "build it, load the weights, save it with model.save('model.h5'))")


def _load_keras_file(path: Path):
  """An HDF5 file, or a .keras archive saved by tf_keras (Keras 3 archives
  differ: tf_keras cannot read them)."""
  import tf_keras
  try:
    return tf_keras.models.load_model(path, compile=False)
  except Exception as e:  # Keras raises many types for unknown layers and bad files
    hint = ("save it as HDF5 (model.save('model.h5')), a Keras 3 .keras archive cannot be read "
            "by tf_keras" if path.suffix == ".keras" else
            "custom layers are not supported: the runtime runs builtin ops only")
    raise ConverterError(f"--in {path}: Keras could not load the model: {_first_line(e)} "
                         f"({hint})") from e


def _load_saved_model(path: Path) -> LoadedModel:
  import tensorflow as tf
  import tf_keras
  if (path / "keras_metadata.pb").exists():
    try:
      return LoadedModel("keras", path, keras_model=tf_keras.models.load_model(path,
                                                                               compile=False))
    except Exception:  # not loadable as Keras: convert the plain SavedModel below
      pass
  try:
    loaded = tf.saved_model.load(str(path))
  except Exception as e:
    raise ConverterError(f"--in {path}: TensorFlow could not load the SavedModel: "
                         f"{_first_line(e)}") from e
  signature = loaded.signatures.get("serving_default")
  if signature is None:
    raise ConverterError(f"--in {path}: the SavedModel has no 'serving_default' signature")
  return LoadedModel("saved_model", path, signature=signature, saved_model=loaded)


def _check_inputs(model: LoadedModel) -> LoadedModel:
  """Refuses what calibration cannot feed: several inputs, unknown sizes."""
  if model.keras_model is not None:
    count = len(model.keras_model.inputs)
  else:
    count = len(model.signature.structured_input_signature[1])
  if count != 1:
    raise ConverterError(f"--in {model.path}: the model has {count} inputs; the converter "
                         "calibrates and evaluates single-input models")
  shape = model.input_shape
  if any(d < 1 for d in shape):
    raise ConverterError(f"--in {model.path}: the model's input shape {shape} has unknown "
                         "dimensions (-1); give the model a fixed input shape (e.g. "
                         "keras.Input((49, 10, 1))) and save it again")
  return model


def save_h5(model, path: Path) -> None:
  """Saves without the optimizer, to a temporary file renamed over `path`."""
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(f".{path.name}.tmp.h5")
  try:
    with warnings.catch_warnings():  # HDF5 is what the converter reads
      warnings.filterwarnings("ignore", message=".*HDF5 file.*")
      model.save(tmp, include_optimizer=False)
    os.replace(tmp, path)
  finally:
    tmp.unlink(missing_ok=True)
