#include "kernels/freeml_arith.h"

freeml_status freeml_dequantize_s8_f32(float scale, int32_t zero_point,
                                       const int8_t *input, float *output,
                                       int32_t count, freeml_tile tile) {
  int32_t i;
  if (!freeml_tile_valid(tile, count)) return FREEML_ERR_ARG;
  for (i = tile.start; i < tile.end; ++i) {
    /* Exact: the product of a float and a small integer rounds once. */
    output[i - tile.start] = scale * (float)(input[i] - zero_point);
  }
  return FREEML_OK;
}
