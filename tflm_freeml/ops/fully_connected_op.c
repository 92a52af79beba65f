/* FULLY_CONNECTED: per-tensor or per-channel int8 weights.
 * freeml_prepare_fc_layer is also the sparse custom op's (sparse_ops.c). */
#include <math.h>

#include "tflm_freeml/ops/filter_ops.h"

enum { FC_ACTIVATION = 0, FC_WEIGHTS_FORMAT = 1 };

typedef struct {
  freeml_fc_layer layer;
  uint32_t filter_data;
} fc_op_params;

freeml_status freeml_prepare_fc_layer(freeml_prepare_context *ctx,
                                      freeml_op *op, int32_t activation,
                                      const freeml_tensor_info *filter,
                                      int32_t out_units, int32_t accum_depth,
                                      freeml_fc_layer *p) {
  freeml_tensor_info input, bias, output;
  double input_scale, output_scale;
  freeml_status s;
  if ((s = freeml_prepare_input(ctx, 0, "input", &p->input_tensor,
                                &input)) != FREEML_OK ||
      (s = freeml_prepare_output(ctx, &output)) != FREEML_OK ||
      (s = freeml_expect_int8_activations(ctx, &input, &output)) !=
          FREEML_OK) {
    return s;
  }
  if (output.rank < 1) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL, "output has rank 0");
  }
  p->out_units = out_units;
  p->accum_depth = accum_depth;
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
  if ((s = freeml_prepare_bias(ctx, p->out_units, "units", &bias,
                               &p->bias_data, &p->bias_bytes)) != FREEML_OK) {
    return s;
  }
  input_scale = (double)freeml_scale(ctx, &input, 0);
  output_scale = (double)freeml_scale(ctx, &output, 0);
  /* TFLM's per-tensor prepare refuses a bias scale that is not close to
   * input scale * filter scale: the model would not mean what it says. */
  if (p->bias_data != FREEML_NO_DATA && filter->scales.length == 1 &&
      bias.scales.length > 0 &&
      fabs(input_scale * (double)freeml_scale(ctx, filter, 0) -
           (double)freeml_scale(ctx, &bias, 0)) /
              output_scale >
          0.02) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "bias scale does not match input scale * filter "
                       "scale");
  }
  if ((s = freeml_prepare_multipliers(ctx, &input, filter, &output,
                                      p->out_units, "units", 0,
                                      &p->multipliers, &p->shifts)) !=
      FREEML_OK) {
    return s;
  }
  p->params.input_offset = -freeml_zero_point(ctx, &input);
  p->params.filter_offset = -freeml_zero_point(ctx, filter);
  p->params.output_offset = freeml_zero_point(ctx, &output);
  p->params.per_channel = filter->scales.length > 1;
  p->params.activation = freeml_activation_range_s8(
      activation, freeml_scale(ctx, &output, 0),
      freeml_zero_point(ctx, &output));
  op->units = freeml_fully_connected_s8_units(p->batches, p->out_units);
  op->unit_macs = (uint32_t)p->accum_depth;
  return FREEML_OK;
}

freeml_status freeml_prepare_fully_connected(freeml_prepare_context *ctx,
                                             freeml_op *op) {
  const freeml_fb_buffer *fb = &ctx->rt->model.fb;
  freeml_tensor_info filter;
  int8_t activation = 0;
  int8_t weights_format = 0;
  fc_op_params *p;
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
  p = (fc_op_params *)freeml_prepare_alloc(ctx, sizeof(*p), &op->params);
  if (p == 0) return FREEML_ERR_ARENA;
  if ((s = freeml_prepare_constant_input(ctx, 1, "filter", FREEML_TYPE_INT8,
                                         &filter)) != FREEML_OK) {
    return s;
  }
  if (filter.rank != 2) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "filter must be 2D, got rank %d", (int)filter.rank);
  }
  if ((s = freeml_prepare_fc_layer(ctx, op, activation, &filter,
                                   filter.shape[0], filter.shape[1],
                                   &p->layer)) != FREEML_OK ||
      (s = freeml_expect_int32_bias(ctx, p->layer.bias_bytes)) != FREEML_OK) {
    return s;
  }
  return freeml_prepare_const_data(ctx, &filter, 1, &p->filter_data);
}

freeml_status freeml_eval_fully_connected(freeml_runtime *rt,
                                          const freeml_op *op,
                                          freeml_tile tile, void *output) {
  const fc_op_params *p =
      (const fc_op_params *)freeml_arena_data(rt, op->params);
  const freeml_fc_layer *l = &p->layer;
  const freeml_per_channel_quant q =
      freeml_quant_arrays(rt, l->multipliers, l->shifts);
  return freeml_fully_connected_s8(
      &l->params, &q, l->batches, l->accum_depth, l->out_units,
      freeml_activation_data(rt, l->input_tensor),
      (const int8_t *)freeml_const_data(rt, p->filter_data),
      (const int32_t *)freeml_const_data(rt, l->bias_data), output, tile);
}
