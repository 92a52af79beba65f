/* int8 softmax with gemmlowp's fixed-point exp and reciprocal, exactly as
 * TFLM's reference kernel (not a lookup table: those are for int16). */
#include "kernels/freeml_arith.h"

#define ACCUMULATION_INTEGER_BITS 12

/* exp(x) for x in [-1/4, 0), Q0.31 in and out: Taylor series around -1/8. */
static int32_t exp_on_interval_minus_quarter_to_zero(int32_t a) {
  const int32_t exp_minus_one_eighth = 1895147668;
  const int32_t one_third = 715827883;
  const int32_t x = a + (1 << 28);
  const int32_t x2 = freeml_srdhm(x, x);
  const int32_t x3 = freeml_srdhm(x2, x);
  const int32_t x4 = freeml_srdhm(x2, x2);
  const int32_t x4_over_4 = freeml_rdbpot(x4, 2);
  const int32_t tail = freeml_rdbpot(
      freeml_srdhm(x4_over_4 + x3, one_third) + x2, 1);
  return exp_minus_one_eighth + freeml_srdhm(exp_minus_one_eighth, x + tail);
}

/* exp(a) for a <= 0 in Q5.26, result in Q0.31 (gemmlowp
 * exp_on_negative_values<5>). */
static int32_t exp_on_negative_values(int32_t a) {
  /* exp(-2^E) in Q0.31 for E = -2..4. */
  static const int32_t kExpOfMinusPowerOfTwo[7] = {
      1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
  const int32_t one_quarter = 1 << 24;
  const int32_t mask = one_quarter - 1;
  const int32_t a_mod_quarter_minus_quarter = (a & mask) - one_quarter;
  int32_t result = exp_on_interval_minus_quarter_to_zero(
      freeml_saturating_shl(a_mod_quarter_minus_quarter, 5));
  const int32_t remainder = a_mod_quarter_minus_quarter - a;
  int32_t e;
  for (e = -2; e <= 4; ++e) {
    if (remainder & (1 << (26 + e))) {
      result = freeml_srdhm(result, kExpOfMinusPowerOfTwo[e + 2]);
    }
  }
  return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31: Newton-Raphson in Q2.29. */
static int32_t one_over_one_plus_x(int32_t a) {
  const int32_t half_denominator =
      (int32_t)(((int64_t)a + INT32_MAX + 1) / 2);
  const int32_t constant_48_over_17 = 1515870810;
  const int32_t constant_neg_32_over_17 = -1010580540;
  int32_t x = constant_48_over_17 +
              freeml_srdhm(half_denominator, constant_neg_32_over_17);
  int32_t i;
  for (i = 0; i < 3; ++i) {
    const int32_t one_minus_dx =
        (1 << 29) - freeml_srdhm(half_denominator, x);
    x += freeml_saturating_shl(freeml_srdhm(x, one_minus_dx), 2);
  }
  return freeml_saturating_shl(x, 1);
}

/* RoundingDivideByPOT for the output scaling, whose exponent reaches 34 for
 * rows of hundreds of near-equal values; TFLM's int32 shift is undefined
 * there, so exponents above 31 are computed exactly in int64. */
static int32_t divide_by_pot(int32_t x, int32_t exponent) {
  int64_t mask, remainder, threshold;
  if (exponent <= 31) return freeml_rdbpot(x, exponent);
  mask = ((int64_t)1 << exponent) - 1;
  remainder = (int64_t)x & mask;
  threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (int32_t)(((int64_t)x >> exponent) + (remainder > threshold ? 1 : 0));
}

static int32_t count_leading_zeros(uint32_t x) {
  int32_t n = 0;
  if (x == 0) return 32;
  while ((x & 0x80000000u) == 0) {
    x <<= 1;
    ++n;
  }
  return n;
}

freeml_status freeml_softmax_s8(const freeml_softmax_params *params,
                                int32_t rows, int32_t depth,
                                const int8_t *input, int8_t *output,
                                freeml_tile tile) {
  int32_t row;
  if (!freeml_tile_valid(tile, rows) || depth < 1 ||
      depth > FREEML_SOFTMAX_MAX_DEPTH) {
    return FREEML_ERR_ARG;
  }
  for (row = tile.start; row < tile.end; ++row) {
    const int8_t *x = input + (int64_t)row * depth;
    int8_t *y = output + (int64_t)(row - tile.start) * depth;
    int32_t max_value = -128;
    int32_t sum_of_exps = 0; /* Q12.19 */
    int32_t headroom, bits_over_unit, reciprocal, k;
    for (k = 0; k < depth; ++k) {
      if (x[k] > max_value) max_value = x[k];
    }
    for (k = 0; k < depth; ++k) {
      const int32_t diff = x[k] - max_value;
      if (diff >= params->diff_min) {
        const int32_t scaled = freeml_srdhm(
            freeml_shl_wrap(diff, params->input_left_shift),
            params->input_multiplier);
        sum_of_exps += freeml_rdbpot(exp_on_negative_values(scaled),
                                     ACCUMULATION_INTEGER_BITS);
      }
    }
    headroom = count_leading_zeros((uint32_t)sum_of_exps);
    bits_over_unit = ACCUMULATION_INTEGER_BITS - headroom;
    reciprocal = one_over_one_plus_x(
        (int32_t)(((uint32_t)sum_of_exps << headroom) - (1u << 31)));
    for (k = 0; k < depth; ++k) {
      const int32_t diff = x[k] - max_value;
      int32_t value = -128;
      if (diff >= params->diff_min) {
        const int32_t scaled = freeml_srdhm(
            freeml_shl_wrap(diff, params->input_left_shift),
            params->input_multiplier);
        const int32_t exp_value = exp_on_negative_values(scaled);
        value = divide_by_pot(freeml_srdhm(reciprocal, exp_value),
                              bits_over_unit + 31 - 8) -
                128;
      }
      y[k] = (int8_t)freeml_clamp(value, -128, 127);
    }
  }
  return FREEML_OK;
}
