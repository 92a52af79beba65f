#include "kernels/freeml_arith.h"

freeml_status freeml_requantize_s8(const freeml_requantize_params *params,
                                   const int8_t *input, int8_t *output,
                                   int32_t count, freeml_tile tile) {
  int32_t i;
  if (!freeml_tile_valid(tile, count)) return FREEML_ERR_ARG;
  for (i = tile.start; i < tile.end; ++i) {
    const int32_t y = freeml_mbqm(input[i] + params->input_offset,
                                  params->quant.multiplier, params->quant.shift);
    output[i - tile.start] =
        (int8_t)freeml_offset_clamp(y, params->output_offset, -128, 127);
  }
  return FREEML_OK;
}
