"""Golden tests: every generated graph (tests/graphgen/cases.py) runs on the
FreeML runtime with every tensor byte-identical to the TFLM interpreter's."""

from __future__ import annotations

import numpy as np
import pytest
from tensorflow.lite.python import schema_py_generated as schema

from converter import tflm_oracle
from tests.graphgen.builder import Graph, Op, Tensor, build
from tests.graphgen.cases import CASES
from tflm_freeml.runtime import FreemlError, Runtime


@pytest.mark.parametrize("name", sorted(CASES))
def test_bit_exact_with_tflm(name):
  case = CASES[name]
  model = case.model()
  inputs = case.inputs()
  expected = tflm_oracle.invoke_all_tensors(model, inputs)
  got = Runtime(model).invoke_all_tensors(inputs)
  graph = schema.Model.GetRootAsModel(model, 0).Subgraphs(0)
  for index in graph.OutputsAsNumpy():
    assert int(index) in got, f"{name}: graph output {index} missing"
  for index, value in got.items():
    want = expected[index].reshape(value.shape)
    flat_got, flat_want = value.reshape(-1), want.reshape(-1)
    bad = np.flatnonzero(flat_got.view(np.uint8 if value.itemsize == 1 else np.uint32)
                         != flat_want.view(np.uint8 if want.itemsize == 1 else np.uint32))
    assert bad.size == 0, (
        f"{name}: tensor {index} ({graph.Tensors(int(index)).Name().decode()}): {bad.size} of "
        f"{value.size} differ; first at {bad[0]}: got {flat_got[bad[0]]}, "
        f"expected {flat_want[bad[0]]}")


def _single_op(code: int, dtype: str = "int8") -> bytes:
  g = Graph([], [], [], [])
  scale = None if dtype == "float32" else 0.05
  a = g.add(Tensor((1, 4), dtype, scale, 0, name="a"))
  b = g.add(Tensor((1, 4), dtype, scale, 0, name="b"))
  y = g.add(Tensor((1, 4), dtype, scale, 0, name="model/unsupported_layer/op"))
  g.ops.append(Op(code, [a, b], [y]))
  g.inputs, g.outputs = [a, b], [y]
  return build(g)


@pytest.mark.parametrize("code,name", [(schema.BuiltinOperator.MUL, "MUL"),
                                       (schema.BuiltinOperator.SUB, "SUB"),
                                       (schema.BuiltinOperator.TANH, "TANH"),
                                       (schema.BuiltinOperator.LOGISTIC, "LOGISTIC"),
                                       (schema.BuiltinOperator.BATCH_MATMUL, "BATCH_MATMUL")])
def test_unsupported_op_is_named(code, name):
  with pytest.raises(FreemlError) as error:
    Runtime(_single_op(code))
  message = str(error.value)
  assert f"op 0 {name}" in message
  assert "model/unsupported_layer/op" in message


def test_float_model_is_refused_naming_the_op():
  with pytest.raises(FreemlError, match=r"op 0 ADD .*float32.*full int8"):
    Runtime(_single_op(schema.BuiltinOperator.ADD, "float32"))


def test_float_conv_is_refused():
  case = CASES["conv_k3_s1_same"]
  g = case.make(case._rng())
  for i, t in enumerate(g.tensors):
    if t.name in ("input", "output"):
      g.tensors[i] = Tensor(t.shape, "float32", name=t.name)
    elif t.name == "filter":
      g.tensors[i] = Tensor(t.shape, "float32", data=t.data.astype(np.float32), name=t.name)
  with pytest.raises(FreemlError, match=r"op 0 CONV_2D .*input is float32"):
    Runtime(build(g))


def test_tflm_refusals_are_mirrored():
  """A softmax whose output is not (1/256, -128): TFLM refuses, so do we."""
  g = CASES["softmax_d10_beta1.0"].make(np.random.default_rng(0))
  out = g.outputs[0]
  g.tensors[out] = Tensor(g.tensors[out].shape, "int8", 0.004, -128)
  with pytest.raises(FreemlError, match="SOFTMAX"):
    Runtime(build(g))


@pytest.mark.parametrize("name", sorted(CASES)[::4])
def test_any_tiling_gives_the_same_bytes(name):
  """Ops run as random tiles, some run twice, equal one full run: the
  property resumable execution relies on."""
  case = CASES[name]
  model, inputs = case.model(), case.inputs()
  (expected,) = Runtime(model).invoke(inputs)
  runtime = Runtime(model)
  runtime.set_inputs(inputs)
  rng = np.random.default_rng(len(name))
  for op in range(runtime.op_count):
    units = runtime.op_units(op)
    cuts = sorted(set(rng.integers(0, units + 1, size=3).tolist()) | {0, units})
    for start, end in zip(cuts, cuts[1:], strict=False):
      runtime.run_op(op, start, end)
      if rng.random() < 0.5:
        runtime.run_op(op, start, end)  # a repeated tile changes nothing
    with pytest.raises(FreemlError, match="outside"):
      runtime.run_op(op, 0, units + 1)
  (got,) = [runtime.tensor(d.index) for d in runtime.outputs]
  assert got.tobytes() == expected.tobytes()
