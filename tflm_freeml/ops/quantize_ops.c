/* QUANTIZE (float32 -> int8 at the input edge, int8 -> int8 requantize) and
 * DEQUANTIZE (int8 -> float32 at the output edge). */
#include "tflm_freeml/ops/ops.h"

typedef struct {
  int32_t from_float; /* 1: float32 -> int8, 0: int8 -> int8 */
  float scale;
  int32_t zero_point;
  freeml_requantize_params requantize;
  int32_t input_tensor;
} quantize_op_params;

freeml_status freeml_prepare_quantize(freeml_prepare_context *ctx,
                                      freeml_op *op) {
  freeml_tensor_info input, output;
  quantize_op_params *p;
  uint32_t params_offset;
  freeml_status s;
  p = (quantize_op_params *)freeml_prepare_alloc(ctx, sizeof(*p),
                                                 &params_offset);
  if (p == 0) return FREEML_ERR_ARENA;
  if ((s = freeml_prepare_input(ctx, 0, "input", &p->input_tensor,
                                &input)) != FREEML_OK ||
      (s = freeml_prepare_output(ctx, &output)) !=
          FREEML_OK ||
      (s = freeml_expect_type(ctx, &output, FREEML_TYPE_INT8, "output")) !=
          FREEML_OK ||
      (s = freeml_expect_activation(ctx, &input, "input")) != FREEML_OK ||
      (s = freeml_expect_per_tensor(ctx, &output, "output")) != FREEML_OK) {
    return s;
  }
  if (input.elements != output.elements) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "input and output sizes differ");
  }
  p->scale = freeml_scale(ctx, &output, 0);
  p->zero_point = freeml_zero_point(ctx, &output);
  if (input.type == FREEML_TYPE_FLOAT32) {
    p->from_float = 1;
  } else {
    if ((s = freeml_expect_type(ctx, &input, FREEML_TYPE_INT8, "input")) !=
            FREEML_OK ||
        (s = freeml_expect_per_tensor(ctx, &input, "input")) != FREEML_OK) {
      return s;
    }
    p->from_float = 0;
    p->requantize.input_offset = -freeml_zero_point(ctx, &input);
    p->requantize.output_offset = p->zero_point;
    p->requantize.quant = freeml_quantize_multiplier(
        (double)freeml_scale(ctx, &input, 0) / (double)p->scale);
  }
  op->params = params_offset;
  op->units = (int32_t)output.elements;
  return FREEML_OK;
}

freeml_status freeml_eval_quantize(freeml_runtime *rt, const freeml_op *op,
                                   freeml_tile tile, void *output) {
  const quantize_op_params *p =
      (const quantize_op_params *)freeml_arena_data(rt, op->params);
  if (p->from_float) {
    return freeml_quantize_f32_s8(
        p->scale, p->zero_point,
        (const float *)(const void *)freeml_activation_data(rt,
                                                            p->input_tensor),
        output, op->units, tile);
  }
  return freeml_requantize_s8(&p->requantize,
                              freeml_activation_data(rt, p->input_tensor),
                              output, op->units, tile);
}

freeml_status freeml_prepare_dequantize(freeml_prepare_context *ctx,
                                        freeml_op *op) {
  freeml_tensor_info input, output;
  quantize_op_params *p;
  uint32_t params_offset;
  freeml_status s;
  p = (quantize_op_params *)freeml_prepare_alloc(ctx, sizeof(*p),
                                                 &params_offset);
  if (p == 0) return FREEML_ERR_ARENA;
  if ((s = freeml_prepare_input(ctx, 0, "input", &p->input_tensor,
                                &input)) != FREEML_OK ||
      (s = freeml_prepare_output(ctx, &output)) !=
          FREEML_OK ||
      (s = freeml_expect_type(ctx, &input, FREEML_TYPE_INT8, "input")) !=
          FREEML_OK ||
      (s = freeml_expect_type(ctx, &output, FREEML_TYPE_FLOAT32, "output")) !=
          FREEML_OK ||
      (s = freeml_expect_activation(ctx, &input, "input")) != FREEML_OK ||
      (s = freeml_expect_per_tensor(ctx, &input, "input")) != FREEML_OK) {
    return s;
  }
  if (input.elements != output.elements) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "input and output sizes differ");
  }
  p->scale = freeml_scale(ctx, &input, 0);
  p->zero_point = freeml_zero_point(ctx, &input);
  op->params = params_offset;
  op->units = (int32_t)output.elements;
  return FREEML_OK;
}

freeml_status freeml_eval_dequantize(freeml_runtime *rt, const freeml_op *op,
                                     freeml_tile tile, void *output) {
  const quantize_op_params *p =
      (const quantize_op_params *)freeml_arena_data(rt, op->params);
  return freeml_dequantize_s8_f32(
      p->scale, p->zero_point, freeml_activation_data(rt, p->input_tensor),
      (float *)output,
      op->units, tile);
}
