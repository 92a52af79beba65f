/* Each freeml_simd.h helper against values worked out by hand from the Arm
 * ARM's definitions. On the host this checks the C emulation; built for a
 * Cortex-M4, the same checks run on the real instructions. */
#include <stdio.h>

#include "kernels/freeml_simd.h"
#include "tflm_freeml/tests/check.h"

static void test_read_s8x4(void) {
  /* Little-endian, from an odd (unaligned) address. */
  const int8_t bytes[5] = {0, 0x01, (int8_t)0x82, 0x7F, (int8_t)0xFF};
  CHECK_EQ_INT(freeml_read_s8x4(bytes + 1), 0xFF7F8201u);
}

static void test_pack(void) {
  CHECK_EQ_INT(freeml_pack_s16x2(-1, 2), 0x0002FFFFu);
  CHECK_EQ_INT(freeml_pack_s16x2(128, -127), 0xFF810080u);
}

/* Bytes of 0x80FF7F01, lowest first: 1, 127, -1, -128. */
static void test_sign_extend(void) {
  CHECK_EQ_INT(freeml_sxtb16(0x80FF7F01u), 0xFFFF0001u);      /* 1, -1 */
  CHECK_EQ_INT(freeml_sxtb16_ror8(0x80FF7F01u), 0xFF80007Fu); /* 127, -128 */
  CHECK_EQ_INT(freeml_sxtb16(0x00800000u), 0xFF800000u);      /* 0, -128 */
}

static void test_sign_extend_add(void) {
  const uint32_t offsets = freeml_pack_s16x2(128, -127);
  /* 128 + 1 = 129, -127 - 1 = -128 */
  CHECK_EQ_INT(freeml_sxtab16(offsets, 0x80FF7F01u), 0xFF800081u);
  /* 128 + 127 = 255, -127 - 128 = -255 */
  CHECK_EQ_INT(freeml_sxtab16_ror8(offsets, 0x80FF7F01u), 0xFF0100FFu);
  /* Lanes wrap on their own: 32767 + 1 -> -32768, -32768 - 1 -> 32767, no
   * carry into the other lane. */
  CHECK_EQ_INT(freeml_sxtab16(freeml_pack_s16x2(32767, -32768), 0x00FF0001u),
               0x7FFF8000u);
  CHECK_EQ_INT(
      freeml_sxtab16_ror8(freeml_pack_s16x2(-32768, 32767), 0x0100FF00u),
      0x80007FFFu);
}

static void test_smlad(void) {
  /* 10 + 3 * 5 + (-4) * 6 = 1 */
  CHECK_EQ_INT(
      freeml_smlad(freeml_pack_s16x2(3, -4), freeml_pack_s16x2(5, 6), 10), 1);
  CHECK_EQ_INT(freeml_smlad(freeml_pack_s16x2(-255, 255),
                            freeml_pack_s16x2(-128, -128), -7),
               -7);
  /* 2^30 + 2^30 wraps to INT32_MIN, as does INT32_MAX + 1. */
  CHECK_EQ_INT(freeml_smlad(freeml_pack_s16x2(-32768, -32768),
                            freeml_pack_s16x2(-32768, -32768), 0),
               INT32_MIN);
  CHECK_EQ_INT(
      freeml_smlad(freeml_pack_s16x2(1, 0), freeml_pack_s16x2(1, 0), INT32_MAX),
      INT32_MIN);
}

static void test_dot_4ch(void) {
  /* x + 128 = {129, 126, 131, 0}; channel c's 4 weights start at 5 * c
   * (an odd stride: unaligned words). */
  const int8_t x[4] = {1, -2, 3, -128};
  const int8_t w[20] = {1, 1, 1, 1,   99, -1, 0,  0,    0, 99,
                        0, 0, 0, 127, 99, 2,  -3, -128, 5, 99};
  int32_t acc[4] = {10, 20, 30, 40};
  freeml_dot_4ch_s8(x, w, 5, 1, freeml_pack_s16x2(128, 128), acc);
  CHECK_EQ_INT(acc[0], 10 + 129 + 126 + 131);
  CHECK_EQ_INT(acc[1], 20 - 129);
  CHECK_EQ_INT(acc[2], 30 + 0 * 127);
  CHECK_EQ_INT(acc[3], 40 + 258 - 378 - 16768);
}

/* Several words, against the definition computed one byte at a time. */
static void test_dot_4ch_words(void) {
  int8_t x[12], w[4 * 13];
  int32_t acc[4] = {0, 0, 0, 0};
  int32_t i, c;
  for (i = 0; i < 12; ++i) x[i] = (int8_t)(i * 37 - 128);
  for (i = 0; i < 4 * 13; ++i) w[i] = (int8_t)(i * 53 + 7);
  freeml_dot_4ch_s8(x, w, 13, 3, freeml_pack_s16x2(-127, -127), acc);
  for (c = 0; c < 4; ++c) {
    int32_t expected = 0;
    for (i = 0; i < 12; ++i) expected += (x[i] - 127) * w[13 * c + i];
    CHECK_EQ_INT(acc[c], expected);
  }
}

static void test_offset_fits(void) {
  CHECK(freeml_simd_offset_fits(128));
  CHECK(freeml_simd_offset_fits(-127));
  CHECK(freeml_simd_offset_fits(32640)); /* 32640 + 127 = INT16_MAX */
  CHECK(!freeml_simd_offset_fits(32641));
  CHECK(freeml_simd_offset_fits(-32640)); /* -32640 - 128 = INT16_MIN */
  CHECK(!freeml_simd_offset_fits(-32641));
}

int main(void) {
  test_read_s8x4();
  test_pack();
  test_sign_extend();
  test_sign_extend_add();
  test_smlad();
  test_dot_4ch();
  test_dot_4ch_words();
  test_offset_fits();
  TEST_MAIN_END();
}
