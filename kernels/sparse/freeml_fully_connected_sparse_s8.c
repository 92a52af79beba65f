#include "kernels/sparse/freeml_sparse.h"

/* The int32 sum of filter f's products with x; its entries start at
 * *entry, which is moved past them. */
static int32_t filter_sum(const freeml_sparse_filter *s, int32_t f,
                          const int8_t *x, int32_t input_offset,
                          int32_t *entry) {
  const int8_t *values = s->values;
  int32_t e = *entry;
  int32_t acc = 0;
  if (s->format == FREEML_SPARSE_CSR) {
    const int32_t end = (int32_t)freeml_sparse_uint(
        s->row_start + (f + 1) * s->row_bytes, s->row_bytes);
    if (s->column_bytes == 1) {
      for (; e < end; ++e) acc += values[e] * (x[s->column[e]] + input_offset);
    } else {
      for (; e < end; ++e) {
        acc += values[e] *
               (x[freeml_sparse_u16(s->column + 2 * e)] + input_offset);
      }
    }
  } else {
    const uint8_t *row = s->mask + f * s->mask_bytes;
    int32_t byte;
    for (byte = 0; byte < s->mask_bytes; byte += 4) {
      uint32_t bits = freeml_sparse_mask_word(row + byte, s->mask_bytes - byte);
      while (bits != 0) {
        acc += values[e++] *
               (x[byte * 8 + freeml_sparse_ctz(bits)] + input_offset);
        bits &= bits - 1u;
      }
    }
  }
  *entry = e;
  return acc;
}

freeml_status freeml_fully_connected_sparse_s8(
    const freeml_fc_params *params, const freeml_per_channel_quant *quant,
    int32_t batches, int32_t accum_depth, int32_t out_units,
    const int8_t *input, const freeml_sparse_filter *filter,
    const int32_t *bias, int8_t *output, freeml_tile tile) {
  int32_t i, b, o, entry;
  if (!freeml_tile_valid(tile, (int64_t)batches * out_units) ||
      params->filter_offset != 0 ||
      (filter->format != FREEML_SPARSE_CSR &&
       filter->format != FREEML_SPARSE_BITMASK) ||
      filter->filters != out_units || filter->filter_size != accum_depth) {
    return FREEML_ERR_ARG;
  }
  if (tile.start == tile.end) return FREEML_OK;
  b = tile.start / out_units;
  o = tile.start % out_units;
  entry = freeml_sparse_first_entry(filter, o);
  for (i = tile.start; i < tile.end; ++i) {
    const int32_t q = params->per_channel ? o : 0;
    int32_t acc = filter_sum(filter, o, input + (int64_t)b * accum_depth,
                             params->input_offset, &entry);
    int32_t y;
    if (bias != 0) acc += bias[o];
    y = freeml_mbqm(acc, quant->multiplier[q], quant->shift[q]);
    output[i - tile.start] = (int8_t)freeml_offset_clamp(
        y, params->output_offset, params->activation.min,
        params->activation.max);
    if (++o == out_units) {
      o = 0;
      entry = 0;
      ++b;
    }
  }
  return FREEML_OK;
}
