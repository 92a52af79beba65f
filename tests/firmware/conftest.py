"""Fixtures of the firmware tests: each model converted, built into its own
firmware ELF, with inputs and the outputs TFLM gives for them."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import List

import numpy as np
import pytest

from converter.datasets import load_digits
from tests.converter.helpers import DIGITS_H5, run_converter
from tests.runtime.conftest import quantized_inputs, tflm_outputs
from tflm_freeml import firmware


@dataclasses.dataclass(frozen=True)
class DeviceModel:
  """A model as the firmware tests use it."""
  name: str
  model_dir: Path
  elf: Path
  inputs: List[bytes]
  expected: List[bytes]  # TFLM's output for each input


def convert(out: Path, *args) -> Path:
  result = run_converter(*args, "--out", out)
  assert result.returncode == 0, result.stderr
  return out


def device_model(name: str, model_dir: Path, inputs: List[np.ndarray],
                 elf_dir: Path) -> DeviceModel:
  """Builds the firmware into elf_dir: model_dir may be another fixture's."""
  model = (model_dir / "model.tflite").read_bytes()
  elf = firmware.build(model_dir, elf_dir / "freeml_fw.elf")
  expected = [y.tobytes() for y in tflm_outputs(model, inputs)]
  return DeviceModel(name, model_dir, elf, [x.tobytes() for x in inputs], expected)


def random_inputs(model_dir: Path, count: int, seed: int) -> List[np.ndarray]:
  from tflm_freeml.runtime import Runtime
  details = Runtime((model_dir / "model.tflite").read_bytes()).inputs[0]
  rng = np.random.default_rng(seed)
  return [rng.integers(-128, 128, details.shape, dtype=np.int8) for _ in range(count)]


@pytest.fixture(scope="session")
def digits_device(digits_out, tmp_path_factory) -> DeviceModel:
  """The default model, default tile plan, three test digits."""
  model = (digits_out / "model.tflite").read_bytes()
  return device_model("digits", digits_out, quantized_inputs(model, load_digits().x_test[:3]),
                      tmp_path_factory.mktemp("digits_elf"))


@pytest.fixture(scope="session")
def digits_small_tiles_device(tmp_path_factory) -> DeviceModel:
  """The default model cut into small tiles (256 MACs, 32 B): its default
  tiles are large against its short inference, and a failure test needs
  many commit points between failures."""
  out = convert(tmp_path_factory.mktemp("digits_small_tiles"), "--in", DIGITS_H5, "--data",
                "digits", "--max-tile-macs", "256", "--max-tile-bytes", "32")
  model = (out / "model.tflite").read_bytes()
  return device_model("digits", out, quantized_inputs(model, load_digits().x_test[3:5]), out)


@pytest.fixture(scope="session")
def digits_gnet_rank_device(digits_gnet_rank_out, tmp_path_factory) -> DeviceModel:
  """The default model with a two-layer int4 gNet head, three test digits.
  Expected outputs are the host runtime's: TFLM cannot allocate a model
  whose head holds int4 weights (docs/tflm.md), and the host runtime equals
  TFLM on this model's reference and head (tests/converter/test_gnet.py)."""
  from tflm_freeml.runtime import Runtime
  model = (digits_gnet_rank_out / "model.tflite").read_bytes()
  inputs = quantized_inputs(model, load_digits().x_test[:3])
  host = Runtime(model)
  elf = firmware.build(digits_gnet_rank_out,
                       tmp_path_factory.mktemp("digits_gnet_rank_elf") / "freeml_fw.elf")
  return DeviceModel("digits_gnet_rank", digits_gnet_rank_out, elf,
                     [x.tobytes() for x in inputs],
                     [host.invoke([x])[0].tobytes() for x in inputs])


@pytest.fixture(scope="session")
def kws_device(shared_dir, tmp_path_factory) -> DeviceModel:
  """The shared MLPerf Tiny DS-CNN keyword spotter (int8)."""
  out = convert(tmp_path_factory.mktemp("kws"), "--in",
                shared_dir / "models" / "kws_dscnn_int8.tflite")
  return device_model("kws", out, random_inputs(out, 3, seed=11), out)


@pytest.fixture(scope="session")
def resnet_device(shared_dir, tmp_path_factory) -> DeviceModel:
  """The shared MLPerf Tiny ResNet-8 image classifier (int8)."""
  out = convert(tmp_path_factory.mktemp("ic"), "--in",
                shared_dir / "models" / "ic_resnet8_int8.tflite")
  return device_model("ic", out, random_inputs(out, 3, seed=12), out)


@pytest.fixture(params=["digits", "kws", "resnet"])
def any_device(request) -> DeviceModel:
  return request.getfixturevalue(f"{request.param}_device")
