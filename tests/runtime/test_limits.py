"""Each limit the runtime enforces on a model (docs/fuzzing.md), tested at
its edge: the last value accepted and the first refused, with a message
that names the tensor or op and the limit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tensorflow.lite.python import schema_py_generated as schema

from tests.graphgen.builder import Graph, Op, Tensor, build
from tflm_freeml.runtime import FreemlError, Runtime


def _fc_model(depth: int = 8, bias: int = 0, input_zero_point: int = 0,
              input_scale: float = 0.05, filter_scale: float = 0.01) -> bytes:
  """One FULLY_CONNECTED: [1, depth] x [2, depth] + bias -> [1, 2]."""
  g = Graph()
  x = g.add(Tensor((1, depth), scale=input_scale, zero_point=input_zero_point, name="x"))
  w = g.add(Tensor((2, depth), scale=filter_scale, data=np.ones((2, depth), np.int8),
                   name="w"))
  b = g.add(Tensor((2,), "int32", scale=input_scale * filter_scale,
                   data=np.array([bias, 0], np.int32), name="b"))
  y = g.add(Tensor((1, 2), scale=0.5, zero_point=0, name="y"))
  g.ops.append(Op(schema.BuiltinOperator.FULLY_CONNECTED, [x, w, b], [y],
                  schema.BuiltinOptions.FullyConnectedOptions, schema.FullyConnectedOptionsT()))
  g.inputs, g.outputs = [x], [y]
  return build(g)


def _softmax_model(depth: int) -> bytes:
  g = Graph()
  x = g.add(Tensor((1, depth), scale=0.1, zero_point=0, name="x"))
  y = g.add(Tensor((1, depth), scale=1.0 / 256, zero_point=-128, name="y"))
  options = schema.SoftmaxOptionsT()
  options.beta = 1.0
  g.ops.append(Op(schema.BuiltinOperator.SOFTMAX, [x], [y], schema.BuiltinOptions.SoftmaxOptions,
                  options))
  g.inputs, g.outputs = [x], [y]
  return build(g)


def _refused(model: bytes, *fragments: str) -> None:
  with pytest.raises(FreemlError) as error:
    Runtime(model)
  for fragment in fragments:
    assert fragment in str(error.value), str(error.value)


def test_products_per_output():
  Runtime(_fc_model(depth=16384)).invoke([np.ones((1, 16384), np.int8)])
  _refused(_fc_model(depth=16385), "16385 products per output", "at most 16384")


def test_bias_magnitude():
  for bias in (1 << 30, -(1 << 30)):
    Runtime(_fc_model(bias=bias))
  _refused(_fc_model(bias=(1 << 30) + 1), "bias 0 is 1073741825", "2^30")
  _refused(_fc_model(bias=-(1 << 31)), "bias 0 is -2147483648")


def test_int8_zero_point_range():
  for zero_point in (-128, 127):
    Runtime(_fc_model(input_zero_point=zero_point))
  _refused(_fc_model(input_zero_point=128), "tensor 0 has zero point 128", "-128..127")
  _refused(_fc_model(input_zero_point=-129), "zero point -129")


@pytest.mark.parametrize("scale", [0.0, -0.05, math.nan, math.inf])
def test_activation_scale_must_be_finite_and_positive(scale):
  _refused(_fc_model(input_scale=scale), "tensor 0 has scale", "finite and positive")


def test_weights_may_have_scale_zero():
  (y,) = Runtime(_fc_model(filter_scale=0.0)).invoke([np.ones((1, 8), np.int8)])
  assert y.shape == (1, 2)
  _refused(_fc_model(filter_scale=math.nan), "tensor 1 has scale nan")


def test_softmax_row_length():
  Runtime(_softmax_model(2048)).invoke([np.zeros((1, 2048), np.int8)])
  _refused(_softmax_model(2049), "rows of 2049 values", "at most 2048")


def _with_extra_tensor(tensor: Tensor) -> bytes:
  """The FC model with one more activation tensor feeding a second op."""
  g = Graph()
  x = g.add(Tensor((1, 8), scale=0.05, name="x"))
  w = g.add(Tensor((2, 8), scale=0.01, data=np.ones((2, 8), np.int8), name="w"))
  y = g.add(Tensor((1, 2), scale=0.5, name="y"))
  g.ops.append(Op(schema.BuiltinOperator.FULLY_CONNECTED, [x, w, -1], [y],
                  schema.BuiltinOptions.FullyConnectedOptions, schema.FullyConnectedOptionsT()))
  extra = g.add(tensor)
  g.ops.append(Op(schema.BuiltinOperator.RESHAPE, [y], [extra]))
  g.inputs, g.outputs = [x], [extra]
  return build(g)


def test_tensor_rank_and_size():
  _refused(_with_extra_tensor(Tensor((1, 1, 1, 1, 2), scale=0.5, name="r5")),
           "tensor 3 has rank 5", "up to 4")
  _refused(_with_extra_tensor(Tensor((1, (1 << 28) + 1), scale=0.5, name="long")),
           "tensor 3 has dimension 1 of size 268435457")
  # Every dimension within the limit, their product over it.
  _refused(_with_extra_tensor(Tensor((1 << 14, (1 << 14) + 1), scale=0.5, name="big")),
           "tensor 3", "larger than the runtime's limit of 268435456 bytes")
