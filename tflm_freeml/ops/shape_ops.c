/* RESHAPE, PAD/PADV2 and CONCATENATION: data movement without arithmetic. */
#include <string.h>

#include "tflm_freeml/ops/ops.h"

enum { CONCAT_AXIS = 0, CONCAT_ACTIVATION = 1 };

typedef struct {
  int32_t input_tensor;
} copy_op_params;

typedef struct {
  freeml_pad_params params;
  freeml_dims input;
  freeml_dims output;
  int32_t input_tensor;
} pad_op_params;

typedef struct {
  int32_t num_inputs;
  int32_t outer;
  int32_t inner;
  int32_t axis_sizes[FREEML_MAX_OP_INPUTS];
  int32_t input_tensors[FREEML_MAX_OP_INPUTS];
} concat_op_params;

/* ---- RESHAPE: a copy into the output buffer. TFLM aliases the buffers;
 * copying keeps every op reading A and writing B. ---- */

freeml_status freeml_prepare_reshape(freeml_prepare_context *ctx,
                                     freeml_op *op) {
  freeml_tensor_info input, output;
  copy_op_params *p;
  uint32_t params_offset;
  freeml_status s;
  p = (copy_op_params *)freeml_prepare_alloc(ctx, sizeof(*p), &params_offset);
  if (p == 0) return FREEML_ERR_ARENA;
  if ((s = freeml_prepare_input(ctx, 0, "input", &p->input_tensor,
                                &input)) != FREEML_OK ||
      (s = freeml_prepare_output(ctx, &output)) !=
          FREEML_OK ||
      (s = freeml_expect_type(ctx, &input, FREEML_TYPE_INT8, "input")) !=
          FREEML_OK ||
      (s = freeml_expect_type(ctx, &output, FREEML_TYPE_INT8, "output")) !=
          FREEML_OK ||
      (s = freeml_expect_activation(ctx, &input, "input")) != FREEML_OK) {
    return s;
  }
  if (input.bytes != output.bytes) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "input has %u bytes, output %u",
                       (unsigned)input.bytes, (unsigned)output.bytes);
  }
  op->params = params_offset;
  op->units = (int32_t)output.bytes;
  return FREEML_OK;
}

freeml_status freeml_eval_reshape(freeml_runtime *rt, const freeml_op *op,
                                  freeml_tile tile, void *output) {
  const copy_op_params *p =
      (const copy_op_params *)freeml_arena_data(rt, op->params);
  return freeml_copy_s8(freeml_activation_data(rt, p->input_tensor),
                        output,
                        op->units, tile);
}

/* ---- PAD and PADV2 ---- */

freeml_status freeml_prepare_pad(freeml_prepare_context *ctx, freeml_op *op) {
  freeml_tensor_info input, paddings, value, output;
  int32_t paddings_index, value_index;
  pad_op_params *p;
  uint32_t params_offset;
  int32_t before[4] = {0, 0, 0, 0};
  int32_t d;
  freeml_status s;

  p = (pad_op_params *)freeml_prepare_alloc(ctx, sizeof(*p), &params_offset);
  if (p == 0) return FREEML_ERR_ARENA;
  if ((s = freeml_prepare_input(ctx, 0, "input", &p->input_tensor,
                                &input)) != FREEML_OK ||
      (s = freeml_prepare_input(ctx, 1, "paddings", &paddings_index,
                                &paddings)) != FREEML_OK ||
      (s = freeml_prepare_optional_input(ctx, 2, "constant value",
                                         &value_index, &value)) !=
          FREEML_OK ||
      (s = freeml_prepare_output(ctx, &output)) !=
          FREEML_OK ||
      (s = freeml_expect_type(ctx, &input, FREEML_TYPE_INT8, "input")) !=
          FREEML_OK ||
      (s = freeml_expect_type(ctx, &output, FREEML_TYPE_INT8, "output")) !=
          FREEML_OK ||
      (s = freeml_expect_activation(ctx, &input, "input")) != FREEML_OK ||
      (s = freeml_expect_constant(ctx, &paddings, "paddings")) != FREEML_OK) {
    return s;
  }
  if ((paddings.type != FREEML_TYPE_INT32 &&
       paddings.type != FREEML_TYPE_INT64) ||
      paddings.elements != 2u * (uint32_t)input.rank ||
      input.rank != output.rank) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "paddings must be an integer [%d, 2] constant",
                       (int)input.rank);
  }
  for (d = 0; d < input.rank; ++d) {
    int64_t lo = freeml_const_int(&paddings, 2u * (uint32_t)d);
    int64_t hi = freeml_const_int(&paddings, 2u * (uint32_t)d + 1u);
    if (lo < 0 || hi < 0 ||
        (int64_t)input.shape[d] + lo + hi != (int64_t)output.shape[d]) {
      return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                         "padding (%lld, %lld) of dim %d does not give the "
                         "output shape",
                         (long long)lo, (long long)hi, (int)d);
    }
    before[4 - input.rank + d] = (int32_t)lo;
  }
  p->params.before.n = before[0];
  p->params.before.h = before[1];
  p->params.before.w = before[2];
  p->params.before.c = before[3];
  if (value_index >= 0) {
    /* PADV2: the raw int8 constant, which TFLM requires to share the
     * output's quantization. */
    if ((s = freeml_expect_type(ctx, &value, FREEML_TYPE_INT8,
                                "constant value")) != FREEML_OK ||
        (s = freeml_expect_constant(ctx, &value, "constant value")) !=
            FREEML_OK) {
      return s;
    }
    p->params.pad_value = (int8_t)value.data[0];
  } else {
    p->params.pad_value = (int8_t)freeml_zero_point(ctx, &output);
  }
  p->input = freeml_dims_of(&input);
  p->output = freeml_dims_of(&output);
  op->params = params_offset;
  op->units = freeml_pad_s8_units(&p->output);
  return FREEML_OK;
}

freeml_status freeml_eval_pad(freeml_runtime *rt, const freeml_op *op,
                              freeml_tile tile, void *output) {
  const pad_op_params *p =
      (const pad_op_params *)freeml_arena_data(rt, op->params);
  return freeml_pad_s8(&p->params, &p->input,
                       freeml_activation_data(rt, p->input_tensor), &p->output,
                       output, tile);
}

/* ---- CONCATENATION: TFLM copies without requantizing and refuses inputs
 * whose quantization differs from the output's. ---- */

freeml_status freeml_prepare_concatenation(freeml_prepare_context *ctx,
                                           freeml_op *op) {
  const freeml_fb_buffer *fb = &ctx->rt->model.fb;
  freeml_tensor_info output, input;
  concat_op_params *p;
  uint32_t params_offset;
  int32_t axis = 0;
  int8_t activation = 0;
  int32_t i, d, total_axis = 0;
  freeml_status s;

  if ((s = freeml_expect_options(ctx, FREEML_OPTIONS_CONCATENATION)) !=
      FREEML_OK) {
    return s;
  }
  if (freeml_fb_i32(fb, &ctx->op->options, CONCAT_AXIS, 0, &axis) < 0 ||
      freeml_fb_i8(fb, &ctx->op->options, CONCAT_ACTIVATION, 0,
                   &activation) < 0) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL, "corrupt options");
  }
  if (activation != 0) {
    return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                       "fused activation %d", (int)activation);
  }
  p = (concat_op_params *)freeml_prepare_alloc(ctx, sizeof(*p),
                                               &params_offset);
  if (p == 0) return FREEML_ERR_ARENA;
  if ((s = freeml_prepare_output(ctx, &output)) !=
          FREEML_OK ||
      (s = freeml_expect_type(ctx, &output, FREEML_TYPE_INT8, "output")) !=
          FREEML_OK ||
      (s = freeml_expect_per_tensor(ctx, &output, "output")) != FREEML_OK) {
    return s;
  }
  if (axis < 0) axis += output.rank;
  if (axis < 0 || axis >= output.rank) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "axis %d outside rank %d", (int)axis,
                       (int)output.rank);
  }
  p->num_inputs = (int32_t)ctx->op->inputs.length;
  if (p->num_inputs < 1) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL, "no inputs");
  }
  p->outer = 1;
  p->inner = 1;
  for (d = 0; d < axis; ++d) p->outer *= output.shape[d];
  for (d = axis + 1; d < output.rank; ++d) p->inner *= output.shape[d];
  for (i = 0; i < p->num_inputs; ++i) {
    if ((s = freeml_prepare_input(ctx, (uint32_t)i, "input",
                                  &p->input_tensors[i], &input)) !=
            FREEML_OK ||
        (s = freeml_expect_type(ctx, &input, FREEML_TYPE_INT8, "input")) !=
            FREEML_OK ||
        (s = freeml_expect_activation(ctx, &input, "input")) != FREEML_OK ||
        (s = freeml_expect_per_tensor(ctx, &input, "input")) != FREEML_OK) {
      return s;
    }
    if ((double)freeml_scale(ctx, &input, 0) !=
            (double)freeml_scale(ctx, &output, 0) ||
        freeml_zero_point(ctx, &input) != freeml_zero_point(ctx, &output)) {
      return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                         "input %d quantization differs from the output's "
                         "(TFLM does not requantize in CONCATENATION)",
                         (int)i);
    }
    if (input.rank != output.rank) {
      return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                         "input %d has rank %d, output %d", (int)i,
                         (int)input.rank, (int)output.rank);
    }
    for (d = 0; d < output.rank; ++d) {
      if (d != axis && input.shape[d] != output.shape[d]) {
        return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                           "input %d differs from the output in dim %d",
                           (int)i, (int)d);
      }
    }
    p->axis_sizes[i] = input.shape[axis];
    total_axis += input.shape[axis];
  }
  if (total_axis != output.shape[axis]) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "inputs add up to %d along axis %d, output has %d",
                       (int)total_axis, (int)axis, (int)output.shape[axis]);
  }
  op->params = params_offset;
  op->units = (int32_t)output.elements;
  return FREEML_OK;
}

freeml_status freeml_eval_concatenation(freeml_runtime *rt,
                                        const freeml_op *op,
                                        freeml_tile tile, void *output) {
  const concat_op_params *p =
      (const concat_op_params *)freeml_arena_data(rt, op->params);
  const int8_t *inputs[FREEML_MAX_OP_INPUTS];
  int32_t i;
  for (i = 0; i < p->num_inputs; ++i) {
    inputs[i] = freeml_activation_data(rt, p->input_tensors[i]);
  }
  return freeml_concat_s8(p->num_inputs, inputs, p->axis_sizes, p->outer,
                          p->inner, output,
                          tile);
}
