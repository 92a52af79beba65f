/* The C half of the TFLM adapter (freeml_tflm.h): FreeML ops prepared by the
 * FreeML runtime, run on the buffers of TFLM's arena. */
#include "tflm_freeml/tflm/freeml_tflm.h"

#include <string.h>

#include "tflm_freeml/ops/ops.h"

static int is_activation(const freeml_runtime *rt, int32_t tensor) {
  freeml_tensor_info info;
  return freeml_model_tensor(&rt->model, tensor, &info, 0) == FREEML_OK &&
         info.data == 0;
}

/* Whether the gNet head's first layer has int4 weights. */
static int head_weights_int4(const freeml_runtime *rt) {
  freeml_operator_info op;
  freeml_tensor_info weights;
  return freeml_model_operator(&rt->model, rt->exits.op[0], &op, 0) ==
             FREEML_OK &&
         freeml_model_tensor(&rt->model, freeml_op_input(&rt->model, &op, 1),
                             &weights, 0) == FREEML_OK &&
         weights.type == FREEML_TYPE_INT4;
}

freeml_status freeml_tflm_init(freeml_tflm_adapter *adapter,
                               const uint8_t *model, uint32_t model_size,
                               uint8_t *arena, uint32_t arena_size,
                               freeml_error *error) {
  freeml_runtime *rt = &adapter->rt;
  freeml_tensor_info answer;
  freeml_status s;
  memset(adapter, 0, sizeof(*adapter));
  s = freeml_runtime_prepare_custom_ops(rt, model, model_size, arena,
                                        arena_size, error);
  if (s != FREEML_OK) return s;
  adapter->answer_tensor = freeml_runtime_output(rt, 0);
  adapter->exit = rt->exits.count;
  if (rt->exits.count == 0) return FREEML_OK;
  /* The pinned TFLM crashes (in MicroAllocator::CommitStaticMemoryPlan)
   * allocating a model whose head subgraph, which nothing invokes, runs
   * FULLY_CONNECTED on int4 weights, a kernel that asks for scratch memory.
   * Refuse here rather than crash there. */
  if (rt->model.num_subgraphs > 1 && head_weights_int4(rt)) {
    return freeml_fail(error, FREEML_ERR_UNSUPPORTED,
                       "TFLM cannot allocate this model: its gNet head "
                       "subgraph has int4 weights (convert with "
                       "--exit-weight-bits 8 to run it inside TFLM)");
  }
  /* An early answer takes the place of the network's output. */
  if (freeml_model_tensor(&rt->model, adapter->answer_tensor, &answer, 0) !=
          FREEML_OK ||
      answer.type != FREEML_TYPE_INT8 ||
      (int32_t)answer.elements != rt->exits.classes) {
    return freeml_fail(error, FREEML_ERR_UNSUPPORTED,
                       "an early answer needs the graph's first output to be "
                       "int8 with one value per class (%d)",
                       (int)rt->exits.classes);
  }
  return FREEML_OK;
}

uint32_t freeml_tflm_arena_used(const freeml_tflm_adapter *adapter) {
  return adapter->rt.memory.persistent_bytes;
}

void freeml_tflm_set_exit_policy(freeml_tflm_adapter *adapter,
                                 freeml_tflm_exit_policy policy, void *user) {
  adapter->policy = policy;
  adapter->policy_user = user;
}

uint32_t freeml_tflm_exit(const freeml_tflm_adapter *adapter) {
  return adapter->exit;
}

uint32_t freeml_tflm_num_exits(const freeml_tflm_adapter *adapter) {
  return adapter->rt.exits.count;
}

uint32_t freeml_tflm_num_outputs(const freeml_tflm_adapter *adapter) {
  return freeml_runtime_num_outputs(&adapter->rt);
}

int32_t freeml_tflm_find_op(const freeml_tflm_adapter *adapter,
                            int32_t output) {
  const freeml_runtime *rt = &adapter->rt;
  uint32_t i;
  for (i = 0; i < rt->num_ops; ++i) {
    if (rt->ops[i].output == output) {
      return rt->ops[i].kind == FREEML_FOREIGN_OP ? -1 : (int32_t)i;
    }
  }
  return -1;
}

freeml_status freeml_tflm_check_op(const freeml_tflm_adapter *adapter,
                                   int32_t op, const int32_t *inputs,
                                   uint32_t count, uint32_t output_bytes,
                                   freeml_error *error) {
  const freeml_runtime *rt = &adapter->rt;
  freeml_operator_info info;
  uint32_t i;
  freeml_status s = freeml_model_operator(&rt->model, op, &info, error);
  if (s != FREEML_OK) return s;
  if (count != info.inputs.length) {
    return freeml_fail(error, FREEML_ERR_ARG,
                       "op %d has %u inputs in the interpreter and %u in "
                       "the adapter's model: not the same model",
                       (int)op, (unsigned)count,
                       (unsigned)info.inputs.length);
  }
  for (i = 0; i < count; ++i) {
    if (inputs[i] != freeml_op_input(&rt->model, &info, i)) {
      return freeml_fail(error, FREEML_ERR_ARG,
                         "op %d reads tensor %d in the interpreter and %d in "
                         "the adapter's model: not the same model",
                         (int)op, (int)inputs[i],
                         (int)freeml_op_input(&rt->model, &info, i));
    }
  }
  if (output_bytes != rt->ops[op].unit_bytes * (uint32_t)rt->ops[op].units) {
    return freeml_fail(error, FREEML_ERR_ARG,
                       "op %d writes %u bytes in the interpreter and %u in "
                       "the adapter's model",
                       (int)op, (unsigned)output_bytes,
                       (unsigned)(rt->ops[op].unit_bytes *
                                  (uint32_t)rt->ops[op].units));
  }
  return FREEML_OK;
}

/* Points the runtime's activation area at TFLM's arena: `activations` at
 * the lowest of the op's activation buffers, each tensor's offset from it
 * (one arena: the differences are small and positive). */
static freeml_status bind(freeml_runtime *rt, const int32_t *tensors,
                          void *const *data, uint32_t count,
                          freeml_error *error) {
  uintptr_t base = UINTPTR_MAX;
  uint32_t i;
  for (i = 0; i < count; ++i) {
    if (tensors[i] >= 0 && data[i] != 0 && (uintptr_t)data[i] < base) {
      base = (uintptr_t)data[i];
    }
  }
  for (i = 0; i < count; ++i) {
    if (tensors[i] < 0 || data[i] == 0) continue;
    if ((uintptr_t)data[i] - base > (uintptr_t)UINT32_MAX - 1u) {
      return freeml_fail(error, FREEML_ERR_ARG,
                         "activation buffers more than 4 GB apart");
    }
    rt->tensors[tensors[i]].offset = (uint32_t)((uintptr_t)data[i] - base);
  }
  rt->activations = (uint8_t *)base;
  return FREEML_OK;
}

/* The exit whose accumulators op `op` completes, or -1. */
static int32_t exit_of(const freeml_runtime *rt, int32_t op) {
  uint32_t k;
  for (k = 0; k < rt->exits.count; ++k) {
    if (rt->exits.op[k] == op) return (int32_t)k;
  }
  return -1;
}

freeml_status freeml_tflm_run_op(freeml_tflm_adapter *adapter, int32_t op,
                                 void *const *input_data, uint32_t count,
                                 void *output, int32_t *answer,
                                 freeml_error *error) {
  freeml_runtime *rt = &adapter->rt;
  freeml_operator_info info;
  int32_t tensors[FREEML_MAX_OP_INPUTS + 1];
  void *data[FREEML_MAX_OP_INPUTS + 1];
  freeml_tile all;
  int32_t exit;
  uint32_t i;
  freeml_status s;
  *answer = -1;
  if (op < 0 || (uint32_t)op >= rt->num_ops ||
      rt->ops[op].kind == FREEML_FOREIGN_OP) {
    return freeml_fail(error, FREEML_ERR_ARG, "op %d is not a FreeML op",
                       (int)op);
  }
  if ((s = freeml_model_operator(&rt->model, op, &info, error)) != FREEML_OK) {
    return s;
  }
  if (count != info.inputs.length || count > FREEML_MAX_OP_INPUTS) {
    return freeml_fail(error, FREEML_ERR_ARG, "op %d: %u inputs given, %u read",
                       (int)op, (unsigned)count, (unsigned)info.inputs.length);
  }
  for (i = 0; i < count; ++i) {
    tensors[i] = freeml_op_input(&rt->model, &info, i);
    if (tensors[i] >= 0 && !is_activation(rt, tensors[i])) tensors[i] = -1;
    data[i] = input_data[i];
  }
  /* The output too: an exit's answer reads its accumulators. */
  tensors[count] = rt->ops[op].output;
  data[count] = output;
  if ((s = bind(rt, tensors, data, count + 1, error)) != FREEML_OK) return s;
  all.start = 0;
  all.end = rt->ops[op].units;
  if ((s = freeml_runtime_run_tile(rt, (uint32_t)op, all, output, error)) !=
      FREEML_OK) {
    return s;
  }
  exit = exit_of(rt, op);
  if (exit >= 0) {
    const int32_t margin = freeml_exit_margin(rt, (uint32_t)exit);
    const int32_t threshold = rt->exits.threshold[exit];
    if (exit == 0) adapter->exit = rt->exits.count; /* a new inference */
    if (adapter->policy != 0
            ? adapter->policy(adapter->policy_user, (uint32_t)exit, margin,
                              threshold) != 0
            : margin >= threshold) {
      *answer = exit;
    }
  }
  return FREEML_OK;
}

freeml_status freeml_tflm_answer(freeml_tflm_adapter *adapter, uint32_t exit,
                                 int8_t *out, uint32_t bytes,
                                 freeml_error *error) {
  freeml_runtime *rt = &adapter->rt;
  if (exit >= rt->exits.count ||
      bytes != (uint32_t)rt->exits.classes) {
    return freeml_fail(error, FREEML_ERR_ARG,
                       "exit %u of %u, %u bytes for %d classes",
                       (unsigned)exit, (unsigned)rt->exits.count,
                       (unsigned)bytes, (int)rt->exits.classes);
  }
  adapter->exit = exit;
  return freeml_exit_logits(rt, exit, out);
}
