"""Writes a .tflite flatbuffer from a small typed spec, with no TF converter
in the way: any quantization, shape or option TFLM accepts can be built."""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence, Union

import flatbuffers
import numpy as np
from tensorflow.lite.python import schema_py_generated as schema

_TYPES = {"float32": schema.TensorType.FLOAT32, "int32": schema.TensorType.INT32,
          "int64": schema.TensorType.INT64, "int8": schema.TensorType.INT8}
_DTYPES = {"float32": np.float32, "int32": np.int32, "int64": np.int64, "int8": np.int8}


@dataclasses.dataclass
class Tensor:
  shape: Sequence[int]
  dtype: str = "int8"
  scale: Union[None, float, Sequence[float]] = None
  zero_point: Union[int, Sequence[int]] = 0
  quantized_dimension: int = 0
  data: Optional[np.ndarray] = None
  name: str = ""


@dataclasses.dataclass
class Op:
  code: int  # schema.BuiltinOperator
  inputs: Sequence[int]
  outputs: Sequence[int]
  options_type: int = 0  # schema.BuiltinOptions
  options: object = None  # the matching *OptionsT


@dataclasses.dataclass
class Graph:
  tensors: List[Tensor]
  ops: List[Op]
  inputs: List[int]
  outputs: List[int]

  def add(self, tensor: Tensor) -> int:
    self.tensors.append(tensor)
    return len(self.tensors) - 1


def build(graph: Graph) -> bytes:
  model = schema.ModelT()
  model.version = 3
  model.description = "freeml generated test graph"
  model.buffers = [schema.BufferT()]  # buffer 0: the empty sentinel
  codes: List[int] = []
  subgraph = schema.SubGraphT()
  subgraph.tensors = []
  for i, t in enumerate(graph.tensors):
    tensor = schema.TensorT()
    tensor.shape = np.array(t.shape, dtype=np.int32)
    tensor.type = _TYPES[t.dtype]
    tensor.name = t.name or f"t{i}"
    tensor.buffer = 0
    if t.data is not None:
      buffer = schema.BufferT()
      buffer.data = np.frombuffer(
          np.ascontiguousarray(t.data, dtype=_DTYPES[t.dtype]).tobytes(), dtype=np.uint8)
      model.buffers.append(buffer)
      tensor.buffer = len(model.buffers) - 1
    if t.scale is not None:
      q = schema.QuantizationParametersT()
      scales = np.atleast_1d(np.asarray(t.scale, dtype=np.float32))
      q.scale = scales
      q.zeroPoint = np.broadcast_to(np.asarray(t.zero_point, dtype=np.int64),
                                    scales.shape).copy()
      q.quantizedDimension = t.quantized_dimension
      tensor.quantization = q
    subgraph.tensors.append(tensor)
  subgraph.operators = []
  for op in graph.ops:
    if op.code not in codes:
      codes.append(op.code)
    operator = schema.OperatorT()
    operator.opcodeIndex = codes.index(op.code)
    operator.inputs = np.array(op.inputs, dtype=np.int32)
    operator.outputs = np.array(op.outputs, dtype=np.int32)
    operator.builtinOptionsType = op.options_type
    operator.builtinOptions = op.options
    subgraph.operators.append(operator)
  subgraph.inputs = np.array(graph.inputs, dtype=np.int32)
  subgraph.outputs = np.array(graph.outputs, dtype=np.int32)
  model.subgraphs = [subgraph]
  model.operatorCodes = []
  for code in codes:
    opcode = schema.OperatorCodeT()
    opcode.builtinCode = code
    opcode.deprecatedBuiltinCode = min(code, 127)
    opcode.version = 1
    model.operatorCodes.append(opcode)
  builder = flatbuffers.Builder(1024)
  builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
  return bytes(builder.Output())
