/*
 * Operator registry of the runtime, TFLM style: each supported op (a builtin
 * op by its code, a custom op by its name: registry.c) has a prepare
 * function (validates the op and writes its parameter struct into the
 * arena: shapes, multipliers, data offsets; sets the op's units and MACs
 * per unit) and an eval function (runs a tile through the kernel, writing
 * its units at `output`, which points at unit tile.start; no validation, no
 * allocation).
 *
 * Parameter structs hold offsets, not pointers: weights as offsets into the
 * model, activations as tensor indexes, per-channel arrays as arena offsets.
 */
#ifndef FREEML_OPS_H_
#define FREEML_OPS_H_

#include <stdint.h>

#include "kernels/freeml_kernels.h"
#include "tflm_freeml/runtime.h"

#define FREEML_NO_DATA 0xFFFFFFFFu
/* Set in a constant-data reference when the data was copied into the arena
 * (its place in the model was not aligned for its type). */
#define FREEML_DATA_IN_ARENA 0x80000000u

/* Builtin op codes of the TFLite schema that the runtime runs. */
enum {
  FREEML_BUILTIN_ADD = 0,
  FREEML_BUILTIN_AVERAGE_POOL_2D = 1,
  FREEML_BUILTIN_CONCATENATION = 2,
  FREEML_BUILTIN_CONV_2D = 3,
  FREEML_BUILTIN_DEPTHWISE_CONV_2D = 4,
  FREEML_BUILTIN_DEQUANTIZE = 6,
  FREEML_BUILTIN_FULLY_CONNECTED = 9,
  FREEML_BUILTIN_MAX_POOL_2D = 17,
  FREEML_BUILTIN_RESHAPE = 22,
  FREEML_BUILTIN_SOFTMAX = 25,
  FREEML_BUILTIN_PAD = 34,
  FREEML_BUILTIN_MEAN = 40,
  FREEML_BUILTIN_PADV2 = 60,
  FREEML_BUILTIN_QUANTIZE = 114
};

/* BuiltinOptions union types, checked before an options table is read. */
enum {
  FREEML_OPTIONS_CONV2D = 1,
  FREEML_OPTIONS_DEPTHWISE_CONV2D = 2,
  FREEML_OPTIONS_POOL2D = 5,
  FREEML_OPTIONS_FULLY_CONNECTED = 8,
  FREEML_OPTIONS_SOFTMAX = 9,
  FREEML_OPTIONS_CONCATENATION = 10,
  FREEML_OPTIONS_ADD = 11,
  FREEML_OPTIONS_REDUCER = 27
};

/* State of one op's preparation. */
typedef struct {
  freeml_runtime *rt;
  uint32_t *arena_used; /* bump offset of the persistent area */
  const freeml_operator_info *op;
  freeml_error *error; /* the reason, without the op prefix */
} freeml_prepare_context;

typedef freeml_status (*freeml_prepare_fn)(freeml_prepare_context *ctx,
                                           freeml_op *op);
typedef freeml_status (*freeml_eval_fn)(freeml_runtime *rt,
                                        const freeml_op *op,
                                        freeml_tile tile, void *output);

typedef struct {
  int32_t builtin_code;    /* FREEML_CUSTOM_OPCODE for a custom op */
  const char *custom_name; /* a custom op's custom_code; 0 for builtins */
  freeml_prepare_fn prepare;
  freeml_eval_fn eval;
} freeml_op_registration;

/* The registration of a builtin op code, or 0 if the runtime lacks it. */
const freeml_op_registration *freeml_find_op(int32_t builtin_code);
/* The registration of the custom op named by `length` bytes at `name` (no
 * NUL needed), or 0 if the runtime lacks it. */
const freeml_op_registration *freeml_find_custom_op(const uint8_t *name,
                                                    uint32_t length);
/* Registration by index into the registry (freeml_op.kind). */
const freeml_op_registration *freeml_op_by_kind(uint8_t kind);
uint8_t freeml_op_kind(const freeml_op_registration *registration);

/* ---- helpers for prepare functions (ops/op_util.c) ---- */

/* Reserves `bytes` (8-byte aligned) in the persistent area; returns 0 and
 * sets an arena error when it does not fit. `*offset` gets the arena offset. */
void *freeml_prepare_alloc(freeml_prepare_context *ctx, uint32_t bytes,
                           uint32_t *offset);

/* Input `slot` of the op as tensor info; `role` names it in errors. Fails if
 * the slot is missing. */
freeml_status freeml_prepare_input(freeml_prepare_context *ctx, uint32_t slot,
                                   const char *role, int32_t *index,
                                   freeml_tensor_info *tensor);
/* The op's output (every supported op has exactly one). */
freeml_status freeml_prepare_output(freeml_prepare_context *ctx,
                                    freeml_tensor_info *tensor);
/* Optional input (bias): *index is -1 when omitted. */
freeml_status freeml_prepare_optional_input(freeml_prepare_context *ctx,
                                            uint32_t slot, const char *role,
                                            int32_t *index,
                                            freeml_tensor_info *tensor);

/* Input `slot`, named `role`: a constant tensor of TFLite type `type`. */
freeml_status freeml_prepare_constant_input(freeml_prepare_context *ctx,
                                            uint32_t slot, const char *role,
                                            int32_t type,
                                            freeml_tensor_info *tensor);

/* Fails unless `tensor` has TFLite type `type`, naming float and hybrid
 * models for what they are. */
freeml_status freeml_expect_type(freeml_prepare_context *ctx,
                                 const freeml_tensor_info *tensor,
                                 int32_t type, const char *role);
/* Every int32 value of a constant bias within FREEML_MAX_BIAS_MAGNITUDE. */
freeml_status freeml_expect_bias_range(freeml_prepare_context *ctx,
                                       const freeml_tensor_info *bias);
/* Fails unless the tensor is constant (weights) / not constant. */
freeml_status freeml_expect_constant(freeml_prepare_context *ctx,
                                     const freeml_tensor_info *tensor,
                                     const char *role);
freeml_status freeml_expect_activation(freeml_prepare_context *ctx,
                                       const freeml_tensor_info *tensor,
                                       const char *role);
/* Fails unless the tensor has per-tensor quantization (one scale). */
freeml_status freeml_expect_per_tensor(freeml_prepare_context *ctx,
                                       const freeml_tensor_info *tensor,
                                       const char *role);
/* Fails unless the options table has the expected union type. */
freeml_status freeml_expect_options(freeml_prepare_context *ctx,
                                    int32_t options_type);

/* NHWC dims of a tensor of rank <= 4, padded with leading 1s. */
freeml_dims freeml_dims_of(const freeml_tensor_info *tensor);
int freeml_dims_equal(const freeml_dims *a, const freeml_dims *b);

/* Reference to a constant tensor's data for eval (see freeml_const_data):
 * its offset in the model when aligned to `alignment` (1 or 4 bytes), or a
 * copy in the arena otherwise, so that kernels read int32 data directly. */
freeml_status freeml_prepare_const_data(freeml_prepare_context *ctx,
                                        const freeml_tensor_info *tensor,
                                        uint32_t alignment, uint32_t *ref);

/* A custom op's options as `count` little-endian int32 words; fails unless
 * there are exactly that many. `what` names the op in the message. */
freeml_status freeml_custom_option_words(freeml_prepare_context *ctx,
                                         uint32_t count, const char *what,
                                         int32_t *words);

/* Element i of a constant int32 or int64 tensor (axes, paddings). */
int64_t freeml_const_int(const freeml_tensor_info *tensor, uint32_t i);

/* TFLM's ComputePaddingHeightWidth for one axis: the output size and the
 * top/left padding (`same`: SAME padding, else VALID). */
void freeml_padding_1d(int same, int32_t in, int32_t k, int32_t stride,
                       int32_t dilation, int32_t *out, int32_t *pad);

float freeml_scale(const freeml_prepare_context *ctx,
                   const freeml_tensor_info *tensor, uint32_t i);
int32_t freeml_zero_point(const freeml_prepare_context *ctx,
                          const freeml_tensor_info *tensor);

/* ---- helpers for eval functions ---- */

static inline int8_t *freeml_activation_data(const freeml_runtime *rt,
                                             int32_t tensor) {
  return (int8_t *)(rt->activations + rt->tensors[tensor].offset);
}

static inline const void *freeml_const_data(const freeml_runtime *rt,
                                            uint32_t ref) {
  if (ref == FREEML_NO_DATA) return 0;
  if (ref & FREEML_DATA_IN_ARENA) return rt->arena + (ref & ~FREEML_DATA_IN_ARENA);
  return rt->model.fb.data + ref;
}

static inline const void *freeml_arena_data(const freeml_runtime *rt,
                                            uint32_t offset) {
  return rt->arena + offset;
}

/* ---- prepare/eval pairs, one file per op family ---- */
freeml_status freeml_prepare_conv2d(freeml_prepare_context *, freeml_op *);
freeml_status freeml_eval_conv2d(freeml_runtime *, const freeml_op *,
                                 freeml_tile, void *);
freeml_status freeml_prepare_depthwise_conv2d(freeml_prepare_context *,
                                              freeml_op *);
freeml_status freeml_eval_depthwise_conv2d(freeml_runtime *,
                                           const freeml_op *, freeml_tile, void *);
freeml_status freeml_prepare_fully_connected(freeml_prepare_context *,
                                             freeml_op *);
freeml_status freeml_eval_fully_connected(freeml_runtime *, const freeml_op *,
                                          freeml_tile, void *);
freeml_status freeml_prepare_avg_pool(freeml_prepare_context *, freeml_op *);
freeml_status freeml_eval_avg_pool(freeml_runtime *, const freeml_op *,
                                   freeml_tile, void *);
freeml_status freeml_prepare_max_pool(freeml_prepare_context *, freeml_op *);
freeml_status freeml_eval_max_pool(freeml_runtime *, const freeml_op *,
                                   freeml_tile, void *);
freeml_status freeml_prepare_add(freeml_prepare_context *, freeml_op *);
freeml_status freeml_eval_add(freeml_runtime *, const freeml_op *,
                              freeml_tile, void *);
freeml_status freeml_prepare_mean(freeml_prepare_context *, freeml_op *);
freeml_status freeml_eval_mean(freeml_runtime *, const freeml_op *,
                               freeml_tile, void *);
freeml_status freeml_prepare_softmax(freeml_prepare_context *, freeml_op *);
freeml_status freeml_eval_softmax(freeml_runtime *, const freeml_op *,
                                  freeml_tile, void *);
freeml_status freeml_prepare_pad(freeml_prepare_context *, freeml_op *);
freeml_status freeml_eval_pad(freeml_runtime *, const freeml_op *,
                              freeml_tile, void *);
freeml_status freeml_prepare_concatenation(freeml_prepare_context *,
                                           freeml_op *);
freeml_status freeml_eval_concatenation(freeml_runtime *, const freeml_op *,
                                        freeml_tile, void *);
freeml_status freeml_prepare_reshape(freeml_prepare_context *, freeml_op *);
freeml_status freeml_eval_reshape(freeml_runtime *, const freeml_op *,
                                  freeml_tile, void *);
freeml_status freeml_prepare_quantize(freeml_prepare_context *, freeml_op *);
freeml_status freeml_eval_quantize(freeml_runtime *, const freeml_op *,
                                   freeml_tile, void *);
freeml_status freeml_prepare_dequantize(freeml_prepare_context *,
                                        freeml_op *);
freeml_status freeml_eval_dequantize(freeml_runtime *, const freeml_op *,
                                     freeml_tile, void *);
/* The gNet exit head (exit_ops.c, docs/gnet.md). */
freeml_status freeml_prepare_exit_accumulate(freeml_prepare_context *,
                                             freeml_op *);
freeml_status freeml_eval_exit_accumulate(freeml_runtime *, const freeml_op *,
                                          freeml_tile, void *);
/* The sparse custom ops of docs/sparse.md (sparse_ops.c). */
freeml_status freeml_prepare_sparse_conv2d(freeml_prepare_context *,
                                           freeml_op *);
freeml_status freeml_prepare_sparse_depthwise_conv2d(freeml_prepare_context *,
                                                     freeml_op *);
freeml_status freeml_eval_sparse_conv2d(freeml_runtime *, const freeml_op *,
                                        freeml_tile, void *);
freeml_status freeml_eval_sparse_depthwise_conv2d(freeml_runtime *,
                                                  const freeml_op *,
                                                  freeml_tile, void *);
freeml_status freeml_prepare_sparse_fully_connected(freeml_prepare_context *,
                                                    freeml_op *);
freeml_status freeml_eval_sparse_fully_connected(freeml_runtime *,
                                                 const freeml_op *,
                                                 freeml_tile, void *);

#endif /* FREEML_OPS_H_ */
