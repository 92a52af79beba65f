/*
 * CONV_2D with the Cortex-M DSP extension: the portable kernel's sums, two
 * MACs per SMLAD, no scratch.
 *
 * An output pixel's valid taps (padding skipped) are a rectangle of the
 * kernel. With one group and no horizontal dilation, a kernel row of them
 * is one contiguous run of input bytes and of weight bytes (3 taps x 3
 * channels: 9 bytes); otherwise each tap is a run of the group's channels.
 * Runs are dot products taken 4 bytes at a time: SXTAB16 sign-extends an
 * input word into two int16 pairs with the input offset added, shared by
 * four output channels (freeml_dot_4ch_s8), then two, then one; each
 * channel's weight word is sign-extended by SXTB16 for two SMLADs. The last
 * len % 4 bytes of a run use scalar code.
 */
#include <stddef.h>

#include "kernels/conv/freeml_conv_dsp.h"
#include "kernels/freeml_arith.h"
#include "kernels/freeml_simd.h"

/* Where one output pixel's valid taps are, for the channels of one group. */
typedef struct {
  const int8_t *x;     /* input at the first valid tap, group's channel 0 */
  ptrdiff_t w;         /* that tap's offset in an output channel's filter */
  int32_t rows;        /* kernel rows with valid taps; 0 if all padded */
  int32_t runs;        /* contiguous runs per row */
  int32_t words, tail; /* a run is 4 * words + tail bytes */
  ptrdiff_t x_row_step, x_run_step, w_row_step, w_run_step;
  ptrdiff_t filter_size; /* bytes per output channel */
  int32_t input_offset;
  uint32_t input_offset_x2; /* in both int16 lanes */
} pixel_taps;

/* acc[c] = sum over the taps of (x + input_offset) * weight, for the four
 * output channels whose filters start at w + c * filter_size. */
static void sum_4ch(const pixel_taps *t, const int8_t *w, int32_t acc[4]) {
  const ptrdiff_t fs = t->filter_size;
  int32_t a[4] = {0, 0, 0, 0};
  int32_t ky, r, n;
  for (ky = 0; ky < t->rows; ++ky) {
    for (r = 0; r < t->runs; ++r) {
      const int8_t *xp = t->x + ky * t->x_row_step + r * t->x_run_step;
      const int8_t *wp = w + t->w + ky * t->w_row_step + r * t->w_run_step;
      if (t->words > 0) {
        freeml_dot_4ch_s8(xp, wp, fs, t->words, t->input_offset_x2, a);
        xp += 4 * t->words;
        wp += 4 * t->words;
      }
      for (n = 0; n < t->tail; ++n) {
        const int32_t xv = xp[n] + t->input_offset;
        a[0] += wp[n] * xv;
        a[1] += wp[fs + n] * xv;
        a[2] += wp[2 * fs + n] * xv;
        a[3] += wp[3 * fs + n] * xv;
      }
    }
  }
  acc[0] = a[0];
  acc[1] = a[1];
  acc[2] = a[2];
  acc[3] = a[3];
}

/* sum_4ch for two channels. */
static void sum_2ch(const pixel_taps *t, const int8_t *w, int32_t acc[2]) {
  const ptrdiff_t fs = t->filter_size;
  const uint32_t offset_x2 = t->input_offset_x2;
  int32_t a0 = 0, a1 = 0;
  int32_t ky, r, n;
  for (ky = 0; ky < t->rows; ++ky) {
    for (r = 0; r < t->runs; ++r) {
      const int8_t *xp = t->x + ky * t->x_row_step + r * t->x_run_step;
      const int8_t *wp = w + t->w + ky * t->w_row_step + r * t->w_run_step;
      /* An end pointer, not a count: one register less, no spill. */
      const int8_t *const x_words_end = xp + 4 * t->words;
      while (xp != x_words_end) {
        const uint32_t in = freeml_read_s8x4(xp);
        const uint32_t x02 = freeml_sxtab16(offset_x2, in);
        const uint32_t x13 = freeml_sxtab16_ror8(offset_x2, in);
        uint32_t v = freeml_read_s8x4(wp);
        a0 = freeml_smlad(freeml_sxtb16(v), x02, a0);
        a0 = freeml_smlad(freeml_sxtb16_ror8(v), x13, a0);
        v = freeml_read_s8x4(wp + fs);
        a1 = freeml_smlad(freeml_sxtb16(v), x02, a1);
        a1 = freeml_smlad(freeml_sxtb16_ror8(v), x13, a1);
        xp += 4;
        wp += 4;
      }
      for (n = 0; n < t->tail; ++n) {
        const int32_t xv = xp[n] + t->input_offset;
        a0 += wp[n] * xv;
        a1 += wp[fs + n] * xv;
      }
    }
  }
  acc[0] = a0;
  acc[1] = a1;
}

/* sum_4ch for one channel. */
static int32_t sum_1ch(const pixel_taps *t, const int8_t *w) {
  const uint32_t offset_x2 = t->input_offset_x2;
  int32_t a = 0;
  int32_t ky, r, n;
  for (ky = 0; ky < t->rows; ++ky) {
    for (r = 0; r < t->runs; ++r) {
      const int8_t *xp = t->x + ky * t->x_row_step + r * t->x_run_step;
      const int8_t *wp = w + t->w + ky * t->w_row_step + r * t->w_run_step;
      const int8_t *const x_words_end = xp + 4 * t->words;
      while (xp != x_words_end) {
        const uint32_t in = freeml_read_s8x4(xp);
        const uint32_t v = freeml_read_s8x4(wp);
        a = freeml_smlad(freeml_sxtb16(v), freeml_sxtab16(offset_x2, in), a);
        a = freeml_smlad(freeml_sxtb16_ror8(v),
                         freeml_sxtab16_ror8(offset_x2, in), a);
        xp += 4;
        wp += 4;
      }
      for (n = 0; n < t->tail; ++n) {
        a += wp[n] * (xp[n] + t->input_offset);
      }
    }
  }
  return a;
}

freeml_status freeml_conv2d_s8_dsp(
    const freeml_conv_params *params, const freeml_per_channel_quant *quant,
    const freeml_dims *input_dims, const int8_t *input,
    const freeml_dims *filter_dims, const int8_t *filter, const int32_t *bias,
    const freeml_dims *output_dims, int8_t *output, freeml_tile tile) {
  const int32_t in_h = input_dims->h, in_w = input_dims->w;
  const int32_t in_c = input_dims->c;
  const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
  const int32_t group_c = filter_dims->c; /* input channels per group */
  const int32_t out_h = output_dims->h, out_w = output_dims->w;
  const int32_t out_c = output_dims->c;
  const int32_t filters_per_group = out_c / (in_c / group_c);
  const int32_t dilation_h = params->dilation_h;
  const int32_t dilation_w = params->dilation_w;
  /* One group and no horizontal dilation: a kernel row is one run. */
  const int one_run_per_row = group_c == in_c && dilation_w == 1;
  int8_t *out = output;
  pixel_taps t;
  int32_t b, oy, ox, oc, rest, remaining;

  if (!freeml_tile_valid(tile, freeml_conv2d_s8_units(output_dims))) {
    return FREEML_ERR_ARG;
  }
  if (!freeml_simd_offset_fits(params->input_offset)) {
    return freeml_conv2d_s8_portable(params, quant, input_dims, input,
                                     filter_dims, filter, bias, output_dims,
                                     output, tile);
  }
  t.x_row_step = (ptrdiff_t)dilation_h * in_w * in_c;
  t.x_run_step = (ptrdiff_t)dilation_w * in_c;
  t.w_row_step = (ptrdiff_t)k_w * group_c;
  t.w_run_step = group_c;
  t.filter_size = (ptrdiff_t)k_h * k_w * group_c;
  t.input_offset = params->input_offset;
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
    const int32_t y0 = oy * params->stride_h - params->pad_h;
    const int32_t x0 = ox * params->stride_w - params->pad_w;
    int32_t ky_lo, ky_hi, kx_lo, kx_hi, run_len;
    ptrdiff_t x_first = 0;
    freeml_valid_taps(y0, in_h, k_h, dilation_h, &ky_lo, &ky_hi);
    freeml_valid_taps(x0, in_w, k_w, dilation_w, &kx_lo, &kx_hi);
    t.runs = one_run_per_row ? (kx_hi > kx_lo) : kx_hi - kx_lo;
    run_len = one_run_per_row ? (kx_hi - kx_lo) * group_c : group_c;
    t.words = run_len >> 2;
    t.tail = run_len & 3;
    t.rows = t.runs > 0 ? ky_hi - ky_lo : 0;
    t.w = 0;
    if (t.rows > 0) {
      /* Tap (ky_lo, kx_lo), channel 0 of the input, of a filter. */
      x_first = (((ptrdiff_t)b * in_h + y0 + ky_lo * dilation_h) * in_w + x0 +
                 kx_lo * dilation_w) *
                in_c;
      t.w = (ky_lo * k_w + kx_lo) * group_c;
    }
    remaining -= oc_end - oc;
    while (oc < oc_end) {
      /* Channels of one group share their input: block them within it. */
      const int32_t g = filters_per_group == out_c ? 0 : oc / filters_per_group;
      const int32_t g_end =
          filters_per_group == out_c || (g + 1) * filters_per_group > oc_end
              ? oc_end
              : (g + 1) * filters_per_group;
      t.x = input + x_first + g * group_c;
      for (; oc + 4 <= g_end; oc += 4, out += 4) {
        int32_t acc[4];
        sum_4ch(&t, filter + oc * t.filter_size, acc);
        freeml_conv_requantize(acc, 4, oc, bias, quant, params, out);
      }
      if (oc + 2 <= g_end) {
        int32_t acc[2];
        sum_2ch(&t, filter + oc * t.filter_size, acc);
        freeml_conv_requantize(acc, 2, oc, bias, quant, params, out);
        oc += 2;
        out += 2;
      }
      if (oc < g_end) {
        const int32_t acc = sum_1ch(&t, filter + oc * t.filter_size);
        freeml_conv_requantize(&acc, 1, oc, bias, quant, params, out);
        ++oc;
        ++out;
      }
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
