#include "kernels/freeml_arith.h"

int32_t freeml_pad_s8_units(const freeml_dims *output_dims) {
  return output_dims->n * output_dims->h * output_dims->w * output_dims->c;
}

freeml_status freeml_pad_s8(const freeml_pad_params *params,
                            const freeml_dims *input_dims, const int8_t *input,
                            const freeml_dims *output_dims, int8_t *output,
                            freeml_tile tile) {
  const freeml_dims *before = &params->before;
  int32_t b, y, x, c, rest, i;
  if (!freeml_tile_valid(tile, freeml_pad_s8_units(output_dims))) {
    return FREEML_ERR_ARG;
  }
  c = tile.start % output_dims->c;
  rest = tile.start / output_dims->c;
  x = rest % output_dims->w;
  rest /= output_dims->w;
  y = rest % output_dims->h;
  b = rest / output_dims->h;
  for (i = tile.start; i < tile.end; ++i) {
    const int32_t ib = b - before->n, iy = y - before->h;
    const int32_t ix = x - before->w, ic = c - before->c;
    if (ib >= 0 && ib < input_dims->n && iy >= 0 && iy < input_dims->h &&
        ix >= 0 && ix < input_dims->w && ic >= 0 && ic < input_dims->c) {
      output[i - tile.start] = input[(((int64_t)ib * input_dims->h + iy) * input_dims->w +
                         ix) * input_dims->c + ic];
    } else {
      output[i - tile.start] = params->pad_value;
    }
    if (++c == output_dims->c) {
      c = 0;
      if (++x == output_dims->w) {
        x = 0;
        if (++y == output_dims->h) {
          y = 0;
          ++b;
        }
      }
    }
  }
  return FREEML_OK;
}
