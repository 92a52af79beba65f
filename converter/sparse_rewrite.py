"""Rewrites an int8 .tflite model so that each pruned filter is stored in its
smallest format (docs/sparse.md): CONV_2D, DEPTHWISE_CONV_2D and
FULLY_CONNECTED ops whose filter is smaller sparse become FreeML custom ops
reading the encoded buffer; every other op and byte stays as it was.

The input is `reference.tflite` (dense, builtin ops only, what stock TFLM
runs); the output is `model.tflite` for the FreeML runtime. Both hold the
same int8 weights, so the runtime's output on one equals TFLM's on the other.

Example:
  sparse, storage = sparsify(reference)
  sum(s.stored_bytes for s in storage)
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Tuple

import numpy as np

from converter import ops, sparse_format, tflite_graph, tflite_writer

_PADDING_SAME, _PADDING_VALID = 0, 1


@dataclasses.dataclass(frozen=True)
class FilterStorage:
  """How one op's weights are stored.

  filters, filter_size: F and K of docs/sparse.md.
  dense_bytes: F * K, the int8 filter as TFLite stores it.
  stored_bytes: bytes of the buffer the model holds now (== dense_bytes when
    the format is dense).
  """
  op_index: int
  op: str
  tensor: str
  filters: int
  filter_size: int
  nonzeros: int
  format: str
  dense_bytes: int
  stored_bytes: int


def _schema():
  from tensorflow.lite.python import schema_py_generated as schema
  return schema


def _conv_options(op, name: str, filters: int, input_channels: int) -> Dict[str, int]:
  o = op.builtinOptions
  return {"padding": _PADDING_SAME if o.padding == _schema().Padding.SAME else _PADDING_VALID,
          "stride_h": int(o.strideH), "stride_w": int(o.strideW),
          "dilation_h": int(o.dilationHFactor), "dilation_w": int(o.dilationWFactor),
          "activation": int(o.fusedActivationFunction),
          "depth_multiplier": filters // input_channels if name == "DEPTHWISE_CONV_2D" else 1}


def _filter_of(op, name: str, owners: tflite_writer.OwnConstants) -> Optional[np.ndarray]:
  """The op's int8 filter when it can be re-encoded on its own: constant,
  symmetric (zero points 0), read by this op only, in a buffer of its own."""
  owned = owners.of(op, 1, _schema().TensorType.INT8)
  if owned is None:
    return None
  tensor, buffer = owned
  q = tensor.quantization
  if q is None or q.zeroPoint is None or np.any(np.asarray(q.zeroPoint) != 0):
    return None
  shape = [int(d) for d in tensor.shape] if tensor.shape is not None else []
  if len(shape) not in (2, 4) or len(buffer.data) != int(np.prod(shape)):
    return None  # not a filter the runtime would take: it says why
  if name == "FULLY_CONNECTED" and op.builtinOptions.weightsFormat != 0:
    return None
  return np.frombuffer(bytes(bytearray(buffer.data)), np.int8).reshape(shape)


def _narrow_bias(op, owners: tflite_writer.OwnConstants) -> None:
  """Stores a sparse op's int32 bias as int16 when every value fits: the
  sparse kernels take either (docs/sparse.md) and the sums are the same. With
  int4 weights, or a layer separated into three, most biases are small."""
  schema = _schema()
  owned = owners.of(op, 2, schema.TensorType.INT32)
  if owned is None:
    return
  tensor, buffer = owned
  values = np.frombuffer(bytes(bytearray(buffer.data)), "<i4")
  if values.size and (values.min() < -32768 or values.max() > 32767):
    return
  buffer.data = np.frombuffer(values.astype("<i2").tobytes(), np.uint8)
  tensor.type = schema.TensorType.INT16


def value_ops(model: bytes, flag: int) -> int:
  """How many FreeML sparse ops of the model store values of the width
  `flag` says (sparse_format.INT4 or INT2 in the format code)."""
  root = tflite_graph.parse(model)
  count = 0
  for op in root.subgraphs[0].operators:
    custom = root.operatorCodes[op.opcodeIndex].customCode
    name = custom.decode("utf-8", "replace") if isinstance(custom, bytes) else custom
    options = bytes(bytearray(op.customOptions)) if op.customOptions is not None else b""
    if name in sparse_format.CUSTOM_OPS.values() and len(options) >= 8:
      code = int.from_bytes(options[4:8], "little", signed=True)  # word 1: the format
      count += int((code & flag) != 0)
  return count


def sparsify(reference: bytes) -> Tuple[bytes, List[FilterStorage]]:
  """The model with each filter in its smallest format, and how each filter
  of a CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED op is stored. When
  every filter is smallest dense, `reference` itself comes back.

  Raises:
    ConverterError: `reference` is not a readable .tflite model.
  """
  schema = _schema()
  root = tflite_graph.parse(reference)
  graph = root.subgraphs[0]
  owners = tflite_writer.OwnConstants(root)
  storage: List[FilterStorage] = []
  rewritten = False
  for index, op in enumerate(graph.operators):
    name = ops.op_name(ops.builtin_code(root.operatorCodes[op.opcodeIndex]))
    if name not in sparse_format.CUSTOM_OPS:
      continue
    weights = _filter_of(op, name, owners)
    if weights is None:
      continue
    rows = sparse_format.filter_rows(name, weights)
    code, size = sparse_format.best_format(name, rows)
    tensor = graph.tensors[int(op.inputs[1])]
    storage.append(FilterStorage(
        op_index=index, op=name, tensor=tflite_graph.tensor_name(tensor),
        filters=rows.shape[0], filter_size=rows.shape[1], nonzeros=int(np.count_nonzero(rows)),
        format=sparse_format.FORMAT_NAMES[code], dense_bytes=rows.size, stored_bytes=size))
    if code == sparse_format.DENSE:
      continue
    if name == "FULLY_CONNECTED":
      options = {"activation": int(op.builtinOptions.fusedActivationFunction)}
    else:
      input_channels = int(graph.tensors[int(op.inputs[0])].shape[-1])
      options = _conv_options(op, name, rows.shape[0], input_channels)
    rewritten = True
    blob = sparse_format.encode(code, rows)
    op.customOptions = np.frombuffer(
        sparse_format.custom_options(name, code, rows, weights.shape, options), np.uint8)
    op.customOptionsFormat = 0
    op.builtinOptionsType, op.builtinOptions = 0, None
    op.opcodeIndex = tflite_writer.custom_opcode(root, sparse_format.CUSTOM_OPS[name])
    root.buffers[tensor.buffer].data = np.frombuffer(blob, np.uint8)
    _narrow_bias(op, owners)
    tensor.type = schema.TensorType.UINT8
    tensor.shape = np.array([len(blob)], np.int32)
    tensor.shapeSignature = None
    tensor.quantization.quantizedDimension = 0
  return (tflite_writer.pack(root) if rewritten else reference), storage
