/*
 * What the dense ops CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED share
 * with their sparse custom ops (sparse_ops.c, docs/sparse.md): everything
 * but how the filter is stored. Private to tflm_freeml/ops/.
 */
#ifndef FREEML_OPS_FILTER_OPS_H_
#define FREEML_OPS_FILTER_OPS_H_

#include <stdint.h>

#include "tflm_freeml/ops/ops.h"

enum { FREEML_PADDING_SAME = 0, FREEML_PADDING_VALID = 1 };

/* Options of a convolution, from its builtin options or custom options. */
typedef struct {
  int32_t padding; /* FREEML_PADDING_* */
  int32_t stride_h;
  int32_t stride_w;
  int32_t dilation_h;
  int32_t dilation_w;
  int32_t activation; /* TFLite ActivationFunctionType */
  int32_t depth_multiplier; /* 1 for CONV_2D */
} freeml_conv_options;

/* A prepared convolution, without its filter data. */
typedef struct {
  freeml_dw_conv_params params; /* CONV_2D uses params.conv only */
  freeml_dims input;
  freeml_dims filter; /* the dense filter's shape */
  freeml_dims output;
  int32_t input_tensor;
  uint32_t bias_data;
  int32_t bias_bytes; /* 4 (int32), or 2 (int16: sparse ops only) */
  uint32_t multipliers;
  uint32_t shifts;
} freeml_conv_layer;

/* Checks the options `o` and, against them and the dense filter shape
 * `filter_dims`, the op's input (slot 0), optional bias (slot 2) and output;
 * computes padding, offsets, activation range and one multiplier per output
 * channel from `filter`'s scales (one, or one per output channel) into *layer;
 * sets op->units (output elements) and op->unit_macs (dense MACs). */
freeml_status freeml_prepare_conv_layer(freeml_prepare_context *ctx,
                                        freeml_op *op, int depthwise,
                                        const freeml_conv_options *o,
                                        const freeml_tensor_info *filter,
                                        const freeml_dims *filter_dims,
                                        freeml_conv_layer *layer);

/* A prepared fully connected layer, without its weights data. */
typedef struct {
  freeml_fc_params params;
  int32_t batches;
  int32_t accum_depth;
  int32_t out_units;
  int32_t input_tensor;
  uint32_t bias_data;
  int32_t bias_bytes; /* 4 (int32), or 2 (int16: sparse ops only) */
  uint32_t multipliers;
  uint32_t shifts;
} freeml_fc_layer;

/* As freeml_prepare_conv_layer for FULLY_CONNECTED, with weights of
 * `out_units` x `accum_depth` quantized as `filter` (one scale, or one per
 * unit); op->unit_macs is accum_depth. */
freeml_status freeml_prepare_fc_layer(freeml_prepare_context *ctx,
                                      freeml_op *op, int32_t activation,
                                      const freeml_tensor_info *filter,
                                      int32_t out_units, int32_t accum_depth,
                                      freeml_fc_layer *layer);

/* ---- steps of the functions above (op_util.c) ---- */

/* Input and output int8, per-tensor quantized; the input an activation. */
freeml_status freeml_expect_int8_activations(freeml_prepare_context *ctx,
                                             const freeml_tensor_info *input,
                                             const freeml_tensor_info *output);

/* The optional bias (input slot 2): constant, `channels` values (`per`
 * names them in errors), int32 within FREEML_MAX_BIAS_MAGNITUDE or int16
 * (*bias_bytes 4 or 2; the dense kernels take int32 only, see
 * freeml_expect_int32_bias). *bias_data is its data reference,
 * FREEML_NO_DATA without one. */
freeml_status freeml_prepare_bias(freeml_prepare_context *ctx,
                                  int32_t channels, const char *per,
                                  freeml_tensor_info *bias,
                                  uint32_t *bias_data, int32_t *bias_bytes);

/* Refuses an int16 bias (bias_bytes 2), which only the sparse ops take. */
freeml_status freeml_expect_int32_bias(freeml_prepare_context *ctx,
                                       int32_t bias_bytes);

/* Multipliers and shifts (arena offsets) of input scale * filter scale /
 * output scale for a filter of `channels` output channels with one scale or
 * one per channel: one pair per scale, or with `every_channel` one per
 * channel even for a single scale. */
freeml_status freeml_prepare_multipliers(freeml_prepare_context *ctx,
                                         const freeml_tensor_info *input,
                                         const freeml_tensor_info *filter,
                                         const freeml_tensor_info *output,
                                         int32_t channels, const char *per,
                                         int every_channel,
                                         uint32_t *multipliers,
                                         uint32_t *shifts);

/* The multipliers a prepare function stored at these arena offsets. */
static inline freeml_per_channel_quant freeml_quant_arrays(
    const freeml_runtime *rt, uint32_t multipliers, uint32_t shifts) {
  freeml_per_channel_quant q;
  q.multiplier = (const int32_t *)freeml_arena_data(rt, multipliers);
  q.shift = (const int32_t *)freeml_arena_data(rt, shifts);
  return q;
}

#endif /* FREEML_OPS_FILTER_OPS_H_ */
