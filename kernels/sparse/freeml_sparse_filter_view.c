#include <string.h>

#include "kernels/sparse/freeml_sparse.h"

freeml_sparse_filter freeml_sparse_filter_view(int32_t format, int32_t filters,
                                               int32_t filter_size,
                                               int32_t entries,
                                               const uint8_t *data) {
  freeml_sparse_filter s;
  memset(&s, 0, sizeof(s));
  s.format = format & ~(FREEML_SPARSE_INT4 | FREEML_SPARSE_INT2);
  s.value_bits = (format & FREEML_SPARSE_INT4) != 0   ? 4
                 : (format & FREEML_SPARSE_INT2) != 0 ? 2
                                                      : 8;
  s.filters = filters;
  s.filter_size = filter_size;
  s.entries = entries;
  switch (s.format) {
    case FREEML_SPARSE_CSR:
      s.row_bytes = entries <= 0xFFFF ? 2 : 4;
      s.column_bytes = filter_size <= 256 ? 1 : 2;
      s.row_start = data;
      s.column = data + (uint32_t)s.row_bytes * ((uint32_t)filters + 1u);
      s.values = (const int8_t *)(s.column +
                                  (uint32_t)s.column_bytes * (uint32_t)entries);
      break;
    case FREEML_SPARSE_DELTA:
      s.count = data;
      s.delta = data + 2u * (uint32_t)filters;
      s.values = (const int8_t *)(s.delta + (uint32_t)entries);
      break;
    case FREEML_SPARSE_BITMASK:
      s.mask_bytes = (int32_t)(((uint32_t)filter_size + 7u) / 8u);
      s.mask = data;
      s.values = (const int8_t *)(data + (uint32_t)filters *
                                             (uint32_t)s.mask_bytes);
      break;
    default:
      break;
  }
  return s;
}
