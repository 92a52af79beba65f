/* The fixed-point primitives round exactly as TFLM's reference does, on the
 * tie and edge cases where simpler formulas differ. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels/freeml_arith.h"
#include "tflm_freeml/tests/check.h"

static void test_srdhm(void) {
  /* Ties round toward +infinity: -k.5 becomes -k. */
  CHECK_EQ_INT(freeml_srdhm(INT32_MIN, INT32_MIN), INT32_MAX);
  CHECK_EQ_INT(freeml_srdhm(1 << 30, 1 << 30), 1 << 29);
  CHECK_EQ_INT(freeml_srdhm(1, 1 << 30), 1);   /* 0.5 -> 1 */
  CHECK_EQ_INT(freeml_srdhm(-1, 1 << 30), 0);  /* -0.5 -> 0 */
  CHECK_EQ_INT(freeml_srdhm(-3, 1 << 30), -1); /* -1.5 -> -1 */
  CHECK_EQ_INT(freeml_srdhm(3, 1 << 30), 2);   /* 1.5 -> 2 */
}

static void test_rdbpot(void) {
  /* Ties round away from zero. */
  CHECK_EQ_INT(freeml_rdbpot(5, 1), 3);
  CHECK_EQ_INT(freeml_rdbpot(-5, 1), -3);
  CHECK_EQ_INT(freeml_rdbpot(-6, 2), -2);
  CHECK_EQ_INT(freeml_rdbpot(6, 2), 2);
  CHECK_EQ_INT(freeml_rdbpot(7, 0), 7);
  CHECK_EQ_INT(freeml_rdbpot(INT32_MIN, 31), -1);
}

static void test_quantize_multiplier(void) {
  freeml_quant q = freeml_quantize_multiplier(0.0);
  CHECK_EQ_INT(q.multiplier, 0);
  CHECK_EQ_INT(q.shift, 0);
  q = freeml_quantize_multiplier(0.5);
  CHECK_EQ_INT(q.multiplier, 1 << 30);
  CHECK_EQ_INT(q.shift, 0);
  q = freeml_quantize_multiplier(3.0);
  CHECK_EQ_INT(q.multiplier, 3 << 29);
  CHECK_EQ_INT(q.shift, 2);
  /* A fraction that rounds up to 1.0 renormalises to 0.5 * 2^(e+1). */
  q = freeml_quantize_multiplier(0.99999999999);
  CHECK_EQ_INT(q.multiplier, 1 << 30);
  CHECK_EQ_INT(q.shift, 1);
  /* Below 2^-32 the multiplier flushes to zero. */
  q = freeml_quantize_multiplier(1e-12);
  CHECK_EQ_INT(q.multiplier, 0);
  CHECK_EQ_INT(q.shift, 0);
}

static uint32_t next_random(uint32_t *state) {
  *state = *state * 1664525u + 1013904223u;
  return *state;
}

static float float_of_bits(uint32_t bits) {
  float x;
  memcpy(&x, &bits, sizeof(x));
  return x;
}

/* A random positive finite float, of exponent 2^-range .. 2^range (any
 * exponent, subnormals included, for range 0). */
static float random_scale(uint32_t *state, uint32_t range) {
  const uint32_t r = next_random(state) ^ (next_random(state) >> 16);
  uint32_t exponent = (next_random(state) >> 8) % 0xFFu; /* 0 .. 254 */
  if (range != 0) exponent = 127u - range + exponent % (2u * range + 1u);
  return float_of_bits(exponent << 23 | (r & 0x7FFFFFu));
}

static int same_ratio_quant(float a, float b, float c) {
  const freeml_quant fast = freeml_quantize_multiplier_ratio(a, b, c);
  const freeml_quant slow =
      freeml_quantize_multiplier((double)a * (double)b / (double)c);
  if (fast.multiplier == slow.multiplier && fast.shift == slow.shift) return 1;
  printf("ratio %a * %a / %a: %d, %d; double gives %d, %d\n", (double)a,
         (double)b, (double)c, (int)fast.multiplier, (int)fast.shift,
         (int)slow.multiplier, (int)slow.shift);
  return 0;
}

/* The integer ratio gives the double computation's bits: on scales of
 * every size, subnormals, zero, ties and the saturating ends. */
static void test_quantize_multiplier_ratio(void) {
  static const float kSpecial[][3] = {
      {1.0f, 1.0f, 1.0f},
      {1.0f + 0x1p-23f, 1.0f + 0x1p-8f, 1.0f}, /* a tie at the 31st bit */
      {1.0f + 0x1p-23f, 1.0f + 0x1p-8f, 2.0f},
      {0.5f, 0.0f, 0.25f},
      {1.0f, 1.0f, 1.0f + 0x1p-23f},         /* rounds up to 1.0 */
      {1.0f - 0x1p-24f, 1.0f, 1.0f},
      {FLT_MAX, FLT_MAX, 0x1p-149f},          /* saturates */
      {0x1p-149f, 0x1p-149f, FLT_MAX},        /* flushes to zero */
      {0x1p-126f, 0x1.fffffcp-127f, 0x1p-100f},
      {0.0123f, 0.004567f, 0.0891f},
      /* The quotient rounds up to 53 bits onto a tie of round(): double
       * rounding gives one more than the exact quotient would. */
      {0x1.8819260p+0f, 0x1.ef7c8e0p-1f, 0x1.228eae0p+0f},
      {0x1.6fa49e0p+0f, 0x1.a1595a0p+0f, 0x1.4ea5a40p+0f},
      {0x1.23dc760p+0f, 0x1.fd3be40p-1f, 0x1.aec1b20p+0f},
      {0x1.cae5ae0p+0f, 0x1.fd3be40p-1f, 0x1.aec1b20p+0f},
      {3.0f, 1.0f, 0x1p-29f},                 /* shift 31: saturates */
      {1.0f, 1.0f, 0x1p31f},                  /* shift -30 */
      {1.0f, 1.0f, 0x1p32f},                  /* shift -31 */
      {1.0f, 0.75f, 0x1p32f},                 /* shift -32: zero */
  };
  uint32_t state = 12345u;
  uint32_t i;
  int ok = 1;
  for (i = 0; i < sizeof(kSpecial) / sizeof(kSpecial[0]); ++i) {
    ok &= same_ratio_quant(kSpecial[i][0], kSpecial[i][1], kSpecial[i][2]);
  }
  for (i = 0; i < 20000u && ok; ++i) {
    /* Realistic scales (2^-16 .. 2^16), then any floats at all. */
    ok &= same_ratio_quant(random_scale(&state, 16), random_scale(&state, 16),
                           random_scale(&state, 16));
    ok &= same_ratio_quant(random_scale(&state, 0), random_scale(&state, 0),
                           random_scale(&state, 0));
    /* c close to a * b: fractions near 1 and 0.5. */
    {
      const float a = random_scale(&state, 3), b = random_scale(&state, 3);
      const float c = (float)((double)a * (double)b);
      uint32_t bits;
      memcpy(&bits, &c, sizeof(bits));
      bits += (next_random(&state) >> 29) - 4u;
      ok &= same_ratio_quant(a, b, float_of_bits(bits));
    }
  }
  /* Outside the integer domain it is the double computation itself. */
  ok &= same_ratio_quant(1.0f, -1.0f, 1.0f);
  ok &= same_ratio_quant(INFINITY, 1.0f, 1.0f);
  ok &= same_ratio_quant(1.0f, 1.0f, 0.0f);
  CHECK(ok);
}

static void test_mbqm_double_rounding(void) {
  /* x = 5, M = 0.5, shift -1: SRDHM rounds 2.5 to 3, then 3 / 2 rounds
   * 1.5 to 2; a single rounding of 1.25 would give 1. */
  CHECK_EQ_INT(freeml_mbqm(5, 1 << 30, -1), 2);
  CHECK_EQ_INT(freeml_mbqm(-5, 1 << 30, -1), -1);
  CHECK_EQ_INT(freeml_mbqm(3, 1 << 30, 2), 6);
}

static void test_activation_ranges(void) {
  freeml_activation r = freeml_activation_range_s8(1, 0.1f, -10);
  CHECK_EQ_INT(r.min, -10);
  CHECK_EQ_INT(r.max, 127);
  r = freeml_activation_range_s8(3, 0.1f, -10);
  CHECK_EQ_INT(r.max, 50);
  r = freeml_activation_range_s8(2, 0.5f, 0);
  CHECK_EQ_INT(r.min, -2);
  CHECK_EQ_INT(r.max, 2);
  /* Bounds far beyond int32 saturate instead of overflowing. */
  r = freeml_activation_range_s8(3, 1e-30f, 5);
  CHECK_EQ_INT(r.min, 5);
  CHECK_EQ_INT(r.max, 127);
  r = freeml_activation_range_s8(2, 1e-30f, 0);
  CHECK_EQ_INT(r.min, -128);
  CHECK_EQ_INT(r.max, 127);
  r = freeml_activation_range_s8(4 /* TANH: ignored, as TFLM */, 0.1f, 0);
  CHECK_EQ_INT(r.min, -128);
  CHECK_EQ_INT(r.max, 127);
}

int main(void) {
  test_srdhm();
  test_rdbpot();
  test_quantize_multiplier();
  test_quantize_multiplier_ratio();
  test_mbqm_double_rounding();
  test_activation_ranges();
  TEST_MAIN_END();
}
