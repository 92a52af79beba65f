#include "kernels/sparse/freeml_sparse.h"

freeml_status freeml_conv2d_sparse_s8(
    const freeml_conv_params *params, const freeml_per_channel_quant *quant,
    const freeml_dims *input_dims, const int8_t *input,
    const freeml_dims *filter_dims, const freeml_sparse_filter *filter,
    freeml_sparse_bias bias, const freeml_dims *output_dims, int8_t *output,
    freeml_tile tile) {
  const int32_t groups = input_dims->c / filter_dims->c;
  if ((filter->format != FREEML_SPARSE_DELTA &&
       filter->format != FREEML_SPARSE_BITMASK) ||
      filter->filters != output_dims->c ||
      filter->filter_size != filter_dims->h * filter_dims->w * filter_dims->c) {
    return FREEML_ERR_ARG;
  }
  return freeml_sparse_conv_core(params, quant, input_dims, input,
                                 filter_dims->w, filter_dims->c,
                                 output_dims->c / groups, filter, bias,
                                 output_dims, output, tile);
}
