"""Keeps TensorFlow's native console output off the user's screen.

TensorFlow's C++ code writes start-up chatter (CUDA probing, CPU features)
and converter diagnostics straight to file descriptor 2, some of it before
TF_CPP_MIN_LOG_LEVEL is read. The converter's own progress lines would drown
in it, so the noisy calls run with fd 2 sent to a temporary file; the text is
kept, because when a call fails its diagnostics are the explanation.

Example:
  with captured_stderr() as captured:
    import tensorflow
  if failed: print(captured.text)
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import tempfile
from typing import Iterator


@dataclasses.dataclass
class Captured:
  """What fd 2 received inside the block; filled in when the block ends."""
  text: str = ""


@contextlib.contextmanager
def captured_stderr() -> Iterator[Captured]:
  """Redirects fd 2 (C and Python writes alike) to a temporary file."""
  captured = Captured()
  sys.stderr.flush()
  with tempfile.TemporaryFile() as sink:
    saved = os.dup(2)
    os.dup2(sink.fileno(), 2)
    try:
      yield captured
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      sink.seek(0)
      captured.text = sink.read().decode("utf-8", "replace")


def import_tensorflow_quietly() -> None:
  """Imports TensorFlow and probes its devices with the start-up chatter
  captured, so that later calls print nothing unasked."""
  with captured_stderr():
    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")
    tf.config.list_physical_devices()
    tf.constant(0)
