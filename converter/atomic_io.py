"""Atomic file writes: a reader sees the old file or the complete new one,
and a failed run leaves nothing that looks like a valid output."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes | str) -> None:
  """Writes `data` to a temporary file beside `path`, then renames it."""
  path = Path(path)
  payload = data.encode("utf-8") if isinstance(data, str) else data
  fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(payload)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    Path(tmp).unlink(missing_ok=True)
    raise
