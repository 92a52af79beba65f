/*
 * TFLite model reader: the parts of the .tflite schema the runtime needs,
 * read in place with every offset checked (see flatbuffer.h).
 *
 * Limits are enforced here, once, so that later stages can size arrays and
 * do int32 arithmetic on shapes without overflow checks of their own.
 */
#ifndef FREEML_MODEL_READER_H_
#define FREEML_MODEL_READER_H_

#include <stdint.h>

#include "tflm_freeml/errors.h"
#include "tflm_freeml/flatbuffer.h"

#define FREEML_MAX_TENSORS 1024   /* tensors in the executed subgraph */
#define FREEML_MAX_OPERATORS 512  /* operators in the executed subgraph */
#define FREEML_MAX_OP_INPUTS 16   /* inputs of one operator */
#define FREEML_MAX_RANK 4         /* dims of any tensor */
#define FREEML_MAX_IO 8           /* graph inputs, graph outputs */
#define FREEML_MAX_TENSOR_BYTES (1u << 28) /* one tensor's data */

/* BuiltinOperator code of custom ops: OperatorCode.custom_code names them. */
#define FREEML_CUSTOM_OPCODE 32

/* TFLite TensorType codes the runtime understands. */
enum {
  FREEML_TYPE_FLOAT32 = 0,
  FREEML_TYPE_INT32 = 2,
  FREEML_TYPE_UINT8 = 3,
  FREEML_TYPE_INT64 = 4,
  FREEML_TYPE_INT16 = 7,
  FREEML_TYPE_INT8 = 9,
  FREEML_TYPE_INT4 = 17 /* two per byte, the first in the low nibble */
};

typedef struct {
  freeml_fb_buffer fb;
  freeml_fb_vector opcodes;
  freeml_fb_vector buffers;
  freeml_fb_vector tensors;   /* of subgraph 0 */
  freeml_fb_vector operators; /* of subgraph 0 */
  freeml_fb_vector inputs;    /* graph input tensor indexes */
  freeml_fb_vector outputs;   /* graph output tensor indexes */
  uint32_t num_subgraphs;
} freeml_model;

typedef struct {
  int32_t type;      /* TFLite TensorType */
  int32_t rank;      /* 0..FREEML_MAX_RANK */
  int32_t shape[FREEML_MAX_RANK];
  uint32_t elements; /* product of the shape */
  uint32_t bytes;    /* bytes of the elements (0 for unknown types) */
  const uint8_t *data; /* constant data in the model, or 0 */
  uint32_t data_size;
  freeml_fb_vector scales;      /* float32; length 0 if not quantized */
  freeml_fb_vector zero_points; /* int64 */
  int32_t quantized_dimension;
  int32_t is_variable;
  freeml_fb_vector name; /* bytes, not NUL-terminated */
} freeml_tensor_info;

typedef struct {
  int32_t opcode; /* BuiltinOperator, max of builtin and deprecated code */
  int32_t options_type;          /* BuiltinOptions union type, 0 if none */
  freeml_fb_table options;       /* valid if options_type != 0 */
  freeml_fb_vector inputs;       /* int32 tensor indexes (-1: optional) */
  freeml_fb_vector outputs;
  /* Custom ops (opcode FREEML_CUSTOM_OPCODE) only; length 0 otherwise or
   * when absent. Bytes in the model, not NUL-terminated. */
  freeml_fb_vector custom_code;    /* the op's name */
  freeml_fb_vector custom_options; /* its options, a format of its own */
} freeml_operator_info;

/* Opens a model: checks the identifier, the schema version and the basic
 * structure of subgraph 0. */
freeml_status freeml_model_open(freeml_model *model, const uint8_t *data,
                                uint32_t size, freeml_error *error);

/* The bytes of the metadata entry named `name` (a NUL-terminated string);
 * *data is 0 when the model has no such entry. */
freeml_status freeml_model_metadata(const freeml_model *model,
                                    const char *name, const uint8_t **data,
                                    uint32_t *size, freeml_error *error);

/* Tensor `index` of subgraph 0, with its shape, quantization and constant
 * data checked against the limits above. */
freeml_status freeml_model_tensor(const freeml_model *model, int32_t index,
                                  freeml_tensor_info *tensor,
                                  freeml_error *error);

freeml_status freeml_model_operator(const freeml_model *model, int32_t index,
                                    freeml_operator_info *op,
                                    freeml_error *error);

/* Tensor index of input `i` of an operator (-1 for an omitted optional). */
int32_t freeml_op_input(const freeml_model *model,
                        const freeml_operator_info *op, uint32_t i);
int32_t freeml_op_output(const freeml_model *model,
                         const freeml_operator_info *op, uint32_t i);

float freeml_tensor_scale(const freeml_model *model,
                          const freeml_tensor_info *tensor, uint32_t i);
int32_t freeml_tensor_zero_point(const freeml_model *model,
                                 const freeml_tensor_info *tensor, uint32_t i);

/* Copies a tensor's name into `out` (truncated, always NUL-terminated). */
void freeml_tensor_name(const freeml_model *model,
                        const freeml_tensor_info *tensor, char *out,
                        uint32_t out_size);

/* Human name of a builtin op code ("CONV_2D"), or "BUILTIN_<n>". The name
 * is written to `out` when the code is unknown. */
const char *freeml_op_name(int32_t opcode, char *out, uint32_t out_size);

/* Name of an operator for messages: its builtin name, or for a custom op
 * "CUSTOM(<custom_code>)" (truncated to fit, bytes outside printable ASCII
 * shown as '?'). Always written to `out`, which it returns. */
const char *freeml_operator_name(const freeml_model *model,
                                 const freeml_operator_info *op, char *out,
                                 uint32_t out_size);

#endif /* FREEML_MODEL_READER_H_ */
