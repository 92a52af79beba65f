"""The sparse custom ops (docs/sparse.md) give the bytes of the dense ops on
the same pruned weights: random small graphs of convolutions (padding,
stride, dilation, groups), depthwise convolutions (depth multipliers) and
fully connected layers, per-channel and per-tensor, at densities 0 to 1, run
once with builtin ops (checked against TFLM, every activation) and
once with every filter in each format its op may use, in plain and in
intermittent mode; malformed sparse ops are refused with a reason."""

from __future__ import annotations

import dataclasses
import struct
from typing import Callable, Dict, List

import numpy as np
import pytest
from tensorflow.lite.python import schema_py_generated as schema

from converter import sparse_format, sparse_rewrite, tflite_graph, tflm_oracle
from tests.graphgen.builder import Graph, Op, build
from tests.graphgen.layers import Net
from tests.graphgen.sparse import OTHER_FORMAT, filtered_ops, prune, sparsify, sparsify_all
from tflm_freeml.intermittent import IntermittentRuntime
from tflm_freeml.runtime import FreemlError, Runtime

DENSITIES = (0.0, 0.03, 0.2, 0.6, 1.0)


def _conv_net(n: Net) -> None:
  x = n.input((1, 13, 12, 4))
  x = n.conv(x, 6, k=3, stride=2, groups=2, act="relu")
  x = n.conv(x, 5, k=(2, 3), dilation=(2, 1), padding="valid")
  n.output(n.conv(x, 3, k=1, bias=False))


def _dilated_conv_net(n: Net) -> None:
  x = n.input((2, 10, 9, 3))
  x = n.conv(x, 8, k=3, dilation=2)
  n.output(n.conv(x, 4, k=(1, 3), stride=(1, 2), padding="valid", act="relu6",
                  per_channel=False))


def _depthwise_net(n: Net) -> None:
  x = n.input((1, 9, 9, 3))
  x = n.depthwise(x, 2, k=3, stride=2)
  n.output(n.depthwise(x, 1, k=(3, 2), dilation=2, padding="valid", act="relu6",
                       per_channel=False))


def _fc_net(n: Net) -> None:
  x = n.input((2, 300))
  x = n.fc(x, 12, act="relu")
  n.output(n.fc(x, 5, bias=False))


def _mixed_net(n: Net) -> None:
  x = n.input((1, 8, 8, 2))
  x = n.conv(x, 8, k=3, act="relu")
  x = n.depthwise(x, 3, k=3, stride=2)
  n.output(n.fc(n.flatten(x), 10, per_channel=True))


NETS: Dict[str, Callable[[Net], None]] = {
    "conv": _conv_net, "dilated_conv": _dilated_conv_net, "depthwise": _depthwise_net,
    "fc": _fc_net, "mixed": _mixed_net}


@dataclasses.dataclass
class Case:
  graph: Graph  # builtin ops, pruned weights
  inputs: List[np.ndarray]


def _case(net: str, density: float) -> Case:
  rng = np.random.default_rng([list(NETS).index(net), int(density * 100)])
  n = Net(rng)
  NETS[net](n)
  prune(n.graph, density, rng)
  inputs = [rng.integers(-128, 128, tuple(n.graph.tensors[i].shape), dtype=np.int8)
            for i in n.graph.inputs]
  return Case(n.graph, inputs)


def _most_entries(graph: Graph) -> List[int]:
  """Most non-zeros of one filter, per op with a filter (no delta fillers
  arise in these small nets)."""
  return [max(1, int(np.count_nonzero(sparse_format.filter_rows(
      name, graph.tensors[op.inputs[1]].data), axis=1).max()))
          for op, name in filtered_ops(graph)]


@pytest.fixture(scope="module", params=[(net, d) for net in NETS for d in DENSITIES],
                ids=lambda p: f"{p[0]}-d{p[1]}")
def case(request) -> Case:
  return _case(*request.param)


def _activations(graph: Graph) -> List[int]:
  return [i for i, t in enumerate(graph.tensors) if not t.is_constant]


@pytest.fixture(scope="module")
def dense_tensors(case) -> Dict[int, np.ndarray]:
  """Every activation of the dense model on the runtime, checked equal to
  TFLM's."""
  model = build(case.graph)
  ours = Runtime(model).invoke_all_tensors(case.inputs)
  reference = tflm_oracle.invoke_all_tensors(model, case.inputs)
  for index in _activations(case.graph):
    assert ours[index].tobytes() == reference[index].tobytes(), f"tensor {index}"
  return ours


@pytest.fixture(scope="module")
def dense_outputs(case, dense_tensors) -> List[np.ndarray]:
  return [dense_tensors[i] for i in case.graph.outputs]


@pytest.mark.parametrize("bitmask", [True, False], ids=["bitmask", "delta_or_csr"])
def test_sparse_equals_dense(case, dense_tensors, bitmask):
  model = build(sparsify_all(case.graph, bitmask))
  got = Runtime(model).invoke_all_tensors(case.inputs)
  for index in _activations(case.graph):
    assert got[index].tobytes() == dense_tensors[index].tobytes(), f"tensor {index}"
  outputs = Runtime(model).invoke(case.inputs)  # planned memory, one invoke
  for index, value in zip(case.graph.outputs, outputs, strict=True):
    assert value.tobytes() == dense_tensors[index].tobytes()


@pytest.mark.parametrize("bitmask", [True, False], ids=["bitmask", "delta_or_csr"])
def test_sparse_equals_dense_intermittent(case, dense_outputs, bitmask):
  """Small tiles (starting inside pixels and filters), power failures."""
  model = build(sparsify_all(case.graph, bitmask))
  rt = IntermittentRuntime(model, max_tile_macs=48)
  boot = rt.boot(rt.new_nvm(), case.inputs)
  assert boot.done
  for a, b in zip(boot.outputs, dense_outputs, strict=True):
    assert a.tobytes() == b.tobytes()
  boots = rt.run_through_failures(case.inputs, iter([7, 3, 11, 5, 2, 13]))
  assert len(boots) > 1
  for a, b in zip(boots[-1].outputs, dense_outputs, strict=True):
    assert a.tobytes() == b.tobytes()


# Formats with sub-byte values: (weights cut to their range, the format of
# each filtered op's name).
_SMALL_VALUES = {
    "int4-bitmask": (lambda w: w >> 4, lambda name: sparse_format.BITMASK_INT4),
    "int4-delta_or_csr": (lambda w: w >> 4,
                          lambda name: OTHER_FORMAT[name] | sparse_format.INT4),
    "int2-bitmask": (lambda w: np.fmod(w, 3), lambda name: sparse_format.BITMASK_INT2),
}


@pytest.mark.parametrize("net", list(NETS))
@pytest.mark.parametrize("values", list(_SMALL_VALUES))
def test_small_values_equal_tflm(net, values):
  """Weights in -8..7 stored with int4 values, and weights in -2..2 with
  2-bit ones, give TFLM's bytes on the same int8 weights, in plain and in
  intermittent mode."""
  cut, format_of = _SMALL_VALUES[values]
  rng = np.random.default_rng([list(NETS).index(net), 4])
  n = Net(rng)
  NETS[net](n)
  for op, _ in filtered_ops(n.graph):
    weights = n.graph.tensors[op.inputs[1]]
    weights.data = cut(weights.data).astype(np.int8)
  prune(n.graph, 0.4, rng)
  inputs = [rng.integers(-128, 128, tuple(n.graph.tensors[i].shape), dtype=np.int8)
            for i in n.graph.inputs]
  reference = tflm_oracle.invoke_all_tensors(build(n.graph), inputs)
  model = build(sparsify(n.graph, [format_of(name) for _, name in filtered_ops(n.graph)]))
  for index, value in zip(n.graph.outputs, Runtime(model).invoke(inputs), strict=True):
    assert value.tobytes() == reference[index].tobytes()
  rt = IntermittentRuntime(model, max_tile_macs=48)
  boots = rt.run_through_failures(inputs, iter([7, 3, 11, 5, 2, 13]))
  for index, value in zip(n.graph.outputs, boots[-1].outputs, strict=True):
    assert value.tobytes() == reference[index].tobytes()


def test_unit_macs_count_the_largest_filter():
  """The tile budget counts entries, not the dense filter size."""
  graph = _case("conv", 0.2).graph
  rt = IntermittentRuntime(build(sparsify_all(graph, True)))
  assert [op.unit_macs for op in rt.ops] == _most_entries(graph)


# -- refusals ------------------------------------------------------------------------


def _one_op(name: str):
  """A one-op sparse graph and a function that rebuilds it after an edit of
  its custom op and encoded filter tensor."""
  rng = np.random.default_rng(3)
  n = Net(rng)
  if name == "FULLY_CONNECTED":
    n.output(n.fc(n.input((1, 40)), 6))
  elif name == "DEPTHWISE_CONV_2D":
    n.output(n.depthwise(n.input((1, 6, 6, 3)), 2))
  else:
    n.output(n.conv(n.input((1, 6, 6, 3)), 4))
  prune(n.graph, 0.3, rng)
  return sparsify_all(n.graph, bitmask=True)


def _refusal(graph: Graph) -> str:
  with pytest.raises(FreemlError) as error:
    Runtime(build(graph))
  return str(error.value)


def _words(op: Op) -> List[int]:
  return list(struct.unpack(f"<{len(op.custom_options) // 4}i", op.custom_options))


def _set_words(op: Op, **changes) -> None:
  words = _words(op)
  for index, value in changes.items():
    words[int(index[1:])] = value
  op.custom_options = struct.pack(f"<{len(words)}i", *words)


@pytest.mark.parametrize("name", list(OTHER_FORMAT))
def test_malformed_custom_options_are_refused(name):
  custom = sparse_format.CUSTOM_OPS[name]

  graph = _one_op(name)
  graph.ops[0].custom_options = graph.ops[0].custom_options[:-4]
  message = _refusal(graph)
  assert f"op 0 CUSTOM({custom})" in message and "custom options of 52 bytes" in message

  graph = _one_op(name)
  _set_words(graph.ops[0], w0=2)
  assert "sparse options version 2" in _refusal(graph)

  graph = _one_op(name)  # the format of the other op kind
  wrong = sparse_format.DELTA if name == "FULLY_CONNECTED" else sparse_format.CSR
  _set_words(graph.ops[0], w1=wrong)
  assert f"sparse format {wrong}; {name} takes" in _refusal(graph)

  graph = _one_op(name)  # 2-bit values come with bitmask only
  wrong = OTHER_FORMAT[name] | sparse_format.INT2
  _set_words(graph.ops[0], w1=wrong)
  assert f"sparse format {wrong}; {name} takes" in _refusal(graph)

  graph = _one_op(name)
  _set_words(graph.ops[0], w2=_words(graph.ops[0])[2] + 1)  # E
  assert "not a valid format 3 encoding" in _refusal(graph)


@pytest.mark.parametrize("name", list(OTHER_FORMAT))
def test_encoding_one_byte_short_is_refused(name):
  graph = _one_op(name)
  filter_index = graph.ops[0].inputs[1]
  t = graph.tensors[filter_index]
  graph.tensors[filter_index] = dataclasses.replace(t, shape=(t.shape[0] - 1,), data=t.data[:-1])
  message = _refusal(graph)
  assert f"encoded filter of {t.shape[0] - 1} bytes is not a valid format 3" in message


def test_unknown_custom_op_is_named():
  graph = _one_op("CONV_2D")
  graph.ops[0].custom_code = "FREEML_SPARSE_CONV_3D"
  message = _refusal(graph)
  assert "op 0 CUSTOM(FREEML_SPARSE_CONV_3D)" in message and "not supported" in message
  # A long name is cut, bytes outside printable ASCII show as '?'.
  graph.ops[0].custom_code = "Bad\nName" + "x" * 100
  message = _refusal(graph)
  assert "op 0 CUSTOM(Bad?Namexxx" in message and "x" * 60 not in message
  assert "not supported" in message


def _edit_tensor(**changes):
  def edit(graph: Graph) -> None:
    index = graph.ops[0].inputs[1]
    graph.tensors[index] = dataclasses.replace(graph.tensors[index], **changes)
  return edit


def _edit_words(**changes):
  return lambda graph: _set_words(graph.ops[0], **changes)


def _two_d(graph: Graph) -> None:
  t = graph.tensors[graph.ops[0].inputs[1]]
  _edit_tensor(shape=(1, t.shape[0]), data=t.data.reshape(1, -1))(graph)


@pytest.mark.parametrize("edit,reason", [
    (_edit_tensor(zero_point=[1, 0, 0, 0]), "filter zero point 0 is 1"),
    (_edit_tensor(scale=[0.01, 0.02], zero_point=0),
     "filter has 2 scales; the sparse op needs 1 or 4"),
    (_edit_tensor(dtype="int8", scale=0.01, zero_point=0),
     "filter is int8, the runtime needs uint8"),
    (_two_d, "encoded filter must be 1-D"),
    (_edit_words(w8=2), "the op computes"),
    (_edit_words(w13=2), "depth multiplier 2; CONV_2D has 1"),
    (_edit_words(w7=5), "padding code 5"),
], ids=["zero_point", "two_scales", "int8", "rank2", "stride", "multiplier", "padding"])
def test_inconsistent_sparse_op_is_refused(edit, reason):
  graph = _one_op("CONV_2D")
  edit(graph)
  assert reason in _refusal(graph)


def test_fc_unused_words_must_be_zero():
  graph = _one_op("FULLY_CONNECTED")
  _set_words(graph.ops[0], w9=1)
  assert "custom options word 9 is 1, expected 0" in _refusal(graph)


def test_custom_options_written_by_the_builder_reach_the_runtime():
  """The builder's CUSTOM op code and options bytes, read back."""
  graph = _one_op("CONV_2D")
  root = schema.ModelT.InitFromPackedBuf(build(graph), 0)
  (code,) = root.operatorCodes
  assert code.builtinCode == schema.BuiltinOperator.CUSTOM
  assert code.customCode == b"FREEML_SPARSE_CONV_2D"
  assert bytes(root.subgraphs[0].operators[0].customOptions) == graph.ops[0].custom_options


def _biases(graph: Graph) -> List:
  return [graph.tensors[op.inputs[2]] for op, _ in filtered_ops(graph)]


def test_biases_that_fit_int16_are_stored_so_and_give_tflm_bytes():
  """The converter stores a sparse op's bias as int16 when every value fits
  (half the bytes); the runtime then gives TFLM's bytes on the int32
  reference, in plain and in intermittent mode. A bias with one value past
  int16 stays int32."""
  rng = np.random.default_rng(16)
  n = Net(rng)
  _mixed_net(n)
  prune(n.graph, 0.3, rng)
  biases = _biases(n.graph)
  for bias in biases:
    bias.data = rng.integers(-32768, 32768, bias.data.shape).astype(np.int32)
  biases[-1].data[0] = 40000
  reference = build(n.graph)
  model, storage = sparse_rewrite.sparsify(reference)
  assert len(storage) == 3 and all(s.format != "dense" for s in storage)
  graph = tflite_graph.parse(model).subgraphs[0]
  assert [graph.tensors[int(op.inputs[2])].type for op in graph.operators
          if len(op.inputs) > 2] == [
      schema.TensorType.INT16, schema.TensorType.INT16, schema.TensorType.INT32]
  assert len(model) < len(reference)
  inputs = [rng.integers(-128, 128, tuple(n.graph.tensors[i].shape), dtype=np.int8)
            for i in n.graph.inputs]
  expected = tflm_oracle.invoke(reference, inputs)
  for got, want in zip(Runtime(model).invoke(inputs), expected, strict=True):
    assert got.tobytes() == want.tobytes()
  boots = IntermittentRuntime(model, max_tile_macs=48).run_through_failures(
      inputs, iter([7, 3, 11, 5, 2, 13]))
  for got, want in zip(boots[-1].outputs, expected, strict=True):
    assert got.tobytes() == want.tobytes()


def test_an_int16_bias_on_a_builtin_op_is_refused():
  rng = np.random.default_rng(17)
  n = Net(rng)
  _mixed_net(n)
  bias = _biases(n.graph)[0]
  bias.data, bias.dtype = np.zeros(bias.data.shape, np.int16), "int16"
  with pytest.raises(FreemlError, match="int16 bias; only the FreeML sparse ops take one"):
    Runtime(build(n.graph))
