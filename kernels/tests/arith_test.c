/* The fixed-point primitives round exactly as TFLM's reference does, on the
 * tie and edge cases where simpler formulas differ. */
#include <stdio.h>

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
  test_mbqm_double_rounding();
  test_activation_ranges();
  TEST_MAIN_END();
}
