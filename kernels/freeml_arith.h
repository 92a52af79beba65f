/*
 * Fixed-point primitives shared by the kernels, as TFLM's reference kernels
 * compute them (gemmlowp semantics, double rounding). Internal to kernels/.
 *
 * Right shifts of negative values are arithmetic on every compiler the
 * project supports (gcc, clang, arm-none-eabi-gcc); C99 leaves them
 * implementation-defined, not undefined.
 */
#ifndef FREEML_ARITH_H_
#define FREEML_ARITH_H_

#include <stdint.h>

#include "kernels/freeml_kernels.h"

/* SaturatingRoundingDoublingHighMul: (a * b * 2) >> 32, rounding to
 * nearest with ties toward +infinity. */
static inline int32_t freeml_srdhm(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  /* gemmlowp adds a sign-dependent nudge, 2^30 or 1 - 2^30, and divides by
   * 2^31 truncating; for either sign that equals adding 2^30 and shifting
   * right (flooring), which needs no branch. */
  return (int32_t)(((int64_t)a * (int64_t)b + (1LL << 30)) >> 31);
}

/* RoundingDivideByPOT: x / 2^exponent, ties away from zero; 0 <= exponent
 * <= 31. */
static inline int32_t freeml_rdbpot(int32_t x, int32_t exponent) {
  int32_t mask = (int32_t)((1LL << exponent) - 1);
  int32_t remainder = x & mask;
  int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * 2^shift with int32 wraparound, as TFLM's `x * (1 << shift)`. */
static inline int32_t freeml_shl_wrap(int32_t x, int32_t shift) {
  return (int32_t)((uint32_t)x << shift);
}

/* MultiplyByQuantizedMultiplier, double-rounding variant (TFLM's default):
 * shift > 0 multiplies by 2^shift before, shift < 0 divides after. */
static inline int32_t freeml_mbqm(int32_t x, int32_t multiplier,
                                  int32_t shift) {
  int32_t left = shift > 0 ? shift : 0;
  int32_t right = shift > 0 ? 0 : -shift;
  return freeml_rdbpot(freeml_srdhm(freeml_shl_wrap(x, left), multiplier),
                       right);
}

/* Saturating x * 2^shift, shift >= 0 (gemmlowp's Rescale to fewer integer
 * bits). */
static inline int32_t freeml_saturating_shl(int32_t x, int32_t shift) {
  if (shift == 0) return x;
  if (x > (INT32_MAX >> shift)) return INT32_MAX;
  if (x < (INT32_MIN >> shift)) return INT32_MIN;
  return freeml_shl_wrap(x, shift);
}

static inline int32_t freeml_clamp(int32_t x, int32_t lo, int32_t hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

/* clamp(y + offset, lo, hi) with the sum in 64 bits: TFLM adds in int32,
 * which overflows only for a requantized value the clamp saturates anyway,
 * so the bytes are TFLM's and no input makes the sum undefined. */
static inline int32_t freeml_offset_clamp(int32_t y, int32_t offset,
                                          int32_t lo, int32_t hi) {
  const int64_t sum = (int64_t)y + offset;
  return sum < lo ? lo : (sum > hi ? hi : (int32_t)sum);
}

/* 0 <= tile.start <= tile.end <= units. */
static inline int freeml_tile_valid(freeml_tile tile, int64_t units) {
  return tile.start >= 0 && tile.start <= tile.end && tile.end <= units;
}

#endif /* FREEML_ARITH_H_ */
