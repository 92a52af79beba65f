"""Each limit the runtime enforces on a model (docs/fuzzing.md), tested at
its edge: the last value accepted and the first refused, with a message
that names the tensor or op and the limit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tensorflow.lite.python import schema_py_generated as schema

from tests.graphgen.builder import Graph, Op, Tensor, build, pack
from tests.graphgen.layers import Net
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


def _io_model(inputs: int, outputs: int) -> bytes:
  """`inputs` graph inputs, and `outputs` reshapes of them as outputs."""
  n = Net(np.random.default_rng(0))
  xs = [n.input((1, 4), scale=0.1, zp=0) for _ in range(inputs)]
  n.graph.outputs = [n.reshape(xs[i % inputs], (4,)) for i in range(outputs)]
  return build(n.graph)


def test_graph_input_and_output_count():
  rt = Runtime(_io_model(8, 8))
  xs = [np.full((1, 4), i, np.int8) for i in range(8)]
  assert [int(y[0]) for y in rt.invoke(xs)] == list(range(8))
  _refused(_io_model(9, 9), "model has 9 inputs and 9 outputs", "1 to 8")
  _refused(_io_model(1, 9), "model has 1 inputs and 9 outputs")


def _conv_model(stride: int = 1, dilation: int = 1) -> bytes:
  n = Net(np.random.default_rng(0))
  x = n.input((1, 2, 2, 3), scale=0.1, zp=0)
  n.graph.outputs = [n.conv(x, 2, k=1, stride=stride, dilation=dilation, padding="valid")]
  return build(n.graph)


def _pool_model(stride: int = 1, window: int = 1, width: int = 2) -> bytes:
  n = Net(np.random.default_rng(0))
  x = n.input((1, 1, width, 2), scale=0.1, zp=0)
  n.graph.outputs = [n.max_pool(x, (1, window), (1, stride), "valid")]
  return build(n.graph)


def test_stride_and_dilation_bounds():
  x = np.ones((1, 2, 2, 3), np.int8)
  for model in (_conv_model(stride=1024), _conv_model(dilation=1024)):
    (y,) = Runtime(model).invoke([x])
    assert y.shape[-1] == 2
  _refused(_conv_model(stride=1025), "stride 1025x1025 or dilation 1x1 out of range")
  _refused(_conv_model(dilation=1025), "stride 1x1 or dilation 1025x1025 out of range")
  Runtime(_pool_model(stride=1024)).invoke([np.ones((1, 1, 2, 2), np.int8)])
  _refused(_pool_model(stride=1025), "stride 1x1025", "out of range")


def test_pool_window_bound():
  (y,) = Runtime(_pool_model(window=4096, width=4096)).invoke([np.ones((1, 1, 4096, 2), np.int8)])
  assert y.shape == (1, 1, 1, 2)
  _refused(_pool_model(window=4097, width=4097), "window 1x4097 out of range")


def _reshape_chain(ops: int, unused_tensors: int = 0) -> bytes:
  """An input reshaped `ops` times (without shape tensors, so that the ops
  add one tensor each), plus tensors no op uses."""
  g = Graph()
  x = g.add(Tensor((1, 4), scale=0.1, name="x"))
  g.inputs = [x]
  for _ in range(ops):
    y = g.add(Tensor((1, 4), scale=0.1))
    g.ops.append(Op(schema.BuiltinOperator.RESHAPE, [x], [y]))
    x = y
  for _ in range(unused_tensors):
    g.add(Tensor((1, 4), scale=0.1, name="unused"))
  g.outputs = [x]
  return build(g)


def test_operator_and_tensor_counts():
  Runtime(_reshape_chain(512)).invoke([np.ones((1, 4), np.int8)])
  _refused(_reshape_chain(513), "model has 513 operators, the runtime's limit is 512")
  Runtime(_reshape_chain(1, unused_tensors=1022))  # 1024 tensors
  _refused(_reshape_chain(1, unused_tensors=1023), "model has 1025 tensors", "limit is 1024")


def _concat_model(inputs: int) -> bytes:
  n = Net(np.random.default_rng(0))
  x = n.input((1, 2), scale=0.1, zp=0)
  n.graph.outputs = [n.concat([x] * inputs, 1)]
  return build(n.graph)


def test_operator_input_count():
  (y,) = Runtime(_concat_model(16)).invoke([np.arange(2, dtype=np.int8).reshape(1, 2)])
  assert y.shape == (1, 32) and list(y[0, :4]) == [0, 1, 0, 1]
  _refused(_concat_model(17), "operator 0 has 17 inputs and 1 outputs")


def _edited_fc_model(edit) -> bytes:
  """The FC model after `edit(model)` on its schema object."""
  model = schema.ModelT.InitFromPackedBuf(_fc_model(), 0)
  edit(model)
  return pack(model)


def test_constant_buffers():
  def short_weights(model):
    weights = model.subgraphs[0].tensors[1]
    model.buffers[weights.buffer].data = model.buffers[weights.buffer].data[:-1]

  def missing_buffer(model):
    model.subgraphs[0].tensors[1].buffer = len(model.buffers)

  _refused(_edited_fc_model(short_weights), "tensor 1 holds 15 bytes of data, its shape needs 16")
  _refused(_edited_fc_model(missing_buffer), "tensor refers to buffer")
