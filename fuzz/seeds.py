"""Seed inputs for the fuzz targets of fuzz/ (docs/fuzzing.md), written by
the tests and by bench/fuzz_soak.py alike."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Dict

import numpy as np

MODEL_TARGETS = ("model_reader_fuzzer", "inference_fuzzer")
RECOVERY_TARGET = "nvm_recovery_fuzzer"
RAW_MODE = 0x80  # nvm_recovery_fuzzer: the input is an NVM image


def sparse_model() -> bytes:
  """A small model with a sparse custom op in each format (docs/sparse.md):
  conv in delta, depthwise in bitmask, fully connected in CSR and bitmask."""
  from converter import sparse_format as formats
  from tests.graphgen.builder import build
  from tests.graphgen.layers import Net
  from tests.graphgen.sparse import prune, sparsify

  n = Net(np.random.default_rng(17))
  x = n.conv(n.input((1, 6, 6, 3)), 4, stride=2, act="relu")
  x = n.depthwise(x, 2, k=3, dilation=2)
  x = n.fc(n.flatten(x), 6)
  n.output(n.fc(x, 3, per_channel=True))
  prune(n.graph, 0.4, n.rng)
  return build(sparsify(n.graph, [formats.DELTA, formats.BITMASK, formats.CSR, formats.BITMASK]))


def write_model_seeds(folder: Path, models: Dict[str, bytes]) -> Path:
  """Whole models and their truncations at 10, 50 and 90%, with
  sparse_model() among them so that the sparse ops' parsing is reached."""
  folder.mkdir(parents=True, exist_ok=True)
  models = {**models, "sparse": sparse_model()}
  for name, data in models.items():
    (folder / f"{name}.tflite").write_bytes(data)
    for percent in (10, 50, 90):
      (folder / f"{name}.{percent}").write_bytes(data[:len(data) * percent // 100])
  return folder


def write_recovery_seeds(folder: Path, model: bytes) -> Path:
  """For nvm_recovery_fuzzer on `model`: failure histories with damage in
  each part of the NVM, and real NVM images left by power failures."""
  from tflm_freeml.intermittent import HEADER_BYTES, IntermittentRuntime

  folder.mkdir(parents=True, exist_ok=True)
  rt = IntermittentRuntime(model)
  rng = np.random.default_rng(5)
  regions = [0, 64, HEADER_BYTES - 16, HEADER_BYTES, rt.memory.nvm_bytes - 4]
  for plan in range(4):
    events = b"".join(
        struct.pack("<HHI", int(rng.integers(1, 400)),
                    regions[i % len(regions)] + int(rng.integers(4)), int(rng.integers(1, 1 << 32)))
        for i in range(8))
    (folder / f"history-plan{plan}").write_bytes(bytes([plan]) + events)
  x = [np.zeros(d.shape, d.dtype) for d in rt.inputs]
  for write in (3, 10, 25, 60, 0):
    nvm = rt.new_nvm()
    rt.boot(nvm, x, fail_at_write=write)
    (folder / f"image-after-write-{write}").write_bytes(bytes([RAW_MODE]) + nvm.tobytes())
  return folder
