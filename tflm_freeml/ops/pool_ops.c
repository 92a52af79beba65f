/* AVERAGE_POOL_2D and MAX_POOL_2D. */
#include <math.h>

#include "tflm_freeml/ops/ops.h"

enum { POOL_PADDING = 0, POOL_STRIDE_W = 1, POOL_STRIDE_H = 2,
       POOL_FILTER_W = 3, POOL_FILTER_H = 4, POOL_ACTIVATION = 5 };

typedef struct {
  freeml_pool_params params;
  freeml_dims input;
  freeml_dims output;
  int32_t input_tensor;
} pool_op_params;

static freeml_status prepare(freeml_prepare_context *ctx, freeml_op *op) {
  const freeml_fb_buffer *fb = &ctx->rt->model.fb;
  const freeml_fb_table *t = &ctx->op->options;
  freeml_tensor_info input, output;
  pool_op_params *p;
  uint32_t params_offset;
  uint8_t padding = 0;
  int8_t activation = 0;
  int32_t out_h, out_w;
  freeml_status s;

  if ((s = freeml_expect_options(ctx, FREEML_OPTIONS_POOL2D)) != FREEML_OK) {
    return s;
  }
  p = (pool_op_params *)freeml_prepare_alloc(ctx, sizeof(*p), &params_offset);
  if (p == 0) return FREEML_ERR_ARENA;
  if (freeml_fb_u8(fb, t, POOL_PADDING, 0, &padding) < 0 ||
      freeml_fb_i32(fb, t, POOL_STRIDE_W, 1, &p->params.stride_w) < 0 ||
      freeml_fb_i32(fb, t, POOL_STRIDE_H, 1, &p->params.stride_h) < 0 ||
      freeml_fb_i32(fb, t, POOL_FILTER_W, 1, &p->params.filter_w) < 0 ||
      freeml_fb_i32(fb, t, POOL_FILTER_H, 1, &p->params.filter_h) < 0 ||
      freeml_fb_i8(fb, t, POOL_ACTIVATION, 0, &activation) < 0) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL, "corrupt options");
  }
  if (padding > 1 || p->params.stride_h < 1 || p->params.stride_w < 1 ||
      p->params.filter_h < 1 || p->params.filter_w < 1 ||
      p->params.stride_h > 1024 || p->params.stride_w > 1024 ||
      p->params.filter_h > 4096 || p->params.filter_w > 4096) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "padding %d, stride %dx%d or window %dx%d out of range",
                       (int)padding, (int)p->params.stride_h,
                       (int)p->params.stride_w, (int)p->params.filter_h,
                       (int)p->params.filter_w);
  }
  if ((s = freeml_prepare_input(ctx, 0, "input", &p->input_tensor,
                                &input)) != FREEML_OK ||
      (s = freeml_prepare_output(ctx, &output)) !=
          FREEML_OK ||
      (s = freeml_expect_type(ctx, &input, FREEML_TYPE_INT8, "input")) !=
          FREEML_OK ||
      (s = freeml_expect_type(ctx, &output, FREEML_TYPE_INT8, "output")) !=
          FREEML_OK ||
      (s = freeml_expect_activation(ctx, &input, "input")) != FREEML_OK ||
      (s = freeml_expect_per_tensor(ctx, &input, "input")) != FREEML_OK ||
      (s = freeml_expect_per_tensor(ctx, &output, "output")) != FREEML_OK) {
    return s;
  }
  /* TFLM pools without rescaling and refuses differing quantization. */
  if (fabs((double)freeml_scale(ctx, &input, 0) -
           (double)freeml_scale(ctx, &output, 0)) > 1e-6 ||
      freeml_zero_point(ctx, &input) != freeml_zero_point(ctx, &output)) {
    return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                       "input and output quantization differ");
  }
  if (input.rank != 4 || output.rank != 4) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "input and output must be 4D");
  }
  p->input = freeml_dims_of(&input);
  p->output = freeml_dims_of(&output);
  freeml_padding_1d(padding == 0, p->input.h, p->params.filter_h,
                    p->params.stride_h, 1, &out_h, &p->params.pad_h);
  freeml_padding_1d(padding == 0, p->input.w, p->params.filter_w,
                    p->params.stride_w, 1, &out_w, &p->params.pad_w);
  if (p->output.n != p->input.n || p->output.h != out_h ||
      p->output.w != out_w || p->output.c != p->input.c) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "output shape %dx%dx%dx%d, the op computes %dx%dx%dx%d",
                       (int)p->output.n, (int)p->output.h, (int)p->output.w,
                       (int)p->output.c, (int)p->input.n, (int)out_h,
                       (int)out_w, (int)p->input.c);
  }
  p->params.activation = freeml_activation_range_s8(
      activation, freeml_scale(ctx, &output, 0),
      freeml_zero_point(ctx, &output));
  op->params = params_offset;
  op->units = freeml_pool_s8_units(&p->output);
  op->unit_macs = (uint32_t)(p->params.filter_h * p->params.filter_w);
  return FREEML_OK;
}

freeml_status freeml_prepare_avg_pool(freeml_prepare_context *ctx,
                                      freeml_op *op) {
  return prepare(ctx, op);
}

freeml_status freeml_prepare_max_pool(freeml_prepare_context *ctx,
                                      freeml_op *op) {
  return prepare(ctx, op);
}

freeml_status freeml_eval_avg_pool(freeml_runtime *rt, const freeml_op *op,
                                   freeml_tile tile, void *output) {
  const pool_op_params *p =
      (const pool_op_params *)freeml_arena_data(rt, op->params);
  return freeml_avg_pool_s8(&p->params, &p->input,
                            freeml_activation_data(rt, p->input_tensor),
                            &p->output,
                            output,
                            tile);
}

freeml_status freeml_eval_max_pool(freeml_runtime *rt, const freeml_op *op,
                                   freeml_tile tile, void *output) {
  const pool_op_params *p =
      (const pool_op_params *)freeml_arena_data(rt, op->params);
  return freeml_max_pool_s8(&p->params, &p->input,
                            freeml_activation_data(rt, p->input_tensor),
                            &p->output,
                            output,
                            tile);
}
