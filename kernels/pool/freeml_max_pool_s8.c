#include "kernels/freeml_arith.h"

freeml_status freeml_max_pool_s8(const freeml_pool_params *params,
                                 const freeml_dims *input_dims,
                                 const int8_t *input,
                                 const freeml_dims *output_dims,
                                 int8_t *output, freeml_tile tile) {
  const int32_t in_h = input_dims->h, in_w = input_dims->w;
  const int32_t depth = input_dims->c;
  const int32_t out_h = output_dims->h, out_w = output_dims->w;
  int32_t b, oy, ox, c, rest, i;
  if (!freeml_tile_valid(tile, freeml_pool_s8_units(output_dims))) {
    return FREEML_ERR_ARG;
  }
  c = tile.start % depth;
  rest = tile.start / depth;
  ox = rest % out_w;
  rest /= out_w;
  oy = rest % out_h;
  b = rest / out_h;
  for (i = tile.start; i < tile.end; ++i) {
    /* The window clipped to the image: padding is not part of it. */
    const int32_t y0 = oy * params->stride_h - params->pad_h;
    const int32_t x0 = ox * params->stride_w - params->pad_w;
    const int32_t ky0 = y0 < 0 ? -y0 : 0;
    const int32_t kx0 = x0 < 0 ? -x0 : 0;
    const int32_t ky1 = params->filter_h < in_h - y0 ? params->filter_h : in_h - y0;
    const int32_t kx1 = params->filter_w < in_w - x0 ? params->filter_w : in_w - x0;
    int32_t best = -128;
    int32_t ky, kx;
    for (ky = ky0; ky < ky1; ++ky) {
      for (kx = kx0; kx < kx1; ++kx) {
        const int8_t *x =
            input + (((int64_t)b * in_h + y0 + ky) * in_w + x0 + kx) * depth;
        if (x[c] > best) best = x[c];
      }
    }
    output[i - tile.start] = (int8_t)freeml_clamp(best, params->activation.min,
                                     params->activation.max);
    if (++c == depth) {
      c = 0;
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
