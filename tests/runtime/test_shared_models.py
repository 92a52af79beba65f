"""Every tensor the runtime computes equals TFLM's, byte for byte, on the
shared MLPerf Tiny int8 models (read in place from ../shared/models)."""

from __future__ import annotations

import numpy as np
import pytest

from converter import tflm_oracle
from tflm_freeml.runtime import Runtime


def assert_all_tensors_equal(model: bytes, inputs, label: str) -> int:
  """Runs both engines; returns how many tensors were compared."""
  expected = tflm_oracle.invoke_all_tensors(model, inputs)
  got = Runtime(model).invoke_all_tensors(inputs)
  assert got, "the runtime produced no tensors"
  for index, value in got.items():
    want = expected[index].reshape(value.shape)
    mismatches = np.flatnonzero(want.reshape(-1) != value.reshape(-1))
    assert mismatches.size == 0, (
        f"{label}: tensor {index}: {mismatches.size} of {value.size} differ; first at "
        f"{mismatches[0]}: got {value.reshape(-1)[mismatches[0]]}, "
        f"expected {want.reshape(-1)[mismatches[0]]}")
  return len(got)


def kws_inputs(shared_dir, count: int):
  data = np.load(shared_dir / "datasets" / "speech_commands" / "kws12_test1000.npz")
  return [data["mfcc_int8"][i].reshape(1, 49, 10, 1).astype(np.int8) for i in range(count)]


def test_kws_dscnn_int8_all_tensors(shared_dir):
  model = (shared_dir / "models" / "kws_dscnn_int8.tflite").read_bytes()
  for i, x in enumerate(kws_inputs(shared_dir, 3)):
    compared = assert_all_tensors_equal(model, [x], f"kws clip {i}")
    assert compared >= 14  # input + one output per op


def test_ic_resnet8_int8_all_tensors(shared_dir):
  model = (shared_dir / "models" / "ic_resnet8_int8.tflite").read_bytes()
  rng = np.random.default_rng(1)
  for i in range(2):
    x = rng.integers(-128, 128, size=(1, 32, 32, 3), dtype=np.int8)
    assert_all_tensors_equal(model, [x], f"ic random image {i}")


@pytest.mark.parametrize("name", ["kws_dscnn_int8.tflite", "ic_resnet8_int8.tflite"])
def test_runtime_ram_below_tflm_arena(shared_dir, name):
  model = (shared_dir / "models" / name).read_bytes()
  assert Runtime(model).ram.total_bytes <= tflm_oracle.arena_bytes(model)
