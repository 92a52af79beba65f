/* The gNet exit plan: FREEML_GNET metadata (docs/gnet.md) checked against
 * the graph, and exit answers from the accumulators. */
#include <string.h>

#include "tflm_freeml/ops/ops.h"
#include "tflm_freeml/runtime.h"

#define PLAN_MAGIC 0x4E474D46u /* "FMGN" */
#define PLAN_VERSION 1
#define HEADER_WORDS 6
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

/* The logits' multipliers, as TFLM prepares FULLY_CONNECTED: one per class
 * for per-channel weights, else one. */
static freeml_status prepare_multipliers(freeml_runtime *rt,
                                         uint32_t *arena_used,
                                         const freeml_operator_info *first,
                                         float logits_scale,
                                         freeml_error *error) {
  freeml_exit_plan *plan = &rt->exits;
  freeml_tensor_info features, weights;
  freeml_prepare_context ctx;
  int32_t *multipliers, *shifts;
  uint32_t count, c;
  freeml_status s;
  if ((s = freeml_model_tensor(&rt->model,
                               freeml_op_input(&rt->model, first, 0),
                               &features, error)) != FREEML_OK ||
      (s = freeml_model_tensor(&rt->model,
                               freeml_op_input(&rt->model, first, 1),
                               &weights, error)) != FREEML_OK) {
    return s;
  }
  plan->logits.per_channel = weights.scales.length > 1;
  count = plan->logits.per_channel ? (uint32_t)plan->logits.classes : 1u;
  if (weights.scales.length != count) {
    return freeml_fail(error, FREEML_ERR_MODEL,
                       "the head's weights have %u scales for %d classes",
                       (unsigned)weights.scales.length,
                       (int)plan->logits.classes);
  }
  memset(&ctx, 0, sizeof(ctx));
  ctx.rt = rt;
  ctx.arena_used = arena_used;
  ctx.error = error;
  multipliers = (int32_t *)freeml_prepare_alloc(&ctx, 4u * count,
                                                &plan->multipliers);
  shifts = (int32_t *)freeml_prepare_alloc(&ctx, 4u * count, &plan->shifts);
  if (multipliers == 0 || shifts == 0) return FREEML_ERR_ARENA;
  for (c = 0; c < count; ++c) {
    const freeml_quant q = freeml_quantize_multiplier_ratio(
        freeml_tensor_scale(&rt->model, &features, 0),
        freeml_tensor_scale(&rt->model, &weights, c), logits_scale);
    multipliers[c] = q.multiplier;
    shifts[c] = q.shift;
  }
  return FREEML_OK;
}

freeml_status freeml_exits_prepare(freeml_runtime *rt, uint32_t *arena_used,
                                   freeml_error *error) {
  freeml_exit_plan *plan = &rt->exits;
  freeml_operator_info first;
  const uint8_t *data;
  uint32_t size, count, k;
  int32_t classes;
  float logits_scale;
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
  logits_scale = word_f32(data, 5);
  if (count < 1 || count > FREEML_MAX_EXITS ||
      size != 4u * (HEADER_WORDS + 2u * count) || classes < 1 ||
      !(logits_scale > 0.0f) || (int32_t)word(data, 4) < -128 ||
      (int32_t)word(data, 4) > 127) {
    return freeml_fail(error, FREEML_ERR_MODEL,
                       "FREEML_GNET metadata: %u exits (1 to %d), %d "
                       "classes, logits scale %g, %u bytes",
                       (unsigned)count, FREEML_MAX_EXITS, (int)classes,
                       (double)logits_scale, (unsigned)size);
  }
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
    if (rt->ops[plan->op[k]].units != classes) {
      return bad_plan(error, "accumulates another number of classes", k);
    }
    if ((s = check_exit_op(rt, k, &first, error)) != FREEML_OK) return s;
  }
  plan->logits.classes = classes;
  plan->logits.output_offset = (int32_t)word(data, 4);
  if ((s = prepare_multipliers(rt, arena_used, &first, logits_scale,
                               error)) != FREEML_OK) {
    return s;
  }
  plan->count = count;
  return FREEML_OK;
}

uint32_t freeml_exits_reached(const freeml_runtime *rt, uint32_t next_op) {
  uint32_t k = 0;
  while (k < rt->exits.count && (uint32_t)rt->exits.op[k] < next_op) ++k;
  return k;
}

freeml_status freeml_exit_logits(const freeml_runtime *rt, uint32_t exit,
                                 int8_t *logits) {
  freeml_per_channel_quant quant;
  if (exit >= rt->exits.count || rt->activations == 0) return FREEML_ERR_ARG;
  quant.multiplier =
      (const int32_t *)freeml_arena_data(rt, rt->exits.multipliers);
  quant.shift = (const int32_t *)freeml_arena_data(rt, rt->exits.shifts);
  freeml_exit_logits_s8(
      &rt->exits.logits, &quant,
      (const int32_t *)(const void *)freeml_activation_data(
          rt, rt->exits.accumulator[exit]),
      logits);
  return FREEML_OK;
}

int32_t freeml_exit_margin(const freeml_runtime *rt, uint32_t exit) {
  /* Logits a chunk at a time: no buffer of the class count. */
  enum { CHUNK = 32 };
  const freeml_exit_plan *plan = &rt->exits;
  const int32_t *acc = (const int32_t *)(const void *)freeml_activation_data(
      rt, plan->accumulator[exit]);
  freeml_exit_logits_params chunk = plan->logits;
  freeml_per_channel_quant quant;
  int32_t best = -129, second = -129;
  int32_t start, c;
  quant.multiplier = (const int32_t *)freeml_arena_data(rt, plan->multipliers);
  quant.shift = (const int32_t *)freeml_arena_data(rt, plan->shifts);
  for (start = 0; start < plan->logits.classes; start += CHUNK) {
    int8_t logits[CHUNK];
    freeml_per_channel_quant part = quant;
    chunk.classes = plan->logits.classes - start < CHUNK
                        ? plan->logits.classes - start
                        : CHUNK;
    if (plan->logits.per_channel) {
      part.multiplier += start;
      part.shift += start;
    }
    freeml_exit_logits_s8(&chunk, &part, acc + start, logits);
    for (c = 0; c < chunk.classes; ++c) {
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
