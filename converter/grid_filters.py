"""Filters trained on a small grid, stored with int4 or 2-bit values.

SparseComp with `--weight-bits 4` trains each kernel to -7..7 times one scale
per output channel (`--weight-bits 2`: -2..2). TFLite's converter does not
know that and quantizes the kernel to int8 with scale peak / 127, so weight k
of the grid becomes about k * 127 / 7. This module puts such filters back on
their grid in the int8 model: values -7..7 and scale peak / 7 per channel
(-2..2 and peak / 2), the bias rescaled to match. The result is still an int8 model with builtin
ops (stock TFLM runs it as `reference.tflite`); converter/sparse_format then
stores the values of these filters as int4 (2-bit).

A filter is moved only when every channel's int8 values are within
_TOLERANCE of the grid (the rounding of the int8 conversion is 7 / 254 at
most), so a filter that was not trained on the grid keeps its int8 values.

Example:
  reference, moved, filters = on_grid(quantize_int8(model, x_cal), GRID_LEVELS[4])
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from converter import ops, sparse_format, tflite_graph, tflite_writer

_TOLERANCE = 0.05  # of a grid step


def _schema():
  from tensorflow.lite.python import schema_py_generated as schema
  return schema


def _grid_values(rows: np.ndarray, per_channel: bool,
                 levels: int) -> Tuple[np.ndarray, np.ndarray]:
  """(rows on the grid -levels..levels, peak per scale) when every row lies
  on its grid, else (empty, empty). peak: the int8 magnitude that becomes
  `levels`, per row (or one for the whole filter); 0 for an all-zero row,
  which keeps its scale."""
  magnitudes = np.abs(rows.astype(np.int32))
  peak = magnitudes.max(axis=1) if per_channel else np.full(1, magnitudes.max())
  per_row = peak if per_channel else np.repeat(peak, rows.shape[0])
  scaled = rows * (levels / np.maximum(per_row, 1))[:, None]
  grid = np.round(scaled)
  if np.any(np.abs(scaled - grid) > _TOLERANCE):
    return np.empty(0), np.empty(0)
  return grid.astype(np.int8), peak


def on_grid(model: bytes, levels: int) -> Tuple[bytes, int, int]:
  """(model, filters moved to the grid, filters of CONV_2D,
  DEPTHWISE_CONV_2D and FULLY_CONNECTED ops): each such int8 filter that
  lies on a grid of 2 * levels + 1 values per scale gets values
  -levels..levels and scales peak / levels, its int32 bias rescaled the same
  way (levels: prune.GRID_LEVELS, 7 for int4). A filter or bias that
  another op or tensor also reads is left as it is."""
  schema = _schema()
  root = tflite_graph.parse(model)
  graph = root.subgraphs[0]
  owners = tflite_writer.OwnConstants(root)
  moved = filters = 0
  for op in graph.operators:
    name = ops.op_name(ops.builtin_code(root.operatorCodes[op.opcodeIndex]))
    if name not in sparse_format.CUSTOM_OPS or op.inputs is None or len(op.inputs) < 2:
      continue
    tensor = graph.tensors[int(op.inputs[1])]
    if tensor.type != schema.TensorType.INT8 or root.buffers[tensor.buffer].data is None:
      continue
    filters += 1
    # Both change together; one shared with another reader stays as it is.
    owned_filter = owners.of(op, 1, schema.TensorType.INT8)
    has_bias = len(op.inputs) > 2 and int(op.inputs[2]) >= 0
    owned_bias = owners.of(op, 2, schema.TensorType.INT32) if has_bias else None
    if owned_filter is None or (has_bias and owned_bias is None):
      continue
    buffer = owned_filter[1]
    shape = tuple(int(d) for d in tensor.shape)
    weights = np.frombuffer(bytes(bytearray(buffer.data)), np.int8).reshape(shape)
    rows = sparse_format.filter_rows(name, weights)
    scales = np.asarray(tensor.quantization.scale, np.float64)
    per_channel = len(scales) == rows.shape[0] and len(scales) > 1
    grid, peak = _grid_values(rows, per_channel, levels)
    if grid.size == 0:
      continue
    moved += 1
    factor = np.where(peak > 0, peak / levels, 1.0)  # new scale / old scale
    buffer.data = np.frombuffer(sparse_format.dense_weights(name, grid, shape).tobytes(),
                                np.uint8)
    tensor.quantization.scale = (scales * factor).astype(np.float32)
    if owned_bias is not None:
      bias, bias_buffer = owned_bias
      values = np.frombuffer(bytes(bytearray(bias_buffer.data)), "<i4").astype(np.float64)
      rescaled = np.round(values / np.broadcast_to(factor, values.shape))
      bias_buffer.data = np.frombuffer(
          np.clip(rescaled, -2**31, 2**31 - 1).astype("<i4").tobytes(), np.uint8)
      bias.quantization.scale = (np.asarray(bias.quantization.scale, np.float64) *
                                 np.broadcast_to(factor, len(bias.quantization.scale))
                                 ).astype(np.float32)
  return (tflite_writer.pack(root) if moved else model), moved, filters
