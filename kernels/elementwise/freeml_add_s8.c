#include "kernels/freeml_arith.h"

int32_t freeml_add_s8_units(const freeml_dims *output_dims) {
  return output_dims->n * output_dims->h * output_dims->w * output_dims->c;
}

/* Stride of a broadcast dim is 0: every output position reads index 0. */
static void strides_of(const freeml_dims *d, int32_t strides[4]) {
  strides[3] = d->c == 1 ? 0 : 1;
  strides[2] = d->w == 1 ? 0 : d->c;
  strides[1] = d->h == 1 ? 0 : d->w * d->c;
  strides[0] = d->n == 1 ? 0 : d->h * d->w * d->c;
}

/* One output element from its two input values. */
static inline int8_t add_one(const freeml_add_params *params, int32_t a,
                             int32_t d) {
  const int32_t shifted1 =
      freeml_shl_wrap(a + params->input1_offset, params->left_shift);
  const int32_t shifted2 =
      freeml_shl_wrap(d + params->input2_offset, params->left_shift);
  /* Smaller-than-one multipliers: shift <= 0, so MBQM only divides. */
  const int32_t scaled1 =
      freeml_mbqm(shifted1, params->input1.multiplier, params->input1.shift);
  const int32_t scaled2 =
      freeml_mbqm(shifted2, params->input2.multiplier, params->input2.shift);
  const int32_t sum = freeml_mbqm(scaled1 + scaled2, params->output.multiplier,
                                  params->output.shift);
  return (int8_t)freeml_offset_clamp(sum, params->output_offset,
                                     params->activation.min,
                                     params->activation.max);
}

static int same_dims(const freeml_dims *a, const freeml_dims *b) {
  return a->n == b->n && a->h == b->h && a->w == b->w && a->c == b->c;
}

freeml_status freeml_add_s8(const freeml_add_params *params,
                            const freeml_dims *input1_dims,
                            const int8_t *input1,
                            const freeml_dims *input2_dims,
                            const int8_t *input2,
                            const freeml_dims *output_dims, int8_t *output,
                            freeml_tile tile) {
  const int32_t out_h = output_dims->h, out_w = output_dims->w;
  const int32_t out_c = output_dims->c;
  int32_t s1[4], s2[4];
  int32_t b, y, x, c, rest, i;
  if (!freeml_tile_valid(tile, freeml_add_s8_units(output_dims))) {
    return FREEML_ERR_ARG;
  }
  strides_of(input1_dims, s1);
  strides_of(input2_dims, s2);
  c = tile.start % out_c;
  rest = tile.start / out_c;
  x = rest % out_w;
  rest /= out_w;
  y = rest % out_h;
  b = rest / out_h;
  if (same_dims(input1_dims, output_dims) &&
      same_dims(input2_dims, output_dims)) {
    /* No broadcasting (residual connections): walk both inputs linearly. */
    for (i = tile.start; i < tile.end; ++i) {
      output[i - tile.start] = add_one(params, input1[i], input2[i]);
    }
    return FREEML_OK;
  }
  for (i = tile.start; i < tile.end; ++i) {
    output[i - tile.start] =
        add_one(params, input1[b * s1[0] + y * s1[1] + x * s1[2] + c * s1[3]],
                input2[b * s2[0] + y * s2[1] + x * s2[2] + c * s2[3]]);
    if (++c == out_c) {
      c = 0;
      if (++x == out_w) {
        x = 0;
        if (++y == out_h) {
          y = 0;
          ++b;
        }
      }
    }
  }
  return FREEML_OK;
}
