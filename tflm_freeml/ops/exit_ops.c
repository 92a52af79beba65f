/* FREEML_EXIT_ACCUMULATE (docs/gnet.md): adds one exit's share of the gNet
 * head to the int32 accumulators.
 *   inputs  0 the exit's pooled features, int8 activation, per-tensor
 *           1 the head's weights, constant [classes, features of all
 *             exits], symmetric (zero point 0): int8, per-tensor or per
 *             class, or int4 (packed as TFLite does), per-tensor
 *           2 the previous accumulators: the head's int32 bias (first
 *             exit) or the previous exit's output
 *   output  int32 [1, classes]
 *   options 4 little-endian int32: first column of this exit in the
 *           weights, its features, its exit index, 0. */
#include "tflm_freeml/ops/ops.h"

enum { OPT_COLUMN = 0, OPT_FEATURES = 1, OPT_EXIT = 2, OPT_RESERVED = 3,
       OPTIONS_WORDS = 4 };

typedef struct {
  freeml_exit_accumulate_params params;
  int32_t features_tensor;
  uint32_t weights_data;
  int32_t int4_weights;
  int32_t previous_tensor; /* -1: the constant bias */
  uint32_t bias_data;
} exit_op_params;

static freeml_status prepare_previous(freeml_prepare_context *ctx,
                                      int32_t classes, exit_op_params *p) {
  freeml_tensor_info previous;
  freeml_status s = freeml_prepare_input(ctx, 2, "previous accumulators",
                                         &p->previous_tensor, &previous);
  if (s != FREEML_OK ||
      (s = freeml_expect_type(ctx, &previous, FREEML_TYPE_INT32,
                              "previous accumulators")) != FREEML_OK) {
    return s;
  }
  if ((int32_t)previous.elements != classes) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "previous accumulators have %u values for %d classes",
                       (unsigned)previous.elements, (int)classes);
  }
  p->bias_data = FREEML_NO_DATA;
  if (previous.data == 0) return FREEML_OK;
  p->previous_tensor = -1;
  if ((s = freeml_expect_bias_range(ctx, &previous)) != FREEML_OK) return s;
  return freeml_prepare_const_data(ctx, &previous, 4, &p->bias_data);
}

freeml_status freeml_prepare_exit_accumulate(freeml_prepare_context *ctx,
                                             freeml_op *op) {
  freeml_tensor_info features, weights, output;
  int32_t words[OPTIONS_WORDS];
  exit_op_params *p;
  int32_t classes, row, weights_tensor;
  freeml_status s;
  if ((s = freeml_custom_option_words(ctx, OPTIONS_WORDS,
                                      "FREEML_EXIT_ACCUMULATE (docs/gnet.md)",
                                      words)) != FREEML_OK) {
    return s;
  }
  p = (exit_op_params *)freeml_prepare_alloc(ctx, sizeof(*p), &op->params);
  if (p == 0) return FREEML_ERR_ARENA;
  if ((s = freeml_prepare_input(ctx, 0, "features", &p->features_tensor,
                                &features)) != FREEML_OK ||
      (s = freeml_expect_type(ctx, &features, FREEML_TYPE_INT8,
                              "features")) != FREEML_OK ||
      (s = freeml_expect_activation(ctx, &features, "features")) !=
          FREEML_OK ||
      (s = freeml_expect_per_tensor(ctx, &features, "features")) !=
          FREEML_OK ||
      (s = freeml_prepare_input(ctx, 1, "weights", &weights_tensor,
                                &weights)) !=
          FREEML_OK ||
      (s = freeml_expect_constant(ctx, &weights, "weights")) != FREEML_OK ||
      (s = freeml_prepare_output(ctx, &output)) != FREEML_OK ||
      (s = freeml_expect_type(ctx, &output, FREEML_TYPE_INT32, "output")) !=
          FREEML_OK) {
    return s;
  }
  if (weights.type != FREEML_TYPE_INT8 && weights.type != FREEML_TYPE_INT4) {
    return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                       "weights have type %d; the runtime takes int8 or int4",
                       (int)weights.type);
  }
  /* TFLM's FULLY_CONNECTED, the reference, takes int4 per-tensor only. */
  if (weights.rank != 2 || freeml_zero_point(ctx, &weights) != 0 ||
      (weights.type == FREEML_TYPE_INT4 && weights.scales.length != 1)) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "weights must be 2-D [classes, features] with zero "
                       "point 0 (and one scale if int4)");
  }
  classes = weights.shape[0];
  row = weights.shape[1];
  if ((int32_t)output.elements != classes) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "output has %u values for %d classes",
                       (unsigned)output.elements, (int)classes);
  }
  /* The last exit's accumulators hold the head's whole sum: bounding the
   * row bounds every partial sum (see FREEML_MAX_UNIT_MACS). */
  if (row > (int32_t)FREEML_MAX_UNIT_MACS) {
    return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                       "the head reads %d features; the runtime's int32 "
                       "accumulators take at most %u",
                       (int)row, (unsigned)FREEML_MAX_UNIT_MACS);
  }
  if (words[OPT_FEATURES] < 1 ||
      words[OPT_FEATURES] != (int32_t)features.elements ||
      words[OPT_COLUMN] < 0 || words[OPT_COLUMN] > row - words[OPT_FEATURES] ||
      words[OPT_EXIT] < 0 || words[OPT_RESERVED] != 0) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "options (column %d, %d features, exit %d) do not fit "
                       "%u features and weights of %d columns",
                       (int)words[OPT_COLUMN], (int)words[OPT_FEATURES],
                       (int)words[OPT_EXIT], (unsigned)features.elements,
                       (int)row);
  }
  if ((s = prepare_previous(ctx, classes, p)) != FREEML_OK ||
      (s = freeml_prepare_const_data(ctx, &weights, 1, &p->weights_data)) !=
          FREEML_OK) {
    return s;
  }
  p->int4_weights = weights.type == FREEML_TYPE_INT4;
  p->params.classes = classes;
  p->params.features = words[OPT_FEATURES];
  p->params.row_stride = row;
  p->params.column = words[OPT_COLUMN];
  p->params.input_offset = -freeml_zero_point(ctx, &features);
  op->units = classes;
  op->unit_macs = (uint32_t)words[OPT_FEATURES];
  return FREEML_OK;
}

freeml_status freeml_eval_exit_accumulate(freeml_runtime *rt,
                                          const freeml_op *op,
                                          freeml_tile tile, void *output) {
  const exit_op_params *p =
      (const exit_op_params *)freeml_arena_data(rt, op->params);
  const int32_t *previous =
      p->previous_tensor >= 0
          ? (const int32_t *)(const void *)freeml_activation_data(
                rt, p->previous_tensor)
          : (const int32_t *)freeml_const_data(rt, p->bias_data);
  const int8_t *features = freeml_activation_data(rt, p->features_tensor);
  const void *weights = freeml_const_data(rt, p->weights_data);
  return p->int4_weights
             ? freeml_exit_accumulate_s4(&p->params, features,
                                         (const uint8_t *)weights, previous,
                                         (int32_t *)output, tile)
             : freeml_exit_accumulate_s8(&p->params, features,
                                         (const int8_t *)weights, previous,
                                         (int32_t *)output, tile);
}
