/* CONV_2D and DEPTHWISE_CONV_2D: same options, quantization and padding.
 * freeml_prepare_conv_layer is also the sparse custom ops' (sparse_ops.c). */
#include "tflm_freeml/ops/filter_ops.h"

/* Options field indexes (schema.fbs). */
enum { CONV_PADDING = 0, CONV_STRIDE_W = 1, CONV_STRIDE_H = 2,
       CONV_ACTIVATION = 3, CONV_DILATION_W = 4, CONV_DILATION_H = 5 };
enum { DW_PADDING = 0, DW_STRIDE_W = 1, DW_STRIDE_H = 2,
       DW_DEPTH_MULTIPLIER = 3, DW_ACTIVATION = 4, DW_DILATION_W = 5,
       DW_DILATION_H = 6 };

typedef struct {
  freeml_conv_layer layer;
  uint32_t filter_data;
} conv_op_params;

static freeml_status read_options(freeml_prepare_context *ctx, int depthwise,
                                  freeml_conv_options *o) {
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
  return FREEML_OK;
}

static freeml_status check_options(freeml_prepare_context *ctx,
                                   const freeml_conv_options *o) {
  if (o->padding != FREEML_PADDING_SAME &&
      o->padding != FREEML_PADDING_VALID) {
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

/* The filter shape against the input and output and the options; sets the
 * output shape and padding. */
static freeml_status check_shapes(freeml_prepare_context *ctx, int depthwise,
                                  const freeml_conv_options *o,
                                  freeml_conv_layer *p) {
  const int32_t out_channels = depthwise ? p->filter.c : p->filter.n;
  int32_t out_h, out_w;
  if (depthwise) {
    if (p->filter.n != 1 ||
        (int64_t)out_channels != (int64_t)p->input.c * o->depth_multiplier) {
      return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                         "filter %dx%dx%dx%d does not fit %d input channels "
                         "with depth multiplier %d",
                         (int)p->filter.n, (int)p->filter.h, (int)p->filter.w,
                         (int)p->filter.c, (int)p->input.c,
                         (int)o->depth_multiplier);
    }
  } else if (p->input.c % p->filter.c != 0 ||
             out_channels % (p->input.c / p->filter.c) != 0) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "filter depth %d does not divide input depth %d into "
                       "groups",
                       (int)p->filter.c, (int)p->input.c);
  }
  freeml_padding_1d(o->padding == FREEML_PADDING_SAME, p->input.h,
                    p->filter.h, o->stride_h, o->dilation_h, &out_h,
                    &p->params.conv.pad_h);
  freeml_padding_1d(o->padding == FREEML_PADDING_SAME, p->input.w,
                    p->filter.w, o->stride_w, o->dilation_w, &out_w,
                    &p->params.conv.pad_w);
  if (p->output.n != p->input.n || p->output.h != out_h ||
      p->output.w != out_w || p->output.c != out_channels) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "output shape %dx%dx%dx%d, the op computes %dx%dx%dx%d",
                       (int)p->output.n, (int)p->output.h, (int)p->output.w,
                       (int)p->output.c, (int)p->input.n, (int)out_h,
                       (int)out_w, (int)out_channels);
  }
  return FREEML_OK;
}

freeml_status freeml_prepare_conv_layer(freeml_prepare_context *ctx,
                                        freeml_op *op, int depthwise,
                                        const freeml_conv_options *o,
                                        const freeml_tensor_info *filter,
                                        const freeml_dims *filter_dims,
                                        freeml_conv_layer *p) {
  freeml_tensor_info input, bias, output;
  int32_t out_channels;
  freeml_status s;
  if ((s = check_options(ctx, o)) != FREEML_OK ||
      (s = freeml_prepare_input(ctx, 0, "input", &p->input_tensor,
                                &input)) != FREEML_OK ||
      (s = freeml_prepare_output(ctx, &output)) != FREEML_OK ||
      (s = freeml_expect_int8_activations(ctx, &input, &output)) !=
          FREEML_OK) {
    return s;
  }
  if (input.rank != 4 || output.rank != 4) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "input and output must be 4D");
  }
  p->input = freeml_dims_of(&input);
  p->filter = *filter_dims;
  p->output = freeml_dims_of(&output);
  if ((s = check_shapes(ctx, depthwise, o, p)) != FREEML_OK) return s;
  out_channels = p->output.c;
  if ((s = freeml_prepare_bias(ctx, out_channels, "output channels", &bias,
                               &p->bias_data, &p->bias_bytes)) != FREEML_OK ||
      (s = freeml_prepare_multipliers(ctx, &input, filter, &output,
                                      out_channels, "output channels", 1,
                                      &p->multipliers, &p->shifts)) !=
          FREEML_OK) {
    return s;
  }
  p->params.conv.input_offset = -freeml_zero_point(ctx, &input);
  p->params.conv.output_offset = freeml_zero_point(ctx, &output);
  p->params.conv.stride_h = o->stride_h;
  p->params.conv.stride_w = o->stride_w;
  p->params.conv.dilation_h = o->dilation_h;
  p->params.conv.dilation_w = o->dilation_w;
  p->params.conv.activation = freeml_activation_range_s8(
      o->activation, freeml_scale(ctx, &output, 0),
      freeml_zero_point(ctx, &output));
  p->params.depth_multiplier = o->depth_multiplier;
  op->units = depthwise ? freeml_depthwise_conv2d_s8_units(&p->output)
                        : freeml_conv2d_s8_units(&p->output);
  op->unit_macs = (uint32_t)(p->filter.h * p->filter.w *
                             (depthwise ? 1 : p->filter.c));
  return FREEML_OK;
}

static freeml_status prepare(freeml_prepare_context *ctx, freeml_op *op,
                             int depthwise) {
  freeml_tensor_info filter;
  freeml_conv_options o;
  freeml_dims filter_dims;
  conv_op_params *p;
  freeml_status s;

  if ((s = read_options(ctx, depthwise, &o)) != FREEML_OK) return s;
  p = (conv_op_params *)freeml_prepare_alloc(ctx, sizeof(*p), &op->params);
  if (p == 0) return FREEML_ERR_ARENA;
  if ((s = freeml_prepare_constant_input(ctx, 1, "filter", FREEML_TYPE_INT8,
                                         &filter)) != FREEML_OK) {
    return s;
  }
  if (filter.rank != 4) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "filter must be 4D, got rank %d", (int)filter.rank);
  }
  filter_dims = freeml_dims_of(&filter);
  if ((s = freeml_prepare_conv_layer(ctx, op, depthwise, &o, &filter,
                                     &filter_dims, &p->layer)) != FREEML_OK ||
      (s = freeml_expect_int32_bias(ctx, p->layer.bias_bytes)) != FREEML_OK) {
    return s;
  }
  return freeml_prepare_const_data(ctx, &filter, 1, &p->filter_data);
}

freeml_status freeml_prepare_conv2d(freeml_prepare_context *ctx,
                                    freeml_op *op) {
  return prepare(ctx, op, 0);
}

freeml_status freeml_prepare_depthwise_conv2d(freeml_prepare_context *ctx,
                                              freeml_op *op) {
  return prepare(ctx, op, 1);
}

freeml_status freeml_eval_conv2d(freeml_runtime *rt, const freeml_op *op,
                                 freeml_tile tile, void *output) {
  const conv_op_params *p =
      (const conv_op_params *)freeml_arena_data(rt, op->params);
  const freeml_conv_layer *l = &p->layer;
  const freeml_per_channel_quant q =
      freeml_quant_arrays(rt, l->multipliers, l->shifts);
  return freeml_conv2d_s8(
      &l->params.conv, &q, &l->input,
      freeml_activation_data(rt, l->input_tensor), &l->filter,
      (const int8_t *)freeml_const_data(rt, p->filter_data),
      (const int32_t *)freeml_const_data(rt, l->bias_data), &l->output,
      output, tile);
}

freeml_status freeml_eval_depthwise_conv2d(freeml_runtime *rt,
                                           const freeml_op *op,
                                           freeml_tile tile, void *output) {
  const conv_op_params *p =
      (const conv_op_params *)freeml_arena_data(rt, op->params);
  const freeml_conv_layer *l = &p->layer;
  const freeml_per_channel_quant q =
      freeml_quant_arrays(rt, l->multipliers, l->shifts);
  return freeml_depthwise_conv2d_s8(
      &l->params, &q, &l->input, freeml_activation_data(rt, l->input_tensor),
      &l->filter, (const int8_t *)freeml_const_data(rt, p->filter_data),
      (const int32_t *)freeml_const_data(rt, l->bias_data), &l->output,
      output, tile);
}
