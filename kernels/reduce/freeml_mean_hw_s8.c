#include "kernels/freeml_arith.h"

freeml_status freeml_mean_hw_s8(const freeml_mean_params *params,
                                const freeml_dims *input_dims,
                                const int8_t *input, int8_t *output,
                                freeml_tile tile) {
  const int32_t depth = input_dims->c;
  const int32_t count = input_dims->h * input_dims->w;
  int32_t i;
  if (!freeml_tile_valid(tile, (int64_t)input_dims->n * depth)) {
    return FREEML_ERR_ARG;
  }
  for (i = tile.start; i < tile.end; ++i) {
    const int32_t b = i / depth;
    const int32_t c = i % depth;
    const int8_t *x = input + (int64_t)b * count * depth + c;
    int32_t sum = 0;
    int32_t k, y;
    for (k = 0; k < count; ++k) sum += x[(int64_t)k * depth];
    y = freeml_mbqm(sum - params->input_zero_point * count,
                    params->quant.multiplier, params->quant.shift);
    output[i - tile.start] =
        (int8_t)freeml_offset_clamp(y, params->output_offset, -128, 127);
  }
  return FREEML_OK;
}
