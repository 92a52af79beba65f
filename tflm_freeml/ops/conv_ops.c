/* CONV_2D and DEPTHWISE_CONV_2D: same options, quantization and padding. */
#include "tflm_freeml/ops/ops.h"

/* Options field indexes (schema.fbs). */
enum { CONV_PADDING = 0, CONV_STRIDE_W = 1, CONV_STRIDE_H = 2,
       CONV_ACTIVATION = 3, CONV_DILATION_W = 4, CONV_DILATION_H = 5 };
enum { DW_PADDING = 0, DW_STRIDE_W = 1, DW_STRIDE_H = 2,
       DW_DEPTH_MULTIPLIER = 3, DW_ACTIVATION = 4, DW_DILATION_W = 5,
       DW_DILATION_H = 6 };
enum { PADDING_SAME = 0, PADDING_VALID = 1 };

typedef struct {
  freeml_dw_conv_params params; /* conv ops use params.conv only */
  freeml_dims input;
  freeml_dims filter;
  freeml_dims output;
  int32_t input_tensor;
  uint32_t filter_data;
  uint32_t bias_data;
  uint32_t multipliers;
  uint32_t shifts;
} conv_op_params;

typedef struct {
  int32_t padding;
  int32_t stride_h;
  int32_t stride_w;
  int32_t dilation_h;
  int32_t dilation_w;
  int32_t activation;
  int32_t depth_multiplier;
} conv_options;

static freeml_status read_options(freeml_prepare_context *ctx, int depthwise,
                                  conv_options *o) {
  const freeml_fb_buffer *fb = &ctx->rt->model.fb;
  const freeml_fb_table *t = &ctx->op->options;
  uint8_t padding = 0;
  int8_t activation = 0;
  freeml_status status = freeml_expect_options(
      ctx, depthwise ? FREEML_OPTIONS_DEPTHWISE_CONV2D
                     : FREEML_OPTIONS_CONV2D);
  if (status != FREEML_OK) return status;
  o->depth_multiplier = 1;
  if (freeml_fb_u8(fb, t, CONV_PADDING, 0, &padding) < 0 ||
      freeml_fb_i32(fb, t, depthwise ? DW_STRIDE_W : CONV_STRIDE_W, 1,
                    &o->stride_w) < 0 ||
      freeml_fb_i32(fb, t, depthwise ? DW_STRIDE_H : CONV_STRIDE_H, 1,
                    &o->stride_h) < 0 ||
      freeml_fb_i8(fb, t, depthwise ? DW_ACTIVATION : CONV_ACTIVATION, 0,
                   &activation) < 0 ||
      freeml_fb_i32(fb, t, depthwise ? DW_DILATION_W : CONV_DILATION_W, 1,
                    &o->dilation_w) < 0 ||
      freeml_fb_i32(fb, t, depthwise ? DW_DILATION_H : CONV_DILATION_H, 1,
                    &o->dilation_h) < 0 ||
      (depthwise && freeml_fb_i32(fb, t, DW_DEPTH_MULTIPLIER, 1,
                                  &o->depth_multiplier) < 0)) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL, "corrupt options");
  }
  o->padding = padding;
  o->activation = activation;
  if (o->padding != PADDING_SAME && o->padding != PADDING_VALID) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL, "padding code %d",
                       (int)o->padding);
  }
  if (o->stride_h < 1 || o->stride_w < 1 || o->dilation_h < 1 ||
      o->dilation_w < 1 || o->stride_h > 1024 || o->stride_w > 1024 ||
      o->dilation_h > 1024 || o->dilation_w > 1024) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "stride %dx%d or dilation %dx%d out of range",
                       (int)o->stride_h, (int)o->stride_w,
                       (int)o->dilation_h, (int)o->dilation_w);
  }
  if (o->depth_multiplier < 1) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL, "depth multiplier %d",
                       (int)o->depth_multiplier);
  }
  return FREEML_OK;
}

static freeml_status prepare(freeml_prepare_context *ctx, freeml_op *op,
                             int depthwise) {
  freeml_tensor_info input, filter, bias, output;
  int32_t filter_index, bias_index;
  conv_options o;
  conv_op_params *p;
  uint32_t params_offset;
  int32_t out_channels, out_h, out_w, pad_h, pad_w, c;
  int32_t *multipliers, *shifts;
  double input_scale, output_scale;
  freeml_status s;

  if ((s = read_options(ctx, depthwise, &o)) != FREEML_OK) return s;
  p = (conv_op_params *)freeml_prepare_alloc(ctx, sizeof(*p), &params_offset);
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
  if (input.rank != 4 || filter.rank != 4 || output.rank != 4) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "input, filter and output must be 4D");
  }
  p->input = freeml_dims_of(&input);
  p->filter = freeml_dims_of(&filter);
  p->output = freeml_dims_of(&output);
  out_channels = depthwise ? p->filter.c : p->filter.n;
  if (depthwise) {
    if (p->filter.n != 1 || o.depth_multiplier < 1 ||
        (int64_t)out_channels != (int64_t)p->input.c * o.depth_multiplier) {
      return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                         "filter %dx%dx%dx%d does not fit %d input channels "
                         "with depth multiplier %d",
                         (int)p->filter.n, (int)p->filter.h, (int)p->filter.w,
                         (int)p->filter.c, (int)p->input.c,
                         (int)o.depth_multiplier);
    }
  } else if (p->input.c % p->filter.c != 0 ||
             out_channels % (p->input.c / p->filter.c) != 0) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "filter depth %d does not divide input depth %d into "
                       "groups",
                       (int)p->filter.c, (int)p->input.c);
  }
  freeml_padding_1d(o.padding == PADDING_SAME, p->input.h, p->filter.h,
                    o.stride_h, o.dilation_h, &out_h, &pad_h);
  freeml_padding_1d(o.padding == PADDING_SAME, p->input.w, p->filter.w,
                    o.stride_w, o.dilation_w, &out_w, &pad_w);
  if (p->output.n != p->input.n || p->output.h != out_h ||
      p->output.w != out_w || p->output.c != out_channels) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "output shape %dx%dx%dx%d, the op computes %dx%dx%dx%d",
                       (int)p->output.n, (int)p->output.h, (int)p->output.w,
                       (int)p->output.c, (int)p->input.n, (int)out_h,
                       (int)out_w, (int)out_channels);
  }
  if (filter.scales.length != 1 &&
      (int32_t)filter.scales.length != out_channels) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "filter has %u scales for %d output channels",
                       (unsigned)filter.scales.length, (int)out_channels);
  }
  if ((s = freeml_prepare_const_data(ctx, &filter, 1, &p->filter_data)) !=
      FREEML_OK) {
    return s;
  }
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
    if ((int32_t)bias.elements != out_channels) {
      return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                         "bias has %u values for %d output channels",
                         (unsigned)bias.elements, (int)out_channels);
    }
  }

  multipliers = (int32_t *)freeml_prepare_alloc(
      ctx, (uint32_t)out_channels * 4u, &p->multipliers);
  shifts = (int32_t *)freeml_prepare_alloc(ctx, (uint32_t)out_channels * 4u,
                                           &p->shifts);
  if (multipliers == 0 || shifts == 0) return FREEML_ERR_ARENA;
  /* The kernels read these through the arena offsets; the pointers are used
   * only here, while the arena cannot move. */
  input_scale = (double)freeml_scale(ctx, &input, 0);
  output_scale = (double)freeml_scale(ctx, &output, 0);
  for (c = 0; c < out_channels; ++c) {
    uint32_t sc = filter.scales.length == 1 ? 0u : (uint32_t)c;
    freeml_quant q = freeml_quantize_multiplier(
        input_scale * (double)freeml_scale(ctx, &filter, sc) / output_scale);
    multipliers[c] = q.multiplier;
    shifts[c] = q.shift;
  }

  p->params.conv.input_offset = -freeml_zero_point(ctx, &input);
  p->params.conv.output_offset = freeml_zero_point(ctx, &output);
  p->params.conv.stride_h = o.stride_h;
  p->params.conv.stride_w = o.stride_w;
  p->params.conv.dilation_h = o.dilation_h;
  p->params.conv.dilation_w = o.dilation_w;
  p->params.conv.pad_h = pad_h;
  p->params.conv.pad_w = pad_w;
  p->params.conv.activation = freeml_activation_range_s8(
      o.activation, freeml_scale(ctx, &output, 0),
      freeml_zero_point(ctx, &output));
  p->params.depth_multiplier = o.depth_multiplier;
  op->params = params_offset;
  op->units = depthwise ? freeml_depthwise_conv2d_s8_units(&p->output)
                        : freeml_conv2d_s8_units(&p->output);
  op->unit_macs = (uint32_t)(p->filter.h * p->filter.w *
                             (depthwise ? 1 : p->filter.c));
  return FREEML_OK;
}

freeml_status freeml_prepare_conv2d(freeml_prepare_context *ctx,
                                    freeml_op *op) {
  return prepare(ctx, op, 0);
}

freeml_status freeml_prepare_depthwise_conv2d(freeml_prepare_context *ctx,
                                              freeml_op *op) {
  return prepare(ctx, op, 1);
}

static freeml_per_channel_quant quant_of(const freeml_runtime *rt,
                                         const conv_op_params *p) {
  freeml_per_channel_quant q;
  q.multiplier = (const int32_t *)freeml_arena_data(rt, p->multipliers);
  q.shift = (const int32_t *)freeml_arena_data(rt, p->shifts);
  return q;
}

freeml_status freeml_eval_conv2d(freeml_runtime *rt, const freeml_op *op,
                                 freeml_tile tile, void *output) {
  const conv_op_params *p =
      (const conv_op_params *)freeml_arena_data(rt, op->params);
  freeml_per_channel_quant q = quant_of(rt, p);
  return freeml_conv2d_s8(
      &p->params.conv, &q, &p->input,
      freeml_activation_data(rt, p->input_tensor), &p->filter,
      (const int8_t *)freeml_const_data(rt, p->filter_data),
      (const int32_t *)freeml_const_data(rt, p->bias_data), &p->output,
      output, tile);
}

freeml_status freeml_eval_depthwise_conv2d(freeml_runtime *rt,
                                           const freeml_op *op,
                                           freeml_tile tile, void *output) {
  const conv_op_params *p =
      (const conv_op_params *)freeml_arena_data(rt, op->params);
  freeml_per_channel_quant q = quant_of(rt, p);
  return freeml_depthwise_conv2d_s8(
      &p->params, &q, &p->input, freeml_activation_data(rt, p->input_tensor),
      &p->filter, (const int8_t *)freeml_const_data(rt, p->filter_data),
      (const int32_t *)freeml_const_data(rt, p->bias_data), &p->output,
      output, tile);
}
