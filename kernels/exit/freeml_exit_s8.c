/* The gNet exit head, split by exit: each exit adds its pooled features'
 * share of the head's FULLY_CONNECTED sum to int32 accumulators, and an
 * answer requantizes the latest accumulators as the head op would. */
#include "kernels/freeml_arith.h"

freeml_status freeml_exit_accumulate_s8(
    const freeml_exit_accumulate_params *params, const int8_t *features,
    const int8_t *weights, const int32_t *previous, int32_t *output,
    freeml_tile tile) {
  int32_t c;
  if (!freeml_tile_valid(tile, params->classes)) return FREEML_ERR_ARG;
  for (c = tile.start; c < tile.end; ++c) {
    const int8_t *w =
        weights + (int64_t)c * params->row_stride + params->column;
    int32_t acc = previous[c];
    int32_t i;
    for (i = 0; i < params->features; ++i) {
      acc += w[i] * (features[i] + params->input_offset);
    }
    output[c - tile.start] = acc;
  }
  return FREEML_OK;
}

/* A signed nibble: the low one of `byte`, or the high one. */
static int32_t int4_at(const uint8_t *packed, int64_t element) {
  const uint32_t byte = packed[element >> 1];
  const uint32_t nibble = (element & 1) ? byte >> 4 : byte & 0xFu;
  return (int32_t)nibble - (int32_t)((nibble & 0x8u) << 1);
}

freeml_status freeml_exit_accumulate_s4(
    const freeml_exit_accumulate_params *params, const int8_t *features,
    const uint8_t *packed_weights, const int32_t *previous, int32_t *output,
    freeml_tile tile) {
  int32_t c;
  if (!freeml_tile_valid(tile, params->classes)) return FREEML_ERR_ARG;
  for (c = tile.start; c < tile.end; ++c) {
    const int64_t first = (int64_t)c * params->row_stride + params->column;
    int32_t acc = previous[c];
    int32_t i;
    for (i = 0; i < params->features; ++i) {
      acc += int4_at(packed_weights, first + i) *
             (features[i] + params->input_offset);
    }
    output[c - tile.start] = acc;
  }
  return FREEML_OK;
}

void freeml_exit_logits_s8(const freeml_exit_logits_params *params,
                           const freeml_per_channel_quant *quant,
                           const int32_t *accumulators, int8_t *logits) {
  int32_t c;
  for (c = 0; c < params->classes; ++c) {
    const int32_t q = params->per_channel ? c : 0;
    const int32_t y =
        freeml_mbqm(accumulators[c], quant->multiplier[q], quant->shift[q]);
    logits[c] = (int8_t)freeml_offset_clamp(y, params->output_offset, -128,
                                            127);
  }
}
