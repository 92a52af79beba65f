#include "kernels/sparse/freeml_sparse.h"

freeml_status freeml_depthwise_conv2d_sparse_s8(
    const freeml_dw_conv_params *params, const freeml_per_channel_quant *quant,
    const freeml_dims *input_dims, const int8_t *input,
    const freeml_dims *filter_dims, const freeml_sparse_filter *filter,
    freeml_sparse_bias bias, const freeml_dims *output_dims, int8_t *output,
    freeml_tile tile) {
  if ((filter->format != FREEML_SPARSE_DELTA &&
       filter->format != FREEML_SPARSE_BITMASK) ||
      filter->filters != output_dims->c ||
      filter->filter_size != filter_dims->h * filter_dims->w) {
    return FREEML_ERR_ARG;
  }
  /* One input channel per tap: output channel oc reads channel
   * oc / depth_multiplier. */
  return freeml_sparse_conv_core(&params->conv, quant, input_dims, input,
                                 filter_dims->w, 1, params->depth_multiplier,
                                 filter, bias, output_dims, output, tile);
}
