/* MEAN over the H and W axes of a 4D tensor (global average pooling). */
#include "tflm_freeml/ops/ops.h"

typedef struct {
  freeml_mean_params params;
  freeml_dims input;
  int32_t input_tensor;
} mean_op_params;

freeml_status freeml_prepare_mean(freeml_prepare_context *ctx,
                                  freeml_op *op) {
  freeml_tensor_info input, axes, output;
  int32_t axes_index;
  mean_op_params *p;
  uint32_t params_offset;
  uint32_t i;
  int reduces_h = 0, reduces_w = 0, reduces_other = 0;
  freeml_status s;

  p = (mean_op_params *)freeml_prepare_alloc(ctx, sizeof(*p), &params_offset);
  if (p == 0) return FREEML_ERR_ARENA;
  if ((s = freeml_prepare_input(ctx, 0, "input", &p->input_tensor,
                                &input)) != FREEML_OK ||
      (s = freeml_prepare_input(ctx, 1, "axes", &axes_index, &axes)) !=
          FREEML_OK ||
      (s = freeml_prepare_output(ctx, &output)) !=
          FREEML_OK ||
      (s = freeml_expect_type(ctx, &input, FREEML_TYPE_INT8, "input")) !=
          FREEML_OK ||
      (s = freeml_expect_type(ctx, &output, FREEML_TYPE_INT8, "output")) !=
          FREEML_OK ||
      (s = freeml_expect_activation(ctx, &input, "input")) != FREEML_OK ||
      (s = freeml_expect_constant(ctx, &axes, "axes")) != FREEML_OK ||
      (s = freeml_expect_per_tensor(ctx, &input, "input")) != FREEML_OK ||
      (s = freeml_expect_per_tensor(ctx, &output, "output")) != FREEML_OK) {
    return s;
  }
  if (axes.type != FREEML_TYPE_INT32 && axes.type != FREEML_TYPE_INT64) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL, "axes must be integers");
  }
  if (input.rank != 4) {
    return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                       "input of rank %d; only 4D inputs are supported",
                       (int)input.rank);
  }
  for (i = 0; i < axes.elements; ++i) {
    int64_t axis = freeml_const_int(&axes, i);
    if (axis < 0) axis += 4;
    if (axis == 1) {
      reduces_h = 1;
    } else if (axis == 2) {
      reduces_w = 1;
    } else {
      reduces_other = 1;
    }
  }
  if (!reduces_h || !reduces_w || reduces_other) {
    return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                       "only a mean over H and W (axes 1 and 2) is supported");
  }
  p->input = freeml_dims_of(&input);
  if (output.elements != (uint32_t)(p->input.n * p->input.c)) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "output has %u elements, expected %d",
                       (unsigned)output.elements,
                       (int)(p->input.n * p->input.c));
  }
  p->params.input_zero_point = freeml_zero_point(ctx, &input);
  p->params.output_offset = freeml_zero_point(ctx, &output);
  p->params.quant = freeml_mean_quant(
      (double)freeml_scale(ctx, &input, 0) /
          (double)freeml_scale(ctx, &output, 0),
      p->input.h * p->input.w);
  op->params = params_offset;
  {
    freeml_dims out = {1, 1, 1, 1};
    out.n = p->input.n;
    out.c = p->input.c;
    op->units = freeml_mean_s8_units(&out);
    op->unit_macs = (uint32_t)(p->input.h * p->input.w);
  }
  return FREEML_OK;
}

freeml_status freeml_eval_mean(freeml_runtime *rt, const freeml_op *op,
                               freeml_tile tile, void *output) {
  const mean_op_params *p =
      (const mean_op_params *)freeml_arena_data(rt, op->params);
  return freeml_mean_hw_s8(&p->params, &p->input,
                           freeml_activation_data(rt, p->input_tensor),
                           output,
                           tile);
}
