#include <string.h>

#include "tflm_freeml/ops/ops.h"

/* Every op the runtime runs: builtin ops by code, custom ops by name. A
 * model with any other op is refused at init, naming the op. Keep in sync
 * with converter/ops.py (a test checks). */
static const freeml_op_registration kRegistry[] = {
    {FREEML_BUILTIN_CONV_2D, 0, freeml_prepare_conv2d, freeml_eval_conv2d},
    {FREEML_BUILTIN_DEPTHWISE_CONV_2D, 0, freeml_prepare_depthwise_conv2d,
     freeml_eval_depthwise_conv2d},
    {FREEML_BUILTIN_FULLY_CONNECTED, 0, freeml_prepare_fully_connected,
     freeml_eval_fully_connected},
    {FREEML_BUILTIN_ADD, 0, freeml_prepare_add, freeml_eval_add},
    {FREEML_BUILTIN_AVERAGE_POOL_2D, 0, freeml_prepare_avg_pool,
     freeml_eval_avg_pool},
    {FREEML_BUILTIN_MAX_POOL_2D, 0, freeml_prepare_max_pool,
     freeml_eval_max_pool},
    {FREEML_BUILTIN_MEAN, 0, freeml_prepare_mean, freeml_eval_mean},
    {FREEML_BUILTIN_RESHAPE, 0, freeml_prepare_reshape, freeml_eval_reshape},
    {FREEML_BUILTIN_SOFTMAX, 0, freeml_prepare_softmax, freeml_eval_softmax},
    {FREEML_BUILTIN_PAD, 0, freeml_prepare_pad, freeml_eval_pad},
    {FREEML_BUILTIN_PADV2, 0, freeml_prepare_pad, freeml_eval_pad},
    {FREEML_BUILTIN_CONCATENATION, 0, freeml_prepare_concatenation,
     freeml_eval_concatenation},
    {FREEML_BUILTIN_QUANTIZE, 0, freeml_prepare_quantize,
     freeml_eval_quantize},
    {FREEML_BUILTIN_DEQUANTIZE, 0, freeml_prepare_dequantize,
     freeml_eval_dequantize},
    /* Sparse filters (docs/sparse.md). */
    {FREEML_CUSTOM_OPCODE, "FREEML_SPARSE_CONV_2D",
     freeml_prepare_sparse_conv2d, freeml_eval_sparse_conv2d},
    {FREEML_CUSTOM_OPCODE, "FREEML_SPARSE_DEPTHWISE_CONV_2D",
     freeml_prepare_sparse_depthwise_conv2d,
     freeml_eval_sparse_depthwise_conv2d},
    {FREEML_CUSTOM_OPCODE, "FREEML_SPARSE_FULLY_CONNECTED",
     freeml_prepare_sparse_fully_connected,
     freeml_eval_sparse_fully_connected},
    /* The gNet exit head (docs/gnet.md). */
    {FREEML_CUSTOM_OPCODE, "FREEML_EXIT_ACCUMULATE",
     freeml_prepare_exit_accumulate, freeml_eval_exit_accumulate},
};

#define REGISTRY_SIZE (sizeof(kRegistry) / sizeof(kRegistry[0]))

const freeml_op_registration *freeml_find_op(int32_t builtin_code) {
  uint32_t i;
  for (i = 0; i < REGISTRY_SIZE; ++i) {
    if (kRegistry[i].custom_name == 0 &&
        kRegistry[i].builtin_code == builtin_code) {
      return &kRegistry[i];
    }
  }
  return 0;
}

const freeml_op_registration *freeml_find_custom_op(const uint8_t *name,
                                                    uint32_t length) {
  uint32_t i;
  for (i = 0; i < REGISTRY_SIZE; ++i) {
    const char *known = kRegistry[i].custom_name;
    if (known != 0 && strlen(known) == length &&
        memcmp(known, name, length) == 0) {
      return &kRegistry[i];
    }
  }
  return 0;
}

const freeml_op_registration *freeml_op_by_kind(uint8_t kind) {
  return kind < REGISTRY_SIZE ? &kRegistry[kind] : 0;
}

uint8_t freeml_op_kind(const freeml_op_registration *registration) {
  return (uint8_t)(registration - kRegistry);
}
