#include "tflm_freeml/runtime.h"

#include <string.h>

#include "tflm_freeml/ops/ops.h"

#define UNSET_OP (-2)
#define LAYER_NAME_SIZE 64
#define OP_NAME_SIZE 48

static uint32_t align16(uint32_t value) { return (value + 15u) & ~15u; }

/* The layer an op came from, for error messages: its first output's name up
 * to the first ';' (the TF converter joins fused names with ';'). */
static void layer_name(const freeml_model *model,
                       const freeml_operator_info *op, char *out,
                       uint32_t size) {
  freeml_tensor_info tensor;
  char *separator;
  out[0] = '\0';
  if (freeml_model_tensor(model, freeml_op_output(model, op, 0), &tensor,
                          0) != FREEML_OK) {
    return;
  }
  freeml_tensor_name(model, &tensor, out, size);
  separator = strchr(out, ';');
  if (separator != 0) *separator = '\0';
}

static freeml_status op_error(const freeml_model *model, int32_t index,
                              const freeml_operator_info *op,
                              freeml_status status, const char *reason,
                              freeml_error *error) {
  char name[OP_NAME_SIZE];
  char layer[LAYER_NAME_SIZE];
  layer_name(model, op, layer, sizeof(layer));
  return freeml_fail(error, status, "op %d %s (layer '%s'): %s", (int)index,
                     freeml_operator_name(model, op, name, sizeof(name)),
                     layer, reason);
}

/* Output bytes per unit; every kernel writes its units' bytes contiguously,
 * so the output must split evenly. */
static freeml_status set_unit_bytes(const freeml_runtime *rt,
                                    const freeml_operator_info *info,
                                    freeml_op *op, freeml_error *reason) {
  freeml_tensor_info output;
  if (info->outputs.length != 1) {
    return freeml_fail(reason, FREEML_ERR_MODEL, "op has %u outputs, not 1",
                       (unsigned)info->outputs.length);
  }
  if (op->output < 0 || op->units < 1 ||
      freeml_model_tensor(&rt->model, op->output, &output, reason) !=
          FREEML_OK) {
    return freeml_fail(reason, FREEML_ERR_MODEL, "op has no output or no work");
  }
  op->unit_bytes = output.bytes / (uint32_t)op->units;
  op->tile_units = op->units;
  if (op->unit_bytes == 0 ||
      op->unit_bytes * (uint32_t)op->units != output.bytes) {
    return freeml_fail(reason, FREEML_ERR_MODEL,
                       "output of %u bytes does not split into %d units",
                       (unsigned)output.bytes, (int)op->units);
  }
  return FREEML_OK;
}

/* Prepares every op, or with `custom_only` only FreeML's custom ops (the
 * others are marked FREEML_FOREIGN_OP and left to another interpreter). */
static freeml_status prepare_ops(freeml_runtime *rt, int custom_only,
                                 uint32_t *arena_used, freeml_error *error) {
  uint32_t i;
  for (i = 0; i < rt->num_ops; ++i) {
    freeml_operator_info info;
    freeml_error reason;
    freeml_prepare_context ctx;
    const freeml_op_registration *registration;
    freeml_status status =
        freeml_model_operator(&rt->model, (int32_t)i, &info, error);
    if (status != FREEML_OK) return status;
    rt->ops[i].model_index = (uint16_t)i;
    rt->ops[i].output = freeml_op_output(&rt->model, &info, 0);
    if (custom_only && info.opcode != FREEML_CUSTOM_OPCODE) {
      rt->ops[i].kind = FREEML_FOREIGN_OP;
      continue;
    }
    registration =
        info.opcode == FREEML_CUSTOM_OPCODE
            ? freeml_find_custom_op(rt->model.fb.data + info.custom_code.pos,
                                    info.custom_code.length)
            : freeml_find_op(info.opcode);
    if (registration == 0) {
      return op_error(&rt->model, (int32_t)i, &info, FREEML_ERR_UNSUPPORTED,
                      "operator not supported by the FreeML runtime", error);
    }
    rt->ops[i].kind = freeml_op_kind(registration);
    ctx.rt = rt;
    ctx.arena_used = arena_used;
    ctx.op = &info;
    ctx.error = &reason;
    rt->ops[i].unit_macs = 1;
    status = registration->prepare(&ctx, &rt->ops[i]);
    if (status == FREEML_OK && rt->ops[i].unit_macs > FREEML_MAX_UNIT_MACS) {
      status = freeml_fail(&reason, FREEML_ERR_UNSUPPORTED,
                           "%u products per output; the runtime's int32 "
                           "accumulators take at most %u",
                           (unsigned)rt->ops[i].unit_macs,
                           (unsigned)FREEML_MAX_UNIT_MACS);
    }
    if (status == FREEML_OK) {
      status = set_unit_bytes(rt, &info, &rt->ops[i], &reason);
    }
    if (status != FREEML_OK) {
      return op_error(&rt->model, (int32_t)i, &info, status, reason.message,
                      error);
    }
  }
  return FREEML_OK;
}

static freeml_status tensor_bytes(const freeml_runtime *rt, int32_t index,
                                  uint32_t *bytes, int *constant,
                                  freeml_error *error) {
  freeml_tensor_info tensor;
  freeml_status status =
      freeml_model_tensor(&rt->model, index, &tensor, error);
  *bytes = tensor.bytes;
  *constant = tensor.data != 0;
  return status;
}

/* First writer and last reader of every activation, from the op order. */
static freeml_status compute_lifetimes(freeml_runtime *rt,
                                       freeml_error *error) {
  uint32_t i, k;
  uint32_t bytes;
  int constant;
  freeml_status status;
  for (i = 0; i < rt->num_tensors; ++i) {
    rt->tensors[i].offset = FREEML_UNPLANNED;
    rt->tensors[i].bytes = 0;
    rt->tensors[i].first_op = UNSET_OP;
    rt->tensors[i].last_op = UNSET_OP;
  }
  for (k = 0; k < rt->model.inputs.length; ++k) {
    int32_t t = freeml_runtime_input(rt, k);
    if ((status = tensor_bytes(rt, t, &bytes, &constant, error)) != FREEML_OK) {
      return status;
    }
    if (constant) {
      return freeml_fail(error, FREEML_ERR_MODEL,
                         "graph input %d is a constant", (int)t);
    }
    if (bytes == 0) { /* no op reads it to refuse its type */
      return freeml_fail(error, FREEML_ERR_UNSUPPORTED,
                         "graph input %d has a type the runtime does not "
                         "hold",
                         (int)t);
    }
    rt->tensors[t].bytes = bytes;
    rt->tensors[t].first_op = -1;
    rt->tensors[t].last_op = -1;
  }
  for (i = 0; i < rt->num_ops; ++i) {
    freeml_operator_info op;
    if ((status = freeml_model_operator(&rt->model, (int32_t)i, &op,
                                        error)) != FREEML_OK) {
      return status;
    }
    for (k = 0; k < op.inputs.length; ++k) {
      int32_t t = freeml_op_input(&rt->model, &op, k);
      if (t < 0) continue; /* omitted optional input */
      if ((status = tensor_bytes(rt, t, &bytes, &constant, error)) !=
          FREEML_OK) {
        return status;
      }
      if (constant) continue;
      if (rt->tensors[t].first_op == UNSET_OP) {
        return freeml_fail(error, FREEML_ERR_MODEL,
                           "op %u reads tensor %d before any op writes it",
                           (unsigned)i, (int)t);
      }
      rt->tensors[t].last_op = (int16_t)i;
    }
    for (k = 0; k < op.outputs.length; ++k) {
      int32_t t = freeml_op_output(&rt->model, &op, k);
      if ((status = tensor_bytes(rt, t, &bytes, &constant, error)) !=
          FREEML_OK) {
        return status;
      }
      if (constant || rt->tensors[t].first_op != UNSET_OP) {
        return freeml_fail(error, FREEML_ERR_MODEL,
                           "op %u writes tensor %d, which is constant or "
                           "written before",
                           (unsigned)i, (int)t);
      }
      rt->tensors[t].bytes = bytes;
      rt->tensors[t].first_op = (int16_t)i;
      rt->tensors[t].last_op = (int16_t)i;
    }
  }
  for (k = 0; k < rt->model.outputs.length; ++k) {
    int32_t t = freeml_runtime_output(rt, k);
    if (t < 0 || (uint32_t)t >= rt->num_tensors ||
        rt->tensors[t].first_op == UNSET_OP) {
      return freeml_fail(error, FREEML_ERR_MODEL,
                         "graph output %d is never written", (int)t);
    }
    rt->tensors[t].last_op = (int16_t)rt->num_ops;
  }
  return FREEML_OK;
}

/* Opens the model and lays out the op and tensor tables at the start of
 * the arena; *used gets their bytes. */
static freeml_status open_tables(freeml_runtime *rt, const uint8_t *model,
                                 uint32_t model_size, uint8_t *arena,
                                 uint32_t arena_size, uint32_t *used,
                                 freeml_error *error) {
  uint32_t skip;
  uint32_t bytes;
  freeml_status status;

  memset(rt, 0, sizeof(*rt));
  if (error != 0) error->message[0] = '\0';
  if (arena == 0) {
    return freeml_fail(error, FREEML_ERR_ARG, "no arena given");
  }
  if (((uintptr_t)model & 3u) != 0) {
    return freeml_fail(error, FREEML_ERR_ARG,
                       "model must be 4-byte aligned in memory");
  }
  status = freeml_model_open(&rt->model, model, model_size, error);
  if (status != FREEML_OK) return status;

  skip = (uint32_t)((16u - ((uintptr_t)arena & 15u)) & 15u);
  if (arena_size < skip) {
    return freeml_fail(error, FREEML_ERR_ARENA, "arena of %u bytes is empty",
                       (unsigned)arena_size);
  }
  rt->arena = arena + skip;
  rt->arena_size = arena_size - skip;
  rt->num_ops = rt->model.operators.length;
  rt->num_tensors = rt->model.tensors.length;

  bytes = rt->num_ops * (uint32_t)sizeof(freeml_op) +
          rt->num_tensors * (uint32_t)sizeof(freeml_tensor_plan);
  if (bytes > rt->arena_size) {
    return freeml_fail(error, FREEML_ERR_ARENA,
                       "arena of %u bytes is too small for the op and tensor "
                       "tables (%u bytes)",
                       (unsigned)rt->arena_size, (unsigned)bytes);
  }
  rt->ops = (freeml_op *)(void *)rt->arena;
  *used = rt->num_ops * (uint32_t)sizeof(freeml_op);
  *used = (*used + 7u) & ~7u;
  rt->tensors = (freeml_tensor_plan *)(void *)(rt->arena + *used);
  *used += rt->num_tensors * (uint32_t)sizeof(freeml_tensor_plan);
  memset(rt->arena, 0, *used);
  return FREEML_OK;
}

freeml_status freeml_runtime_open(freeml_runtime *rt, const uint8_t *model,
                                  uint32_t model_size, uint8_t *arena,
                                  uint32_t arena_size, freeml_error *error) {
  uint32_t used = 0;
  return open_tables(rt, model, model_size, arena, arena_size, &used, error);
}

freeml_status freeml_runtime_prepare(freeml_runtime *rt,
                                     const uint8_t *model, uint32_t model_size,
                                     uint8_t *arena, uint32_t arena_size,
                                     freeml_error *error) {
  uint32_t used = 0;
  freeml_status status = open_tables(rt, model, model_size, arena, arena_size,
                                     &used, error);
  if (status != FREEML_OK) return status;
  if ((status = prepare_ops(rt, 0, &used, error)) != FREEML_OK ||
      (status = freeml_exits_prepare(rt, &used, error)) != FREEML_OK ||
      (status = compute_lifetimes(rt, error)) != FREEML_OK) {
    return status;
  }
  if (rt->exits.count > 0) {
    /* An answer may come from the last exit at any later moment: its
     * accumulators live to the end, like a graph output. (Each earlier
     * exit's live until the next exit's op has run.) */
    rt->tensors[rt->exits.accumulator[rt->exits.count - 1]].last_op =
        (int16_t)rt->num_ops;
  }
  rt->memory.persistent_bytes = used;
  rt->memory.activation_bytes =
      freeml_plan_greedy(rt->tensors, rt->num_tensors);
  return FREEML_OK;
}

freeml_status freeml_runtime_prepare_custom_ops(
    freeml_runtime *rt, const uint8_t *model, uint32_t model_size,
    uint8_t *arena, uint32_t arena_size, freeml_error *error) {
  uint32_t used = 0;
  freeml_status status = open_tables(rt, model, model_size, arena, arena_size,
                                     &used, error);
  if (status != FREEML_OK ||
      (status = prepare_ops(rt, 1, &used, error)) != FREEML_OK ||
      (status = freeml_exits_prepare(rt, &used, error)) != FREEML_OK) {
    return status;
  }
  rt->memory.persistent_bytes = used;
  return FREEML_OK;
}

freeml_status freeml_runtime_init(freeml_runtime *rt, const uint8_t *model,
                                  uint32_t model_size, uint8_t *arena,
                                  uint32_t arena_size, freeml_error *error) {
  uint32_t activations_start;
  freeml_status status =
      freeml_runtime_prepare(rt, model, model_size, arena, arena_size, error);
  if (status != FREEML_OK) return status;
  activations_start = align16(rt->memory.persistent_bytes);
  rt->memory.total_bytes = activations_start + rt->memory.activation_bytes;
  if (rt->memory.total_bytes > rt->arena_size) {
    return freeml_fail(error, FREEML_ERR_ARENA,
                       "arena of %u bytes is too small: the model needs %u",
                       (unsigned)rt->arena_size,
                       (unsigned)rt->memory.total_bytes);
  }
  rt->activations = rt->arena + activations_start;
  return FREEML_OK;
}

uint32_t freeml_runtime_num_inputs(const freeml_runtime *rt) {
  return rt->model.inputs.length;
}

uint32_t freeml_runtime_num_outputs(const freeml_runtime *rt) {
  return rt->model.outputs.length;
}

int32_t freeml_runtime_input(const freeml_runtime *rt, uint32_t i) {
  if (i >= rt->model.inputs.length) return -1;
  return freeml_fb_vector_i32(&rt->model.fb, &rt->model.inputs, i);
}

int32_t freeml_runtime_output(const freeml_runtime *rt, uint32_t i) {
  if (i >= rt->model.outputs.length) return -1;
  return freeml_fb_vector_i32(&rt->model.fb, &rt->model.outputs, i);
}

freeml_status freeml_runtime_tensor(const freeml_runtime *rt, int32_t index,
                                    freeml_tensor_view *view) {
  freeml_tensor_info tensor;
  int32_t d;
  memset(view, 0, sizeof(*view));
  if (freeml_model_tensor(&rt->model, index, &tensor, 0) != FREEML_OK) {
    return FREEML_ERR_ARG;
  }
  view->type = tensor.type;
  view->rank = tensor.rank;
  for (d = 0; d < tensor.rank; ++d) view->shape[d] = tensor.shape[d];
  view->scale = tensor.scales.length > 0
                    ? freeml_tensor_scale(&rt->model, &tensor, 0)
                    : 0.0f;
  view->zero_point = tensor.zero_points.length > 0
                         ? freeml_tensor_zero_point(&rt->model, &tensor, 0)
                         : 0;
  if (tensor.data != 0) {
    view->data = (uint8_t *)(uintptr_t)tensor.data;
    view->bytes = tensor.data_size;
  } else if (rt->activations != 0 &&
             rt->tensors[index].offset != FREEML_UNPLANNED) {
    view->data = rt->activations + rt->tensors[index].offset;
    view->bytes = rt->tensors[index].bytes;
  }
  return FREEML_OK;
}

int32_t freeml_runtime_op_units(const freeml_runtime *rt, uint32_t op_index) {
  return op_index < rt->num_ops ? rt->ops[op_index].units : 0;
}

int32_t freeml_runtime_op_output(const freeml_runtime *rt, uint32_t op_index,
                                 uint32_t i) {
  freeml_operator_info op;
  if (op_index >= rt->num_ops ||
      freeml_model_operator(&rt->model, (int32_t)op_index, &op, 0) !=
          FREEML_OK) {
    return -1;
  }
  return freeml_op_output(&rt->model, &op, i);
}

freeml_status freeml_runtime_run_tile(freeml_runtime *rt, uint32_t op_index,
                                      freeml_tile tile, void *output,
                                      freeml_error *error) {
  const freeml_op *op;
  freeml_status status;
  if (op_index >= rt->num_ops) {
    return freeml_fail(error, FREEML_ERR_ARG, "op %u of %u", (unsigned)op_index,
                       (unsigned)rt->num_ops);
  }
  op = &rt->ops[op_index];
  if (op->kind == FREEML_FOREIGN_OP) {
    return freeml_fail(error, FREEML_ERR_ARG, "op %u was not prepared here",
                       (unsigned)op_index);
  }
  if (tile.start < 0 || tile.start > tile.end || tile.end > op->units) {
    return freeml_fail(error, FREEML_ERR_ARG,
                       "tile [%d, %d) outside op %u's %d units",
                       (int)tile.start, (int)tile.end, (unsigned)op_index,
                       (int)op->units);
  }
  status = freeml_op_by_kind(op->kind)->eval(rt, op, tile, output);
  if (status != FREEML_OK) {
    return freeml_fail(error, status, "op %u failed in its kernel (status %d)",
                       (unsigned)op_index, (int)status);
  }
  return FREEML_OK;
}

freeml_status freeml_runtime_run_op(freeml_runtime *rt, uint32_t op_index,
                                    freeml_tile tile, freeml_error *error) {
  const freeml_op *op;
  if (rt->activations == 0 || rt->memory.nvm_bytes != 0) {
    return freeml_fail(error, FREEML_ERR_ARG,
                       "runtime is not initialised for plain execution");
  }
  if (op_index >= rt->num_ops || tile.start < 0 ||
      tile.start > rt->ops[op_index].units) {
    return freeml_runtime_run_tile(rt, op_index, tile, 0, error); /* refuses */
  }
  op = &rt->ops[op_index];
  return freeml_runtime_run_tile(
      rt, op_index, tile,
      rt->activations + rt->tensors[op->output].offset +
          (uint32_t)tile.start * op->unit_bytes,
      error);
}

freeml_status freeml_runtime_invoke(freeml_runtime *rt, freeml_error *error) {
  uint32_t i;
  for (i = 0; i < rt->num_ops; ++i) {
    freeml_tile all;
    freeml_status status;
    all.start = 0;
    all.end = rt->ops[i].units;
    status = freeml_runtime_run_op(rt, i, all, error);
    if (status != FREEML_OK) return status;
  }
  return FREEML_OK;
}
