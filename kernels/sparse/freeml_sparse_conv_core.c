#include "kernels/sparse/freeml_sparse.h"

/* Where a filter's current position falls in the input: position p =
 * (ky * k_w + kx) * group_c + ci, read from `tap[ci]`. Positions only grow
 * within a filter, so they are decoded by carrying, without division. */
typedef struct {
  const int8_t *input;
  int32_t in_h, in_w, in_c;
  int32_t k_w, group_c;
  int32_t dilation_h, dilation_w;
  int32_t batch, y0, x0, ic0; /* the output element's window */
  int32_t ky, kx, ci;
  const int8_t *tap; /* input at tap (ky, kx), channel ic0; 0 if padded */
} window;

static inline void seek_tap(window *w) {
  const int32_t iy = w->y0 + w->ky * w->dilation_h;
  const int32_t ix = w->x0 + w->kx * w->dilation_w;
  w->tap = 0; /* padded taps are skipped, as TFLM does */
  if (iy >= 0 && iy < w->in_h && ix >= 0 && ix < w->in_w) {
    w->tap = w->input +
             (((int64_t)w->batch * w->in_h + iy) * w->in_w + ix) * w->in_c +
             w->ic0;
  }
}

/* Moves `step` >= 1 positions on. The carries of one filter add up to at
 * most its k_h * k_w taps. */
static inline void advance(window *w, int32_t step) {
  w->ci += step;
  if (w->ci < w->group_c) return;
  do {
    w->ci -= w->group_c;
    ++w->kx;
  } while (w->ci >= w->group_c);
  while (w->kx >= w->k_w) {
    w->kx -= w->k_w;
    ++w->ky;
  }
  seek_tap(w);
}

/* The int32 sum of filter f's products with the window; its entries start
 * at *entry, which is moved past them. */
static int32_t filter_sum(const freeml_sparse_filter *s, int32_t f,
                          int32_t input_offset, int32_t *entry, window *w) {
  const int8_t *values = s->values;
  int32_t e = *entry;
  int32_t acc = 0;
  w->ky = 0;
  w->kx = 0;
  w->ci = -1; /* one before position 0 */
  seek_tap(w);
  if (s->format == FREEML_SPARSE_DELTA) {
    const int32_t end = e + (int32_t)freeml_sparse_u16(s->count + 2 * f);
    for (; e < end; ++e) {
      advance(w, s->delta[e] + 1);
      if (w->tap != 0) acc += values[e] * (w->tap[w->ci] + input_offset);
    }
  } else {
    const uint8_t *row = s->mask + f * s->mask_bytes;
    int32_t previous = -1;
    int32_t byte;
    for (byte = 0; byte < s->mask_bytes; byte += 4) {
      uint32_t bits = freeml_sparse_mask_word(row + byte, s->mask_bytes - byte);
      while (bits != 0) {
        const int32_t p = byte * 8 + freeml_sparse_ctz(bits);
        bits &= bits - 1u;
        advance(w, p - previous);
        previous = p;
        if (w->tap != 0) acc += values[e] * (w->tap[w->ci] + input_offset);
        ++e;
      }
    }
  }
  *entry = e;
  return acc;
}

freeml_status freeml_sparse_conv_core(
    const freeml_conv_params *params, const freeml_per_channel_quant *quant,
    const freeml_dims *input_dims, const int8_t *input, int32_t k_w,
    int32_t group_c, int32_t filters_per_step,
    const freeml_sparse_filter *filter, const int32_t *bias,
    const freeml_dims *output_dims, int8_t *output, freeml_tile tile) {
  const int32_t out_h = output_dims->h, out_w = output_dims->w;
  const int32_t out_c = output_dims->c;
  window w;
  int32_t b, oy, ox, oc, rest, i, entry, step_filter;
  if (!freeml_tile_valid(tile, (int64_t)output_dims->n * out_h * out_w *
                                   out_c)) {
    return FREEML_ERR_ARG;
  }
  if (tile.start == tile.end) return FREEML_OK;
  w.input = input;
  w.in_h = input_dims->h;
  w.in_w = input_dims->w;
  w.in_c = input_dims->c;
  w.k_w = k_w;
  w.group_c = group_c;
  w.dilation_h = params->dilation_h;
  w.dilation_w = params->dilation_w;
  oc = tile.start % out_c;
  rest = tile.start / out_c;
  ox = rest % out_w;
  rest /= out_w;
  oy = rest % out_h;
  b = rest / out_h;
  /* Once per tile: from then on the channel, its input channels and its
   * first entry advance with the unit. */
  w.ic0 = (oc / filters_per_step) * group_c;
  step_filter = oc % filters_per_step;
  entry = freeml_sparse_first_entry(filter, oc);
  for (i = tile.start; i < tile.end; ++i) {
    int32_t acc, y;
    w.batch = b;
    w.y0 = oy * params->stride_h - params->pad_h;
    w.x0 = ox * params->stride_w - params->pad_w;
    acc = filter_sum(filter, oc, params->input_offset, &entry, &w);
    if (bias != 0) acc += bias[oc];
    y = freeml_mbqm(acc, quant->multiplier[oc], quant->shift[oc]);
    output[i - tile.start] = (int8_t)freeml_offset_clamp(
        y, params->output_offset, params->activation.min,
        params->activation.max);
    if (++step_filter == filters_per_step) {
      step_filter = 0;
      w.ic0 += group_c;
    }
    if (++oc == out_c) {
      oc = 0;
      entry = 0;
      w.ic0 = 0;
      step_filter = 0;
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
