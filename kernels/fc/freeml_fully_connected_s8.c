#include "kernels/freeml_arith.h"

int32_t freeml_fully_connected_s8_units(int32_t batches, int32_t out_units) {
  return batches * out_units;
}

/* The variant is fixed at build time (FREEML_DSP_KERNELS): one tail call. */
freeml_status freeml_fully_connected_s8(const freeml_fc_params *params,
                                        const freeml_per_channel_quant *quant,
                                        int32_t batches, int32_t accum_depth,
                                        int32_t out_units, const int8_t *input,
                                        const int8_t *filter,
                                        const int32_t *bias, int8_t *output,
                                        freeml_tile tile) {
#if FREEML_DSP_KERNELS
  return freeml_fully_connected_s8_dsp(params, quant, batches, accum_depth,
                                       out_units, input, filter, bias, output,
                                       tile);
#else
  return freeml_fully_connected_s8_portable(params, quant, batches,
                                            accum_depth, out_units, input,
                                            filter, bias, output, tile);
#endif
}
