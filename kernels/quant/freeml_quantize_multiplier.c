#include <math.h>

#include "kernels/freeml_kernels.h"

freeml_quant freeml_quantize_multiplier(double real) {
  freeml_quant q;
  int exponent = 0;
  double fraction;
  int64_t fixed;
  q.multiplier = 0;
  q.shift = 0;
  /* Zero, negative and NaN multipliers mean nothing here; the model reader
   * refuses the scales that would give them. */
  if (!(real > 0.0)) return q;
  if (real > 1e300) real = 1e300; /* infinity saturates below, as any huge */
  fraction = frexp(real, &exponent); /* real = fraction * 2^exponent */
  fixed = (int64_t)round(fraction * (double)(1LL << 31));
  if (fixed == (1LL << 31)) { /* rounding reached 1.0: renormalise */
    fixed /= 2;
    ++exponent;
  }
  if (exponent < -31) { /* too small to represent: flush to zero */
    return q;
  }
  if (exponent > 30) { /* TFLM saturates: the kernels shift by at most 30 */
    fixed = INT32_MAX;
    exponent = 30;
  }
  q.multiplier = (int32_t)fixed;
  q.shift = exponent;
  return q;
}
