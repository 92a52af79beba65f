#include "kernels/freeml_arith.h"

freeml_status freeml_conv2d_s8_portable(
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
  const int32_t input_offset = params->input_offset;
  int32_t b, oy, ox, oc, rest, i;

  if (!freeml_tile_valid(tile, freeml_conv2d_s8_units(output_dims))) {
    return FREEML_ERR_ARG;
  }
  oc = tile.start % out_c;
  rest = tile.start / out_c;
  ox = rest % out_w;
  rest /= out_w;
  oy = rest % out_h;
  b = rest / out_h;
  for (i = tile.start; i < tile.end; ++i) {
    const int32_t y0 = oy * params->stride_h - params->pad_h;
    const int32_t x0 = ox * params->stride_w - params->pad_w;
    /* Division only for grouped convolutions: it is costly on small MCUs. */
    const int32_t ic0 =
        filters_per_group == out_c ? 0 : (oc / filters_per_group) * group_c;
    const int8_t *w = filter + (int64_t)oc * k_h * k_w * group_c;
    int32_t acc = 0;
    int32_t ky, kx, c, y;
    for (ky = 0; ky < k_h; ++ky) {
      const int32_t iy = y0 + ky * params->dilation_h;
      if (iy < 0 || iy >= in_h) continue;
      for (kx = 0; kx < k_w; ++kx) {
        const int32_t ix = x0 + kx * params->dilation_w;
        const int8_t *x;
        const int8_t *wk;
        if (ix < 0 || ix >= in_w) continue; /* padded taps are skipped */
        x = input + (((int64_t)b * in_h + iy) * in_w + ix) * in_c + ic0;
        wk = w + (ky * k_w + kx) * group_c;
        for (c = 0; c < group_c; ++c) {
          acc += wk[c] * (x[c] + input_offset);
        }
      }
    }
    if (bias != 0) acc += bias[oc];
    y = freeml_mbqm(acc, quant->multiplier[oc], quant->shift[oc]);
    output[i - tile.start] = (int8_t)freeml_offset_clamp(
        y, params->output_offset, params->activation.min,
        params->activation.max);
    if (++oc == out_c) {
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
