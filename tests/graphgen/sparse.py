"""Rewrites the filters of a Graph as FreeML sparse custom ops
(docs/sparse.md), with the converter's encoder, so that the same pruned
weights run dense (builtin ops) and sparse.

Example:
  sparse = sparsify(graph, [BITMASK, DELTA])  # one format per filtered op
"""

from __future__ import annotations

import copy
from typing import Dict, List, Sequence, Tuple

import numpy as np

from converter import sparse_format
from tests.graphgen.builder import Graph, Op, Tensor
from tests.graphgen.layers import OPS

FILTERED_OPS = {OPS.CONV_2D: "CONV_2D", OPS.DEPTHWISE_CONV_2D: "DEPTHWISE_CONV_2D",
                OPS.FULLY_CONNECTED: "FULLY_CONNECTED"}
# Per op: the sparse format other than bitmask it may use.
OTHER_FORMAT = {"CONV_2D": sparse_format.DELTA, "DEPTHWISE_CONV_2D": sparse_format.DELTA,
                "FULLY_CONNECTED": sparse_format.CSR}


def filtered_ops(graph: Graph) -> List[Tuple[Op, str]]:
  """(op, builtin name) of every CONV_2D, DEPTHWISE_CONV_2D and
  FULLY_CONNECTED op, in graph order."""
  return [(op, FILTERED_OPS[op.code]) for op in graph.ops if op.code in FILTERED_OPS]


def _builtin_options(op: Op, name: str) -> Dict[str, int]:
  o = op.options
  if name == "FULLY_CONNECTED":
    return {"activation": int(o.fusedActivationFunction)}
  return {"padding": int(o.padding), "stride_h": int(o.strideH), "stride_w": int(o.strideW),
          "dilation_h": int(o.dilationHFactor), "dilation_w": int(o.dilationWFactor),
          "activation": int(o.fusedActivationFunction),
          "depth_multiplier": int(o.depthMultiplier) if name == "DEPTHWISE_CONV_2D" else 1}


def sparsify(graph: Graph, formats: Sequence[int]) -> Graph:
  """A copy of `graph` whose filtered ops use their FreeML custom op, the
  k-th one's filter encoded in formats[k] (a sparse_format code) as a UINT8
  tensor that keeps the filter's scales and zero points."""
  graph = copy.deepcopy(graph)
  for (op, name), code in zip(filtered_ops(graph), formats, strict=True):
    dense = graph.tensors[op.inputs[1]]
    rows = sparse_format.filter_rows(name, dense.data)
    blob = sparse_format.encode(code, rows)
    options = sparse_format.custom_options(name, code, rows, dense.data.shape,
                                           _builtin_options(op, name))
    graph.tensors[op.inputs[1]] = Tensor((len(blob),), "uint8", dense.scale, dense.zero_point, 0,
                                         np.frombuffer(blob, np.uint8), dense.name)
    graph.ops[graph.ops.index(op)] = Op.custom(sparse_format.CUSTOM_OPS[name], op.inputs,
                                               op.outputs, options)
  return graph


def sparsify_all(graph: Graph, bitmask: bool) -> Graph:
  """Every filter in bitmask, or every filter in its op's other format."""
  return sparsify(graph, [sparse_format.BITMASK if bitmask else OTHER_FORMAT[name]
                          for _, name in filtered_ops(graph)])


def prune(graph: Graph, density: float, rng: np.random.Generator) -> None:
  """Keeps each filter weight with probability `density`, in place."""
  for op, _ in filtered_ops(graph):
    t = graph.tensors[op.inputs[1]]
    t.data = np.where(rng.random(t.data.shape) < density, t.data, 0).astype(np.int8)
