/*
 * The few Cortex-M DSP-extension (SIMD32) operations the _dsp kernels use,
 * internal to kernels/. With __ARM_FEATURE_DSP they are the real
 * instructions; elsewhere plain C gives exactly the same results, so the
 * _dsp kernels build and are tested on the host too.
 *
 * A packed value holds two int16 lanes in a uint32_t: lane 0 in bits 0-15,
 * lane 1 in bits 16-31. Lane arithmetic wraps modulo 2^16, as the hardware.
 */
#ifndef FREEML_SIMD_H_
#define FREEML_SIMD_H_

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

/* Four int8 from any address, as one little-endian word: memcpy compiles
 * to a single LDR on cores with unaligned access (Cortex-M3 and up). */
static inline uint32_t freeml_read_s8x4(const int8_t *p) {
  uint32_t v;
  memcpy(&v, p, sizeof(v));
  return v;
}

/* Two int16 as a packed value. */
static inline uint32_t freeml_pack_s16x2(int32_t lane0, int32_t lane1) {
  return ((uint32_t)lane0 & 0xFFFFu) | ((uint32_t)lane1 << 16);
}

#if defined(__ARM_FEATURE_DSP)

/* gcc's ACLE has no rotate operand for SXTB16 / SXTAB16 and does not fold a
 * separate rotate into it (a MOV ROR more per call), hence asm for those. */

/* SXTB16: bytes 0 and 2 of x, sign-extended, as lanes 0 and 1. */
static inline uint32_t freeml_sxtb16(uint32_t x) {
  return (uint32_t)__sxtb16((int32_t)x);
}

/* SXTB16 ROR #8: bytes 1 and 3 of x, sign-extended. */
static inline uint32_t freeml_sxtb16_ror8(uint32_t x) {
  uint32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}

/* SXTAB16: a + bytes 0 and 2 of x, sign-extended, lane by lane. */
static inline uint32_t freeml_sxtab16(uint32_t a, uint32_t x) {
  return (uint32_t)__sxtab16((int32_t)a, (int32_t)x);
}

/* SXTAB16 ROR #8: a + bytes 1 and 3 of x, sign-extended, lane by lane. */
static inline uint32_t freeml_sxtab16_ror8(uint32_t a, uint32_t x) {
  uint32_t r;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
  return r;
}

/* SMLAD: acc + a.lane0 * b.lane0 + a.lane1 * b.lane1, wrapping. */
static inline int32_t freeml_smlad(uint32_t a, uint32_t b, int32_t acc) {
  return __smlad((int32_t)a, (int32_t)b, acc);
}

/* SMLABB: acc + a.lane0 * b.lane0, wrapping. */
static inline int32_t freeml_smlabb(uint32_t a, uint32_t b, int32_t acc) {
  return __smlabb((int32_t)a, (int32_t)b, acc);
}

/* SMLATT: acc + a.lane1 * b.lane1, wrapping. */
static inline int32_t freeml_smlatt(uint32_t a, uint32_t b, int32_t acc) {
  return __smlatt((int32_t)a, (int32_t)b, acc);
}

#else /* plain C, same results */

static inline int32_t freeml_simd_lane(uint32_t v, int lane) {
  return (int16_t)(uint16_t)(v >> (16 * lane));
}

static inline int32_t freeml_simd_byte(uint32_t v, int byte) {
  return (int8_t)(uint8_t)(v >> (8 * byte));
}

static inline uint32_t freeml_sxtb16(uint32_t x) {
  return freeml_pack_s16x2(freeml_simd_byte(x, 0), freeml_simd_byte(x, 2));
}

static inline uint32_t freeml_sxtb16_ror8(uint32_t x) {
  return freeml_pack_s16x2(freeml_simd_byte(x, 1), freeml_simd_byte(x, 3));
}

static inline uint32_t freeml_sxtab16(uint32_t a, uint32_t x) {
  return freeml_pack_s16x2(freeml_simd_lane(a, 0) + freeml_simd_byte(x, 0),
                           freeml_simd_lane(a, 1) + freeml_simd_byte(x, 2));
}

static inline uint32_t freeml_sxtab16_ror8(uint32_t a, uint32_t x) {
  return freeml_pack_s16x2(freeml_simd_lane(a, 0) + freeml_simd_byte(x, 1),
                           freeml_simd_lane(a, 1) + freeml_simd_byte(x, 3));
}

static inline int32_t freeml_smlad(uint32_t a, uint32_t b, int32_t acc) {
  /* Each product fits int32; the sums wrap as the instruction's do. */
  const int32_t p0 = freeml_simd_lane(a, 0) * freeml_simd_lane(b, 0);
  const int32_t p1 = freeml_simd_lane(a, 1) * freeml_simd_lane(b, 1);
  return (int32_t)((uint32_t)acc + (uint32_t)p0 + (uint32_t)p1);
}

static inline int32_t freeml_smlabb(uint32_t a, uint32_t b, int32_t acc) {
  const int32_t p = freeml_simd_lane(a, 0) * freeml_simd_lane(b, 0);
  return (int32_t)((uint32_t)acc + (uint32_t)p);
}

static inline int32_t freeml_smlatt(uint32_t a, uint32_t b, int32_t acc) {
  const int32_t p = freeml_simd_lane(a, 1) * freeml_simd_lane(b, 1);
  return (int32_t)((uint32_t)acc + (uint32_t)p);
}

#endif /* __ARM_FEATURE_DSP */

/* Four dot products sharing one input vector of 4 * words int8 (words >=
 * 1): for c in 0..3,
 *   acc[c] += sum over i of (x[i] + offset) * w[c * stride + i],
 * offset being each lane of offset_x2. The input expansion (SXTAB16) is
 * shared by four channels, which is where the DSP kernels save most: 26
 * instructions per 16 MACs. It needs 13 registers in its loop; inline asm
 * that asks for that many fails to compile in some contexts ("impossible
 * constraints", depending on inlining and -O level), so on Arm it is a
 * naked function with its registers fixed: about 12 instructions per call
 * on top of the loop. */
#if defined(__ARM_FEATURE_DSP)
/* Parameters the asm reads from their registers, unseen by the compiler. */
#define FREEML_ASM_ARG __attribute__((unused))
__attribute__((naked, noinline, unused)) static void freeml_dot_4ch_s8(
    const int8_t *x FREEML_ASM_ARG, const int8_t *w FREEML_ASM_ARG,
    ptrdiff_t stride FREEML_ASM_ARG, int32_t words FREEML_ASM_ARG,
    uint32_t offset_x2 FREEML_ASM_ARG, int32_t *acc FREEML_ASM_ARG) {
  /* AAPCS: x, w, stride, words in r0-r3; offset_x2, acc on the stack.
   * Loop: r0 x, r1 w (channel 0), r2 stride, r3 count, r4 offset,
   * r6-r9 sums, r10 loaded word, r11 / r12 input lanes 0,2 / 1,3, lr
   * expanded weights; channel c's word is at r1 + c * r2. */
  __asm__(
      "push {r4-r11, lr}\n\t"
      "ldr r4, [sp, #36]\n\t"
      "ldr r5, [sp, #40]\n\t"
      "ldm r5, {r6-r9}\n"
      "1:\n\t"
      "ldr r10, [r0], #4\n\t"
      "sxtab16 r11, r4, r10\n\t"
      "sxtab16 r12, r4, r10, ror #8\n\t"
      "ldr r10, [r1, r2]\n\t"
      "sxtb16 lr, r10\n\t"
      "sxtb16 r10, r10, ror #8\n\t"
      "smlad r7, lr, r11, r7\n\t"
      "smlad r7, r10, r12, r7\n\t"
      "ldr r10, [r1, r2, lsl #1]\n\t"
      "sxtb16 lr, r10\n\t"
      "sxtb16 r10, r10, ror #8\n\t"
      "smlad r8, lr, r11, r8\n\t"
      "smlad r8, r10, r12, r8\n\t"
      "add lr, r1, r2\n\t"
      "ldr r10, [lr, r2, lsl #1]\n\t"
      "sxtb16 lr, r10\n\t"
      "sxtb16 r10, r10, ror #8\n\t"
      "smlad r9, lr, r11, r9\n\t"
      "smlad r9, r10, r12, r9\n\t"
      "ldr r10, [r1], #4\n\t"
      "sxtb16 lr, r10\n\t"
      "sxtb16 r10, r10, ror #8\n\t"
      "smlad r6, lr, r11, r6\n\t"
      "smlad r6, r10, r12, r6\n\t"
      "subs r3, r3, #1\n\t"
      "bne 1b\n\t"
      "stm r5, {r6-r9}\n\t"
      "pop {r4-r11, pc}");
}
#undef FREEML_ASM_ARG
#else
static inline void freeml_dot_4ch_s8(const int8_t *x, const int8_t *w,
                                     ptrdiff_t stride, int32_t words,
                                     uint32_t offset_x2, int32_t *acc) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  do {
    const uint32_t in = freeml_read_s8x4(x);
    const uint32_t x02 = freeml_sxtab16(offset_x2, in);
    const uint32_t x13 = freeml_sxtab16_ror8(offset_x2, in);
    uint32_t v = freeml_read_s8x4(w);
    a0 = freeml_smlad(freeml_sxtb16(v), x02, a0);
    a0 = freeml_smlad(freeml_sxtb16_ror8(v), x13, a0);
    v = freeml_read_s8x4(w + stride);
    a1 = freeml_smlad(freeml_sxtb16(v), x02, a1);
    a1 = freeml_smlad(freeml_sxtb16_ror8(v), x13, a1);
    v = freeml_read_s8x4(w + 2 * stride);
    a2 = freeml_smlad(freeml_sxtb16(v), x02, a2);
    a2 = freeml_smlad(freeml_sxtb16_ror8(v), x13, a2);
    v = freeml_read_s8x4(w + 3 * stride);
    a3 = freeml_smlad(freeml_sxtb16(v), x02, a3);
    a3 = freeml_smlad(freeml_sxtb16_ror8(v), x13, a3);
    x += 4;
    w += 4;
  } while (--words > 0);
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}
#endif

/* Offsets added to int8 values in int16 lanes keep (x + offset) exact, as
 * the portable kernels' int32 arithmetic, when offset + [-128, 127] stays
 * in int16. Zero points are int8, so this holds for every valid model; the
 * _dsp kernels fall back to the portable ones otherwise. */
static inline int freeml_simd_offset_fits(int32_t offset) {
  return offset >= INT16_MIN + 128 && offset <= INT16_MAX - 127;
}

#endif /* FREEML_SIMD_H_ */
