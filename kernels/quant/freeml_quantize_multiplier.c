#include <float.h>
#include <math.h>
#include <string.h>

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

/* ---- The same for a * b / c, in integer arithmetic ----
 *
 * In double, a * b is exact (two 24-bit mantissas) and the quotient by c
 * is rounded once to 53 bits, to nearest even. Below, the quotient of the
 * mantissas is computed to 55-57 bits plus a sticky bit, rounded to 53 bits
 * the same way, then to 31 bits as round() does (half away from zero): the
 * result is freeml_quantize_multiplier((double)a * b / c), bit for bit, at
 * a fraction of the cost of soft-float division on a Cortex-M4. */

/* x = m * 2^e with 2^23 <= m < 2^24, for 0 < x <= FLT_MAX. */
static void split_float(float x, uint32_t *m, int32_t *e) {
  uint32_t bits;
  uint32_t mantissa;
  int32_t exponent;
  memcpy(&bits, &x, sizeof(bits));
  mantissa = bits & 0x7FFFFFu;
  exponent = (int32_t)((bits >> 23) & 0xFFu);
  if (exponent == 0) { /* subnormal: mantissa * 2^-149 */
    exponent = 1;
    while (mantissa < (1u << 23)) {
      mantissa <<= 1;
      --exponent;
    }
  } else {
    mantissa |= 1u << 23;
  }
  *m = mantissa;
  *e = exponent - 150;
}

/* floor(n * 2^32 / d) for n < 2^48 and 2^23 <= d < 2^24, 8 bits at a time
 * with 32-bit divisions (a hardware UDIV on the Cortex-M4); *inexact says
 * whether a remainder is left. */
static uint64_t divide_mantissas(uint64_t n, uint32_t d, int *inexact) {
  uint64_t quotient = 0;
  uint32_t remainder = 0;
  int shift;
  for (shift = 40; shift >= -32; shift -= 8) {
    const uint32_t next = shift >= 0 ? (uint32_t)(n >> shift) & 0xFFu : 0u;
    const uint32_t current = remainder << 8 | next; /* remainder < 2^24 */
    const uint32_t digit = current / d;
    remainder = current - digit * d;
    quotient = quotient << 8 | digit;
  }
  *inexact = remainder != 0;
  return quotient;
}

freeml_quant freeml_quantize_multiplier_ratio(float a, float b, float c) {
  freeml_quant q;
  uint32_t ma, mb, mc;
  int32_t ea, eb, ec, exponent, drop = 0;
  uint64_t quotient, kept, rest, half, fixed;
  int inexact;
  if (!(a > 0.0f && a <= FLT_MAX && c > 0.0f && c <= FLT_MAX &&
        b >= 0.0f && b <= FLT_MAX)) {
    return freeml_quantize_multiplier((double)a * (double)b / (double)c);
  }
  q.multiplier = 0;
  q.shift = 0;
  if (b == 0.0f) return q;
  split_float(a, &ma, &ea);
  split_float(b, &mb, &eb);
  split_float(c, &mc, &ec);
  /* ma * mb in [2^46, 2^48), so the quotient is in [2^54, 2^57). */
  quotient = divide_mantissas((uint64_t)ma * mb, mc, &inexact);
  while ((quotient >> drop) >= (1ull << 53)) ++drop;
  kept = quotient >> drop;
  rest = quotient & ((1ull << drop) - 1u);
  half = 1ull << (drop - 1);
  if (rest > half || (rest == half && (inexact || (kept & 1u) != 0))) {
    ++kept;
    if (kept == (1ull << 53)) {
      kept >>= 1;
      ++drop;
    }
  }
  /* a * b / c = kept * 2^(exponent - 53), kept in [2^52, 2^53): frexp's
   * fraction is kept / 2^53. */
  exponent = ea + eb - ec - 32 + drop + 53;
  fixed = (kept + (1ull << 21)) >> 22; /* round(fraction * 2^31) */
  if (fixed == (1ull << 31)) {
    fixed >>= 1;
    ++exponent;
  }
  if (exponent < -31) return q;
  if (exponent > 30) {
    fixed = INT32_MAX;
    exponent = 30;
  }
  q.multiplier = (int32_t)fixed;
  q.shift = exponent;
  return q;
}
