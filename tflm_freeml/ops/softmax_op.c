/* SOFTMAX over the last axis, int8 in and out. */
#include "tflm_freeml/ops/ops.h"

enum { SOFTMAX_BETA = 0 };

typedef struct {
  freeml_softmax_params params;
  int32_t rows;
  int32_t depth;
  int32_t input_tensor;
} softmax_op_params;

freeml_status freeml_prepare_softmax(freeml_prepare_context *ctx,
                                     freeml_op *op) {
  freeml_tensor_info input, output;
  softmax_op_params *p;
  uint32_t params_offset;
  float beta = 1.0f;
  freeml_status s;

  if (ctx->op->options_type != 0) {
    if ((s = freeml_expect_options(ctx, FREEML_OPTIONS_SOFTMAX)) !=
        FREEML_OK) {
      return s;
    }
    if (freeml_fb_f32(&ctx->rt->model.fb, &ctx->op->options, SOFTMAX_BETA,
                      1.0f, &beta) < 0) {
      return freeml_fail(ctx->error, FREEML_ERR_MODEL, "corrupt options");
    }
  }
  p = (softmax_op_params *)freeml_prepare_alloc(ctx, sizeof(*p),
                                                &params_offset);
  if (p == 0) return FREEML_ERR_ARENA;
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
  /* TFLM's int8 softmax only produces scale 1/256, zero point -128. */
  if (freeml_scale(ctx, &output, 0) != 1.0f / 256 ||
      freeml_zero_point(ctx, &output) != -128) {
    return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                       "output quantization must be scale 1/256, zero point "
                       "-128");
  }
  if (input.rank < 1 || input.elements != output.elements) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "input and output sizes differ");
  }
  p->depth = input.shape[input.rank - 1];
  p->rows = (int32_t)(input.elements / (uint32_t)p->depth);
  if (p->depth > FREEML_SOFTMAX_MAX_DEPTH) {
    return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                       "rows of %d values; the runtime's softmax takes at "
                       "most %d",
                       (int)p->depth, FREEML_SOFTMAX_MAX_DEPTH);
  }
  if (freeml_softmax_prepare((double)beta,
                             (double)freeml_scale(ctx, &input, 0),
                             &p->params) != FREEML_OK) {
    return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                       "beta * input scale is too small");
  }
  op->params = params_offset;
  op->units = p->rows;
  op->unit_macs = (uint32_t)p->depth;
  return FREEML_OK;
}

freeml_status freeml_eval_softmax(freeml_runtime *rt, const freeml_op *op,
                                  freeml_tile tile, void *output) {
  const softmax_op_params *p =
      (const softmax_op_params *)freeml_arena_data(rt, op->params);
  return freeml_softmax_s8(&p->params, p->rows, p->depth,
                           freeml_activation_data(rt, p->input_tensor),
                           output,
                           tile);
}
