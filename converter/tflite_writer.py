"""Writes an edited .tflite model (schema object API) back to bytes.

The schema's own Pack stores a buffer's bytes with 1-byte alignment, so an
int32 bias can land at an odd address; the runtime would then copy it into
the arena (more RAM) and TFLM would read it unaligned. This writer starts
every constant buffer at a 16-byte boundary of the file, as TFLite's
converter does.

Example:
  model = tflite_graph.parse(data)          # schema.ModelT
  ... edit model ...
  data = pack(model)
"""

from __future__ import annotations

import collections
from typing import Optional, Tuple

import flatbuffers

BUFFER_ALIGNMENT = 16


def _schema():
  from tensorflow.lite.python import schema_py_generated as schema
  return schema


def _aligned_bytes(builder: flatbuffers.Builder, raw: bytes) -> int:
  builder.StartVector(1, len(raw), BUFFER_ALIGNMENT)
  builder.head -= len(raw)
  builder.Bytes[builder.head:builder.head + len(raw)] = raw
  return builder.EndVector()


def _aligned_buffer_type(schema):
  class AlignedBufferT(schema.BufferT):
    """A BufferT whose data vector starts at a BUFFER_ALIGNMENT boundary."""

    def Pack(self, builder):  # noqa: N802 (the schema's method name)
      data = None
      if self.data is not None and len(self.data):
        data = _aligned_bytes(builder, bytes(bytearray(self.data)))
      schema.BufferStart(builder)
      if data is not None:
        schema.BufferAddData(builder, data)
      schema.BufferAddOffset(builder, self.offset)
      schema.BufferAddSize(builder, self.size)
      return schema.BufferEnd(builder)

  return AlignedBufferT


def pack(model) -> bytes:
  """The .tflite bytes of a schema.ModelT, constant buffers 16-byte aligned."""
  schema = _schema()
  aligned = _aligned_buffer_type(schema)
  originals = model.buffers
  model.buffers = []
  for buffer in originals:
    copy = aligned()
    copy.data, copy.offset, copy.size = buffer.data, buffer.offset, buffer.size
    model.buffers.append(copy)
  try:
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
  finally:
    model.buffers = originals


def custom_opcode(model, custom_name: str) -> int:
  """Index of the OperatorCode of custom op `custom_name` in a schema.ModelT,
  added when the model has none."""
  schema = _schema()
  for i, opcode in enumerate(model.operatorCodes):
    code = max(int(opcode.builtinCode), int(opcode.deprecatedBuiltinCode))
    if code == schema.BuiltinOperator.CUSTOM and opcode.customCode in (
        custom_name, custom_name.encode()):
      return i
  opcode = schema.OperatorCodeT()
  opcode.builtinCode = opcode.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
  opcode.customCode, opcode.version = custom_name, 1
  model.operatorCodes.append(opcode)
  return len(model.operatorCodes) - 1


class OwnConstants:
  """Which constants of a schema.ModelT an edit may rewrite in place.

  A rewrite of one op's filter or bias must not reach another reader: a
  tensor read by two ops, or a buffer behind two tensors (TFLite's converter
  gives each its own, but a hand-made or deduplicated model may share).
  Counted once, before any edit.
  """

  def __init__(self, model):
    graph = model.subgraphs[0]
    self._model = model
    self._graph = graph
    self._readers = collections.Counter(
        int(k) for op in graph.operators if op.inputs is not None for k in op.inputs if k >= 0)
    self._tensors_per_buffer = collections.Counter(int(t.buffer) for t in graph.tensors)

  def of(self, op, slot: int, tensor_type: int) -> Optional[Tuple[object, object]]:
    """(tensor, buffer) of the op's input `slot` when it is a constant of
    `tensor_type`, read by this op only, in a buffer of its own; else None."""
    if op.inputs is None or len(op.inputs) <= slot or int(op.inputs[slot]) < 0:
      return None
    k = int(op.inputs[slot])
    tensor = self._graph.tensors[k]
    buffers = self._model.buffers
    buffer = buffers[tensor.buffer] if 0 < tensor.buffer < len(buffers) else None
    if (tensor.type != tensor_type or buffer is None or buffer.data is None
        or self._readers[k] != 1 or self._tensors_per_buffer[int(tensor.buffer)] != 1):
      return None
    return tensor, buffer
