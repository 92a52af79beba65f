#include <stdint.h>
#include <string.h>

#include "tflm_freeml/ops/filter_ops.h"

void *freeml_prepare_alloc(freeml_prepare_context *ctx, uint32_t bytes,
                           uint32_t *offset) {
  uint32_t start = (*ctx->arena_used + 7u) & ~7u;
  if (start > ctx->rt->arena_size || bytes > ctx->rt->arena_size - start) {
    freeml_fail(ctx->error, FREEML_ERR_ARENA,
                "arena of %u bytes is too small for the op parameters",
                (unsigned)ctx->rt->arena_size);
    return 0;
  }
  /* The alignment gap too: the prepared tables are the same bytes
   * whatever the arena held (their snapshot has a known CRC). */
  memset(ctx->rt->arena + *ctx->arena_used, 0,
         start + bytes - *ctx->arena_used);
  *ctx->arena_used = start + bytes;
  *offset = start;
  return ctx->rt->arena + start;
}

static freeml_status tensor_at(freeml_prepare_context *ctx, int32_t index,
                               const char *role, freeml_tensor_info *tensor) {
  freeml_error reason;
  freeml_status status =
      freeml_model_tensor(&ctx->rt->model, index, tensor, &reason);
  if (status != FREEML_OK) {
    return freeml_fail(ctx->error, status, "%s: %s", role, reason.message);
  }
  return FREEML_OK;
}

freeml_status freeml_prepare_input(freeml_prepare_context *ctx, uint32_t slot,
                                   const char *role, int32_t *index,
                                   freeml_tensor_info *tensor) {
  *index = freeml_op_input(&ctx->rt->model, ctx->op, slot);
  if (*index < 0) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL, "missing %s (input %u)",
                       role, (unsigned)slot);
  }
  return tensor_at(ctx, *index, role, tensor);
}

freeml_status freeml_prepare_constant_input(freeml_prepare_context *ctx,
                                            uint32_t slot, const char *role,
                                            int32_t type,
                                            freeml_tensor_info *tensor) {
  int32_t index;
  freeml_status s;
  if ((s = freeml_prepare_input(ctx, slot, role, &index, tensor)) !=
          FREEML_OK ||
      (s = freeml_expect_type(ctx, tensor, type, role)) != FREEML_OK) {
    return s;
  }
  return freeml_expect_constant(ctx, tensor, role);
}

freeml_status freeml_prepare_optional_input(freeml_prepare_context *ctx,
                                            uint32_t slot, const char *role,
                                            int32_t *index,
                                            freeml_tensor_info *tensor) {
  *index = freeml_op_input(&ctx->rt->model, ctx->op, slot);
  if (*index < 0) return FREEML_OK;
  return tensor_at(ctx, *index, role, tensor);
}

freeml_status freeml_prepare_output(freeml_prepare_context *ctx,
                                    freeml_tensor_info *tensor) {
  const int32_t index = freeml_op_output(&ctx->rt->model, ctx->op, 0);
  if (index < 0) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL, "missing output");
  }
  return tensor_at(ctx, index, "output", tensor);
}

static const char *type_name(int32_t type) {
  static const char *const kNames[] = {
      "float32", "float16", "int32", "uint8",   "int64",     "string",
      "bool",    "int16",   "complex64", "int8", "float64", "complex128",
      "uint64",  "resource", "variant", "uint32", "uint16",  "int4",
      "bfloat16"};
  if (type >= 0 && type < (int32_t)(sizeof(kNames) / sizeof(kNames[0]))) {
    return kNames[type];
  }
  return "an unknown type";
}

freeml_status freeml_expect_type(freeml_prepare_context *ctx,
                                 const freeml_tensor_info *tensor,
                                 int32_t type, const char *role) {
  if (tensor->type == type) return FREEML_OK;
  if (type == FREEML_TYPE_INT8 &&
      (tensor->type == FREEML_TYPE_FLOAT32 || tensor->type == 1 /* f16 */)) {
    return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                       "%s is %s: float and hybrid models are not supported, "
                       "quantize to full int8 (python -m converter)",
                       role, type_name(tensor->type));
  }
  return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                     "%s is %s, the runtime needs %s", role,
                     type_name(tensor->type), type_name(type));
}

freeml_status freeml_expect_constant(freeml_prepare_context *ctx,
                                     const freeml_tensor_info *tensor,
                                     const char *role) {
  if (tensor->data != 0) return FREEML_OK;
  return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                     "%s must be constant (stored in the model)", role);
}

freeml_status freeml_expect_bias_range(freeml_prepare_context *ctx,
                                       const freeml_tensor_info *bias) {
  uint32_t i;
  for (i = 0; i < bias->elements; ++i) {
    const uint8_t *b = bias->data + 4u * i;
    const int32_t value = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 |
                                    (uint32_t)b[2] << 16 |
                                    (uint32_t)b[3] << 24);
    if (value > FREEML_MAX_BIAS_MAGNITUDE ||
        value < -FREEML_MAX_BIAS_MAGNITUDE) {
      return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                         "bias %u is %d; the runtime takes at most 2^30 in "
                         "magnitude",
                         (unsigned)i, (int)value);
    }
  }
  return FREEML_OK;
}

freeml_status freeml_expect_activation(freeml_prepare_context *ctx,
                                       const freeml_tensor_info *tensor,
                                       const char *role) {
  if (tensor->data == 0) return FREEML_OK;
  return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                     "%s is a constant; the runtime expects an activation",
                     role);
}

freeml_status freeml_expect_per_tensor(freeml_prepare_context *ctx,
                                       const freeml_tensor_info *tensor,
                                       const char *role) {
  if (tensor->scales.length == 1) return FREEML_OK;
  if (tensor->scales.length == 0) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL, "%s is not quantized",
                       role);
  }
  return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                     "%s has per-channel quantization; this op needs one "
                     "scale",
                     role);
}

freeml_status freeml_expect_options(freeml_prepare_context *ctx,
                                    int32_t options_type) {
  if (ctx->op->options_type == options_type) return FREEML_OK;
  return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                     "options of type %d, expected %d",
                     (int)ctx->op->options_type, (int)options_type);
}

freeml_dims freeml_dims_of(const freeml_tensor_info *tensor) {
  int32_t padded[4] = {1, 1, 1, 1};
  int32_t d;
  freeml_dims dims;
  for (d = 0; d < tensor->rank; ++d) {
    padded[4 - tensor->rank + d] = tensor->shape[d];
  }
  dims.n = padded[0];
  dims.h = padded[1];
  dims.w = padded[2];
  dims.c = padded[3];
  return dims;
}

int freeml_dims_equal(const freeml_dims *a, const freeml_dims *b) {
  return a->n == b->n && a->h == b->h && a->w == b->w && a->c == b->c;
}

freeml_status freeml_prepare_const_data(freeml_prepare_context *ctx,
                                        const freeml_tensor_info *tensor,
                                        uint32_t alignment, uint32_t *ref) {
  uint32_t offset;
  void *copy;
  if (((uintptr_t)tensor->data & (alignment - 1u)) == 0) {
    *ref = (uint32_t)(tensor->data - ctx->rt->model.fb.data);
    return FREEML_OK;
  }
  copy = freeml_prepare_alloc(ctx, tensor->data_size, &offset);
  if (copy == 0) return FREEML_ERR_ARENA;
  memcpy(copy, tensor->data, tensor->data_size);
  *ref = offset | FREEML_DATA_IN_ARENA;
  return FREEML_OK;
}

int64_t freeml_const_int(const freeml_tensor_info *tensor, uint32_t i) {
  const uint32_t width = tensor->type == FREEML_TYPE_INT64 ? 8u : 4u;
  const uint8_t *p = tensor->data + width * i;
  uint64_t value = 0;
  uint32_t k;
  for (k = width; k > 0; --k) value = (value << 8) | p[k - 1]; /* little-endian */
  return width == 8u ? (int64_t)value : (int64_t)(int32_t)(uint32_t)value;
}

void freeml_padding_1d(int same, int32_t in, int32_t k, int32_t stride,
                       int32_t dilation, int32_t *out, int32_t *pad) {
  /* 64-bit: a hostile model's kernel size times dilation overflows int32.
   * A window larger than the input gives out <= 0, which no valid output
   * shape matches. */
  const int64_t effective = (int64_t)(k - 1) * dilation + 1;
  const int64_t n = same ? ((int64_t)in + stride - 1) / stride
                         : ((int64_t)in + stride - effective) / stride;
  const int64_t total = (n - 1) * stride + effective - in;
  *out = n < 0 ? 0 : (int32_t)n;
  *pad = total > 0 && total / 2 <= INT32_MAX ? (int32_t)(total / 2) : 0;
}

float freeml_scale(const freeml_prepare_context *ctx,
                   const freeml_tensor_info *tensor, uint32_t i) {
  return freeml_tensor_scale(&ctx->rt->model, tensor, i);
}

int32_t freeml_zero_point(const freeml_prepare_context *ctx,
                          const freeml_tensor_info *tensor) {
  return freeml_tensor_zero_point(&ctx->rt->model, tensor, 0);
}

freeml_status freeml_expect_int8_activations(freeml_prepare_context *ctx,
                                             const freeml_tensor_info *input,
                                             const freeml_tensor_info *output) {
  freeml_status s;
  if ((s = freeml_expect_type(ctx, input, FREEML_TYPE_INT8, "input")) !=
          FREEML_OK ||
      (s = freeml_expect_type(ctx, output, FREEML_TYPE_INT8, "output")) !=
          FREEML_OK ||
      (s = freeml_expect_activation(ctx, input, "input")) != FREEML_OK ||
      (s = freeml_expect_per_tensor(ctx, input, "input")) != FREEML_OK) {
    return s;
  }
  return freeml_expect_per_tensor(ctx, output, "output");
}

freeml_status freeml_prepare_bias(freeml_prepare_context *ctx,
                                  int32_t channels, const char *per,
                                  freeml_tensor_info *bias,
                                  uint32_t *bias_data, int32_t *bias_bytes) {
  int32_t index;
  freeml_status s;
  *bias_data = FREEML_NO_DATA;
  *bias_bytes = 4;
  if ((s = freeml_prepare_optional_input(ctx, 2, "bias", &index, bias)) !=
          FREEML_OK ||
      index < 0) {
    return s;
  }
  if (bias->type == FREEML_TYPE_INT16) {
    *bias_bytes = 2; /* always within FREEML_MAX_BIAS_MAGNITUDE */
  } else if ((s = freeml_expect_type(ctx, bias, FREEML_TYPE_INT32,
                                     "bias")) != FREEML_OK) {
    return s;
  }
  if ((s = freeml_expect_constant(ctx, bias, "bias")) != FREEML_OK ||
      (*bias_bytes == 4 &&
       (s = freeml_expect_bias_range(ctx, bias)) != FREEML_OK) ||
      (s = freeml_prepare_const_data(ctx, bias, (uint32_t)*bias_bytes,
                                     bias_data)) != FREEML_OK) {
    return s;
  }
  if ((int32_t)bias->elements != channels) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "bias has %u values for %d %s",
                       (unsigned)bias->elements, (int)channels, per);
  }
  return FREEML_OK;
}

freeml_status freeml_expect_int32_bias(freeml_prepare_context *ctx,
                                       int32_t bias_bytes) {
  if (bias_bytes == 4) return FREEML_OK;
  return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                     "int16 bias; only the FreeML sparse ops take one (the "
                     "int8 builtins take int32)");
}

freeml_status freeml_prepare_multipliers(freeml_prepare_context *ctx,
                                         const freeml_tensor_info *input,
                                         const freeml_tensor_info *filter,
                                         const freeml_tensor_info *output,
                                         int32_t channels, const char *per,
                                         int every_channel,
                                         uint32_t *multipliers,
                                         uint32_t *shifts) {
  const uint32_t scales = filter->scales.length;
  const uint32_t count = every_channel ? (uint32_t)channels : scales;
  float input_scale, output_scale, previous = -1.0f;
  freeml_quant q = {0, 0};
  int32_t *m, *sh;
  uint32_t c;
  if (scales != 1 && scales != (uint32_t)channels) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "filter has %u scales for %d %s", (unsigned)scales,
                       (int)channels, per);
  }
  m = (int32_t *)freeml_prepare_alloc(ctx, count * 4u, multipliers);
  sh = (int32_t *)freeml_prepare_alloc(ctx, count * 4u, shifts);
  if (m == 0 || sh == 0) return FREEML_ERR_ARENA;
  /* The kernels read these through the arena offsets; the pointers are used
   * only here, while the arena cannot move. Every boot prepares the model
   * again: the integer ratio (TFLM's double computation, bit for bit) and
   * one computation per distinct scale keep that cheap on a Cortex-M4. */
  input_scale = freeml_scale(ctx, input, 0);
  output_scale = freeml_scale(ctx, output, 0);
  for (c = 0; c < count; ++c) {
    const float filter_scale = freeml_scale(ctx, filter, scales == 1 ? 0u : c);
    if (filter_scale != previous) {
      q = freeml_quantize_multiplier_ratio(input_scale, filter_scale,
                                           output_scale);
      previous = filter_scale;
    }
    m[c] = q.multiplier;
    sh[c] = q.shift;
  }
  return FREEML_OK;
}

freeml_status freeml_custom_option_words(freeml_prepare_context *ctx,
                                         uint32_t count, const char *what,
                                         int32_t *words) {
  const freeml_fb_vector *v = &ctx->op->custom_options;
  const uint8_t *bytes = ctx->rt->model.fb.data + v->pos;
  uint32_t i;
  if (v->length != 4u * count) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "custom options of %u bytes; %s has %u int32",
                       (unsigned)v->length, what, (unsigned)count);
  }
  for (i = 0; i < count; ++i) {
    const uint8_t *b = bytes + 4u * i;
    words[i] = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 |
                         (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
  }
  return FREEML_OK;
}
