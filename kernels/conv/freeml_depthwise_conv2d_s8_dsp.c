/*
 * DEPTHWISE_CONV_2D with the Cortex-M DSP extension: the portable kernel's
 * sums, no scratch.
 *
 * An output pixel's valid taps (padding skipped) are found once, so the tap
 * loops need no test. With depth multiplier 1, output channel c reads input
 * channel c only: per tap, one word holds four channels' inputs and one
 * their weights, both NHWC-contiguous; SXTAB16 / SXTB16 sign-extend them
 * into int16 pairs (adding the input offset) and SMLABB / SMLATT add each
 * lane's product to its own channel's sum. Other depth multipliers, and the
 * channels of a pixel left over, use scalar code.
 */
#include <stddef.h>

#include "kernels/conv/freeml_conv_dsp.h"
#include "kernels/freeml_arith.h"
#include "kernels/freeml_simd.h"

/* Where one output pixel's valid taps are, for every channel. */
typedef struct {
  const int8_t *x;      /* input at the first valid tap, channel 0 */
  const int8_t *w;      /* filter at that tap, channel 0 */
  int32_t rows, cols;   /* valid taps per column and per row; 0 if none */
  ptrdiff_t x_row_step; /* input bytes from a kernel row to the next */
  ptrdiff_t x_col_step; /* and from a tap of a row to the next */
  ptrdiff_t w_row_step; /* filter bytes, likewise (a tap is out_c bytes) */
  ptrdiff_t w_col_step;
  int32_t input_offset;
  uint32_t input_offset_x2; /* in both int16 lanes */
} pixel_taps;

/* acc[k] = sum over the taps of (x + input_offset) * w, for channels
 * c + k, k < 4, of a depth multiplier 1 convolution. */
static void sum_4ch(const pixel_taps *t, int32_t c, int32_t acc[4]) {
  const uint32_t offset_x2 = t->input_offset_x2;
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int32_t ky, kx;
  for (ky = 0; ky < t->rows; ++ky) {
    const int8_t *xp = t->x + ky * t->x_row_step + c;
    const int8_t *wp = t->w + ky * t->w_row_step + c;
    for (kx = 0; kx < t->cols; ++kx) {
      const uint32_t in = freeml_read_s8x4(xp + kx * t->x_col_step);
      const uint32_t v = freeml_read_s8x4(wp + kx * t->w_col_step);
      const uint32_t x02 = freeml_sxtab16(offset_x2, in);
      const uint32_t x13 = freeml_sxtab16_ror8(offset_x2, in);
      const uint32_t w02 = freeml_sxtb16(v);
      const uint32_t w13 = freeml_sxtb16_ror8(v);
      a0 = freeml_smlabb(x02, w02, a0);
      a2 = freeml_smlatt(x02, w02, a2);
      a1 = freeml_smlabb(x13, w13, a1);
      a3 = freeml_smlatt(x13, w13, a3);
    }
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}

/* The sum of output channel oc, reading input channel ic. */
static int32_t sum_1ch(const pixel_taps *t, int32_t ic, int32_t oc) {
  int32_t a = 0;
  int32_t ky, kx;
  for (ky = 0; ky < t->rows; ++ky) {
    const int8_t *xp = t->x + ky * t->x_row_step + ic;
    const int8_t *wp = t->w + ky * t->w_row_step + oc;
    for (kx = 0; kx < t->cols; ++kx) {
      a += wp[kx * t->w_col_step] * (xp[kx * t->x_col_step] + t->input_offset);
    }
  }
  return a;
}

freeml_status freeml_depthwise_conv2d_s8_dsp(
    const freeml_dw_conv_params *params, const freeml_per_channel_quant *quant,
    const freeml_dims *input_dims, const int8_t *input,
    const freeml_dims *filter_dims, const int8_t *filter, const int32_t *bias,
    const freeml_dims *output_dims, int8_t *output, freeml_tile tile) {
  const freeml_conv_params *conv = &params->conv;
  const int32_t in_h = input_dims->h, in_w = input_dims->w;
  const int32_t in_c = input_dims->c;
  const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
  const int32_t out_h = output_dims->h, out_w = output_dims->w;
  const int32_t out_c = output_dims->c;
  const int32_t depth_multiplier = params->depth_multiplier;
  int8_t *out = output;
  pixel_taps t;
  int32_t b, oy, ox, oc, rest, remaining;

  if (!freeml_tile_valid(tile, freeml_depthwise_conv2d_s8_units(output_dims))) {
    return FREEML_ERR_ARG;
  }
  if (!freeml_simd_offset_fits(conv->input_offset)) {
    return freeml_depthwise_conv2d_s8_portable(params, quant, input_dims, input,
                                               filter_dims, filter, bias,
                                               output_dims, output, tile);
  }
  t.x_row_step = (ptrdiff_t)conv->dilation_h * in_w * in_c;
  t.x_col_step = (ptrdiff_t)conv->dilation_w * in_c;
  t.w_row_step = (ptrdiff_t)k_w * out_c;
  t.w_col_step = out_c;
  t.input_offset = conv->input_offset;
  t.input_offset_x2 = freeml_pack_s16x2(t.input_offset, t.input_offset);
  oc = tile.start % out_c;
  rest = tile.start / out_c;
  ox = rest % out_w;
  rest /= out_w;
  oy = rest % out_h;
  b = rest / out_h;
  remaining = tile.end - tile.start;
  while (remaining > 0) {
    /* Channels [oc, oc_end) of one output pixel: a tile can start or end
     * inside a pixel. */
    const int32_t oc_end = remaining < out_c - oc ? oc + remaining : out_c;
    const int32_t y0 = oy * conv->stride_h - conv->pad_h;
    const int32_t x0 = ox * conv->stride_w - conv->pad_w;
    int32_t ky_lo, ky_hi, kx_lo, kx_hi;
    freeml_valid_taps(y0, in_h, k_h, conv->dilation_h, &ky_lo, &ky_hi);
    freeml_valid_taps(x0, in_w, k_w, conv->dilation_w, &kx_lo, &kx_hi);
    t.cols = kx_hi - kx_lo;
    t.rows = t.cols > 0 ? ky_hi - ky_lo : 0;
    t.x = input;
    t.w = filter;
    if (t.rows > 0) {
      t.x += (((ptrdiff_t)b * in_h + y0 + ky_lo * conv->dilation_h) * in_w +
              x0 + kx_lo * conv->dilation_w) *
             in_c;
      t.w += (ky_lo * k_w + kx_lo) * out_c;
    }
    remaining -= oc_end - oc;
    if (depth_multiplier == 1) {
      for (; oc + 4 <= oc_end; oc += 4, out += 4) {
        int32_t acc[4];
        sum_4ch(&t, oc, acc);
        freeml_conv_requantize(acc, 4, oc, bias, quant, conv, out);
      }
    }
    for (; oc < oc_end; ++oc, ++out) {
      const int32_t ic = depth_multiplier == 1 ? oc : oc / depth_multiplier;
      const int32_t acc = sum_1ch(&t, ic, oc);
      freeml_conv_requantize(&acc, 1, oc, bias, quant, conv, out);
    }
    if (oc == out_c) {
      oc = 0;
      if (++ox == out_w) {
        ox = 0;
        if (++oy == out_h) {
          oy = 0;
          ++b;
        }
      }
    }
  }
  return FREEML_OK;
}
