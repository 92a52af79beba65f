"""Sparse weight formats (docs/sparse.md), int8, int4 or 2-bit values: encoders and exact sizes.

The search (converter/sparsecomp) asks `best_format` for the stored bytes of
a layer many times, and the graph rewrite asks `encode` once per layer; both
go through the same per-format code here, so a size the search counted is the
size of the buffer the model gets.

Example:
  rows = filter_rows("CONV_2D", filter)        # [F, K] int8
  code, size = best_format("CONV_2D", rows)
  blob = encode(code, rows)                     # len(blob) == size
"""

from __future__ import annotations

import struct
from typing import Dict, Tuple

import numpy as np

DENSE, CSR, DELTA, BITMASK = 0, 1, 2, 3
# Added to a format's code when its values are int4, two per byte; or, for
# bitmask only, 2-bit codes of -2, -1, 1, 2, four per byte (no code for 0,
# which the mask already says).
INT4 = 4
INT2 = 8
VALUE_FLAGS = INT4 | INT2
CSR_INT4, DELTA_INT4, BITMASK_INT4 = CSR | INT4, DELTA | INT4, BITMASK | INT4
BITMASK_INT2 = BITMASK | INT2
FORMAT_NAMES = {DENSE: "dense", CSR: "csr", DELTA: "delta", BITMASK: "bitmask",
                CSR_INT4: "csr-int4", DELTA_INT4: "delta-int4", BITMASK_INT4: "bitmask-int4",
                BITMASK_INT2: "bitmask-int2"}
OPTIONS_VERSION = 1
OPTIONS_WORDS = 14

# Builtin op -> its FreeML custom op, and the formats it may use, in the order
# that breaks ties (simplest first).
CUSTOM_OPS: Dict[str, str] = {
    "CONV_2D": "FREEML_SPARSE_CONV_2D",
    "DEPTHWISE_CONV_2D": "FREEML_SPARSE_DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED": "FREEML_SPARSE_FULLY_CONNECTED",
}
FORMATS: Dict[str, Tuple[int, ...]] = {
    "CONV_2D": (DENSE, BITMASK, DELTA, BITMASK_INT4, DELTA_INT4, BITMASK_INT2),
    "DEPTHWISE_CONV_2D": (DENSE, BITMASK, DELTA, BITMASK_INT4, DELTA_INT4, BITMASK_INT2),
    "FULLY_CONNECTED": (DENSE, BITMASK, CSR, BITMASK_INT4, CSR_INT4, BITMASK_INT2),
}

_MAX_DELTA = 255
_MAX_COUNT = 0xFFFF
_INT4_MIN, _INT4_MAX = -8, 7
INT2_LEVELS = 2  # 2-bit values: -2..2 without 0


def filter_rows(op: str, weights: np.ndarray) -> np.ndarray:
  """The op's dense weights as [F, K] rows: one filter per row, its weights
  in position order (docs/sparse.md, "Terms")."""
  if op == "DEPTHWISE_CONV_2D":  # [1, kh, kw, F]
    return np.ascontiguousarray(weights.reshape(-1, weights.shape[-1]).T)
  return np.ascontiguousarray(weights.reshape(weights.shape[0], -1))


def dense_weights(op: str, rows: np.ndarray, shape: Tuple[int, ...]) -> np.ndarray:
  """Inverse of filter_rows for a dense shape."""
  if op == "DEPTHWISE_CONV_2D":
    return np.ascontiguousarray(rows.T).reshape(shape)
  return rows.reshape(shape)


def _delta_entries(rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Per-filter counts, deltas and values of the delta format, fillers included."""
  counts, deltas, values = [], [], []
  for row in rows:
    previous = -1
    row_count = 0
    for p in np.flatnonzero(row):
      gap = int(p) - previous - 1
      while gap > _MAX_DELTA:  # a filler entry of value 0 bridges 256 positions
        deltas.append(_MAX_DELTA)
        values.append(0)
        gap -= _MAX_DELTA + 1
        row_count += 1
      deltas.append(gap)
      values.append(int(row[p]))
      previous = int(p)
      row_count += 1
    counts.append(row_count)
  return (np.asarray(counts, "<u2"), np.asarray(deltas, np.uint8),
          np.asarray(values, np.int8).reshape(-1))


def _delta_fillers(rows: np.ndarray) -> int:
  """Filler entries the delta format needs, without building it."""
  total = 0
  for row in rows:
    positions = np.flatnonzero(row)
    gaps = np.diff(positions, prepend=-1) - 1
    total += int(np.sum(gaps // (_MAX_DELTA + 1)))
  return total


def _csr_widths(depth: int, entries: int) -> Tuple[int, int]:
  return (2 if entries <= 0xFFFF else 4), (1 if depth <= 256 else 2)


def _value_bytes(code: int, stored: int) -> int:
  if code & INT4:
    return (stored + 1) // 2
  return (stored + 3) // 4 if code & INT2 else stored


def pack_int4(values: np.ndarray) -> np.ndarray:
  """int4 values (-8..7) packed as TFLite packs INT4 tensors: two per byte,
  the first in the low nibble, a last odd nibble 0."""
  flat = np.asarray(values, np.int8).reshape(-1)
  if len(flat) % 2:
    flat = np.append(flat, np.int8(0))
  nibbles = flat.astype(np.uint8) & 0xF
  return (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8)


def pack_int2(values: np.ndarray) -> np.ndarray:
  """Non-zero values in -2..2 as 2-bit codes, four per byte from the least
  significant bits: -2, -1, 1, 2 are 0, 1, 2, 3; the bits after the last 0."""
  flat = np.asarray(values, np.int8).reshape(-1).astype(np.int16)
  codes = np.where(flat < 0, flat + 2, flat + 1).astype(np.uint8)
  codes = np.concatenate([codes, np.zeros((-len(codes)) % 4, np.uint8)])
  fields = codes.reshape(-1, 4)
  return (fields[:, 0] | fields[:, 1] << 2 | fields[:, 2] << 4 | fields[:, 3] << 6).astype(
      np.uint8)


def _packed_values(code: int, values: np.ndarray) -> bytes:
  """The value section: int8, int4 packed (pack_int4) or 2-bit (pack_int2)."""
  if code & INT4:
    return pack_int4(values).tobytes()
  if code & INT2:
    return pack_int2(values).tobytes()
  return np.asarray(values, np.int8).reshape(-1).tobytes()


def _unpacked_values(code: int, section: bytes, stored: int) -> np.ndarray:
  """Inverse of _packed_values."""
  data = np.frombuffer(section, np.uint8)
  if code & INT2:
    codes = np.stack([(data >> s) & 3 for s in (0, 2, 4, 6)], axis=1).reshape(-1)[:stored]
    codes = codes.astype(np.int8)
    return (codes - 2 + (codes >> 1)).astype(np.int8)
  if not code & INT4:
    return data[:stored].astype(np.int8)
  nibbles = np.stack([data & 0xF, data >> 4], axis=1).reshape(-1)[:stored].astype(np.int8)
  return np.where(nibbles > _INT4_MAX, nibbles - 16, nibbles).astype(np.int8)


def applicable(code: int, rows: np.ndarray) -> bool:
  """Whether a format can hold these rows (count and column fields fit, and
  every weight is in -8..7 for int4 values, in -2..2 for 2-bit ones)."""
  if code not in FORMAT_NAMES:
    return False
  _, depth = rows.shape
  if code & INT4 and rows.size and (rows.min() < _INT4_MIN or rows.max() > _INT4_MAX):
    return False
  if code & INT2 and rows.size and np.abs(rows.astype(np.int16)).max() > INT2_LEVELS:
    return False
  if code & ~VALUE_FLAGS == DELTA:
    return depth <= _MAX_COUNT
  if code & ~VALUE_FLAGS == CSR:
    return depth <= 0x10000
  return True


def encoded_size(code: int, rows: np.ndarray) -> int:
  """Exact bytes of `encode(code, rows)`, computed without building it."""
  filters, depth = rows.shape
  if code == DENSE:
    return filters * depth
  stored = entries(code, rows)
  values = _value_bytes(code, stored)
  if code & ~VALUE_FLAGS == BITMASK:
    return filters * ((depth + 7) // 8) + values
  if code & ~VALUE_FLAGS == DELTA:
    return 2 * filters + stored + values
  if code & ~VALUE_FLAGS == CSR:
    row_bytes, column_bytes = _csr_widths(depth, stored)
    return row_bytes * (filters + 1) + column_bytes * stored + values
  raise ValueError(f"unknown sparse format code {code}")


def entries(code: int, rows: np.ndarray) -> int:
  """E of docs/sparse.md: entries stored (non-zeros, plus delta fillers)."""
  nonzero = int(np.count_nonzero(rows))
  return nonzero + _delta_fillers(rows) if code & ~VALUE_FLAGS == DELTA else nonzero


def encode(code: int, rows: np.ndarray) -> bytes:
  """The weights buffer of format `code` for int8 rows [F, K]."""
  rows = np.asarray(rows, np.int8)
  filters, depth = rows.shape
  if not applicable(code, rows):
    raise ValueError(f"format {FORMAT_NAMES.get(code, code)} cannot hold {filters}x{depth}")
  if code == DENSE:
    return rows.tobytes()
  if code & ~VALUE_FLAGS == BITMASK:
    padded = np.zeros((filters, 8 * ((depth + 7) // 8)), np.uint8)
    padded[:, :depth] = rows != 0
    mask = np.packbits(padded, axis=1, bitorder="little")
    return mask.tobytes() + _packed_values(code, rows[rows != 0])
  if code & ~VALUE_FLAGS == DELTA:
    counts, deltas, values = _delta_entries(rows)
    return counts.tobytes() + deltas.tobytes() + _packed_values(code, values)
  per_row = np.count_nonzero(rows, axis=1)  # CSR
  row_bytes, column_bytes = _csr_widths(depth, int(per_row.sum()))
  row_start = np.concatenate([[0], np.cumsum(per_row)]).astype(f"<u{row_bytes}")
  columns = np.nonzero(rows)[1].astype(f"<u{column_bytes}")
  return row_start.tobytes() + columns.tobytes() + _packed_values(code, rows[rows != 0])


def best_format(op: str, rows: np.ndarray) -> Tuple[int, int]:
  """(format code, bytes) of the smallest format the op may use."""
  sizes = [(encoded_size(code, rows), rank, code)
           for rank, code in enumerate(FORMATS[op]) if applicable(code, rows)]
  size, _, code = min(sizes)
  return code, size


def custom_options(op: str, code: int, rows: np.ndarray, dense_shape: Tuple[int, ...],
                   builtin_options: Dict[str, int]) -> bytes:
  """The custom op's custom_options: OPTIONS_WORDS little-endian int32.

  builtin_options: for convolutions padding (0 SAME, 1 VALID), stride_h,
    stride_w, dilation_h, dilation_w, activation, depth_multiplier; for fully
    connected activation.
  """
  words = [OPTIONS_VERSION, code, entries(code, rows)]
  if op == "FULLY_CONNECTED":
    words += [int(dense_shape[0]), int(dense_shape[1]), 0, 0, builtin_options["activation"]]
  else:
    words += [int(d) for d in dense_shape]
    words += [builtin_options[key] for key in ("padding", "stride_h", "stride_w", "dilation_h",
                                               "dilation_w", "activation", "depth_multiplier")]
  words += [0] * (OPTIONS_WORDS - len(words))
  return struct.pack(f"<{OPTIONS_WORDS}i", *words)


def sparse_op_facts(custom_name: str, options: bytes, blob: bytes,
                    output_shape: Tuple[int, ...]) -> Tuple[int, int]:
  """(non-zero weights, MACs per inference) of a FreeML sparse custom op, read
  from its custom_options and encoded buffer; (0, 0) when they are malformed
  (the runtime refuses such an op with the reason)."""
  if len(options) != 4 * OPTIONS_WORDS or custom_name not in CUSTOM_OPS.values():
    return 0, 0
  words = struct.unpack(f"<{OPTIONS_WORDS}i", options)
  code, stored = words[1], words[2]
  value_bytes = _value_bytes(code, stored)
  if code not in FORMAT_NAMES or not 0 <= value_bytes <= len(blob) or stored < 0:
    return 0, 0
  values = _unpacked_values(code, blob[len(blob) - value_bytes:], stored)
  filters = words[3] if custom_name != CUSTOM_OPS["DEPTHWISE_CONV_2D"] else words[6]
  outputs = int(np.prod(output_shape)) if output_shape else 0
  per_filter_outputs = outputs // filters if filters > 0 else 0
  return int(np.count_nonzero(values)), per_filter_outputs * stored
