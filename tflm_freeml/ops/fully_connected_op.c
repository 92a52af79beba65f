/* FULLY_CONNECTED: per-tensor or per-channel int8 weights. */
#include <math.h>

#include "tflm_freeml/ops/ops.h"

enum { FC_ACTIVATION = 0, FC_WEIGHTS_FORMAT = 1 };

typedef struct {
  freeml_fc_params params;
  int32_t batches;
  int32_t accum_depth;
  int32_t out_units;
  int32_t input_tensor;
  uint32_t filter_data;
  uint32_t bias_data;
  uint32_t multipliers;
  uint32_t shifts;
} fc_op_params;

freeml_status freeml_prepare_fully_connected(freeml_prepare_context *ctx,
                                             freeml_op *op) {
  const freeml_fb_buffer *fb = &ctx->rt->model.fb;
  freeml_tensor_info input, filter, bias, output;
  int32_t filter_index, bias_index;
  int8_t activation = 0;
  int8_t weights_format = 0;
  fc_op_params *p;
  uint32_t params_offset;
  uint32_t channels, c;
  int32_t *multipliers, *shifts;
  double input_scale, output_scale;
  freeml_status s;

  if ((s = freeml_expect_options(ctx, FREEML_OPTIONS_FULLY_CONNECTED)) !=
      FREEML_OK) {
    return s;
  }
  if (freeml_fb_i8(fb, &ctx->op->options, FC_ACTIVATION, 0, &activation) <
          0 ||
      freeml_fb_i8(fb, &ctx->op->options, FC_WEIGHTS_FORMAT, 0,
                   &weights_format) < 0) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL, "corrupt options");
  }
  if (weights_format != 0) {
    return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                       "shuffled weights format %d", (int)weights_format);
  }
  p = (fc_op_params *)freeml_prepare_alloc(ctx, sizeof(*p), &params_offset);
  if (p == 0) return FREEML_ERR_ARENA;
  if ((s = freeml_prepare_input(ctx, 0, "input", &p->input_tensor,
                                &input)) != FREEML_OK ||
      (s = freeml_prepare_input(ctx, 1, "filter", &filter_index, &filter)) !=
          FREEML_OK ||
      (s = freeml_prepare_optional_input(ctx, 2, "bias", &bias_index,
                                         &bias)) != FREEML_OK ||
      (s = freeml_prepare_output(ctx, &output)) !=
          FREEML_OK ||
      (s = freeml_expect_type(ctx, &input, FREEML_TYPE_INT8, "input")) !=
          FREEML_OK ||
      (s = freeml_expect_type(ctx, &filter, FREEML_TYPE_INT8, "filter")) !=
          FREEML_OK ||
      (s = freeml_expect_type(ctx, &output, FREEML_TYPE_INT8, "output")) !=
          FREEML_OK ||
      (s = freeml_expect_activation(ctx, &input, "input")) != FREEML_OK ||
      (s = freeml_expect_constant(ctx, &filter, "filter")) != FREEML_OK ||
      (s = freeml_expect_per_tensor(ctx, &input, "input")) != FREEML_OK ||
      (s = freeml_expect_per_tensor(ctx, &output, "output")) != FREEML_OK) {
    return s;
  }
  if (filter.rank != 2 || output.rank < 1) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "filter must be 2D, got rank %d", (int)filter.rank);
  }
  p->out_units = filter.shape[0];
  p->accum_depth = filter.shape[1];
  if (output.shape[output.rank - 1] != p->out_units) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "output depth %d, filter has %d units",
                       (int)output.shape[output.rank - 1], (int)p->out_units);
  }
  p->batches = (int32_t)(output.elements / (uint32_t)p->out_units);
  if ((uint64_t)p->batches * (uint64_t)p->accum_depth != input.elements) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "input of %u elements is not %d batches of %d",
                       (unsigned)input.elements, (int)p->batches,
                       (int)p->accum_depth);
  }
  channels = filter.scales.length;
  if (channels != 1 && channels != (uint32_t)p->out_units) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "filter has %u scales for %d units",
                       (unsigned)channels, (int)p->out_units);
  }
  if ((s = freeml_prepare_const_data(ctx, &filter, 1, &p->filter_data)) !=
      FREEML_OK) {
    return s;
  }
  input_scale = (double)freeml_scale(ctx, &input, 0);
  output_scale = (double)freeml_scale(ctx, &output, 0);
  p->bias_data = FREEML_NO_DATA;
  if (bias_index >= 0) {
    if ((s = freeml_expect_type(ctx, &bias, FREEML_TYPE_INT32, "bias")) !=
            FREEML_OK ||
        (s = freeml_expect_constant(ctx, &bias, "bias")) != FREEML_OK ||
        (s = freeml_expect_bias_range(ctx, &bias)) != FREEML_OK ||
        (s = freeml_prepare_const_data(ctx, &bias, 4, &p->bias_data)) !=
            FREEML_OK) {
      return s;
    }
    if ((int32_t)bias.elements != p->out_units) {
      return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                         "bias has %u values for %d units",
                         (unsigned)bias.elements, (int)p->out_units);
    }
    /* TFLM's per-tensor prepare refuses a bias scale that is not close to
     * input scale * filter scale: the model would not mean what it says. */
    if (channels == 1 && bias.scales.length > 0 &&
        fabs(input_scale * (double)freeml_scale(ctx, &filter, 0) -
             (double)freeml_scale(ctx, &bias, 0)) /
                output_scale >
            0.02) {
      return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                         "bias scale does not match input scale * filter "
                         "scale");
    }
  }
  multipliers = (int32_t *)freeml_prepare_alloc(ctx, channels * 4u,
                                                &p->multipliers);
  shifts = (int32_t *)freeml_prepare_alloc(ctx, channels * 4u, &p->shifts);
  if (multipliers == 0 || shifts == 0) return FREEML_ERR_ARENA;
  for (c = 0; c < channels; ++c) {
    freeml_quant q = freeml_quantize_multiplier(
        input_scale * (double)freeml_scale(ctx, &filter, c) / output_scale);
    multipliers[c] = q.multiplier;
    shifts[c] = q.shift;
  }
  p->params.input_offset = -freeml_zero_point(ctx, &input);
  p->params.filter_offset = -freeml_zero_point(ctx, &filter);
  p->params.output_offset = freeml_zero_point(ctx, &output);
  p->params.per_channel = channels > 1;
  p->params.activation = freeml_activation_range_s8(
      activation, freeml_scale(ctx, &output, 0),
      freeml_zero_point(ctx, &output));
  op->params = params_offset;
  op->units = freeml_fully_connected_s8_units(p->batches, p->out_units);
  op->unit_macs = (uint32_t)p->accum_depth;
  return FREEML_OK;
}

freeml_status freeml_eval_fully_connected(freeml_runtime *rt,
                                          const freeml_op *op,
                                          freeml_tile tile, void *output) {
  const fc_op_params *p =
      (const fc_op_params *)freeml_arena_data(rt, op->params);
  freeml_per_channel_quant q;
  q.multiplier = (const int32_t *)freeml_arena_data(rt, p->multipliers);
  q.shift = (const int32_t *)freeml_arena_data(rt, p->shifts);
  return freeml_fully_connected_s8(
      &p->params, &q, p->batches, p->accum_depth, p->out_units,
      freeml_activation_data(rt, p->input_tensor),
      (const int8_t *)freeml_const_data(rt, p->filter_data),
      (const int32_t *)freeml_const_data(rt, p->bias_data),
      output, tile);
}
