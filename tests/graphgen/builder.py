"""Writes a .tflite flatbuffer from a small typed spec.

No TF converter is involved, so any shape, quantization or option that TFLM
accepts can be built. The schema's object API (ModelT, SubGraphT, ...) does
the flatbuffer layout.

Example:
  g = Graph()
  x = g.add(Tensor((1, 4), "int8", scale=0.05, zero_point=-3, name="x"))
  y = g.add(Tensor((1, 4), "float32", name="y"))
  g.ops.append(Op(schema.BuiltinOperator.DEQUANTIZE, [x], [y]))
  g.inputs, g.outputs = [x], [y]
  model_bytes = build(g)
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence, Tuple, Union

import flatbuffers
import numpy as np
from tensorflow.lite.python import schema_py_generated as schema

_TYPES = {"float32": schema.TensorType.FLOAT32, "int32": schema.TensorType.INT32,
          "int64": schema.TensorType.INT64, "int8": schema.TensorType.INT8,
          "int16": schema.TensorType.INT16, "uint8": schema.TensorType.UINT8}
DTYPES = {"float32": np.float32, "int32": np.int32, "int64": np.int64, "int8": np.int8,
          "int16": np.int16, "uint8": np.uint8}
# Op codes above 127 only fit the 32-bit builtin_code field; the old 8-bit
# field then holds this placeholder.
_PLACEHOLDER_FOR_GREATER_OP_CODES = 127


@dataclasses.dataclass
class Tensor:
  """One tensor. `scale` None means not quantized; a sequence of scales is
  per-channel along `quantized_dimension`. `data` makes it a constant."""
  shape: Sequence[int]
  dtype: str = "int8"
  scale: Union[None, float, Sequence[float]] = None
  zero_point: Union[int, Sequence[int]] = 0
  quantized_dimension: int = 0
  data: Optional[np.ndarray] = None
  name: str = ""

  @property
  def is_constant(self) -> bool:
    return self.data is not None


@dataclasses.dataclass
class Op:
  """One operator: a schema.BuiltinOperator code, tensor indices (-1 for an
  omitted optional input) and the matching schema.BuiltinOptions type and
  *OptionsT object. A custom op has code CUSTOM, its name in `custom_code`
  and its raw `custom_options` bytes (see Op.custom)."""
  code: int
  inputs: Sequence[int]
  outputs: Sequence[int]
  options_type: int = 0
  options: object = None
  custom_code: Optional[str] = None
  custom_options: Optional[bytes] = None

  @classmethod
  def custom(cls, name: str, inputs: Sequence[int], outputs: Sequence[int],
             options: bytes = b"") -> "Op":
    return cls(schema.BuiltinOperator.CUSTOM, inputs, outputs, custom_code=name,
               custom_options=options)

  @property
  def key(self) -> Tuple[int, Optional[str]]:
    """What identifies its OperatorCode: the builtin code and custom name."""
    return self.code, self.custom_code


@dataclasses.dataclass
class Graph:
  """Subgraph 0 of a model: tensors, ops in execution order, graph I/O."""
  tensors: List[Tensor] = dataclasses.field(default_factory=list)
  ops: List[Op] = dataclasses.field(default_factory=list)
  inputs: List[int] = dataclasses.field(default_factory=list)
  outputs: List[int] = dataclasses.field(default_factory=list)

  def add(self, tensor: Tensor) -> int:
    self.tensors.append(tensor)
    return len(self.tensors) - 1


def _check(graph: Graph) -> None:
  """Catches spec mistakes here rather than as an obscure TFLM refusal."""
  count = len(graph.tensors)
  for i, t in enumerate(graph.tensors):
    if t.data is not None and np.size(t.data) != int(np.prod(t.shape, dtype=np.int64)):
      raise ValueError(f"tensor {i} ({t.name}): {np.size(t.data)} values for shape {t.shape}")
  for k, op in enumerate(graph.ops):
    for index in list(op.inputs) + list(op.outputs):
      if not -1 <= index < count:
        raise ValueError(f"op {k} refers to tensor {index} of {count}")
  for index in graph.inputs + graph.outputs:
    if not 0 <= index < count:
      raise ValueError(f"graph I/O refers to tensor {index} of {count}")


def _tensor(t: Tensor, index: int, buffers: List[schema.BufferT]) -> schema.TensorT:
  tensor = schema.TensorT()
  tensor.shape = np.array(t.shape, dtype=np.int32)
  tensor.type = _TYPES[t.dtype]
  tensor.name = t.name or f"t{index}"
  tensor.buffer = 0  # no data: an activation
  if t.data is not None:
    buffer = schema.BufferT()
    raw = np.ascontiguousarray(t.data, dtype=DTYPES[t.dtype]).tobytes()
    buffer.data = np.frombuffer(raw, dtype=np.uint8)
    buffers.append(buffer)
    tensor.buffer = len(buffers) - 1
  if t.scale is not None:
    q = schema.QuantizationParametersT()
    q.scale = np.atleast_1d(np.asarray(t.scale, dtype=np.float32))
    q.zeroPoint = np.broadcast_to(np.asarray(t.zero_point, dtype=np.int64),
                                  q.scale.shape).copy()
    q.quantizedDimension = t.quantized_dimension
    tensor.quantization = q
  return tensor


def build(graph: Graph) -> bytes:
  """The .tflite bytes of `graph` (schema version 3, identifier TFL3)."""
  _check(graph)
  model = schema.ModelT()
  model.version = 3
  model.description = "freeml generated test graph"
  model.buffers = [schema.BufferT()]  # buffer 0: the empty sentinel
  subgraph = schema.SubGraphT()
  subgraph.name = "main"
  subgraph.tensors = [_tensor(t, i, model.buffers) for i, t in enumerate(graph.tensors)]
  codes: List[Tuple[int, Optional[str]]] = []
  subgraph.operators = []
  for op in graph.ops:
    if op.key not in codes:
      codes.append(op.key)
    operator = schema.OperatorT()
    operator.opcodeIndex = codes.index(op.key)
    operator.inputs = np.array(op.inputs, dtype=np.int32)
    operator.outputs = np.array(op.outputs, dtype=np.int32)
    operator.builtinOptionsType = op.options_type
    operator.builtinOptions = op.options
    if op.custom_options is not None:
      operator.customOptions = np.frombuffer(op.custom_options, dtype=np.uint8)
    subgraph.operators.append(operator)
  subgraph.inputs = np.array(graph.inputs, dtype=np.int32)
  subgraph.outputs = np.array(graph.outputs, dtype=np.int32)
  model.subgraphs = [subgraph]
  model.operatorCodes = []
  for code, custom_code in codes:
    opcode = schema.OperatorCodeT()
    opcode.builtinCode = code
    opcode.deprecatedBuiltinCode = min(code, _PLACEHOLDER_FOR_GREATER_OP_CODES)
    opcode.customCode = custom_code
    opcode.version = 1
    model.operatorCodes.append(opcode)
  return pack(model)


def pack(model: schema.ModelT) -> bytes:
  """The .tflite bytes of a schema object (also for tests that edit one)."""
  builder = flatbuffers.Builder(1024)
  builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
  return bytes(builder.Output())
