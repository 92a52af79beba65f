/* ADD with 4D broadcasting. */
#include "tflm_freeml/ops/ops.h"

enum { ADD_ACTIVATION = 0 };

typedef struct {
  freeml_add_params params;
  freeml_dims input1;
  freeml_dims input2;
  freeml_dims output;
  int32_t input1_tensor;
  int32_t input2_tensor;
} add_op_params;

static int broadcasts(int32_t in, int32_t out) { return in == out || in == 1; }

static int broadcasts_to(const freeml_dims *in, const freeml_dims *out) {
  return broadcasts(in->n, out->n) && broadcasts(in->h, out->h) &&
         broadcasts(in->w, out->w) && broadcasts(in->c, out->c);
}

static int32_t max32(int32_t a, int32_t b) { return a > b ? a : b; }

freeml_status freeml_prepare_add(freeml_prepare_context *ctx, freeml_op *op) {
  freeml_tensor_info in1, in2, output;
  add_op_params *p;
  uint32_t params_offset;
  int8_t activation = 0;
  float s1, s2;
  double twice_max;
  freeml_dims expected;
  freeml_status s;

  if (ctx->op->options_type != 0) {
    if ((s = freeml_expect_options(ctx, FREEML_OPTIONS_ADD)) != FREEML_OK) {
      return s;
    }
    if (freeml_fb_i8(&ctx->rt->model.fb, &ctx->op->options, ADD_ACTIVATION,
                     0, &activation) < 0) {
      return freeml_fail(ctx->error, FREEML_ERR_MODEL, "corrupt options");
    }
  }
  p = (add_op_params *)freeml_prepare_alloc(ctx, sizeof(*p), &params_offset);
  if (p == 0) return FREEML_ERR_ARENA;
  if ((s = freeml_prepare_input(ctx, 0, "input 1", &p->input1_tensor,
                                &in1)) != FREEML_OK ||
      (s = freeml_prepare_input(ctx, 1, "input 2", &p->input2_tensor,
                                &in2)) != FREEML_OK ||
      (s = freeml_prepare_output(ctx, &output)) !=
          FREEML_OK ||
      (s = freeml_expect_type(ctx, &in1, FREEML_TYPE_INT8, "input 1")) !=
          FREEML_OK ||
      (s = freeml_expect_type(ctx, &in2, FREEML_TYPE_INT8, "input 2")) !=
          FREEML_OK ||
      (s = freeml_expect_type(ctx, &output, FREEML_TYPE_INT8, "output")) !=
          FREEML_OK ||
      (s = freeml_expect_activation(ctx, &in1, "input 1")) != FREEML_OK ||
      (s = freeml_expect_activation(ctx, &in2, "input 2")) != FREEML_OK ||
      (s = freeml_expect_per_tensor(ctx, &in1, "input 1")) != FREEML_OK ||
      (s = freeml_expect_per_tensor(ctx, &in2, "input 2")) != FREEML_OK ||
      (s = freeml_expect_per_tensor(ctx, &output, "output")) != FREEML_OK) {
    return s;
  }
  p->input1 = freeml_dims_of(&in1);
  p->input2 = freeml_dims_of(&in2);
  p->output = freeml_dims_of(&output);
  expected.n = max32(p->input1.n, p->input2.n);
  expected.h = max32(p->input1.h, p->input2.h);
  expected.w = max32(p->input1.w, p->input2.w);
  expected.c = max32(p->input1.c, p->input2.c);
  if (!broadcasts_to(&p->input1, &p->output) ||
      !broadcasts_to(&p->input2, &p->output) ||
      !freeml_dims_equal(&expected, &p->output)) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "shapes %dx%dx%dx%d and %dx%dx%dx%d do not broadcast "
                       "to the output %dx%dx%dx%d",
                       (int)p->input1.n, (int)p->input1.h, (int)p->input1.w,
                       (int)p->input1.c, (int)p->input2.n, (int)p->input2.h,
                       (int)p->input2.w, (int)p->input2.c, (int)p->output.n,
                       (int)p->output.h, (int)p->output.w, (int)p->output.c);
  }
  /* TFLM's int8 ADD prepare (add_common.cc), in the same order and
   * precision. */
  s1 = freeml_scale(ctx, &in1, 0);
  s2 = freeml_scale(ctx, &in2, 0);
  twice_max = 2.0 * (double)(s1 > s2 ? s1 : s2);
  p->params.left_shift = 20;
  p->params.input1_offset = -freeml_zero_point(ctx, &in1);
  p->params.input2_offset = -freeml_zero_point(ctx, &in2);
  p->params.output_offset = freeml_zero_point(ctx, &output);
  p->params.input1 = freeml_quantize_multiplier((double)s1 / twice_max);
  p->params.input2 = freeml_quantize_multiplier((double)s2 / twice_max);
  p->params.output = freeml_quantize_multiplier(
      twice_max /
      ((double)(1 << p->params.left_shift) *
       (double)freeml_scale(ctx, &output, 0)));
  if (p->params.input1.shift > 0 || p->params.input2.shift > 0 ||
      p->params.output.shift > 0) {
    return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                       "output scale too small for the inputs' scales "
                       "(TFLM requires a rescale below 1)");
  }
  p->params.activation = freeml_activation_range_s8(
      activation, freeml_scale(ctx, &output, 0),
      freeml_zero_point(ctx, &output));
  op->params = params_offset;
  op->units = freeml_add_s8_units(&p->output);
  return FREEML_OK;
}

freeml_status freeml_eval_add(freeml_runtime *rt, const freeml_op *op,
                              freeml_tile tile, void *output) {
  const add_op_params *p =
      (const add_op_params *)freeml_arena_data(rt, op->params);
  return freeml_add_s8(&p->params, &p->input1,
                       freeml_activation_data(rt, p->input1_tensor),
                       &p->input2,
                       freeml_activation_data(rt, p->input2_tensor),
                       &p->output,
                       output, tile);
}
