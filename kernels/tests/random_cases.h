/* Seeded pseudo-random cases for the kernel variant tests: an LCG, so the
 * host and the device draw the same sequence (rand() differs by libc). */
#ifndef FREEML_KERNELS_TESTS_RANDOM_CASES_H_
#define FREEML_KERNELS_TESTS_RANDOM_CASES_H_

#include <math.h>
#include <stdint.h>

#include "kernels/freeml_kernels.h"

typedef struct {
  uint32_t state;
} test_lcg;

static inline uint32_t lcg_next(test_lcg *g) {
  g->state = g->state * 1664525u + 1013904223u; /* Numerical Recipes */
  return g->state;
}

/* Uniform in [lo, hi], hi - lo < 2^24 (the high bits are the better ones). */
static inline int32_t lcg_range(test_lcg *g, int32_t lo, int32_t hi) {
  return lo + (int32_t)((lcg_next(g) >> 8) % (uint32_t)(hi - lo + 1));
}

/* One of `n` values. */
static inline int32_t lcg_pick(test_lcg *g, const int32_t *values, int32_t n) {
  return values[lcg_range(g, 0, n - 1)];
}

static inline void lcg_fill_s8(test_lcg *g, int8_t *p, int32_t n) {
  int32_t i;
  for (i = 0; i < n; ++i) p[i] = (int8_t)lcg_range(g, -128, 127);
}

static inline int32_t volume(const freeml_dims *d) {
  return d->n * d->h * d->w * d->c;
}

/* Output size along one axis, TFLM's formula with `pad` on both sides, at
 * least 1 (a window wholly in the padding is a valid case too). */
static inline int32_t out_size(int32_t in, int32_t k, int32_t stride,
                               int32_t dilation, int32_t pad) {
  const int32_t n = (in + 2 * pad - ((k - 1) * dilation + 1)) / stride + 1;
  return n < 1 ? 1 : n;
}

/* A random stride, dilation (1 unless `dilate`) and padding (up to the
 * whole window and one more) for a `filter` (h, w) on `input`; sets the
 * output's n, h and w (the caller sets c). */
static inline void random_window(test_lcg *g, int dilate,
                                 const freeml_dims *input,
                                 const freeml_dims *filter,
                                 freeml_conv_params *p, freeml_dims *output) {
  static const int32_t step_choice[] = {1, 1, 2, 3};
  p->stride_h = lcg_pick(g, step_choice, 4);
  p->stride_w = lcg_pick(g, step_choice, 4);
  p->dilation_h = dilate ? lcg_pick(g, step_choice, 4) : 1;
  p->dilation_w = dilate ? lcg_pick(g, step_choice, 4) : 1;
  p->pad_h = lcg_range(g, 0, (filter->h - 1) * p->dilation_h + 1);
  p->pad_w = lcg_range(g, 0, (filter->w - 1) * p->dilation_w + 1);
  output->n = input->n;
  output->h = out_size(input->h, filter->h, p->stride_h, p->dilation_h,
                       p->pad_h);
  output->w = out_size(input->w, filter->w, p->stride_w, p->dilation_w,
                       p->pad_w);
}

/* A zero point: one time in three an int8 extreme or 0 (a symmetric
 * filter). */
static inline int32_t random_zero_point(test_lcg *g) {
  static const int32_t special[] = {-128, 0, 127};
  return lcg_range(g, 0, 2) == 0 ? lcg_pick(g, special, 3)
                                 : lcg_range(g, -128, 127);
}

/* A multiplier and shift as freeml_quantize_multiplier gives them, for
 * real scales from 2^-16 (most outputs near the zero point) to 2^2 (shift
 * > 0, most saturate). */
static inline freeml_quant random_quant(test_lcg *g) {
  const double mantissa = 1.0 + lcg_range(g, 0, 1 << 20) / (double)(1 << 20);
  return freeml_quantize_multiplier(ldexp(mantissa, lcg_range(g, -16, 1)));
}

/* Full int8 range, ReLU-like from a zero point, or a random sub-range. */
static inline freeml_activation random_activation(test_lcg *g) {
  freeml_activation a;
  a.min = -128;
  a.max = 127;
  switch (lcg_range(g, 0, 2)) {
    case 1:
      a.min = lcg_range(g, -128, 127);
      break;
    case 2:
      a.min = lcg_range(g, -128, 0);
      a.max = lcg_range(g, a.min, 127);
      break;
    default:
      break;
  }
  return a;
}

/* The end of a random tile from `start`: often mid-pixel (unit_group is
 * the channel count), sometimes a single unit, sometimes all the rest. */
static inline int32_t random_tile_end(test_lcg *g, int32_t start, int32_t units,
                                      int32_t unit_group) {
  int32_t len;
  switch (lcg_range(g, 0, 3)) {
    case 0:
      len = 1;
      break;
    case 1:
      len = units;
      break;
    default:
      len = lcg_range(g, 1, 3 * unit_group);
      break;
  }
  return units - start < len ? units : start + len;
}

#endif /* FREEML_KERNELS_TESTS_RANDOM_CASES_H_ */
