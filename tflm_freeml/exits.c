/* The gNet exit plan: FREEML_GNET metadata (docs/gnet.md) checked against
 * the graph, and exit answers from the accumulators. */
#include <string.h>

#include "tflm_freeml/ops/ops.h"
#include "tflm_freeml/runtime.h"

#define PLAN_MAGIC 0x4E474D46u /* "FMGN" */
#define PLAN_VERSION 2
#define HEADER_WORDS 11
#define ACCUMULATE_OP "FREEML_EXIT_ACCUMULATE"

static uint32_t word(const uint8_t *bytes, uint32_t i) {
  const uint8_t *b = bytes + 4u * i;
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
         (uint32_t)b[3] << 24;
}

static float word_f32(const uint8_t *bytes, uint32_t i) {
  const uint32_t bits = word(bytes, i);
  float value;
  memcpy(&value, &bits, sizeof(value));
  return value;
}

/* The op that writes tensor `t`, if it is an EXIT_ACCUMULATE op; else -1. */
static int32_t accumulate_op(const freeml_runtime *rt, int32_t t) {
  const freeml_op_registration *accumulate = freeml_find_custom_op(
      (const uint8_t *)ACCUMULATE_OP, (uint32_t)strlen(ACCUMULATE_OP));
  uint32_t i;
  for (i = 0; i < rt->num_ops; ++i) {
    if (rt->ops[i].output == t) {
      return rt->ops[i].kind == freeml_op_kind(accumulate) ? (int32_t)i : -1;
    }
  }
  return -1;
}

static freeml_status bad_plan(freeml_error *error, const char *why,
                              uint32_t exit) {
  return freeml_fail(error, FREEML_ERR_MODEL,
                     "FREEML_GNET metadata, exit %u: %s", (unsigned)exit, why);
}

static freeml_status bad_output(freeml_error *error, const char *why) {
  return freeml_fail(error, FREEML_ERR_MODEL,
                     "FREEML_GNET metadata: the head's output layer's %s",
                     why);
}

/* Checks exit k's op: it reads the previous exit's accumulators (or the
 * constant bias for exit 0), the same weights and the same features
 * quantization as exit 0, whose scales it returns. */
static freeml_status check_exit_op(freeml_runtime *rt, uint32_t k,
                                   freeml_operator_info *first,
                                   freeml_error *error) {
  freeml_exit_plan *plan = &rt->exits;
  freeml_operator_info op;
  freeml_tensor_info features, first_features;
  int32_t previous;
  freeml_status s = freeml_model_operator(&rt->model, plan->op[k], &op, error);
  if (s != FREEML_OK) return s;
  previous = freeml_op_input(&rt->model, &op, 2);
  if (k == 0) {
    freeml_tensor_info bias;
    *first = op;
    if ((s = freeml_model_tensor(&rt->model, previous, &bias, error)) !=
        FREEML_OK) {
      return s;
    }
    return bias.data != 0 ? FREEML_OK
                          : bad_plan(error, "does not start from the bias", k);
  }
  if (previous != plan->accumulator[k - 1] ||
      plan->op[k] <= plan->op[k - 1]) {
    return bad_plan(error, "does not add to the previous exit", k);
  }
  if (freeml_op_input(&rt->model, &op, 1) !=
      freeml_op_input(&rt->model, first, 1)) {
    return bad_plan(error, "reads other weights than exit 0", k);
  }
  if ((s = freeml_model_tensor(&rt->model, freeml_op_input(&rt->model, &op, 0),
                               &features, error)) != FREEML_OK ||
      (s = freeml_model_tensor(&rt->model,
                               freeml_op_input(&rt->model, first, 0),
                               &first_features, error)) != FREEML_OK) {
    return s;
  }
  if (freeml_tensor_scale(&rt->model, &features, 0) !=
          freeml_tensor_scale(&rt->model, &first_features, 0) ||
      freeml_tensor_zero_point(&rt->model, &features, 0) !=
          freeml_tensor_zero_point(&rt->model, &first_features, 0)) {
    return bad_plan(error, "features quantized otherwise than exit 0's", k);
  }
  return FREEML_OK;
}

/* Requantization multipliers of a FULLY_CONNECTED layer whose input has
 * scale `input_scale`, as TFLM prepares them: one per output unit for
 * per-channel weights, else one. */
static freeml_status prepare_multipliers(freeml_runtime *rt,
                                         uint32_t *arena_used,
                                         float input_scale,
                                         const freeml_tensor_info *weights,
                                         float output_scale, int32_t units,
                                         int32_t *per_channel,
                                         uint32_t *multipliers_at,
                                         uint32_t *shifts_at,
                                         freeml_error *error) {
  freeml_prepare_context ctx;
  int32_t *multipliers, *shifts;
  uint32_t count, c;
  *per_channel = weights->scales.length > 1;
  count = *per_channel ? (uint32_t)units : 1u;
  if (weights->scales.length != count) {
    return freeml_fail(error, FREEML_ERR_MODEL,
                       "a gNet head layer's weights have %u scales for %d "
                       "units",
                       (unsigned)weights->scales.length, (int)units);
  }
  memset(&ctx, 0, sizeof(ctx));
  ctx.rt = rt;
  ctx.arena_used = arena_used;
  ctx.error = error;
  multipliers =
      (int32_t *)freeml_prepare_alloc(&ctx, 4u * count, multipliers_at);
  shifts = (int32_t *)freeml_prepare_alloc(&ctx, 4u * count, shifts_at);
  if (multipliers == 0 || shifts == 0) return FREEML_ERR_ARENA;
  for (c = 0; c < count; ++c) {
    const freeml_quant q = freeml_quantize_multiplier_ratio(
        input_scale, freeml_tensor_scale(&rt->model, weights, c),
        output_scale);
    multipliers[c] = q.multiplier;
    shifts[c] = q.shift;
  }
  return FREEML_OK;
}

/* The first layer's requantization (the accumulators to logits, or to the
 * hidden units), as TFLM prepares the head's first FULLY_CONNECTED. */
static freeml_status prepare_accumulators(freeml_runtime *rt,
                                          uint32_t *arena_used,
                                          const freeml_operator_info *first,
                                          float output_scale,
                                          freeml_error *error) {
  freeml_exit_plan *plan = &rt->exits;
  freeml_tensor_info features, weights;
  freeml_status s;
  if ((s = freeml_model_tensor(&rt->model,
                               freeml_op_input(&rt->model, first, 0),
                               &features, error)) != FREEML_OK ||
      (s = freeml_model_tensor(&rt->model,
                               freeml_op_input(&rt->model, first, 1),
                               &weights, error)) != FREEML_OK) {
    return s;
  }
  return prepare_multipliers(
      rt, arena_used, freeml_tensor_scale(&rt->model, &features, 0), &weights,
      output_scale, plan->accumulators.classes,
      &plan->accumulators.per_channel, &plan->multipliers, &plan->shifts,
      error);
}

/* A two-layer head's output layer: int8 weights [classes, rank], an
 * optional int32 bias [classes], both constant. */
static freeml_status prepare_output_layer(freeml_runtime *rt,
                                          uint32_t *arena_used,
                                          float hidden_scale,
                                          float logits_scale,
                                          freeml_error *error) {
  freeml_exit_plan *plan = &rt->exits;
  freeml_tensor_info weights, bias;
  freeml_status s;
  if (plan->output_weights < 0 ||
      (uint32_t)plan->output_weights >= rt->num_tensors ||
      plan->output_bias < -1 ||
      (plan->output_bias >= 0 &&
       (uint32_t)plan->output_bias >= rt->num_tensors)) {
    return bad_output(error, "tensors are not in the graph");
  }
  if ((s = freeml_model_tensor(&rt->model, plan->output_weights, &weights,
                               error)) != FREEML_OK) {
    return s;
  }
  if (weights.type != FREEML_TYPE_INT8 || weights.data == 0 ||
      weights.rank != 2 || weights.shape[0] != plan->classes ||
      weights.shape[1] != plan->rank) {
    return bad_output(error, "weights are not constant int8 [classes, rank]");
  }
  if (plan->output_bias >= 0) {
    if ((s = freeml_model_tensor(&rt->model, plan->output_bias, &bias,
                                 error)) != FREEML_OK) {
      return s;
    }
    if (bias.type != FREEML_TYPE_INT32 || bias.data == 0 ||
        bias.elements != (uint32_t)plan->classes) {
      return bad_output(error, "bias is not constant int32 [classes]");
    }
  }
  /* Used on the per-tensor path only, as TFLM does. */
  plan->output.filter_offset =
      -freeml_tensor_zero_point(&rt->model, &weights, 0);
  plan->output.activation.min = -128;
  plan->output.activation.max = 127;
  return prepare_multipliers(rt, arena_used, hidden_scale, &weights,
                             logits_scale, plan->classes,
                             &plan->output.per_channel,
                             &plan->output_multipliers, &plan->output_shifts,
                             error);
}

freeml_status freeml_exits_prepare(freeml_runtime *rt, uint32_t *arena_used,
                                   freeml_error *error) {
  freeml_exit_plan *plan = &rt->exits;
  freeml_operator_info first;
  const uint8_t *data;
  uint32_t size, count, k;
  int32_t classes, rank, units;
  int32_t logits_zero_point, hidden_zero_point;
  float logits_scale, hidden_scale;
  freeml_status s;
  memset(plan, 0, sizeof(*plan));
  if ((s = freeml_model_metadata(&rt->model, "FREEML_GNET", &data, &size,
                                 error)) != FREEML_OK ||
      data == 0) {
    return s;
  }
  if (size < 4u * HEADER_WORDS || word(data, 0) != PLAN_MAGIC ||
      word(data, 1) != PLAN_VERSION) {
    return freeml_fail(error, FREEML_ERR_MODEL,
                       "FREEML_GNET metadata is not version %d of "
                       "docs/gnet.md",
                       PLAN_VERSION);
  }
  count = word(data, 2);
  classes = (int32_t)word(data, 3);
  logits_zero_point = (int32_t)word(data, 4);
  logits_scale = word_f32(data, 5);
  rank = (int32_t)word(data, 6);
  hidden_zero_point = (int32_t)word(data, 7);
  hidden_scale = word_f32(data, 8);
  if (count < 1 || count > FREEML_MAX_EXITS ||
      size != 4u * (HEADER_WORDS + 2u * count) || classes < 1 ||
      !(logits_scale > 0.0f) || logits_zero_point < -128 ||
      logits_zero_point > 127 || rank < 0 || rank > FREEML_MAX_EXIT_RANK ||
      (rank > 0 && (!(hidden_scale > 0.0f) || hidden_zero_point < -128 ||
                    hidden_zero_point > 127))) {
    return freeml_fail(error, FREEML_ERR_MODEL,
                       "FREEML_GNET metadata: %u exits (1 to %d), %d "
                       "classes, rank %d (0 to %d), scales %g and %g, %u "
                       "bytes",
                       (unsigned)count, FREEML_MAX_EXITS, (int)classes,
                       (int)rank, FREEML_MAX_EXIT_RANK, (double)logits_scale,
                       (double)hidden_scale, (unsigned)size);
  }
  units = rank > 0 ? rank : classes;
  for (k = 0; k < count; ++k) {
    const int32_t t = (int32_t)word(data, HEADER_WORDS + 2u * k);
    plan->accumulator[k] = t;
    plan->threshold[k] = (int32_t)word(data, HEADER_WORDS + 2u * k + 1u);
    plan->op[k] = t >= 0 && (uint32_t)t < rt->num_tensors
                      ? accumulate_op(rt, t)
                      : -1;
    if (plan->op[k] < 0) {
      return bad_plan(error, "names no FREEML_EXIT_ACCUMULATE output", k);
    }
    if (rt->ops[plan->op[k]].units != units) {
      return bad_plan(error, "accumulates another number of units than the "
                             "head's first layer", k);
    }
    if ((s = check_exit_op(rt, k, &first, error)) != FREEML_OK) return s;
  }
  plan->classes = classes;
  plan->rank = rank;
  plan->accumulators.classes = units;
  plan->accumulators.output_offset =
      rank > 0 ? hidden_zero_point : logits_zero_point;
  if ((s = prepare_accumulators(rt, arena_used, &first,
                                rank > 0 ? hidden_scale : logits_scale,
                                error)) != FREEML_OK) {
    return s;
  }
  if (rank > 0) {
    plan->output_weights = (int32_t)word(data, 9);
    plan->output_bias = (int32_t)word(data, 10);
    plan->output.input_offset = -hidden_zero_point;
    plan->output.output_offset = logits_zero_point;
    if ((s = prepare_output_layer(rt, arena_used, hidden_scale, logits_scale,
                                  error)) != FREEML_OK) {
      return s;
    }
  }
  plan->count = count;
  return FREEML_OK;
}

uint32_t freeml_exits_reached(const freeml_runtime *rt, uint32_t next_op) {
  uint32_t k = 0;
  while (k < rt->exits.count && (uint32_t)rt->exits.op[k] < next_op) ++k;
  return k;
}

/* Exit `exit`'s logits of classes [start, start + n). */
static void exit_logits_range(const freeml_runtime *rt, uint32_t exit,
                              int32_t start, int32_t n, int8_t *logits) {
  const freeml_exit_plan *plan = &rt->exits;
  const int32_t *acc = (const int32_t *)(const void *)freeml_activation_data(
      rt, plan->accumulator[exit]);
  freeml_per_channel_quant quant;
  quant.multiplier = (const int32_t *)freeml_arena_data(rt, plan->multipliers);
  quant.shift = (const int32_t *)freeml_arena_data(rt, plan->shifts);
  if (plan->rank == 0) {
    freeml_exit_logits_params part = plan->accumulators;
    part.classes = n;
    if (part.per_channel) {
      quant.multiplier += start;
      quant.shift += start;
    }
    freeml_exit_logits_s8(&part, &quant, acc + start, logits);
  } else {
    int8_t hidden[FREEML_MAX_EXIT_RANK];
    freeml_tensor_info weights, bias;
    freeml_per_channel_quant output_quant;
    freeml_tile tile;
    output_quant.multiplier =
        (const int32_t *)freeml_arena_data(rt, plan->output_multipliers);
    output_quant.shift =
        (const int32_t *)freeml_arena_data(rt, plan->output_shifts);
    freeml_exit_logits_s8(&plan->accumulators, &quant, acc, hidden);
    /* Checked by freeml_exits_prepare: these lookups cannot fail. */
    (void)freeml_model_tensor(&rt->model, plan->output_weights, &weights, 0);
    bias.data = 0;
    if (plan->output_bias >= 0) {
      (void)freeml_model_tensor(&rt->model, plan->output_bias, &bias, 0);
    }
    tile.start = start;
    tile.end = start + n;
    (void)freeml_fully_connected_s8(
        &plan->output, &output_quant, 1, plan->rank, plan->classes, hidden,
        (const int8_t *)weights.data,
        (const int32_t *)(const void *)bias.data, logits, tile);
  }
}

freeml_status freeml_exit_logits(const freeml_runtime *rt, uint32_t exit,
                                 int8_t *logits) {
  if (exit >= rt->exits.count || rt->activations == 0) return FREEML_ERR_ARG;
  exit_logits_range(rt, exit, 0, rt->exits.classes, logits);
  return FREEML_OK;
}

int32_t freeml_exit_margin(const freeml_runtime *rt, uint32_t exit) {
  /* Logits a chunk at a time: no buffer of the class count. */
  enum { CHUNK = 32 };
  const int32_t classes = rt->exits.classes;
  int32_t best = -129, second = -129;
  int32_t start, c;
  for (start = 0; start < classes; start += CHUNK) {
    int8_t logits[CHUNK];
    const int32_t n = classes - start < CHUNK ? classes - start : CHUNK;
    exit_logits_range(rt, exit, start, n, logits);
    for (c = 0; c < n; ++c) {
      if (logits[c] > best) {
        second = best;
        best = logits[c];
      } else if (logits[c] > second) {
        second = logits[c];
      }
    }
  }
  return second < -128 ? 255 : best - second;
}
