"""Fixtures of the runtime tests: models, inputs and the outputs TFLM gives
for them (the reference every runtime mode must reproduce byte for byte)."""

from __future__ import annotations

from typing import List

import numpy as np
import pytest

from converter import tflm_oracle
from converter.datasets import load_digits
from tflm_freeml.runtime import Runtime


@pytest.fixture(scope="session")
def resnet_model(shared_dir) -> bytes:
  """The shared MLPerf Tiny ResNet-8 (int8): residual ADDs, 12.5M MACs."""
  return (shared_dir / "models" / "ic_resnet8_int8.tflite").read_bytes()


def quantized_inputs(model: bytes, x: np.ndarray) -> List[np.ndarray]:
  """Float samples quantized as the model's int8 input expects, one array
  of batch 1 per sample."""
  details = Runtime(model).inputs[0]
  q = np.round(x / details.scale) + details.zero_point
  return [s[None].astype(np.int8) for s in np.clip(q, -128, 127)]


@pytest.fixture(scope="session")
def digits_inputs(digits_model) -> List[np.ndarray]:
  """The first test digits, as the default model's int8 input."""
  return quantized_inputs(digits_model, load_digits().x_test[:8])


@pytest.fixture(scope="session")
def resnet_inputs(resnet_model) -> List[np.ndarray]:
  rng = np.random.default_rng(3)
  return [rng.integers(-128, 128, (1, 32, 32, 3), dtype=np.int8) for _ in range(2)]


def tflm_outputs(model: bytes, inputs: List[np.ndarray]) -> List[np.ndarray]:
  """TFLM's output for each input, checked equal to the plain runtime's."""
  plain = Runtime(model)
  expected = []
  for x in inputs:
    (reference,) = tflm_oracle.invoke(model, [x])
    (ours,) = plain.invoke([x])
    assert np.array_equal(ours, reference)
    expected.append(reference)
  return expected
