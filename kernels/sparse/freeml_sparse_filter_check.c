#include "kernels/sparse/freeml_sparse.h"

/* Bytes of the encoding the header describes, or 0 for a format it cannot
 * have (no encoding is empty). */
static uint64_t encoded_bytes(int32_t format, int32_t filters,
                              int32_t filter_size, int32_t entries) {
  const uint64_t f = (uint64_t)filters, k = (uint64_t)filter_size;
  const uint64_t e = (uint64_t)entries;
  const int32_t int4 = format & FREEML_SPARSE_INT4;
  const int32_t int2 = format & FREEML_SPARSE_INT2;
  const uint64_t values = int4 ? (e + 1u) / 2u : int2 ? (e + 3u) / 4u : e;
  if ((int4 && (int2 || !FREEML_SPARSE_HAS_INT4)) ||
      (int2 && (!FREEML_SPARSE_HAS_INT2 ||
                (format & ~int2) != FREEML_SPARSE_BITMASK))) {
    return 0;
  }
  switch (format & ~(int4 | int2)) {
    case FREEML_SPARSE_CSR:
      if (filter_size > 0x10000) return 0; /* columns are 2 bytes at most */
      return (e <= 0xFFFFu ? 2u : 4u) * (f + 1u) +
             (k <= 256u ? 1u : 2u) * e + values;
    case FREEML_SPARSE_DELTA:
      return 2u * f + e + values;
    case FREEML_SPARSE_BITMASK:
      return f * ((k + 7u) / 8u) + values;
    default:
      return 0;
  }
}

/* Row starts from 0 to E, non-decreasing; columns strictly increasing
 * within a row and < K. */
static int32_t check_csr(const freeml_sparse_filter *s) {
  int32_t most = 0;
  uint32_t start = freeml_sparse_uint(s->row_start, s->row_bytes);
  int32_t f;
  if (start != 0) return -1;
  for (f = 0; f < s->filters; ++f) {
    const uint32_t end = freeml_sparse_uint(
        s->row_start + ((uint32_t)f + 1u) * (uint32_t)s->row_bytes,
        s->row_bytes);
    uint32_t j;
    if (end < start || end > (uint32_t)s->entries) return -1;
    for (j = start; j < end; ++j) {
      const uint32_t column =
          freeml_sparse_uint(s->column + j * (uint32_t)s->column_bytes,
                             s->column_bytes);
      if (column >= (uint32_t)s->filter_size ||
          (j > start &&
           column <= freeml_sparse_uint(
                         s->column + (j - 1u) * (uint32_t)s->column_bytes,
                         s->column_bytes))) {
        return -1;
      }
    }
    if ((int32_t)(end - start) > most) most = (int32_t)(end - start);
    start = end;
  }
  return start == (uint32_t)s->entries ? most : -1;
}

/* Counts summing to E, every position < K. */
static int32_t check_delta(const freeml_sparse_filter *s) {
  int64_t total = 0;
  int32_t most = 0;
  int32_t f, e = 0;
  for (f = 0; f < s->filters; ++f) {
    total += freeml_sparse_u16(s->count + 2u * (uint32_t)f);
  }
  if (total != s->entries) return -1;
  for (f = 0; f < s->filters; ++f) {
    const int32_t count =
        (int32_t)freeml_sparse_u16(s->count + 2u * (uint32_t)f);
    const int32_t end = e + count;
    int64_t position = -1;
    for (; e < end; ++e) {
      position += 1 + s->delta[e];
      if (position >= s->filter_size) return -1;
    }
    if (count > most) most = count;
  }
  return most;
}

/* Padding bits (positions >= K) clear, E set bits. */
static int32_t check_bitmask(const freeml_sparse_filter *s) {
  const int32_t used_bits = s->filter_size % 8;
  int64_t total = 0;
  int32_t most = 0;
  int32_t f;
  for (f = 0; f < s->filters; ++f) {
    const uint8_t *row = s->mask + (uint32_t)f * (uint32_t)s->mask_bytes;
    int32_t count;
    if (used_bits != 0 && (row[s->mask_bytes - 1] >> used_bits) != 0) {
      return -1;
    }
    count = freeml_sparse_popcount_bytes(row, (uint32_t)s->mask_bytes);
    total += count;
    if (count > most) most = count;
  }
  return total == s->entries ? most : -1;
}

freeml_status freeml_sparse_filter_check(int32_t format, int32_t filters,
                                         int32_t filter_size, int32_t entries,
                                         const uint8_t *data, uint32_t bytes,
                                         int32_t *max_entries) {
  freeml_sparse_filter s;
  int32_t most;
  *max_entries = 0;
  if (filters < 1 || filter_size < 1 || entries < 0 ||
      (int64_t)entries > (int64_t)filters * filter_size || data == 0 ||
      bytes == 0 ||
      encoded_bytes(format, filters, filter_size, entries) != bytes) {
    return FREEML_ERR_MODEL;
  }
  s = freeml_sparse_filter_view(format, filters, filter_size, entries, data);
  /* One encoding per filter: the bits after the last value are 0. */
  if (s.value_bits < 8) {
    const int32_t per_byte = 8 / s.value_bits;
    const int32_t used = entries % per_byte;
    if (used != 0 &&
        ((uint8_t)s.values[entries / per_byte] >> (used * s.value_bits)) != 0) {
      return FREEML_ERR_MODEL;
    }
  }
  switch (s.format) {
    case FREEML_SPARSE_CSR:
      most = check_csr(&s);
      break;
    case FREEML_SPARSE_DELTA:
      most = check_delta(&s);
      break;
    default:
      most = check_bitmask(&s);
      break;
  }
  if (most < 0) return FREEML_ERR_MODEL;
  *max_entries = most;
  return FREEML_OK;
}
