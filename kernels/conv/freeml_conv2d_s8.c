#include "kernels/freeml_arith.h"

int32_t freeml_conv2d_s8_units(const freeml_dims *output_dims) {
  return output_dims->n * output_dims->h * output_dims->w * output_dims->c;
}

/* The variant is fixed at build time (FREEML_DSP_KERNELS): one tail call. */
freeml_status freeml_conv2d_s8(const freeml_conv_params *params,
                               const freeml_per_channel_quant *quant,
                               const freeml_dims *input_dims,
                               const int8_t *input,
                               const freeml_dims *filter_dims,
                               const int8_t *filter, const int32_t *bias,
                               const freeml_dims *output_dims, int8_t *output,
                               freeml_tile tile) {
#if FREEML_DSP_KERNELS
  return freeml_conv2d_s8_dsp(params, quant, input_dims, input, filter_dims,
                              filter, bias, output_dims, output, tile);
#else
  return freeml_conv2d_s8_portable(params, quant, input_dims, input,
                                   filter_dims, filter, bias, output_dims,
                                   output, tile);
#endif
}
