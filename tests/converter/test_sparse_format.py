"""The sparse weight formats of docs/sparse.md: sizes, round trips through a
decoder written here from the document, and the choice of format."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from converter import sparse_format as sf

DENSITIES = (0.0, 0.003, 0.02, 0.1, 0.3, 0.5, 0.9, 1.0)


def _u(blob: bytes, offset: int, width: int) -> int:
  return int.from_bytes(blob[offset:offset + width], "little")


def _values(code: int, blob: bytes, entries: int) -> tuple:
  """(value section bytes, the E values): int8; int4 two per byte, entry
  2j in the low nibble of byte j and a last unused nibble 0; 2-bit codes
  0..3 of -2, -1, 1, 2 four per byte from the low bits, unused bits 0."""
  if code & sf.INT2:
    size = (entries + 3) // 4
    codes = [blob[len(blob) - size + j // 4] >> (2 * (j % 4)) & 3 for j in range(entries)]
    if entries % 4:
      assert blob[-1] >> (2 * (entries % 4)) == 0
    return size, np.asarray([(-2, -1, 1, 2)[c] for c in codes], np.int8)
  if not code & sf.INT4:
    return entries, np.frombuffer(blob[len(blob) - entries:], np.int8)
  size = (entries + 1) // 2
  values = []
  for j in range(entries):
    nibble = blob[len(blob) - size + j // 2] >> (4 * (j % 2)) & 0xF
    values.append(nibble - 16 if nibble >= 8 else nibble)
  if entries % 2:
    assert blob[-1] >> 4 == 0
  return size, np.asarray(values, np.int8)


def decode(code: int, blob: bytes, filters: int, depth: int, entries: int) -> np.ndarray:
  """docs/sparse.md read literally: the dense [F, K] rows of an encoding."""
  rows = np.zeros((filters, depth), np.int8)
  if code == sf.DENSE:
    return np.frombuffer(blob, np.int8).reshape(filters, depth).copy()
  value_bytes, values = _values(code, blob, entries)
  base = code & ~(sf.INT4 | sf.INT2)
  if base == sf.BITMASK:
    row_bytes = (depth + 7) // 8
    assert len(blob) == filters * row_bytes + value_bytes
    v = 0
    for f in range(filters):
      for p in range(8 * row_bytes):
        if blob[f * row_bytes + p // 8] >> (p % 8) & 1:
          assert p < depth
          rows[f, p] = values[v]
          v += 1
    assert v == entries
  elif base == sf.DELTA:
    counts = [_u(blob, 2 * f, 2) for f in range(filters)]
    assert sum(counts) == entries and len(blob) == 2 * filters + entries + value_bytes
    j = 0
    for f in range(filters):
      position = -1
      for _ in range(counts[f]):
        position += 1 + blob[2 * filters + j]
        assert position < depth
        rows[f, position] += values[j]
        j += 1
  elif base == sf.CSR:
    r = 2 if entries <= 0xFFFF else 4
    c = 1 if depth <= 256 else 2
    assert len(blob) == r * (filters + 1) + c * entries + value_bytes
    start = [_u(blob, r * f, r) for f in range(filters + 1)]
    assert start[0] == 0 and start[-1] == entries
    columns = r * (filters + 1)
    for f in range(filters):
      previous = -1
      for j in range(start[f], start[f + 1]):
        column = _u(blob, columns + c * j, c)
        assert previous < column < depth
        rows[f, column] = values[j]
        previous = column
  return rows


def _rows(rng: np.random.Generator, filters: int, depth: int, density: float,
          int4: bool = False, int2: bool = False) -> np.ndarray:
  low, high = (-2, 3) if int2 else (-8, 8) if int4 else (-127, 128)
  values = rng.integers(low, high, (filters, depth))
  values[values == 0] = 1
  return (values * (rng.random((filters, depth)) < density)).astype(np.int8)


@pytest.mark.parametrize("filters,depth", [(1, 1), (4, 9), (16, 27), (8, 300), (3, 1200),
                                           (300, 260)])
@pytest.mark.parametrize("code", [sf.DENSE, sf.CSR, sf.DELTA, sf.BITMASK, sf.CSR_INT4,
                                  sf.DELTA_INT4, sf.BITMASK_INT4, sf.BITMASK_INT2])
def test_every_format_round_trips_at_every_density(filters, depth, code):
  rng = np.random.default_rng(filters * 1000 + depth)
  for density in DENSITIES:
    rows = _rows(rng, filters, depth, density, int4=bool(code & sf.INT4),
                 int2=bool(code & sf.INT2))
    blob = sf.encode(code, rows)
    assert len(blob) == sf.encoded_size(code, rows)
    decoded = decode(code, blob, filters, depth, sf.entries(code, rows))
    np.testing.assert_array_equal(decoded, rows)


def test_delta_bridges_long_gaps_with_zero_fillers():
  rows = np.zeros((1, 1000), np.int8)
  rows[0, [0, 256, 257, 999]] = [5, -6, 7, 8]
  blob = sf.encode(sf.DELTA, rows)
  # gap 255 needs none; 256 -> 257 none; 258 -> 999 is a gap of 741: two fillers.
  assert sf.entries(sf.DELTA, rows) == 4 + 2
  assert struct.unpack_from("<H", blob)[0] == 6
  np.testing.assert_array_equal(decode(sf.DELTA, blob, 1, 1000, 6), rows)


def test_csr_widths_follow_depth_and_entry_count():
  narrow = np.ones((2, 256), np.int8)
  wide = np.ones((2, 257), np.int8)
  assert sf.encoded_size(sf.CSR, narrow) == 2 * 3 + 2 * 512
  assert sf.encoded_size(sf.CSR, wide) == 2 * 3 + 3 * 514
  many = np.ones((300, 260), np.int8)  # 78,000 entries: 4-byte row starts
  assert sf.encoded_size(sf.CSR, many) == 4 * 301 + 3 * 78000


def test_best_format_is_the_smallest_allowed_one():
  rng = np.random.default_rng(1)
  for op in sf.FORMATS:
    for density in DENSITIES:
      rows = _rows(rng, 32, 144, density)
      code, size = sf.best_format(op, rows)
      assert code in sf.FORMATS[op] and not code & sf.INT4
      assert size == min(sf.encoded_size(c, rows) for c in sf.FORMATS[op]
                         if sf.applicable(c, rows))
  dense = _rows(rng, 8, 64, 1.0)
  assert sf.best_format("CONV_2D", dense) == (sf.DENSE, dense.size)


def test_weights_in_int4_range_take_int4_values_where_smaller():
  rng = np.random.default_rng(2)
  for op in sf.FORMATS:
    for density in (0.02, 0.3, 0.9):
      rows = _rows(rng, 32, 144, density, int4=True)
      code, size = sf.best_format(op, rows)
      assert code & sf.INT4, (op, density)
      assert size == sf.encoded_size(code, rows) == len(sf.encode(code, rows))
  full = _rows(rng, 8, 64, 1.0, int4=True)  # bitmask int4 beats dense: K/8 + K/2 < K
  assert sf.best_format("FULLY_CONNECTED", full) == (sf.BITMASK_INT4, 8 * (8 + 32))
  with pytest.raises(ValueError, match="cannot hold"):
    sf.encode(sf.BITMASK_INT4, np.array([[8]], np.int8))


def test_weights_in_minus_2_to_2_take_2_bit_values_in_bitmask_only():
  rng = np.random.default_rng(3)
  for op in sf.FORMATS:
    for density in (0.3, 0.6, 1.0):  # where bitmask is the smallest format
      rows = _rows(rng, 32, 144, density, int2=True)
      code, size = sf.best_format(op, rows)
      assert code == sf.BITMASK_INT2, (op, density)
      assert size == 32 * 18 + (np.count_nonzero(rows) + 3) // 4 == len(sf.encode(code, rows))
  assert not sf.applicable(sf.BITMASK_INT2, np.array([[3]], np.int8))
  assert not sf.applicable(sf.BITMASK_INT2, np.array([[-3]], np.int8))
  assert sf.DELTA | sf.INT2 not in sf.FORMAT_NAMES and sf.CSR | sf.INT2 not in sf.FORMAT_NAMES


def test_filter_rows_order_positions_as_the_spec_says():
  conv = np.arange(2 * 3 * 3 * 4, dtype=np.int8).reshape(2, 3, 3, 4)  # [F, kh, kw, c]
  assert sf.filter_rows("CONV_2D", conv)[1, (1 * 3 + 2) * 4 + 3] == conv[1, 1, 2, 3]
  depthwise = np.arange(3 * 3 * 5, dtype=np.int8).reshape(1, 3, 3, 5)  # [1, kh, kw, F]
  rows = sf.filter_rows("DEPTHWISE_CONV_2D", depthwise)
  assert rows.shape == (5, 9) and rows[4, 2 * 3 + 1] == depthwise[0, 2, 1, 4]
  np.testing.assert_array_equal(sf.dense_weights("DEPTHWISE_CONV_2D", rows, depthwise.shape),
                                depthwise)


def test_custom_options_layout():
  rows = np.zeros((4, 9), np.int8)
  rows[0, 3] = 1
  options = sf.custom_options("DEPTHWISE_CONV_2D", sf.DELTA, rows, (1, 3, 3, 4), {
      "padding": 0, "stride_h": 2, "stride_w": 1, "dilation_h": 1, "dilation_w": 3,
      "activation": 3, "depth_multiplier": 2})
  assert struct.unpack("<14i", options) == (1, 2, 1, 1, 3, 3, 4, 0, 2, 1, 1, 3, 3, 2)
  fc = sf.custom_options("FULLY_CONNECTED", sf.CSR, rows, (4, 9), {"activation": 1})
  assert struct.unpack("<14i", fc) == (1, 1, 1, 4, 9, 0, 0, 1, 0, 0, 0, 0, 0, 0)
