"""Loads what a user brings: a Keras HDF5 file, a SavedModel folder or an
int8 .tflite file."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional, Tuple

from converter.errors import ConverterError

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@dataclasses.dataclass
class LoadedModel:
  """kind is 'keras', 'saved_model' or 'tflite'; exactly one payload is set."""
  kind: str
  path: Path
  keras_model: Optional[Any] = None
  tflite_bytes: Optional[bytes] = None

  @property
  def input_shape(self) -> Tuple[int, ...]:
    if self.keras_model is not None:
      return tuple(self.keras_model.input_shape)
    raise ConverterError("input shape is only known for Keras models")


def load_model(path: Path) -> LoadedModel:
  """Detects the format from the content, not the name.

  Raises:
    ConverterError: missing path, unknown format, or a file that is not a
      Keras model.
  """
  path = Path(path)
  if path.is_dir():
    if not (path / "saved_model.pb").exists():
      raise ConverterError(f"{path} is a folder but not a SavedModel (no saved_model.pb)")
    return LoadedModel("saved_model", path)
  if not path.is_file():
    raise ConverterError(f"--in {path}: no such file or folder")
  head = path.read_bytes()[:8]
  if len(head) >= 8 and head[4:8] == b"TFL3":
    return LoadedModel("tflite", path, tflite_bytes=path.read_bytes())
  if head == _HDF5_SIGNATURE:
    return LoadedModel("keras", path, keras_model=_load_keras(path))
  raise ConverterError(f"--in {path}: not a Keras HDF5 file, a SavedModel folder or a .tflite "
                       "model")


def _load_keras(path: Path):
  import h5py
  import tf_keras
  with h5py.File(path, "r") as f:
    if "model_config" not in f.attrs:
      raise ConverterError(f"--in {path}: an HDF5 file without a Keras model in it "
                           "(no model_config; weights-only files need their model code)")
  try:
    return tf_keras.models.load_model(path, compile=False)
  except Exception as e:  # Keras raises many types for unknown layers
    first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise ConverterError(f"--in {path}: Keras could not load the model: {first_line}") from e
