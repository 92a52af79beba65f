"""Malformed and hostile inputs to python -m converter (docs/fuzzing.md has
the table): each gives one 'converter: error:' line, exit status 2, and no
output that looks valid. The cases the other test files cover (empty file,
random bytes, HDF5 without a model, unsupported layers, float and truncated
.tflite) are not repeated here."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tests.converter.helpers import DIGITS_H5, assert_refused, run_converter


def _digits_with_weight(tmp_path, layer: str, value: float):
  import tf_keras as keras
  model = keras.models.load_model(DIGITS_H5, compile=False)
  weights = model.get_layer(layer).get_weights()
  weights[0].flat[0] = value
  model.get_layer(layer).set_weights(weights)
  path = tmp_path / "model.h5"
  model.save(path, save_format="h5")
  return path


@pytest.mark.parametrize("layer,value", [("conv1", np.nan), ("fc1", np.inf)])
def test_non_finite_weights_are_refused_naming_the_layer(tmp_path, layer, value):
  # NaN weights used to crash TFLite's quantizer, and with it the process.
  path = _digits_with_weight(tmp_path, layer, value)
  out = tmp_path / "out"
  assert_refused(run_converter("--in", path, "--data", "digits", "--out", out), out,
                 f"layer '{layer}'", "NaN or infinite weights")


def test_non_finite_data_is_refused(tmp_path):
  x = np.random.default_rng(0).random((50, 8, 8, 1)).astype(np.float32)
  x[3, 1, 1, 0] = np.nan
  data = tmp_path / "data.npz"
  np.savez(data, x=x, y=np.arange(50) % 10)
  out = tmp_path / "out"
  assert_refused(run_converter("--in", DIGITS_H5, "--data", data, "--out", out), out,
                 "array 'x' holds NaN or infinite values")


def test_hybrid_tflite_is_refused_naming_the_op(tmp_path):
  import tensorflow as tf
  import tf_keras as keras
  converter = tf.lite.TFLiteConverter.from_keras_model(
      keras.models.load_model(DIGITS_H5, compile=False))
  converter.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic range: float activations
  path = tmp_path / "hybrid.tflite"
  path.write_bytes(converter.convert())
  out = tmp_path / "out"
  assert_refused(run_converter("--in", path, "--out", out), out, "op 0 CONV_2D",
                 "computes in float32")


def test_huge_declared_tensor_is_refused(tmp_path, digits_model):
  # The input's shape [1, 8, 8, 1] declared as [1, 2^30, 8, 1].
  shape = struct.pack("<5i", 4, 1, 8, 8, 1)
  assert digits_model.count(shape) == 1
  at = digits_model.find(shape) + 8
  huge = digits_model[:at] + struct.pack("<i", 1 << 30) + digits_model[at + 4:]
  path = tmp_path / "huge.tflite"
  path.write_bytes(huge)
  out = tmp_path / "out"
  assert_refused(run_converter("--in", path, "--out", out), out, "tensor 0 has dimension 1",
                 "1073741824")
