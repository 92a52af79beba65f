#include "kernels/freeml_arith.h"

freeml_status freeml_concat_s8(int32_t num_inputs,
                               const int8_t *const *inputs,
                               const int32_t *axis_sizes, int32_t outer,
                               int32_t inner, int8_t *output,
                               freeml_tile tile) {
  int32_t total_axis = 0;
  int32_t k, i;
  for (k = 0; k < num_inputs; ++k) total_axis += axis_sizes[k];
  if (!freeml_tile_valid(tile, (int64_t)outer * total_axis * inner)) {
    return FREEML_ERR_ARG;
  }
  for (i = tile.start; i < tile.end; ++i) {
    const int32_t inner_index = i % inner;
    const int32_t rest = i / inner;
    int32_t axis_index = rest % total_axis;
    const int32_t outer_index = rest / total_axis;
    for (k = 0; axis_index >= axis_sizes[k]; ++k) axis_index -= axis_sizes[k];
    output[i - tile.start] = inputs[k][((int64_t)outer_index * axis_sizes[k] + axis_index) *
                              inner +
                          inner_index];
  }
  return FREEML_OK;
}
