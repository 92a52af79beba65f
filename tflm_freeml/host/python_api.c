/*
 * Entry points for the Python binding (tflm_freeml/runtime.py), which loads
 * the runtime as a shared library through ctypes. They expose what ctypes
 * cannot know from the headers: struct sizes and fields by accessor.
 */
#include <string.h>

#include "tflm_freeml/host/nvm_memory.h"
#include "tflm_freeml/intermittent.h"
#include "tflm_freeml/runtime.h"

uint32_t freeml_py_runtime_size(void) { return (uint32_t)sizeof(freeml_runtime); }

void freeml_py_memory(const freeml_runtime *rt, uint32_t *persistent_bytes,
                      uint32_t *activation_bytes, uint32_t *total_bytes) {
  *persistent_bytes = rt->memory.persistent_bytes;
  *activation_bytes = rt->memory.activation_bytes;
  *total_bytes = rt->memory.total_bytes;
}

uint32_t freeml_py_num_ops(const freeml_runtime *rt) { return rt->num_ops; }

/* ---- gNet exits ---- */

/* The exit plan: count, classes, and per exit its op and threshold (arrays
 * of FREEML_MAX_EXITS). */
uint32_t freeml_py_exit_plan(const freeml_runtime *rt, int32_t *classes,
                             int32_t *ops, int32_t *thresholds) {
  uint32_t k;
  *classes = rt->exits.classes;
  for (k = 0; k < rt->exits.count; ++k) {
    ops[k] = rt->exits.op[k];
    thresholds[k] = rt->exits.threshold[k];
  }
  return rt->exits.count;
}

/* One plain inference that also records every exit's int8 logits (count *
 * classes bytes) as its op completes: an exit's accumulators are only
 * alive until the next exit's op has run. */
freeml_status freeml_py_invoke_exits(freeml_runtime *rt, int8_t *logits,
                                     freeml_error *error) {
  uint32_t i, k = 0;
  for (i = 0; i < rt->num_ops; ++i) {
    freeml_tile all;
    freeml_status status;
    all.start = 0;
    all.end = rt->ops[i].units;
    if ((status = freeml_runtime_run_op(rt, i, all, error)) != FREEML_OK) {
      return status;
    }
    if (k < rt->exits.count && (uint32_t)rt->exits.op[k] == i) {
      freeml_exit_logits(rt, k, logits + k * rt->exits.classes);
      ++k;
    }
  }
  return FREEML_OK;
}

/* ---- intermittent mode (tflm_freeml/intermittent.py) ---- */

/* The tile plan of a model: memory needs and, per op, its tiles. */
typedef struct {
  uint32_t persistent_bytes;
  uint32_t activation_bytes;
  uint32_t scratch_bytes;
  uint32_t total_bytes;
  uint32_t nvm_bytes;
  uint32_t num_ops;
  uint32_t num_tensors;
  uint32_t checksum_offset;
  uint32_t activations_offset;
  uint32_t snapshot_bytes;
  uint32_t snapshot_crc;
} freeml_py_plan;

/* Per-op arrays hold FREEML_MAX_OPERATORS entries, per-tensor arrays
 * FREEML_MAX_TENSORS. */
int32_t freeml_py_intermittent_plan(
    const uint8_t *model, uint32_t model_size, uint8_t *arena,
    uint32_t arena_size, const freeml_intermittent_config *config,
    freeml_py_plan *plan, int32_t *units, int32_t *tile_units,
    uint32_t *unit_bytes, uint32_t *unit_macs, int32_t *op_output,
    uint32_t *tensor_offset, uint32_t *tensor_bytes, int32_t *first_op,
    int32_t *last_op, freeml_error *error) {
  freeml_intermittent it;
  uint32_t i;
  freeml_status status = freeml_intermittent_init(
      &it, model, model_size, arena, arena_size, config, error);
  if (status != FREEML_OK) return status;
  plan->persistent_bytes = it.rt.memory.persistent_bytes;
  plan->activation_bytes = it.rt.memory.activation_bytes;
  plan->scratch_bytes = it.rt.memory.scratch_bytes;
  plan->total_bytes = it.rt.memory.total_bytes;
  plan->nvm_bytes = it.rt.memory.nvm_bytes;
  plan->num_ops = it.rt.num_ops;
  plan->num_tensors = it.rt.num_tensors;
  plan->checksum_offset = it.checksum_offset;
  plan->activations_offset = it.activations_offset;
  plan->snapshot_bytes = it.rt.memory.snapshot_bytes;
  plan->snapshot_crc = it.snapshot_crc;
  for (i = 0; i < it.rt.num_ops; ++i) {
    units[i] = it.rt.ops[i].units;
    tile_units[i] = it.rt.ops[i].tile_units;
    unit_bytes[i] = it.rt.ops[i].unit_bytes;
    unit_macs[i] = it.rt.ops[i].unit_macs;
    op_output[i] = it.rt.ops[i].output;
  }
  for (i = 0; i < it.rt.num_tensors; ++i) {
    tensor_offset[i] = it.rt.tensors[i].offset;
    tensor_bytes[i] = it.rt.tensors[i].bytes;
    first_op[i] = it.rt.tensors[i].first_op;
    last_op[i] = it.rt.tensors[i].last_op;
  }
  return FREEML_OK;
}

/* What one boot did and where it left the committed progress. */
typedef struct {
  uint64_t macs;
  uint64_t nvm_bytes_written;
  uint32_t tiles;
  uint32_t commits;
  uint32_t nvm_writes;
  uint32_t state;
  uint32_t run_id;
  uint32_t op;
  uint32_t tile;
  uint32_t sequence;
  uint32_t restored; /* the prepared tables came from the NVM snapshot */
} freeml_py_boot;

/* The co-simulation's hooks (converter/simulate): before every NVM write
 * it learns the committed progress (state, op, tile), how many tiles this
 * boot has computed (a tile's writes follow its computation, so a new count
 * means tile (op, tile) was just computed) and the write's size, and may
 * make power fail during that write (nonzero); the adaptive run asks it for
 * the energy available before every tile. */
typedef int (*freeml_py_write_hook)(void *user, uint32_t state, uint32_t op,
                                    uint32_t tile, uint32_t tiles_computed,
                                    uint32_t bytes);
typedef uint64_t (*freeml_py_energy_hook)(void *user, uint64_t work_done);

typedef struct {
  freeml_nvm_memory memory;
  freeml_nvm_port port; /* asks the hook, then writes to `memory` */
  const freeml_intermittent *it;
  freeml_py_write_hook on_write;
  void *user;
} supervised_nvm;

static int supervised_write(void *context, uint32_t offset, const void *data,
                            uint32_t bytes) {
  supervised_nvm *s = (supervised_nvm *)context;
  if (s->on_write(s->user, s->it->committed.state, s->it->committed.op,
                  s->it->committed.tile, s->it->stats.tiles, bytes) != 0) {
    s->memory.fail_at_write = s->memory.writes + 1u;
  }
  return s->memory.port.write(&s->memory, offset, data, bytes);
}

static int supervised_barrier(void *context) {
  supervised_nvm *s = (supervised_nvm *)context;
  return s->memory.port.barrier(&s->memory);
}

/* Copies the answer to `outputs`: exit k's int8 logits for an early exit,
 * else the graph outputs one after the other. */
static freeml_status copy_answer(const freeml_intermittent *it,
                                 uint8_t *outputs, uint32_t outputs_size,
                                 freeml_error *error) {
  const uint32_t exit = freeml_intermittent_exit(it);
  uint32_t i, written = 0;
  if (exit < it->rt.exits.count) {
    if ((uint32_t)it->rt.exits.classes > outputs_size) {
      return freeml_fail(error, FREEML_ERR_ARG, "output buffer too small");
    }
    return freeml_exit_logits(&it->rt, exit, (int8_t *)outputs);
  }
  for (i = 0; i < freeml_runtime_num_outputs(&it->rt); ++i) {
    freeml_tensor_view view;
    freeml_runtime_tensor(&it->rt, freeml_runtime_output(&it->rt, i), &view);
    if (view.bytes > outputs_size - written) {
      return freeml_fail(error, FREEML_ERR_ARG, "output buffer too small");
    }
    memcpy(outputs + written, view.data, view.bytes);
    written += view.bytes;
  }
  return FREEML_OK;
}

/* One power-on: SRAM (the arena) starts as garbage, the runtime is built
 * again, and the run resumes from `nvm`. Without hooks (on_write 0) power
 * fails at write `fail_at_write` (0: never) and the run goes to the end;
 * with them, the run is adaptive (exits by confidence and energy) and the
 * hooks decide where power fails. On success the answer is copied to
 * `outputs` (see copy_answer) and *exit is the exit answered from. */
int32_t freeml_py_intermittent_boot(
    const uint8_t *model, uint32_t model_size, uint8_t *arena,
    uint32_t arena_size, const freeml_intermittent_config *config,
    uint8_t *nvm_data, uint32_t nvm_size, uint64_t fail_at_write,
    freeml_py_write_hook on_write, freeml_py_energy_hook available,
    void *user, const void *const *inputs, uint8_t *outputs,
    uint32_t outputs_size, freeml_py_boot *result, uint32_t *exit,
    freeml_error *notice, freeml_error *error) {
  freeml_intermittent it;
  supervised_nvm nvm;
  freeml_energy_port energy;
  freeml_status status;
  memset(result, 0, sizeof(*result));
  notice->message[0] = '\0';
  memset(arena, 0xA5, arena_size);
  freeml_nvm_memory_init(&nvm.memory, nvm_data, nvm_size, fail_at_write);
  status = freeml_intermittent_boot(&it, model, model_size, arena, arena_size,
                                    config, &nvm.memory.port, error);
  if (status != FREEML_OK) return status;
  result->restored = (uint32_t)it.restored;
  if (on_write == 0) {
    status = freeml_intermittent_run(&it, &nvm.memory.port, inputs, notice,
                                     error);
  } else {
    nvm.port = nvm.memory.port;
    nvm.port.context = &nvm;
    nvm.port.write = supervised_write;
    nvm.port.barrier = supervised_barrier;
    nvm.it = &it;
    nvm.on_write = on_write;
    nvm.user = user;
    energy.available = available;
    energy.context = user;
    status = freeml_intermittent_run_adaptive(&it, &nvm.port, inputs, &energy,
                                              0, notice, error);
  }
  result->macs = it.stats.macs;
  result->nvm_bytes_written = it.stats.nvm_bytes_written;
  result->tiles = it.stats.tiles;
  result->commits = it.stats.commits;
  result->nvm_writes = it.stats.nvm_writes;
  result->state = it.committed.state;
  result->run_id = it.committed.run_id;
  result->op = it.committed.op;
  result->tile = it.committed.tile;
  result->sequence = it.committed.sequence;
  result->restored = (uint32_t)it.restored;
  if (status != FREEML_OK) return status;
  *exit = freeml_intermittent_exit(&it);
  return copy_answer(&it, outputs, outputs_size, error);
}
