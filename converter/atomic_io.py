"""Atomic output: a reader sees the old files or the complete new ones, and
a failed run leaves nothing half-written that looks like a valid output.

Every output is first written to a hidden temporary file in the target
folder (same file system, so the rename is atomic), flushed to disk, and
only then renamed over its final name. write_all stages every file before
renaming any, so one failing write leaves all the final names untouched.

Example:
  write_all(Path("out"), {"model.tflite": model, "report.json": text})
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple, Union

Payload = Union[bytes, str]


def _stage(path: Path, data: Payload) -> Path:
  """Writes `data` to a temporary file beside `path`; returns its path."""
  payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
  fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(payload)
      f.flush()
      os.fsync(f.fileno())
  except BaseException:
    Path(tmp).unlink(missing_ok=True)
    raise
  return Path(tmp)


def write_atomic(path: Path, data: Payload) -> None:
  """Writes one file: temporary file in the same folder, then rename."""
  path = Path(path)
  tmp = _stage(path, data)
  try:
    os.replace(tmp, path)
  except BaseException:
    tmp.unlink(missing_ok=True)
    raise


def write_all(folder: Path, files: Dict[str, Payload]) -> None:
  """Writes several files into `folder` (created if missing): all are staged
  first, then renamed in the given order, so a failure while writing leaves
  none of the final names changed."""
  folder = Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  staged: List[Tuple[Path, Path]] = []
  try:
    for name, data in files.items():
      staged.append((_stage(folder / name, data), folder / name))
    for tmp, final in staged:
      os.replace(tmp, final)
  finally:
    for tmp, _ in staged:
      tmp.unlink(missing_ok=True)
