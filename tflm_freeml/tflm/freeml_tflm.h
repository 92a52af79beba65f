/*
 * FreeML's custom ops inside TFLM's interpreter: the sparse convolution,
 * depthwise convolution and fully connected ops (docs/sparse.md) and the
 * gNet exit (docs/gnet.md), for a firmware that keeps TFLM's
 * MicroInterpreter. TFLM runs the builtin ops; these run FreeML's.
 *
 * This header is the C half, free of TFLM types: the adapter prepares the
 * model's FreeML ops with the FreeML runtime's own prepare functions and
 * runs them with its kernels on the buffers TFLM hands over. The C++ half,
 * freeml_tflm_ops.h, registers the ops with a TFLM op resolver.
 *
 *   static uint8_t freeml_arena[N];    // N: see freeml_tflm_init
 *   static freeml_tflm_adapter freeml;
 *   freeml_tflm_init(&freeml, model, model_size, freeml_arena, N, &err);
 *   freeml_tflm::RegisterOps(resolver, &freeml);
 *   ... tflite::MicroInterpreter interpreter(model, resolver, ...);
 *   status = interpreter.Invoke();  // 15 (kTfLiteAbort): an early exit
 *
 * Exits: after each exit's op has run, the exit policy decides whether the
 * inference answers now. An answer writes the exit's int8 logits (the
 * FREEML_GNET metadata's scale and zero point) into the graph's first
 * output and stops TFLM's graph with kTfLiteAbort; freeml_tflm_exit then
 * gives the exit index. Without a policy, an exit answers when its
 * confidence margin reaches its calibrated threshold, as in the FreeML
 * runtime.
 */
#ifndef FREEML_TFLM_FREEML_TFLM_H_
#define FREEML_TFLM_FREEML_TFLM_H_

#include <stdint.h>

#include "tflm_freeml/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Called after exit `exit` is reached with its confidence (top-1 minus
 * top-2 int8 logit) and calibrated threshold (256: never by confidence
 * alone); returns nonzero to answer from this exit now. `user` is the
 * pointer given with the policy. An application that reads its energy
 * store decides here (docs/tflm.md). */
typedef int (*freeml_tflm_exit_policy)(void *user, uint32_t exit,
                                       int32_t margin, int32_t threshold);

typedef struct {
  freeml_runtime rt; /* the FreeML ops' parameters and the exit plan */
  freeml_tflm_exit_policy policy; /* 0: margin >= threshold */
  void *policy_user;
  uint32_t exit;          /* exit of the latest inference (see below) */
  int32_t answer_tensor;  /* the graph output an early answer goes to */
} freeml_tflm_adapter;

/* Prepares the FreeML ops and the exit plan of `model` (the same bytes the
 * interpreter runs, 4-byte aligned, kept in place) in `arena`, which must
 * stay allocated while the interpreter runs. The arena needs room for an op
 * table (28 bytes per op), a tensor table (12 bytes per tensor) and the
 * FreeML ops' parameters; a smaller one fails with FREEML_ERR_ARENA. Builtin
 * ops are TFLM's business and are not checked. */
freeml_status freeml_tflm_init(freeml_tflm_adapter *adapter,
                               const uint8_t *model, uint32_t model_size,
                               uint8_t *arena, uint32_t arena_size,
                               freeml_error *error);

/* Arena bytes freeml_tflm_init used. */
uint32_t freeml_tflm_arena_used(const freeml_tflm_adapter *adapter);

void freeml_tflm_set_exit_policy(freeml_tflm_adapter *adapter,
                                 freeml_tflm_exit_policy policy, void *user);

/* The exit the latest inference answered from: 0 .. exits - 1 for an early
 * answer (Invoke returned kTfLiteAbort), `exits` when it ran to the end.
 * 0 for a model without exits. */
uint32_t freeml_tflm_exit(const freeml_tflm_adapter *adapter);
uint32_t freeml_tflm_num_exits(const freeml_tflm_adapter *adapter);
uint32_t freeml_tflm_num_outputs(const freeml_tflm_adapter *adapter);

/* ---- for the op wrappers (freeml_tflm_ops.cc) ---- */

/* The model op that writes tensor `output` if it is one of FreeML's custom
 * ops; -1 otherwise. */
int32_t freeml_tflm_find_op(const freeml_tflm_adapter *adapter,
                            int32_t output);

/* Checks that the interpreter's node for op `op` reads the model's tensors
 * (`inputs`, `count` tensor indexes) and writes `output_bytes` bytes: a
 * model other than the adapter's fails here, at prepare time. */
freeml_status freeml_tflm_check_op(const freeml_tflm_adapter *adapter,
                                   int32_t op, const int32_t *inputs,
                                   uint32_t count, uint32_t output_bytes,
                                   freeml_error *error);

/* Runs op `op` whole, reading input slot i from `input_data[i]` (`count`
 * slots; constant inputs are read from the model) and writing `output`.
 * For an exit's op, then asks the exit policy: *answer is the exit to
 * answer from, or -1 to go on. */
freeml_status freeml_tflm_run_op(freeml_tflm_adapter *adapter, int32_t op,
                                 void *const *input_data, uint32_t count,
                                 void *output, int32_t *answer,
                                 freeml_error *error);

/* Writes exit `exit`'s int8 logits to `out` (`bytes` must be the class
 * count) and records the exit; valid right after freeml_tflm_run_op
 * returned it as the answer. */
freeml_status freeml_tflm_answer(freeml_tflm_adapter *adapter, uint32_t exit,
                                 int8_t *out, uint32_t bytes,
                                 freeml_error *error);

#ifdef __cplusplus
}
#endif

#endif /* FREEML_TFLM_FREEML_TFLM_H_ */
