#include "kernels/freeml_arith.h"

freeml_status freeml_depthwise_conv2d_s8_portable(
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
  const int32_t input_offset = conv->input_offset;
  int32_t b, oy, ox, oc, rest, i;

  if (!freeml_tile_valid(tile, freeml_depthwise_conv2d_s8_units(output_dims))) {
    return FREEML_ERR_ARG;
  }
  oc = tile.start % out_c;
  rest = tile.start / out_c;
  ox = rest % out_w;
  rest /= out_w;
  oy = rest % out_h;
  b = rest / out_h;
  for (i = tile.start; i < tile.end; ++i) {
    const int32_t y0 = oy * conv->stride_h - conv->pad_h;
    const int32_t x0 = ox * conv->stride_w - conv->pad_w;
    const int32_t ic =
        params->depth_multiplier == 1 ? oc : oc / params->depth_multiplier;
    int32_t acc = 0;
    int32_t ky, kx, y;
    for (ky = 0; ky < k_h; ++ky) {
      const int32_t iy = y0 + ky * conv->dilation_h;
      if (iy < 0 || iy >= in_h) continue;
      for (kx = 0; kx < k_w; ++kx) {
        const int32_t ix = x0 + kx * conv->dilation_w;
        if (ix < 0 || ix >= in_w) continue; /* padded taps are skipped */
        acc += filter[(ky * k_w + kx) * out_c + oc] *
               (input[(((int64_t)b * in_h + iy) * in_w + ix) * in_c + ic] +
                input_offset);
      }
    }
    if (bias != 0) acc += bias[oc];
    y = freeml_mbqm(acc, quant->multiplier[oc], quant->shift[oc]);
    output[i - tile.start] = (int8_t)freeml_offset_clamp(
        y, conv->output_offset, conv->activation.min, conv->activation.max);
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
