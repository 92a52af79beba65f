#include "kernels/sparse/freeml_sparse.h"

/* The sum of the products of the set bits of `bits` with x[bit], of
 * values from *v on (moved past them). */
FREEML_SPARSE_INLINE int32_t word_sum(uint32_t bits, const int8_t *x,
                                      int32_t input_offset,
                                      freeml_sparse_cursor *v, int32_t acc,
                                      int value_bits) {
  while (bits != 0) {
    acc += freeml_sparse_next(v, value_bits) *
           (x[freeml_sparse_ctz(bits)] + input_offset);
    bits &= bits - 1u;
  }
  return acc;
}

/* The int32 sum of filter f's products with x; its entries start at
 * *entry, which is moved past them. `value_bits` (8, 4 or 2): a constant
 * where inlined; 2-bit values come with bitmask only. */
FREEML_SPARSE_INLINE int32_t filter_sum(const freeml_sparse_filter *s,
                                        int32_t f, const int8_t *x,
                                        int32_t input_offset, int32_t *entry,
                                        int value_bits) {
  const int8_t *values = s->values;
  int32_t e = *entry;
  int32_t acc = 0;
  if (value_bits != 2 && s->format == FREEML_SPARSE_CSR) {
    const int32_t end =
        s->row_bytes == 2
            ? (int32_t)freeml_sparse_u16(s->row_start + 2 * (f + 1))
            : (int32_t)freeml_sparse_uint(s->row_start + 4 * (f + 1), 4);
    freeml_sparse_cursor v = freeml_sparse_at(values, e, value_bits);
    if (s->column_bytes == 1) {
      for (; e < end; ++e) {
        acc += freeml_sparse_next(&v, value_bits) *
               (x[s->column[e]] + input_offset);
      }
    } else {
      for (; e < end; ++e) {
        acc += freeml_sparse_next(&v, value_bits) *
               (x[freeml_sparse_u16(s->column + 2 * e)] + input_offset);
      }
    }
  } else {
    /* Whole words of positions < K, then the rest (at most 4 bytes). */
    const uint8_t *row = s->mask + f * s->mask_bytes;
    const uint8_t *end = row + 4 * (s->filter_size / 32);
    const int32_t rest = s->mask_bytes - (int32_t)(end - row);
    freeml_sparse_cursor v = freeml_sparse_at(values, e, value_bits);
    for (; row != end; row += 4, x += 32) {
      const uint32_t bits = freeml_sparse_mask_word(row, 4);
      if (bits != 0) acc = word_sum(bits, x, input_offset, &v, acc, value_bits);
    }
    if (rest != 0) {
      acc = word_sum(freeml_sparse_mask_word(row, rest), x, input_offset, &v,
                     acc, value_bits);
    }
    e = freeml_sparse_index(v, values, value_bits);
  }
  *entry = e;
  return acc;
}

freeml_status freeml_fully_connected_sparse_s8(
    const freeml_fc_params *params, const freeml_per_channel_quant *quant,
    int32_t batches, int32_t accum_depth, int32_t out_units,
    const int8_t *input, const freeml_sparse_filter *filter,
    freeml_sparse_bias bias, int8_t *output, freeml_tile tile) {
  freeml_sparse_output out;
  int32_t i, b, o, entry;
  if (!freeml_tile_valid(tile, (int64_t)batches * out_units) ||
      params->filter_offset != 0 ||
      (filter->format != FREEML_SPARSE_CSR &&
       filter->format != FREEML_SPARSE_BITMASK) ||
      filter->filters != out_units || filter->filter_size != accum_depth ||
      !freeml_sparse_values_built(filter) ||
      (filter->value_bits == 2 && filter->format != FREEML_SPARSE_BITMASK)) {
    return FREEML_ERR_ARG;
  }
  if (tile.start == tile.end) return FREEML_OK;
  out = freeml_sparse_output_of(bias, quant, params->output_offset,
                                params->activation);
  b = tile.start / out_units;
  o = tile.start % out_units;
  entry = freeml_sparse_first_entry(filter, o);
  for (i = tile.start; i < tile.end; ++i) {
    const int8_t *x = input + b * accum_depth;
    int32_t acc;
    if (FREEML_SPARSE_HAS_INT4 && filter->value_bits == 4) {
      acc = filter_sum(filter, o, x, params->input_offset, &entry, 4);
    } else if (FREEML_SPARSE_HAS_INT2 && filter->value_bits == 2) {
      acc = filter_sum(filter, o, x, params->input_offset, &entry, 2);
    } else {
      acc = filter_sum(filter, o, x, params->input_offset, &entry, 8);
    }
    output[i - tile.start] =
        freeml_sparse_output_byte(&out, acc, o, params->per_channel ? o : 0);
    if (++o == out_units) {
      o = 0;
      entry = 0;
      ++b;
    }
  }
  return FREEML_OK;
}
