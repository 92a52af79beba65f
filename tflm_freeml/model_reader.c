#include "tflm_freeml/model_reader.h"

#include <float.h>
#include <string.h>

/* Field indexes of the TFLite schema (schema.fbs, version 3). */
enum { MODEL_VERSION = 0, MODEL_OPCODES = 1, MODEL_SUBGRAPHS = 2,
       MODEL_BUFFERS = 4, MODEL_METADATA = 6 };
enum { METADATA_NAME = 0, METADATA_BUFFER = 1 };
enum { OPCODE_DEPRECATED_BUILTIN = 0, OPCODE_CUSTOM_CODE = 1,
       OPCODE_BUILTIN = 3 };
enum { SUBGRAPH_TENSORS = 0, SUBGRAPH_INPUTS = 1, SUBGRAPH_OUTPUTS = 2,
       SUBGRAPH_OPERATORS = 3 };
enum { TENSOR_SHAPE = 0, TENSOR_TYPE = 1, TENSOR_BUFFER = 2, TENSOR_NAME = 3,
       TENSOR_QUANTIZATION = 4, TENSOR_IS_VARIABLE = 5, TENSOR_SPARSITY = 6 };
enum { QUANT_SCALE = 2, QUANT_ZERO_POINT = 3, QUANT_DIMENSION = 6 };
enum { OP_OPCODE_INDEX = 0, OP_INPUTS = 1, OP_OUTPUTS = 2,
       OP_OPTIONS_TYPE = 3, OP_OPTIONS = 4, OP_CUSTOM_OPTIONS = 5 };
enum { BUFFER_DATA = 0, BUFFER_OFFSET = 1, BUFFER_SIZE = 2 };

#define SCHEMA_VERSION 3u

static freeml_status corrupt(freeml_error *error, const char *what) {
  return freeml_fail(error, FREEML_ERR_MODEL,
                     "corrupt .tflite: %s is out of bounds or malformed",
                     what);
}

freeml_status freeml_model_open(freeml_model *model, const uint8_t *data,
                                uint32_t size, freeml_error *error) {
  freeml_fb_table root;
  freeml_fb_table subgraph;
  freeml_fb_vector subgraphs;
  uint32_t version = 0;
  memset(model, 0, sizeof(*model));
  model->fb.data = data;
  model->fb.size = size;
  if (data == 0 || size < 8 || memcmp(data + 4, "TFL3", 4) != 0) {
    return freeml_fail(error, FREEML_ERR_MODEL,
                       "not a .tflite model (no TFL3 identifier)");
  }
  if (freeml_fb_root(&model->fb, &root) != FREEML_FB_PRESENT) {
    return corrupt(error, "the root table");
  }
  if (freeml_fb_u32(&model->fb, &root, MODEL_VERSION, 0, &version) < 0) {
    return corrupt(error, "the schema version");
  }
  if (version != SCHEMA_VERSION) {
    return freeml_fail(error, FREEML_ERR_MODEL,
                       "unsupported .tflite schema version %u (expected %u)",
                       (unsigned)version, SCHEMA_VERSION);
  }
  if (freeml_fb_vector_field(&model->fb, &root, MODEL_OPCODES, 4,
                             &model->opcodes) < 0 ||
      freeml_fb_vector_field(&model->fb, &root, MODEL_BUFFERS, 4,
                             &model->buffers) < 0) {
    return corrupt(error, "the operator code or buffer list");
  }
  if (freeml_fb_vector_field(&model->fb, &root, MODEL_SUBGRAPHS, 4,
                             &subgraphs) != FREEML_FB_PRESENT ||
      subgraphs.length == 0) {
    return freeml_fail(error, FREEML_ERR_MODEL, "model has no subgraph");
  }
  model->num_subgraphs = subgraphs.length;
  if (freeml_fb_vector_table(&model->fb, &subgraphs, 0, &subgraph) !=
          FREEML_FB_PRESENT ||
      freeml_fb_vector_field(&model->fb, &subgraph, SUBGRAPH_TENSORS, 4,
                             &model->tensors) < 0 ||
      freeml_fb_vector_field(&model->fb, &subgraph, SUBGRAPH_OPERATORS, 4,
                             &model->operators) < 0 ||
      freeml_fb_vector_field(&model->fb, &subgraph, SUBGRAPH_INPUTS, 4,
                             &model->inputs) < 0 ||
      freeml_fb_vector_field(&model->fb, &subgraph, SUBGRAPH_OUTPUTS, 4,
                             &model->outputs) < 0) {
    return corrupt(error, "subgraph 0");
  }
  if (model->tensors.length > FREEML_MAX_TENSORS) {
    return freeml_fail(error, FREEML_ERR_MODEL,
                       "model has %u tensors, the runtime's limit is %u",
                       (unsigned)model->tensors.length,
                       (unsigned)FREEML_MAX_TENSORS);
  }
  if (model->operators.length > FREEML_MAX_OPERATORS) {
    return freeml_fail(error, FREEML_ERR_MODEL,
                       "model has %u operators, the runtime's limit is %u",
                       (unsigned)model->operators.length,
                       (unsigned)FREEML_MAX_OPERATORS);
  }
  if (model->inputs.length == 0 || model->inputs.length > FREEML_MAX_IO ||
      model->outputs.length == 0 || model->outputs.length > FREEML_MAX_IO) {
    return freeml_fail(error, FREEML_ERR_MODEL,
                       "model has %u inputs and %u outputs; 1 to %u of each "
                       "are supported",
                       (unsigned)model->inputs.length,
                       (unsigned)model->outputs.length,
                       (unsigned)FREEML_MAX_IO);
  }
  return FREEML_OK;
}

static uint32_t type_size(int32_t type) {
  switch (type) {
    case FREEML_TYPE_FLOAT32:
    case FREEML_TYPE_INT32:
      return 4;
    case FREEML_TYPE_INT64:
      return 8;
    case FREEML_TYPE_INT16:
      return 2;
    case FREEML_TYPE_INT8:
    case FREEML_TYPE_UINT8:
    case FREEML_TYPE_INT4: /* packed: tensor bytes round up half of this */
      return 1;
    default:
      return 0;
  }
}

/* Finds buffer `index`'s bytes: inline data, or (for models over 2 GB) an
 * offset/size pair relative to the start of the file. */
static freeml_status buffer_data(const freeml_model *model, uint32_t index,
                                 const uint8_t **data, uint32_t *size,
                                 freeml_error *error) {
  freeml_fb_table buffer;
  freeml_fb_vector bytes;
  uint64_t offset = 0;
  uint64_t length = 0;
  *data = 0;
  *size = 0;
  if (index == 0) return FREEML_OK; /* buffer 0 is the empty sentinel */
  if (index >= model->buffers.length) {
    return freeml_fail(error, FREEML_ERR_MODEL,
                       "tensor refers to buffer %u of %u", (unsigned)index,
                       (unsigned)model->buffers.length);
  }
  if (freeml_fb_vector_table(&model->fb, &model->buffers, index, &buffer) !=
          FREEML_FB_PRESENT ||
      freeml_fb_vector_field(&model->fb, &buffer, BUFFER_DATA, 1, &bytes) <
          0 ||
      freeml_fb_u64(&model->fb, &buffer, BUFFER_OFFSET, 0, &offset) < 0 ||
      freeml_fb_u64(&model->fb, &buffer, BUFFER_SIZE, 0, &length) < 0) {
    return corrupt(error, "a buffer");
  }
  if (bytes.length > 0) {
    *data = model->fb.data + bytes.pos;
    *size = bytes.length;
  } else if (offset > 1) { /* offset 1 marks "no data" in the schema */
    if (offset > model->fb.size || length > model->fb.size - offset) {
      return corrupt(error, "an external buffer");
    }
    *data = model->fb.data + offset;
    *size = (uint32_t)length;
  }
  return FREEML_OK;
}

/* Scales must be finite and positive (their quotients become integer
 * multipliers; weights may have 0), and zero points inside the range of the
 * tensor's type (the kernels add them to values in 32-bit arithmetic). */
static freeml_status check_quantization(const freeml_model *model,
                                        int32_t index,
                                        const freeml_tensor_info *tensor,
                                        freeml_error *error) {
  const int64_t lowest = tensor->type == FREEML_TYPE_INT8 ? -128 : -32768;
  const int64_t highest = tensor->type == FREEML_TYPE_INT8 ? 127 : 65535;
  uint32_t i;
  for (i = 0; i < tensor->scales.length; ++i) {
    const float scale = freeml_fb_vector_f32(&model->fb, &tensor->scales, i);
    const int64_t zero_point =
        freeml_fb_vector_i64(&model->fb, &tensor->zero_points, i);
    /* `scale > 0` is false for NaN too; FLT_MAX excludes infinity. A
     * constant (weights) may have scale 0, as an all-zero channel does:
     * only activation scales divide. */
    const int zero_allowed = tensor->data != 0 && scale == 0.0f;
    if (!((scale > 0.0f && scale <= FLT_MAX) || zero_allowed)) {
      return freeml_fail(error, FREEML_ERR_MODEL,
                         "tensor %d has scale %g: scales must be finite and "
                         "positive",
                         (int)index, (double)scale);
    }
    if (zero_point < lowest || zero_point > highest) {
      return freeml_fail(error, FREEML_ERR_MODEL,
                         "tensor %d has zero point %ld, outside %ld..%ld",
                         (int)index, (long)zero_point, (long)lowest,
                         (long)highest);
    }
  }
  return FREEML_OK;
}

freeml_status freeml_model_metadata(const freeml_model *model,
                                    const char *name, const uint8_t **data,
                                    uint32_t *size, freeml_error *error) {
  const uint32_t name_length = (uint32_t)strlen(name);
  freeml_fb_table root;
  freeml_fb_vector entries;
  uint32_t i;
  *data = 0;
  *size = 0;
  if (freeml_fb_root(&model->fb, &root) != FREEML_FB_PRESENT) {
    return corrupt(error, "the root table");
  }
  switch (freeml_fb_vector_field(&model->fb, &root, MODEL_METADATA, 4,
                                 &entries)) {
    case FREEML_FB_ABSENT:
      return FREEML_OK;
    case FREEML_FB_CORRUPT:
      return corrupt(error, "the metadata list");
    default:
      break;
  }
  for (i = 0; i < entries.length; ++i) {
    freeml_fb_table entry;
    freeml_fb_vector entry_name;
    uint32_t buffer = 0;
    if (freeml_fb_vector_table(&model->fb, &entries, i, &entry) !=
            FREEML_FB_PRESENT ||
        freeml_fb_vector_field(&model->fb, &entry, METADATA_NAME, 1,
                               &entry_name) < 0 ||
        freeml_fb_u32(&model->fb, &entry, METADATA_BUFFER, 0, &buffer) < 0) {
      return corrupt(error, "a metadata entry");
    }
    if (entry_name.length == name_length &&
        memcmp(model->fb.data + entry_name.pos, name, name_length) == 0) {
      if (buffer == 0) {
        return freeml_fail(error, FREEML_ERR_MODEL,
                           "metadata '%s' has no buffer", name);
      }
      return buffer_data(model, buffer, data, size, error);
    }
  }
  return FREEML_OK;
}

freeml_status freeml_model_tensor(const freeml_model *model, int32_t index,
                                  freeml_tensor_info *tensor,
                                  freeml_error *error) {
  freeml_fb_table table;
  freeml_fb_table quant;
  freeml_fb_table sparsity;
  freeml_fb_vector shape;
  int8_t type = 0;
  uint8_t is_variable = 0;
  uint32_t buffer = 0;
  uint64_t elements = 1;
  uint32_t size;
  uint32_t d;
  freeml_status status;
  memset(tensor, 0, sizeof(*tensor));
  if (index < 0 || (uint32_t)index >= model->tensors.length) {
    return freeml_fail(error, FREEML_ERR_MODEL,
                       "tensor index %d is outside 0..%u", (int)index,
                       (unsigned)model->tensors.length);
  }
  if (freeml_fb_vector_table(&model->fb, &model->tensors, (uint32_t)index,
                             &table) != FREEML_FB_PRESENT ||
      freeml_fb_vector_field(&model->fb, &table, TENSOR_SHAPE, 4, &shape) <
          0 ||
      freeml_fb_i8(&model->fb, &table, TENSOR_TYPE, 0, &type) < 0 ||
      freeml_fb_u32(&model->fb, &table, TENSOR_BUFFER, 0, &buffer) < 0 ||
      freeml_fb_vector_field(&model->fb, &table, TENSOR_NAME, 1,
                             &tensor->name) < 0 ||
      freeml_fb_u8(&model->fb, &table, TENSOR_IS_VARIABLE, 0, &is_variable) <
          0) {
    return corrupt(error, "a tensor");
  }
  tensor->type = type;
  tensor->is_variable = is_variable;
  if (shape.length > FREEML_MAX_RANK) {
    return freeml_fail(error, FREEML_ERR_UNSUPPORTED,
                       "tensor %d has rank %u; the runtime supports up to %d",
                       (int)index, (unsigned)shape.length, FREEML_MAX_RANK);
  }
  tensor->rank = (int32_t)shape.length;
  for (d = 0; d < shape.length; ++d) {
    int32_t dim = freeml_fb_vector_i32(&model->fb, &shape, d);
    if (dim <= 0 || dim > (int32_t)FREEML_MAX_TENSOR_BYTES) {
      return freeml_fail(error, FREEML_ERR_MODEL,
                         "tensor %d has dimension %u of size %d", (int)index,
                         (unsigned)d, (int)dim);
    }
    tensor->shape[d] = dim;
    elements *= (uint64_t)dim;
    if (elements > FREEML_MAX_TENSOR_BYTES) {
      return freeml_fail(error, FREEML_ERR_MODEL,
                         "tensor %d is larger than the runtime's limit of "
                         "%u bytes",
                         (int)index, (unsigned)FREEML_MAX_TENSOR_BYTES);
    }
  }
  tensor->elements = (uint32_t)elements;
  size = type_size(type);
  if ((uint64_t)tensor->elements * size > FREEML_MAX_TENSOR_BYTES) {
    return freeml_fail(error, FREEML_ERR_MODEL,
                       "tensor %d is larger than the runtime's limit of %u "
                       "bytes",
                       (int)index, (unsigned)FREEML_MAX_TENSOR_BYTES);
  }
  tensor->bytes = type == FREEML_TYPE_INT4 ? (tensor->elements + 1u) / 2u
                                           : tensor->elements * size;

  status = buffer_data(model, buffer, &tensor->data, &tensor->data_size,
                       error);
  if (status != FREEML_OK) return status;
  if (tensor->data != 0 && size != 0 && tensor->data_size != tensor->bytes) {
    return freeml_fail(error, FREEML_ERR_MODEL,
                       "tensor %d holds %u bytes of data, its shape needs %u",
                       (int)index, (unsigned)tensor->data_size,
                       (unsigned)tensor->bytes);
  }

  switch (freeml_fb_table_field(&model->fb, &table, TENSOR_SPARSITY,
                                &sparsity)) {
    case FREEML_FB_ABSENT:
      break;
    case FREEML_FB_PRESENT:
      return freeml_fail(error, FREEML_ERR_UNSUPPORTED,
                         "tensor %d uses TFLite sparsity, which the runtime "
                         "does not read",
                         (int)index);
    default:
      return corrupt(error, "a tensor's sparsity");
  }
  switch (freeml_fb_table_field(&model->fb, &table, TENSOR_QUANTIZATION,
                                &quant)) {
    case FREEML_FB_ABSENT:
      return FREEML_OK;
    case FREEML_FB_PRESENT:
      break;
    default:
      return corrupt(error, "a tensor's quantization");
  }
  if (freeml_fb_vector_field(&model->fb, &quant, QUANT_SCALE, 4,
                             &tensor->scales) < 0 ||
      freeml_fb_vector_field(&model->fb, &quant, QUANT_ZERO_POINT, 8,
                             &tensor->zero_points) < 0 ||
      freeml_fb_i32(&model->fb, &quant, QUANT_DIMENSION, 0,
                    &tensor->quantized_dimension) < 0) {
    return corrupt(error, "a tensor's quantization");
  }
  if (tensor->scales.length > 0 &&
      tensor->zero_points.length != tensor->scales.length) {
    return freeml_fail(error, FREEML_ERR_MODEL,
                       "tensor %d has %u scales but %u zero points",
                       (int)index, (unsigned)tensor->scales.length,
                       (unsigned)tensor->zero_points.length);
  }
  /* A sparse filter (UINT8, docs/sparse.md) keeps one scale per filter on
   * its shape [bytes]: the op that reads it checks the count. */
  if (tensor->scales.length > 1 && tensor->type != FREEML_TYPE_UINT8 &&
      (tensor->quantized_dimension < 0 ||
       tensor->quantized_dimension >= tensor->rank ||
       (int32_t)tensor->scales.length !=
           tensor->shape[tensor->quantized_dimension])) {
    return freeml_fail(error, FREEML_ERR_MODEL,
                       "tensor %d has %u scales along dimension %d, which "
                       "does not match its shape",
                       (int)index, (unsigned)tensor->scales.length,
                       (int)tensor->quantized_dimension);
  }
  return check_quantization(model, index, tensor, error);
}

freeml_status freeml_model_operator(const freeml_model *model, int32_t index,
                                    freeml_operator_info *op,
                                    freeml_error *error) {
  freeml_fb_table table;
  freeml_fb_table opcode;
  uint32_t opcode_index = 0;
  uint8_t options_type = 0;
  int8_t deprecated = 0;
  int32_t builtin = 0;
  memset(op, 0, sizeof(*op));
  if (index < 0 || (uint32_t)index >= model->operators.length) {
    return freeml_fail(error, FREEML_ERR_MODEL, "operator %d does not exist",
                       (int)index);
  }
  if (freeml_fb_vector_table(&model->fb, &model->operators, (uint32_t)index,
                             &table) != FREEML_FB_PRESENT ||
      freeml_fb_u32(&model->fb, &table, OP_OPCODE_INDEX, 0, &opcode_index) <
          0 ||
      freeml_fb_vector_field(&model->fb, &table, OP_INPUTS, 4, &op->inputs) <
          0 ||
      freeml_fb_vector_field(&model->fb, &table, OP_OUTPUTS, 4,
                             &op->outputs) < 0 ||
      freeml_fb_u8(&model->fb, &table, OP_OPTIONS_TYPE, 0, &options_type) <
          0) {
    return corrupt(error, "an operator");
  }
  if (opcode_index >= model->opcodes.length) {
    return freeml_fail(error, FREEML_ERR_MODEL,
                       "operator %d uses op code %u of %u", (int)index,
                       (unsigned)opcode_index,
                       (unsigned)model->opcodes.length);
  }
  if (freeml_fb_vector_table(&model->fb, &model->opcodes, opcode_index,
                             &opcode) != FREEML_FB_PRESENT ||
      freeml_fb_i8(&model->fb, &opcode, OPCODE_DEPRECATED_BUILTIN, 0,
                   &deprecated) < 0 ||
      freeml_fb_i32(&model->fb, &opcode, OPCODE_BUILTIN, 0, &builtin) < 0) {
    return corrupt(error, "an operator code");
  }
  /* Older converters fill only the deprecated int8 field; newer ones put
   * 127 there for codes that do not fit. The larger one is the op. */
  op->opcode = builtin > deprecated ? builtin : deprecated;
  if (op->opcode == FREEML_CUSTOM_OPCODE &&
      (freeml_fb_vector_field(&model->fb, &opcode, OPCODE_CUSTOM_CODE, 1,
                              &op->custom_code) < 0 ||
       freeml_fb_vector_field(&model->fb, &table, OP_CUSTOM_OPTIONS, 1,
                              &op->custom_options) < 0)) {
    return corrupt(error, "a custom operator's name or options");
  }
  if (op->inputs.length > FREEML_MAX_OP_INPUTS || op->outputs.length == 0 ||
      op->outputs.length > FREEML_MAX_IO) {
    return freeml_fail(error, FREEML_ERR_MODEL,
                       "operator %d has %u inputs and %u outputs", (int)index,
                       (unsigned)op->inputs.length,
                       (unsigned)op->outputs.length);
  }
  op->options_type = options_type;
  if (options_type != 0) {
    freeml_fb_result r =
        freeml_fb_table_field(&model->fb, &table, OP_OPTIONS, &op->options);
    if (r < 0) return corrupt(error, "an operator's options");
    if (r == FREEML_FB_ABSENT) op->options_type = 0;
  }
  return FREEML_OK;
}

int32_t freeml_op_input(const freeml_model *model,
                        const freeml_operator_info *op, uint32_t i) {
  if (i >= op->inputs.length) return -1;
  return freeml_fb_vector_i32(&model->fb, &op->inputs, i);
}

int32_t freeml_op_output(const freeml_model *model,
                         const freeml_operator_info *op, uint32_t i) {
  if (i >= op->outputs.length) return -1;
  return freeml_fb_vector_i32(&model->fb, &op->outputs, i);
}

float freeml_tensor_scale(const freeml_model *model,
                          const freeml_tensor_info *tensor, uint32_t i) {
  return freeml_fb_vector_f32(&model->fb, &tensor->scales, i);
}

int32_t freeml_tensor_zero_point(const freeml_model *model,
                                 const freeml_tensor_info *tensor,
                                 uint32_t i) {
  return (int32_t)freeml_fb_vector_i64(&model->fb, &tensor->zero_points, i);
}

void freeml_tensor_name(const freeml_model *model,
                        const freeml_tensor_info *tensor, char *out,
                        uint32_t out_size) {
  uint32_t n = tensor->name.length;
  if (out_size == 0) return;
  if (n > out_size - 1) n = out_size - 1;
  if (n > 0) memcpy(out, model->fb.data + tensor->name.pos, n);
  out[n] = '\0';
}

const char *freeml_operator_name(const freeml_model *model,
                                 const freeml_operator_info *op, char *out,
                                 uint32_t out_size) {
  static const char prefix[] = "CUSTOM(";
  const uint8_t *name = model->fb.data + op->custom_code.pos;
  uint32_t pos = 0, k;
  if (out_size == 0) return out;
  if (op->opcode != FREEML_CUSTOM_OPCODE || op->custom_code.length == 0) {
    const char *builtin = freeml_op_name(op->opcode, out, out_size);
    if (builtin != out) {
      for (k = 0; builtin[k] != '\0' && pos + 1 < out_size; ++k) {
        out[pos++] = builtin[k];
      }
      out[pos] = '\0';
    }
    return out;
  }
  for (k = 0; prefix[k] != '\0' && pos + 1 < out_size; ++k) {
    out[pos++] = prefix[k];
  }
  for (k = 0; k < op->custom_code.length && pos + 2 < out_size; ++k) {
    out[pos++] = name[k] >= 0x20 && name[k] < 0x7F ? (char)name[k] : '?';
  }
  if (pos + 1 < out_size) out[pos++] = ')';
  out[pos] = '\0';
  return out;
}

const char *freeml_op_name(int32_t opcode, char *out, uint32_t out_size) {
  /* Names of the ops a user is likely to meet; others print their code. */
  static const struct {
    int32_t code;
    const char *name;
  } kNames[] = {
      {0, "ADD"},         {1, "AVERAGE_POOL_2D"},
      {2, "CONCATENATION"}, {3, "CONV_2D"},
      {4, "DEPTHWISE_CONV_2D"}, {6, "DEQUANTIZE"},
      {9, "FULLY_CONNECTED"}, {14, "LOGISTIC"},
      {16, "LSTM"},       {17, "MAX_POOL_2D"},
      {18, "MUL"},        {19, "RELU"},
      {21, "RELU6"},      {22, "RESHAPE"},
      {23, "RESIZE_BILINEAR"}, {25, "SOFTMAX"},
      {28, "TANH"},       {32, "CUSTOM"},
      {34, "PAD"},        {39, "TRANSPOSE"},
      {40, "MEAN"},       {41, "SUB"},
      {42, "DIV"},        {43, "SQUEEZE"},
      {44, "UNIDIRECTIONAL_SEQUENCE_LSTM"}, {45, "STRIDED_SLICE"},
      {49, "SPLIT"},      {53, "CAST"},
      {55, "MAXIMUM"},    {57, "MINIMUM"},
      {60, "PADV2"},      {67, "TRANSPOSE_CONV"},
      {70, "EXPAND_DIMS"}, {74, "SUM"},
      {76, "RSQRT"},      {77, "SHAPE"},
      {82, "REDUCE_MAX"}, {83, "PACK"},
      {88, "UNPACK"},     {92, "SQUARE"},
      {97, "RESIZE_NEAREST_NEIGHBOR"}, {98, "LEAKY_RELU"},
      {114, "QUANTIZE"},  {117, "HARD_SWISH"},
      {126, "BATCH_MATMUL"}, {150, "GELU"},
  };
  uint32_t i;
  for (i = 0; i < sizeof(kNames) / sizeof(kNames[0]); ++i) {
    if (kNames[i].code == opcode) return kNames[i].name;
  }
  if (out_size > 0) {
    /* Small itoa: avoids pulling printf into the lookup. */
    char digits[12];
    uint32_t n = 0;
    uint32_t value = opcode < 0 ? 0u : (uint32_t)opcode;
    const char prefix[] = "BUILTIN_";
    uint32_t pos = 0;
    uint32_t k;
    do {
      digits[n++] = (char)('0' + value % 10u);
      value /= 10u;
    } while (value != 0 && n < sizeof(digits));
    for (k = 0; prefix[k] != '\0' && pos + 1 < out_size; ++k) {
      out[pos++] = prefix[k];
    }
    while (n > 0 && pos + 1 < out_size) out[pos++] = digits[--n];
    out[pos] = '\0';
  }
  return out;
}
