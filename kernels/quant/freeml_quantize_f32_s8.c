#include <math.h>

#include "kernels/freeml_arith.h"

freeml_status freeml_quantize_f32_s8(float scale, int32_t zero_point,
                                     const float *input, int8_t *output,
                                     int32_t count, freeml_tile tile) {
  int32_t i;
  if (!freeml_tile_valid(tile, count)) return FREEML_ERR_ARG;
  for (i = tile.start; i < tile.end; ++i) {
    /* A float division, not a multiply by the reciprocal, as TFLM. */
    int32_t q = (int32_t)roundf(input[i] / scale) + zero_point;
    output[i - tile.start] = (int8_t)freeml_clamp(q, -128, 127);
  }
  return FREEML_OK;
}
