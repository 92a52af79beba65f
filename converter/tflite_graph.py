"""Reads a .tflite file into per-layer facts for the report and checks that
it is a full-int8 graph the runtime can run.

Every byte count here is read from the flatbuffer itself (buffer lengths),
never estimated.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Tuple

import numpy as np

from converter import ops
from converter.errors import ConverterError

_INT8 = 9
_FLOAT32 = 0
_FLOAT16 = 1


@dataclasses.dataclass
class LayerInfo:
  index: int
  op: str
  layer: str
  input_shapes: List[Tuple[int, ...]]
  output_shapes: List[Tuple[int, ...]]
  parameters: int
  macs: int
  weight_bytes: int


@dataclasses.dataclass
class GraphInfo:
  file_bytes: int
  weight_bytes: int  # the distinct constant buffers of subgraph 0's tensors
  layers: List[LayerInfo]
  input_dtype: str
  output_dtype: str

  @property
  def macs(self) -> int:
    return sum(layer.macs for layer in self.layers)

  @property
  def parameters(self) -> int:
    return sum(layer.parameters for layer in self.layers)


def _schema():
  from tensorflow.lite.python import schema_py_generated as schema
  return schema


def _layer_name(tensor) -> str:
  name = tensor.Name().decode("utf-8", "replace") if tensor.Name() else ""
  return name.split(";")[0]


def _macs(op: str, inputs, outputs) -> int:
  out_elems = int(np.prod(outputs[0])) if outputs else 0
  if op == "CONV_2D":
    kh, kw, cin = inputs[1][1], inputs[1][2], inputs[1][3]
    return out_elems * kh * kw * cin
  if op == "DEPTHWISE_CONV_2D":
    return out_elems * inputs[1][1] * inputs[1][2]
  if op == "FULLY_CONNECTED":
    return out_elems * inputs[1][1]
  return 0


def read_graph(model: bytes) -> GraphInfo:
  """Parses subgraph 0 of `model`.

  Raises:
    ConverterError: the bytes are not a readable .tflite file.
  """
  if len(model) < 8 or model[4:8] != b"TFL3":
    raise ConverterError("not a .tflite model (no TFL3 identifier)")
  schema = _schema()
  try:
    root = schema.Model.GetRootAsModel(model, 0)
    graph = root.Subgraphs(0)
    buffer_sizes = [root.Buffers(i).DataLength() for i in range(root.BuffersLength())]
    tensors = [graph.Tensors(i) for i in range(graph.TensorsLength())]
    const = {i: buffer_sizes[t.Buffer()] for i, t in enumerate(tensors)
             if 0 < t.Buffer() < len(buffer_sizes) and buffer_sizes[t.Buffer()] > 0}
    const_buffers = {tensors[i].Buffer() for i in const}
    layers = []
    for i in range(graph.OperatorsLength()):
      op = graph.Operators(i)
      name = ops.op_name(ops.builtin_code(root.OperatorCodes(op.OpcodeIndex())))
      ins = [int(k) for k in op.InputsAsNumpy()] if op.InputsLength() else []
      outs = [int(k) for k in op.OutputsAsNumpy()]
      in_shapes = [tuple(int(d) for d in tensors[k].ShapeAsNumpy()) for k in ins if k >= 0]
      out_shapes = [tuple(int(d) for d in tensors[k].ShapeAsNumpy()) for k in outs]
      weights = [k for k in ins if k in const]
      layers.append(LayerInfo(
          index=i, op=name, layer=_layer_name(tensors[outs[0]]),
          input_shapes=in_shapes, output_shapes=out_shapes,
          parameters=sum(int(np.prod(tensors[k].ShapeAsNumpy())) for k in weights),
          macs=_macs(name, in_shapes, out_shapes),
          weight_bytes=sum(const[k] for k in weights)))
    dtype_names = {v: k.lower() for k, v in vars(schema.TensorType).items()
                   if not k.startswith("_")}
    input_type = tensors[int(graph.Inputs(0))].Type()
    output_type = tensors[int(graph.Outputs(0))].Type()
  except ConverterError:
    raise
  except Exception as e:  # the flatbuffers reader raises assorted errors
    raise ConverterError(f"truncated or corrupt .tflite model ({type(e).__name__})") from e
  return GraphInfo(file_bytes=len(model),
                   weight_bytes=sum(buffer_sizes[b] for b in const_buffers), layers=layers,
                   input_dtype=dtype_names.get(input_type, str(input_type)),
                   output_dtype=dtype_names.get(output_type, str(output_type)))


def check_int8(model: bytes, graph: Optional[GraphInfo] = None) -> GraphInfo:
  """Refuses ops the runtime lacks and float or hybrid ops, naming each.

  Raises:
    ConverterError: naming the op, its index and its layer.
  """
  graph = graph or read_graph(model)
  schema = _schema()
  root = schema.Model.GetRootAsModel(model, 0)
  subgraph = root.Subgraphs(0)
  for layer in graph.layers:
    where = f"op {layer.index} {layer.op} (layer '{layer.layer}')"
    if layer.op not in ops.SUPPORTED_OPS.values():
      raise ConverterError(f"{where} is not supported by the FreeML runtime; supported: "
                           + ", ".join(sorted(ops.SUPPORTED_OPS.values())))
    op = subgraph.Operators(layer.index)
    if layer.op in ("QUANTIZE", "DEQUANTIZE"):
      continue  # float edges are allowed
    for k in op.InputsAsNumpy():
      if k >= 0 and subgraph.Tensors(int(k)).Type() in (_FLOAT32, _FLOAT16):
        raise ConverterError(f"{where} computes in float: only full-int8 models run here; "
                             "give a float model with --data to quantize it")
  return graph
