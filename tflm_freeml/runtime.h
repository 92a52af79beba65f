/*
 * FreeML runtime: runs an int8 .tflite model in place, op by op and tile by
 * tile, with all memory in one caller-owned arena.
 *
 * Arena layout: [op table | per-op parameters | tensor plans | activations].
 * Everything stored in the arena is position-independent (offsets, not
 * pointers) and has the same size on 32- and 64-bit targets, so the memory
 * use the host reports is the memory the device needs.
 *
 * Typical use:
 *   static uint8_t arena[N];          // N from the converter's report
 *   freeml_runtime rt;
 *   freeml_error err;
 *   if (freeml_runtime_init(&rt, model, model_len, arena, N, &err)) fail;
 *   freeml_runtime_tensor(&rt, freeml_runtime_input(&rt, 0), &view);
 *   memcpy(view.data, input, view.bytes);
 *   if (freeml_runtime_invoke(&rt, &err)) fail;
 */
#ifndef FREEML_RUNTIME_H_
#define FREEML_RUNTIME_H_

#include <stdint.h>

#include "kernels/freeml_kernels.h"
#include "tflm_freeml/errors.h"
#include "tflm_freeml/model_reader.h"
#include "tflm_freeml/planner.h"

/* Products (or summed values) per output an op may accumulate: with int8
 * operands (at most 255 * 255 per product) and biases of at most 2^30 in
 * magnitude, an int32 accumulator cannot overflow. */
#define FREEML_MAX_UNIT_MACS 16384u
#define FREEML_MAX_BIAS_MAGNITUDE (1 << 30)

/* One prepared operator. `params` is the arena offset of its kind's
 * parameter struct (see ops/ops.h). The kernel's work is `units` units; unit
 * u writes output bytes [u * unit_bytes, (u + 1) * unit_bytes). */
/* freeml_op.kind of an op left to another interpreter (see
 * freeml_runtime_prepare_custom_ops). */
#define FREEML_FOREIGN_OP 0xFFu

typedef struct {
  uint8_t kind;         /* freeml_op_kind, or FREEML_FOREIGN_OP */
  uint8_t reserved;
  uint16_t model_index; /* operator index in the model */
  uint32_t params;
  int32_t output;       /* tensor index of the op's output */
  int32_t units;        /* work units of the kernel (tile range upper bound) */
  uint32_t unit_bytes;  /* output bytes per unit */
  uint32_t unit_macs;   /* multiply-accumulates per unit (1 for ops without) */
  int32_t tile_units;   /* units per tile when run tile by tile */
} freeml_op;

typedef struct {
  uint32_t persistent_bytes; /* op table, parameters, tensor plans */
  uint32_t activation_bytes; /* planned activation area */
  uint32_t scratch_bytes;    /* tile scratch (intermittent mode only) */
  uint32_t total_bytes;      /* arena (SRAM) bytes needed, with alignment */
  uint32_t nvm_bytes;        /* NVM bytes needed (intermittent mode only):
                                control block, snapshot of the prepared
                                tables, activations, checksums */
  uint32_t snapshot_bytes;   /* of nvm_bytes, the snapshot's */
} freeml_memory_use;

/* The gNet exits of a model (docs/gnet.md), from its FREEML_GNET metadata.
 * Exit k's answer comes from accumulator tensor accumulator[k], valid once
 * op op[k] has run; exit `count` is the network's own output. A one-layer
 * head (rank 0) requantizes the accumulators to the logits; a two-layer
 * head requantizes them to `rank` int8 hidden units, then its output layer
 * (FULLY_CONNECTED, hidden -> classes) gives the logits. */
#define FREEML_MAX_EXITS 16
#define FREEML_MAX_EXIT_RANK 64
typedef struct {
  uint32_t count; /* early exits; 0: the model has no gNet */
  int32_t classes;
  int32_t rank;   /* hidden units of a two-layer head; 0: one layer */
  freeml_exit_logits_params accumulators; /* their requantization */
  uint32_t multipliers, shifts;           /* arena offsets of its quant */
  freeml_fc_params output;                /* the output layer (rank > 0) */
  uint32_t output_multipliers, output_shifts;
  int32_t output_weights, output_bias; /* tensors; bias -1: none */
  int32_t accumulator[FREEML_MAX_EXITS]; /* int32 [classes] tensors */
  int32_t op[FREEML_MAX_EXITS];          /* the op that completes each */
  int32_t threshold[FREEML_MAX_EXITS];   /* logit margin to answer early */
} freeml_exit_plan;

typedef struct {
  freeml_model model;
  freeml_exit_plan exits;
  uint8_t *arena; /* first 16-byte aligned byte of the caller's arena */
  uint32_t arena_size;
  freeml_op *ops;
  uint32_t num_ops;
  freeml_tensor_plan *tensors;
  uint32_t num_tensors;
  uint8_t *activations;
  freeml_memory_use memory;
} freeml_runtime;

/* A tensor as the runtime sees it. `data` is 0 for a tensor with no
 * storage (an unused tensor). Activation data is valid only while the
 * tensor is alive (see freeml_tensor_plan). */
typedef struct {
  uint8_t *data;
  uint32_t bytes;
  int32_t type; /* TFLite TensorType */
  int32_t rank;
  int32_t shape[FREEML_MAX_RANK];
  float scale;  /* first scale, 0 if not quantized */
  int32_t zero_point;
} freeml_tensor_view;

/* Reads and checks the model, prepares every op (parameters, multipliers)
 * and plans the activations. The model must stay in place (it is read, not
 * copied) and be 4-byte aligned; 16 is recommended. Fails with
 * FREEML_ERR_ARENA if `arena_size` is too small, FREEML_ERR_MODEL for a
 * malformed model and FREEML_ERR_UNSUPPORTED for ops or types the runtime
 * does not run; the message names the op, its index and its layer. */
freeml_status freeml_runtime_init(freeml_runtime *rt, const uint8_t *model,
                                  uint32_t model_size, uint8_t *arena,
                                  uint32_t arena_size, freeml_error *error);

/* Graph inputs and outputs, as tensor indexes. */
uint32_t freeml_runtime_num_inputs(const freeml_runtime *rt);
uint32_t freeml_runtime_num_outputs(const freeml_runtime *rt);
int32_t freeml_runtime_input(const freeml_runtime *rt, uint32_t i);
int32_t freeml_runtime_output(const freeml_runtime *rt, uint32_t i);

freeml_status freeml_runtime_tensor(const freeml_runtime *rt, int32_t index,
                                    freeml_tensor_view *view);

/* Runs the whole graph on the current input tensors. */
freeml_status freeml_runtime_invoke(freeml_runtime *rt, freeml_error *error);

/* Runs units [tile.start, tile.end) of op `op_index` (0 <= start <= end <=
 * freeml_runtime_op_units()) in place. Any split of an op into tiles, in
 * order, gives the bytes of one full run; re-running a tile is harmless. */
freeml_status freeml_runtime_run_op(freeml_runtime *rt, uint32_t op_index,
                                    freeml_tile tile, freeml_error *error);

/* ---- gNet exits (exits.c) ---- */

/* Exits complete before op `next_op` runs (0 .. exits.count). */
uint32_t freeml_exits_reached(const freeml_runtime *rt, uint32_t next_op);

/* Exit `exit`'s int8 logits (exits.classes bytes) from its
 * accumulators; the exit must be reached. */
freeml_status freeml_exit_logits(const freeml_runtime *rt, uint32_t exit,
                                 int8_t *logits);

/* Confidence of exit `exit`: its top-1 minus top-2 int8 logit (255 with one
 * class). */
int32_t freeml_exit_margin(const freeml_runtime *rt, uint32_t exit);

/* Reads the exit plan from the model's metadata and checks it against the
 * graph (called by freeml_runtime_prepare, after the ops are prepared);
 * its multipliers take arena bytes from `*arena_used` on. */
freeml_status freeml_exits_prepare(freeml_runtime *rt, uint32_t *arena_used,
                                   freeml_error *error);

/* ---- for the intermittent runtime (intermittent.h) ---- */

/* freeml_runtime_init without placing the activations: reads the model,
 * prepares the ops (using `memory.persistent_bytes` of the arena) and plans
 * the activation area (`memory.activation_bytes`); `activations` stays 0
 * until the caller points it at memory of that size. */
freeml_status freeml_runtime_prepare(freeml_runtime *rt,
                                     const uint8_t *model, uint32_t model_size,
                                     uint8_t *arena, uint32_t arena_size,
                                     freeml_error *error);

/* Only the first step of freeml_runtime_prepare: opens the model and points
 * `ops` and `tensors` at the start of the arena (zeroed), for a caller that
 * restores their prepared contents (freeml_intermittent_boot). */
freeml_status freeml_runtime_open(freeml_runtime *rt, const uint8_t *model,
                                  uint32_t model_size, uint8_t *arena,
                                  uint32_t arena_size, freeml_error *error);

/* For another interpreter that runs the builtin ops (tflm_freeml/tflm/):
 * reads the model and prepares only its FreeML custom ops and exit plan,
 * using `memory.persistent_bytes` of the arena. Builtin ops are neither
 * checked nor prepared, and no activations are planned: the caller points
 * `activations` and the tensors' offsets at its own buffers before running
 * a custom op with freeml_runtime_run_tile. */
freeml_status freeml_runtime_prepare_custom_ops(
    freeml_runtime *rt, const uint8_t *model, uint32_t model_size,
    uint8_t *arena, uint32_t arena_size, freeml_error *error);

/* Runs a tile of op `op_index` and writes its output units to `output`
 * (tile.end - tile.start units of `unit_bytes` each), reading the inputs
 * from the activation area. */
freeml_status freeml_runtime_run_tile(freeml_runtime *rt, uint32_t op_index,
                                      freeml_tile tile, void *output,
                                      freeml_error *error);
int32_t freeml_runtime_op_units(const freeml_runtime *rt, uint32_t op_index);

/* Tensor index of output `i` of op `op_index` (-1 if none). */
int32_t freeml_runtime_op_output(const freeml_runtime *rt, uint32_t op_index,
                                 uint32_t i);

#endif /* FREEML_RUNTIME_H_ */
