#include "kernels/freeml_arith.h"

freeml_status freeml_fully_connected_s8_portable(
    const freeml_fc_params *params, const freeml_per_channel_quant *quant,
    int32_t batches, int32_t accum_depth, int32_t out_units,
    const int8_t *input, const int8_t *filter, const int32_t *bias,
    int8_t *output, freeml_tile tile) {
  /* TFLM applies the filter zero point on the per-tensor path only. */
  const int32_t filter_offset = params->per_channel ? 0 : params->filter_offset;
  const int32_t input_offset = params->input_offset;
  int32_t i, b, o;
  if (!freeml_tile_valid(tile,
                         freeml_fully_connected_s8_units(batches, out_units))) {
    return FREEML_ERR_ARG;
  }
  b = tile.start / out_units;
  o = tile.start % out_units;
  for (i = tile.start; i < tile.end; ++i) {
    const int32_t q = params->per_channel ? o : 0;
    const int8_t *x = input + (int64_t)b * accum_depth;
    const int8_t *w = filter + (int64_t)o * accum_depth;
    int32_t acc = 0;
    int32_t d, y;
    for (d = 0; d < accum_depth; ++d) {
      acc += (w[d] + filter_offset) * (x[d] + input_offset);
    }
    if (bias != 0) acc += bias[o];
    y = freeml_mbqm(acc, quant->multiplier[q], quant->shift[q]);
    output[i - tile.start] = (int8_t)freeml_offset_clamp(
        y, params->output_offset, params->activation.min,
        params->activation.max);
    if (++o == out_units) {
      o = 0;
      ++b;
    }
  }
  return FREEML_OK;
}
