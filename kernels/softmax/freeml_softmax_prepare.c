#include <math.h>

#include "kernels/freeml_kernels.h"

/* Integer bits of the scaled input difference (Q5.26), as TFLM. */
#define INPUT_INTEGER_BITS 5

freeml_status freeml_softmax_prepare(double beta, double input_scale,
                                     freeml_softmax_params *params) {
  double real = beta * input_scale * (double)(1 << (31 - INPUT_INTEGER_BITS));
  freeml_quant q;
  if (real > (double)((1LL << 31) - 1)) real = (double)((1LL << 31) - 1);
  if (!(real > 1.0)) return FREEML_ERR_ARG; /* TFLM CHECK-fails here */
  q = freeml_quantize_multiplier(real);
  if (q.shift < 0) return FREEML_ERR_ARG;
  params->input_multiplier = q.multiplier;
  params->input_left_shift = q.shift;
  /* CalculateInputRadius(5, shift, 31): the largest representable input
   * difference; smaller differences give an output of exactly zero. */
  params->diff_min = -(int32_t)floor(
      (double)((1 << INPUT_INTEGER_BITS) - 1) *
      (double)(1LL << (31 - INPUT_INTEGER_BITS)) / (double)(1LL << q.shift));
  return FREEML_OK;
}
