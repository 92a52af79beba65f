"""Golden tests: every generated graph (tests/graphgen/cases.py) runs on the
FreeML runtime with every tensor byte-identical to the TFLM interpreter's,
and models the runtime cannot run are refused, naming the op.

The TFLM half (test_plan_*, test_cases_run_on_tflm) needs only the oracle,
so it keeps working while the runtime binding is missing or broken.
"""

from __future__ import annotations

import re
from typing import Dict

import numpy as np
import pytest
from tensorflow.lite.python import schema_py_generated as schema

from converter import tflm_oracle
from tests.graphgen.builder import Graph, Op, Tensor, build
from tests.graphgen.cases import CASES, Case
from tests.graphgen.layers import OPS, Net

NAMES = sorted(CASES)
# Every op the runtime supports; the plan must cover each one.
SUPPORTED_OPS = {OPS.CONV_2D, OPS.DEPTHWISE_CONV_2D, OPS.FULLY_CONNECTED, OPS.ADD,
                 OPS.AVERAGE_POOL_2D, OPS.MAX_POOL_2D, OPS.MEAN, OPS.RESHAPE, OPS.SOFTMAX,
                 OPS.PAD, OPS.PADV2, OPS.CONCATENATION, OPS.QUANTIZE, OPS.DEQUANTIZE}


@pytest.fixture(scope="module")
def freeml():
  """The runtime binding, imported lazily so the TFLM half runs without it."""
  try:
    from tflm_freeml import runtime
  except ImportError as error:
    pytest.fail(f"tflm_freeml.runtime cannot be imported: {error}")
  return runtime


def _activations(graph: Graph) -> Dict[int, Tensor]:
  """Every non-constant tensor an op or the graph reads or writes."""
  used = set(graph.inputs) | set(graph.outputs)
  for op in graph.ops:
    used |= {i for i in list(op.inputs) + list(op.outputs) if i >= 0}
  return {i: graph.tensors[i] for i in sorted(used) if not graph.tensors[i].is_constant}


def _mismatch(case: str, index: int, name: str, got: np.ndarray, want: np.ndarray) -> str:
  """'' if got and want are byte-identical, else what differs."""
  where = f"{case}: tensor {index} ({name})"
  if got.shape != want.shape or got.dtype != want.dtype:
    return (f"{where}: got {got.dtype}{list(got.shape)}, "
            f"expected {want.dtype}{list(want.shape)}")
  raw = np.dtype(f"u{got.itemsize}")  # compares floats bit for bit
  bad = np.flatnonzero(got.reshape(-1).view(raw) != want.reshape(-1).view(raw))
  if bad.size == 0:
    return ""
  first = int(bad[0])
  return (f"{where}: {bad.size} of {got.size} elements differ; first at "
          f"{tuple(int(i) for i in np.unravel_index(first, got.shape))} (flat {first}): "
          f"got {got.reshape(-1)[first].item()!r}, expected {want.reshape(-1)[first].item()!r}")


def _built(name: str):
  case: Case = CASES[name]
  graph = case.graph()
  return graph, build(graph), case.inputs(graph)


# -- the plan and the oracle ------------------------------------------------------


def test_plan_is_large_deterministic_and_covers_every_op():
  assert len(CASES) >= 250
  codes = {op.code for name in NAMES for op in CASES[name].graph().ops}
  missing = SUPPORTED_OPS - codes
  assert not missing, f"no case uses {sorted(missing)}"
  for name in NAMES[::7]:  # same name, same bytes and inputs
    a, b = CASES[name], CASES[name]
    assert a.model() == b.model()
    assert all(np.array_equal(x, y) for x, y in zip(a.inputs(), b.inputs(), strict=True))


@pytest.mark.parametrize("name", NAMES)
def test_cases_run_on_tflm(name):
  """TFLM accepts and runs every case; every activation has its declared
  shape and type."""
  graph, model, inputs = _built(name)
  tensors = tflm_oracle.invoke_all_tensors(model, inputs)
  for index, t in _activations(graph).items():
    assert index in tensors, f"{name}: TFLM has no tensor {index} ({t.name})"
    value = tensors[index]
    assert value.shape == tuple(t.shape), f"{name}: tensor {index} ({t.name}) shape"
    assert value.dtype == np.dtype(t.dtype), f"{name}: tensor {index} ({t.name}) type"


# -- the runtime against the oracle -------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_bit_exact_with_tflm(name, freeml):
  graph, model, inputs = _built(name)
  expected = tflm_oracle.invoke_all_tensors(model, inputs)
  got = freeml.Runtime(model).invoke_all_tensors(inputs)
  problems = []
  for index, t in _activations(graph).items():
    if index not in got:
      problems.append(f"{name}: tensor {index} ({t.name}) missing from the runtime's tensors")
      continue
    problems.append(_mismatch(name, index, t.name, got[index], expected[index]))
  # The planned path (one invoke, memory reused) must give the same outputs.
  outputs = freeml.Runtime(model).invoke(inputs)
  assert len(outputs) == len(graph.outputs), f"{name}: {len(outputs)} outputs"
  for index, value in zip(graph.outputs, outputs, strict=True):
    problems.append(_mismatch(name, index, graph.tensors[index].name + ", invoke()",
                              np.asarray(value), expected[index]))
  problems = [p for p in problems if p]
  assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", NAMES[::4])
def test_any_tiling_gives_the_same_bytes(name, freeml):
  """Ops run as random tiles, some run twice, equal one full run: the
  property resumable execution relies on."""
  _, model, inputs = _built(name)
  expected = freeml.Runtime(model).invoke(inputs)
  runtime = freeml.Runtime(model)
  runtime.set_inputs(inputs)
  rng = np.random.default_rng(len(name))
  for op in range(runtime.op_count):
    units = runtime.op_units(op)
    cuts = sorted(set(rng.integers(0, units + 1, size=3).tolist()) | {0, units})
    for start, end in zip(cuts, cuts[1:], strict=False):
      runtime.run_op(op, start, end)
      if rng.random() < 0.5:
        runtime.run_op(op, start, end)  # a repeated tile changes nothing
    with pytest.raises(freeml.FreemlError, match="outside"):
      runtime.run_op(op, 0, units + 1)
  got = [runtime.tensor(d.index) for d in runtime.outputs]
  for index, (a, b) in enumerate(zip(got, expected, strict=True)):
    assert a.tobytes() == b.tobytes(), f"{name}: output {index} differs when tiled"


# -- refusals -------------------------------------------------------------------------


def _names_op(message: str, op_index: int, op_name: str) -> bool:
  return (re.search(rf"\b{op_name}\b", message) is not None
          and re.search(rf"\bop(erator)?\s*#?{op_index}\b", message) is not None)


def _unsupported_first(code, arity):
  n = Net(np.random.default_rng(code))
  xs = [n.input((1, 4, 6)) for _ in range(arity)]
  n.output(n.op(code, xs, (1, 4, 6), (0.05, 0)))
  return n.graph


def _unsupported_after_conv_and_pool(code, arity):
  n = Net(np.random.default_rng(code))
  x = n.max_pool(n.conv(n.input((1, 6, 6, 3)), 4), 2, 2)
  n.output(n.op(code, [x] * arity, (1, 3, 3, 4), (0.05, 0)))
  return n.graph


@pytest.mark.parametrize("make,op_name,arity,op_index", [
    pytest.param(_unsupported_first, name, arity, 0, id=f"{name}_first")
    for name, arity in [("MUL", 2), ("SUB", 2), ("TANH", 1), ("LOGISTIC", 1),
                        ("BATCH_MATMUL", 2)]
] + [
    pytest.param(_unsupported_after_conv_and_pool, name, arity, 2, id=f"{name}_third")
    for name, arity in [("TANH", 1), ("MUL", 2)]
])
def test_unsupported_op_is_refused_naming_it(make, op_name, arity, op_index, freeml):
  with pytest.raises(freeml.FreemlError) as error:
    freeml.Runtime(build(make(getattr(OPS, op_name), arity)))
  assert _names_op(str(error.value), op_index, op_name), str(error.value)


def _float_conv(input_type: str) -> Graph:
  """A float32 CONV_2D; with an int8 filter, the hybrid kind."""
  rng = np.random.default_rng(7)
  g = Graph()
  x = g.add(Tensor((1, 5, 5, 3), "float32", name="input"))
  if input_type == "hybrid":
    w = g.add(Tensor((4, 3, 3, 3), "int8", [0.01] * 4, [0] * 4, 0,
                     rng.integers(-127, 128, (4, 3, 3, 3), dtype=np.int8), "filter"))
  else:
    w = g.add(Tensor((4, 3, 3, 3), "float32", data=rng.standard_normal((4, 3, 3, 3)),
                     name="filter"))
  b = g.add(Tensor((4,), "float32", data=np.zeros(4), name="bias"))
  y = g.add(Tensor((1, 5, 5, 4), "float32", name="conv"))
  options = schema.Conv2DOptionsT()
  options.strideH = options.strideW = options.dilationHFactor = options.dilationWFactor = 1
  g.ops.append(Op(OPS.CONV_2D, [x, w, b], [y], schema.BuiltinOptions.Conv2DOptions, options))
  g.inputs, g.outputs = [x], [y]
  return g


def _float_graph(code: int) -> Graph:
  g = Graph()
  if code == OPS.FULLY_CONNECTED:
    x = g.add(Tensor((1, 8), "float32", name="input"))
    w = g.add(Tensor((3, 8), "float32", data=np.ones((3, 8)), name="filter"))
    y = g.add(Tensor((1, 3), "float32", name="fc"))
    g.ops.append(Op(code, [x, w, -1], [y], schema.BuiltinOptions.FullyConnectedOptions,
                    schema.FullyConnectedOptionsT()))
  else:
    x = g.add(Tensor((1, 8), "float32", name="input"))
    w = g.add(Tensor((1, 8), "float32", data=np.ones((1, 8)), name="other"))
    y = g.add(Tensor((1, 8), "float32", name="add"))
    g.ops.append(Op(code, [x, w], [y], schema.BuiltinOptions.AddOptions, schema.AddOptionsT()))
  g.inputs, g.outputs = [x], [y]
  return g


@pytest.mark.parametrize("graph,op_name", [
    (_float_conv("float32"), "CONV_2D"),
    (_float_conv("hybrid"), "CONV_2D"),
    (_float_graph(OPS.FULLY_CONNECTED), "FULLY_CONNECTED"),
    (_float_graph(OPS.ADD), "ADD"),
], ids=["float_conv", "hybrid_conv", "float_fc", "float_add"])
def test_float_op_is_refused_naming_it(graph, op_name, freeml):
  with pytest.raises(freeml.FreemlError) as error:
    freeml.Runtime(build(graph))
  assert _names_op(str(error.value), 0, op_name), str(error.value)


def _tweak(name: str, edit) -> Graph:
  """A plan case with one quantization parameter changed by `edit`."""
  graph = CASES[name].graph()
  edit(graph)
  return graph


def _set(index_of, **changes):
  def edit(graph):
    t = graph.tensors[index_of(graph)]
    for key, value in changes.items():
      setattr(t, key, value)
  return edit


def _output(graph):
  return graph.outputs[0]


def _second_input(graph):
  return graph.inputs[1]


def _bias(graph):
  return graph.ops[0].inputs[2]


@pytest.mark.parametrize("case,edit,op_name", [
    pytest.param("softmax_d10_beta1.0", _set(_output, scale=0.004), "SOFTMAX",
                 id="softmax_output_scale"),
    pytest.param("softmax_d10_beta1.0", _set(_output, zero_point=0), "SOFTMAX",
                 id="softmax_output_zero_point"),
    pytest.param("concat_axis3", _set(_second_input, scale=0.05), "CONCATENATION",
                 id="concat_input_scale"),
    pytest.param("concat_axis3", _set(_second_input, zero_point=0), "CONCATENATION",
                 id="concat_input_zero_point"),
    pytest.param("avgpool_k2_s2_valid", _set(_output, scale=0.5), "AVERAGE_POOL_2D",
                 id="avgpool_output_scale"),
    pytest.param("maxpool_k2_s2_valid", _set(_output, zero_point=100), "MAX_POOL_2D",
                 id="maxpool_output_zero_point"),
    pytest.param("fc_b1_per_tensor", _set(_bias, scale=[1.0]), "FULLY_CONNECTED",
                 id="fc_bias_scale"),
])
def test_tflm_refusals_are_mirrored(case, edit, op_name, freeml):
  """Quantization TFLM's Prepare refuses: the runtime refuses it too."""
  model = build(_tweak(case, edit))
  with pytest.raises(RuntimeError):
    tflm_oracle.make_interpreter(model)
  with pytest.raises(freeml.FreemlError) as error:
    freeml.Runtime(model)
  assert _names_op(str(error.value), 0, op_name), str(error.value)


def test_add_output_multiplier_of_one_or_more_is_refused(freeml):
  """TFLM CHECK-fails (aborts) on this, so only the runtime is run."""
  n = Net(np.random.default_rng(0))
  n.output(n.add(n.input((1, 10), scale=0.5), n.input((1, 10), scale=0.5), out=(1e-7, 0)))
  with pytest.raises(freeml.FreemlError) as error:
    freeml.Runtime(build(n.graph))
  assert _names_op(str(error.value), 0, "ADD"), str(error.value)
