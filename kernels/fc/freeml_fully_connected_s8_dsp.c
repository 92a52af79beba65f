/*
 * FULLY_CONNECTED with the Cortex-M DSP extension: the portable kernel's
 * sums, two MACs per SMLAD, no scratch.
 *
 * Output units of a batch row share each input word: SXTAB16 expands it
 * into two int16 pairs with the input offset added, for four units
 * (freeml_dot_4ch_s8) when the filter offset is 0 (per-channel path,
 * symmetric weights), else two; each unit's weight word is sign-extended
 * (SXTAB16 adds the filter offset) for two SMLADs. The last
 * accum_depth % 4 values use scalar code.
 */
#include <stddef.h>

#include "kernels/freeml_arith.h"
#include "kernels/freeml_simd.h"

/* Offsets of one call, as scalars and packed in both int16 lanes. */
typedef struct {
  int32_t input;
  int32_t filter;
  uint32_t input_x2;
  uint32_t filter_x2;
} fc_offsets;

/* acc[u] = sum over d of (x[d] + input) * w[u * len + d] for four units;
 * the filter offset must be 0 (per-channel path, symmetric weights). */
static void dot_4units(const int8_t *x, const int8_t *w, int32_t len,
                       const fc_offsets *off, int32_t acc[4]) {
  int32_t a[4] = {0, 0, 0, 0};
  int32_t n;
  if (len >= 4) {
    freeml_dot_4ch_s8(x, w, len, len >> 2, off->input_x2, a);
    x += len & ~3;
    w += len & ~3;
  }
  for (n = 0; n < (len & 3); ++n) {
    const int32_t xv = x[n] + off->input;
    a[0] += w[n] * xv;
    a[1] += w[len + n] * xv;
    a[2] += w[2 * len + n] * xv;
    a[3] += w[3 * len + n] * xv;
  }
  acc[0] = a[0];
  acc[1] = a[1];
  acc[2] = a[2];
  acc[3] = a[3];
}

/* dot_4units for two units, any filter offset. */
static void dot_2units(const int8_t *x, const int8_t *w, int32_t len,
                       const fc_offsets *off, int32_t acc[2]) {
  /* An end pointer, not a count: one register less, no spill. */
  const int8_t *const x_words_end = x + (len & ~3);
  const int8_t *w1 = w + len;
  int32_t a0 = 0, a1 = 0;
  int32_t n;
  while (x != x_words_end) {
    const uint32_t in = freeml_read_s8x4(x);
    const uint32_t x02 = freeml_sxtab16(off->input_x2, in);
    const uint32_t x13 = freeml_sxtab16_ror8(off->input_x2, in);
    uint32_t v = freeml_read_s8x4(w);
    a0 = freeml_smlad(freeml_sxtab16(off->filter_x2, v), x02, a0);
    a0 = freeml_smlad(freeml_sxtab16_ror8(off->filter_x2, v), x13, a0);
    v = freeml_read_s8x4(w1);
    a1 = freeml_smlad(freeml_sxtab16(off->filter_x2, v), x02, a1);
    a1 = freeml_smlad(freeml_sxtab16_ror8(off->filter_x2, v), x13, a1);
    x += 4;
    w += 4;
    w1 += 4;
  }
  for (n = 0; n < (len & 3); ++n) {
    const int32_t xv = x[n] + off->input;
    a0 += (w[n] + off->filter) * xv;
    a1 += (w1[n] + off->filter) * xv;
  }
  acc[0] = a0;
  acc[1] = a1;
}

/* dot_4units for one unit, any filter offset. */
static int32_t dot_1unit(const int8_t *x, const int8_t *w, int32_t len,
                         const fc_offsets *off) {
  const int8_t *const x_words_end = x + (len & ~3);
  int32_t a = 0;
  int32_t n;
  while (x != x_words_end) {
    const uint32_t in = freeml_read_s8x4(x);
    const uint32_t v = freeml_read_s8x4(w);
    a = freeml_smlad(freeml_sxtab16(off->filter_x2, v),
                     freeml_sxtab16(off->input_x2, in), a);
    a = freeml_smlad(freeml_sxtab16_ror8(off->filter_x2, v),
                     freeml_sxtab16_ror8(off->input_x2, in), a);
    x += 4;
    w += 4;
  }
  for (n = 0; n < (len & 3); ++n) {
    a += (w[n] + off->filter) * (x[n] + off->input);
  }
  return a;
}

/* Requantizes the sums of units [o, o + n) into out. */
static void requantize(const int32_t *acc, int32_t n, int32_t o,
                       const int32_t *bias,
                       const freeml_per_channel_quant *quant,
                       const freeml_fc_params *params, int8_t *out) {
  int32_t k;
  for (k = 0; k < n; ++k) {
    const int32_t q = params->per_channel ? o + k : 0;
    const int32_t a = bias != 0 ? acc[k] + bias[o + k] : acc[k];
    const int32_t y = freeml_mbqm(a, quant->multiplier[q], quant->shift[q]);
    out[k] = (int8_t)freeml_offset_clamp(y, params->output_offset,
                                         params->activation.min,
                                         params->activation.max);
  }
}

freeml_status freeml_fully_connected_s8_dsp(
    const freeml_fc_params *params, const freeml_per_channel_quant *quant,
    int32_t batches, int32_t accum_depth, int32_t out_units,
    const int8_t *input, const int8_t *filter, const int32_t *bias,
    int8_t *output, freeml_tile tile) {
  fc_offsets off;
  int8_t *out = output;
  int32_t b, o, remaining;
  if (!freeml_tile_valid(tile,
                         freeml_fully_connected_s8_units(batches, out_units))) {
    return FREEML_ERR_ARG;
  }
  /* TFLM applies the filter zero point on the per-tensor path only. */
  off.input = params->input_offset;
  off.filter = params->per_channel ? 0 : params->filter_offset;
  if (!freeml_simd_offset_fits(off.input) ||
      !freeml_simd_offset_fits(off.filter)) {
    return freeml_fully_connected_s8_portable(params, quant, batches,
                                              accum_depth, out_units, input,
                                              filter, bias, output, tile);
  }
  off.input_x2 = freeml_pack_s16x2(off.input, off.input);
  off.filter_x2 = freeml_pack_s16x2(off.filter, off.filter);
  b = tile.start / out_units;
  o = tile.start % out_units;
  remaining = tile.end - tile.start;
  while (remaining > 0) {
    const int8_t *x = input + (ptrdiff_t)b * accum_depth;
    const int8_t *w = filter + (ptrdiff_t)o * accum_depth;
    /* Units of one batch row share the input: four at a time when the
     * filter needs no offset, else two. */
    int32_t n = out_units - o < remaining ? out_units - o : remaining;
    int32_t acc[4];
    if (n >= 4 && off.filter == 0) {
      n = 4;
      dot_4units(x, w, accum_depth, &off, acc);
    } else if (n >= 2) {
      n = 2;
      dot_2units(x, w, accum_depth, &off, acc);
    } else {
      acc[0] = dot_1unit(x, w, accum_depth, &off);
    }
    requantize(acc, n, o, bias, quant, params, out);
    out += n;
    o += n;
    remaining -= n;
    if (o == out_units) {
      o = 0;
      ++b;
    }
  }
  return FREEML_OK;
}
