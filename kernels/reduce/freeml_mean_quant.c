#include "kernels/freeml_kernels.h"

/* TFLM folds the division by `count` into the multiplier: multiply by
 * 2^k / count with k = floor(log2(count)), bounded so the shift stays
 * representable. */
freeml_quant freeml_mean_quant(double real_ratio, int32_t count) {
  freeml_quant q = freeml_quantize_multiplier(real_ratio);
  int32_t k = 0;
  uint32_t n = (uint32_t)count;
  while (n > 1u) {
    n >>= 1;
    ++k;
  }
  if (k > 32) k = 32;
  if (k > 31 + q.shift) k = 31 + q.shift;
  q.multiplier = (int32_t)((((int64_t)q.multiplier) * ((int64_t)1 << k)) /
                           (int64_t)count);
  q.shift -= k;
  return q;
}

int32_t freeml_mean_s8_units(const freeml_dims *output_dims) {
  return output_dims->n * output_dims->h * output_dims->w * output_dims->c;
}
