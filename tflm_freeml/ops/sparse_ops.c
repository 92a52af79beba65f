/* The sparse custom ops of docs/sparse.md: FREEML_SPARSE_CONV_2D,
 * FREEML_SPARSE_DEPTHWISE_CONV_2D and FREEML_SPARSE_FULLY_CONNECTED. Their
 * options are 14 little-endian int32 in custom_options; the filter is a
 * constant UINT8 tensor holding its encoding, checked once here. Everything
 * else is prepared as for the dense ops (filter_ops.h). */
#include "tflm_freeml/ops/filter_ops.h"

enum { OPTIONS_WORDS = 14, OPTIONS_VERSION = 1 };
/* Words of custom_options. */
enum { OPT_VERSION = 0, OPT_FORMAT = 1, OPT_ENTRIES = 2, OPT_SHAPE = 3,
       OPT_PADDING = 7, OPT_STRIDE_H = 8, OPT_STRIDE_W = 9,
       OPT_DILATION_H = 10, OPT_DILATION_W = 11, OPT_ACTIVATION = 12,
       OPT_DEPTH_MULTIPLIER = 13, OPT_FC_ACTIVATION = 7, OPT_FC_UNUSED = 8 };

typedef enum { SPARSE_CONV, SPARSE_DEPTHWISE, SPARSE_FC } sparse_kind;

/* The filter's encoding, for freeml_sparse_filter_view at eval. */
typedef struct {
  int32_t format;
  int32_t filters;
  int32_t filter_size;
  int32_t entries;
  uint32_t data; /* reference for freeml_const_data */
} sparse_encoding;

typedef struct {
  freeml_conv_layer layer;
  sparse_encoding filter;
} sparse_conv_params;

typedef struct {
  freeml_fc_layer layer;
  sparse_encoding filter;
} sparse_fc_params;

static const char *kind_name(sparse_kind kind) {
  return kind == SPARSE_CONV        ? "CONV_2D"
         : kind == SPARSE_DEPTHWISE ? "DEPTHWISE_CONV_2D"
                                    : "FULLY_CONNECTED";
}

/* custom_options as int32 words: the exact size, the version, a format the
 * op may use. */
static freeml_status read_options(freeml_prepare_context *ctx,
                                  sparse_kind kind,
                                  int32_t words[OPTIONS_WORDS]) {
  int32_t base, flags;
  freeml_status s = freeml_custom_option_words(
      ctx, OPTIONS_WORDS, "a sparse op (docs/sparse.md)", words);
  if (s != FREEML_OK) return s;
  if (words[OPT_VERSION] != OPTIONS_VERSION) {
    return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                       "sparse options version %d; this runtime reads "
                       "version %d",
                       (int)words[OPT_VERSION], OPTIONS_VERSION);
  }
  /* The op's formats, each with int8 or (+ FREEML_SPARSE_INT4) int4 values,
   * bitmask also with (+ FREEML_SPARSE_INT2) 2-bit values. */
  flags = words[OPT_FORMAT] & (FREEML_SPARSE_INT4 | FREEML_SPARSE_INT2);
  base = words[OPT_FORMAT] & ~flags;
  if (flags == (FREEML_SPARSE_INT4 | FREEML_SPARSE_INT2) ||
      (words[OPT_FORMAT] & ~(flags | 3)) != 0 ||
      (base != FREEML_SPARSE_BITMASK &&
       (flags == FREEML_SPARSE_INT2 ||
        base != (kind == SPARSE_FC ? FREEML_SPARSE_CSR
                                   : FREEML_SPARSE_DELTA)))) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "sparse format %d; %s takes %d (%s) or %d (bitmask), "
                       "plus %d for int4 values, or bitmask plus %d for "
                       "2-bit values",
                       (int)words[OPT_FORMAT], kind_name(kind),
                       (int)(kind == SPARSE_FC ? FREEML_SPARSE_CSR
                                               : FREEML_SPARSE_DELTA),
                       kind == SPARSE_FC ? "CSR" : "delta",
                       (int)FREEML_SPARSE_BITMASK, (int)FREEML_SPARSE_INT4,
                       (int)FREEML_SPARSE_INT2);
  }
#if defined(FREEML_SPARSE_NO_INT4)
  if (flags == FREEML_SPARSE_INT4) {
    return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                       "sparse format %d has int4 values, which this build "
                       "leaves out (FREEML_SPARSE_NO_INT4)",
                       (int)words[OPT_FORMAT]);
  }
#endif
#if defined(FREEML_SPARSE_NO_INT2)
  if (flags == FREEML_SPARSE_INT2) {
    return freeml_fail(ctx->error, FREEML_ERR_UNSUPPORTED,
                       "sparse format %d has 2-bit values, which this build "
                       "leaves out (FREEML_SPARSE_NO_INT2)",
                       (int)words[OPT_FORMAT]);
  }
#endif
  return FREEML_OK;
}

/* Words that have no meaning for the op must be 0. */
static freeml_status expect_zero_words(freeml_prepare_context *ctx,
                                       const int32_t *words, int32_t first,
                                       int32_t last) {
  int32_t i;
  for (i = first; i <= last; ++i) {
    if (words[i] != 0) {
      return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                         "custom options word %d is %d, expected 0", (int)i,
                         (int)words[i]);
    }
  }
  return FREEML_OK;
}

/* The encoded filter (input 1): a constant 1-D UINT8 tensor whose
 * quantization has one scale, or one per filter, and zero points 0. */
static freeml_status prepare_filter(freeml_prepare_context *ctx,
                                    int32_t filters,
                                    freeml_tensor_info *filter) {
  uint32_t i, scales;
  freeml_status s;
  if ((s = freeml_prepare_constant_input(ctx, 1, "filter", FREEML_TYPE_UINT8,
                                         filter)) != FREEML_OK) {
    return s;
  }
  if (filter->rank != 1) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "encoded filter must be 1-D, got rank %d",
                       (int)filter->rank);
  }
  scales = filter->scales.length;
  if (scales != 1 && scales != (uint32_t)filters) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "filter has %u scales; the sparse op needs 1 or %d, "
                       "one per filter",
                       (unsigned)scales, (int)filters);
  }
  for (i = 0; i < scales; ++i) {
    if (freeml_tensor_zero_point(&ctx->rt->model, filter, i) != 0) {
      return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                         "filter zero point %u is %d; sparse filters are "
                         "symmetric (0)",
                         (unsigned)i,
                         (int)freeml_tensor_zero_point(&ctx->rt->model,
                                                       filter, i));
    }
  }
  return FREEML_OK;
}

/* The filter's encoding checked against the options and the dense shape
 * F x K; sets op->unit_macs to its most entries per filter (the budget of
 * an intermittent tile counts the largest filter). */
static freeml_status prepare_encoding(freeml_prepare_context *ctx,
                                      freeml_op *op, const int32_t *words,
                                      int32_t filters, int32_t filter_size,
                                      const freeml_tensor_info *filter,
                                      sparse_encoding *encoding) {
  int32_t most;
  encoding->format = words[OPT_FORMAT];
  encoding->filters = filters;
  encoding->filter_size = filter_size;
  encoding->entries = words[OPT_ENTRIES];
  if (freeml_sparse_filter_check(encoding->format, filters, filter_size,
                                 encoding->entries, filter->data,
                                 filter->data_size, &most) != FREEML_OK) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "encoded filter of %u bytes is not a valid format %d "
                       "encoding of %d entries in %d filters of %d",
                       (unsigned)filter->data_size, (int)encoding->format,
                       (int)encoding->entries, (int)filters,
                       (int)filter_size);
  }
  op->unit_macs = most > 1 ? (uint32_t)most : 1u;
  return freeml_prepare_const_data(ctx, filter, 1, &encoding->data);
}

/* Whether `rank` dims are each >= 1 and hold at most
 * FREEML_MAX_TENSOR_BYTES weights together. */
static int shape_fits(const int32_t *d, int32_t rank) {
  int64_t weights = 1;
  int32_t i;
  for (i = 0; i < rank; ++i) {
    if (d[i] < 1 || d[i] > (int32_t)FREEML_MAX_TENSOR_BYTES) return 0;
    weights *= d[i]; /* both <= 2^28: no overflow */
    if (weights > (int64_t)FREEML_MAX_TENSOR_BYTES) return 0;
  }
  return 1;
}

/* The dense filter's shape from the options: [F, kh, kw, c] for CONV_2D,
 * [1, kh, kw, F] for DEPTHWISE_CONV_2D. */
static freeml_status dense_shape(freeml_prepare_context *ctx,
                                 const int32_t *d, freeml_dims *dims) {
  if (!shape_fits(d, 4)) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "dense filter shape %dx%dx%dx%d", (int)d[0], (int)d[1],
                       (int)d[2], (int)d[3]);
  }
  dims->n = d[0];
  dims->h = d[1];
  dims->w = d[2];
  dims->c = d[3];
  return FREEML_OK;
}

static freeml_status prepare_conv(freeml_prepare_context *ctx, freeml_op *op,
                                  sparse_kind kind) {
  const int depthwise = kind == SPARSE_DEPTHWISE;
  int32_t words[OPTIONS_WORDS];
  freeml_conv_options o;
  freeml_dims dims;
  freeml_tensor_info filter;
  sparse_conv_params *p;
  int32_t filters, filter_size;
  freeml_status s;
  if ((s = read_options(ctx, kind, words)) != FREEML_OK ||
      (s = dense_shape(ctx, words + OPT_SHAPE, &dims)) != FREEML_OK) {
    return s;
  }
  o.padding = words[OPT_PADDING];
  o.stride_h = words[OPT_STRIDE_H];
  o.stride_w = words[OPT_STRIDE_W];
  o.dilation_h = words[OPT_DILATION_H];
  o.dilation_w = words[OPT_DILATION_W];
  o.activation = words[OPT_ACTIVATION];
  o.depth_multiplier = words[OPT_DEPTH_MULTIPLIER];
  if (!depthwise && o.depth_multiplier != 1) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "depth multiplier %d; CONV_2D has 1",
                       (int)o.depth_multiplier);
  }
  p = (sparse_conv_params *)freeml_prepare_alloc(ctx, sizeof(*p),
                                                 &op->params);
  if (p == 0) return FREEML_ERR_ARENA;
  filters = depthwise ? dims.c : dims.n;
  filter_size = dims.h * dims.w * (depthwise ? 1 : dims.c);
  if ((s = prepare_filter(ctx, filters, &filter)) != FREEML_OK ||
      (s = freeml_prepare_conv_layer(ctx, op, depthwise, &o, &filter, &dims,
                                     &p->layer)) != FREEML_OK) {
    return s;
  }
  return prepare_encoding(ctx, op, words, filters, filter_size, &filter,
                          &p->filter);
}

freeml_status freeml_prepare_sparse_conv2d(freeml_prepare_context *ctx,
                                           freeml_op *op) {
  return prepare_conv(ctx, op, SPARSE_CONV);
}

freeml_status freeml_prepare_sparse_depthwise_conv2d(
    freeml_prepare_context *ctx, freeml_op *op) {
  return prepare_conv(ctx, op, SPARSE_DEPTHWISE);
}

freeml_status freeml_prepare_sparse_fully_connected(
    freeml_prepare_context *ctx, freeml_op *op) {
  int32_t words[OPTIONS_WORDS];
  freeml_tensor_info filter;
  sparse_fc_params *p;
  const int32_t *shape = words + OPT_SHAPE;
  freeml_status s;
  if ((s = read_options(ctx, SPARSE_FC, words)) != FREEML_OK ||
      (s = expect_zero_words(ctx, words, OPT_SHAPE + 2, OPT_SHAPE + 3)) !=
          FREEML_OK ||
      (s = expect_zero_words(ctx, words, OPT_FC_UNUSED,
                             OPTIONS_WORDS - 1)) != FREEML_OK) {
    return s;
  }
  if (!shape_fits(shape, 2)) {
    return freeml_fail(ctx->error, FREEML_ERR_MODEL,
                       "dense weights shape %dx%d", (int)shape[0],
                       (int)shape[1]);
  }
  p = (sparse_fc_params *)freeml_prepare_alloc(ctx, sizeof(*p), &op->params);
  if (p == 0) return FREEML_ERR_ARENA;
  if ((s = prepare_filter(ctx, shape[0], &filter)) != FREEML_OK ||
      (s = freeml_prepare_fc_layer(ctx, op, words[OPT_FC_ACTIVATION], &filter,
                                   shape[0], shape[1], &p->layer)) !=
          FREEML_OK) {
    return s;
  }
  return prepare_encoding(ctx, op, words, shape[0], shape[1], &filter,
                          &p->filter);
}

static freeml_sparse_filter view_of(const freeml_runtime *rt,
                                    const sparse_encoding *e) {
  return freeml_sparse_filter_view(
      e->format, e->filters, e->filter_size, e->entries,
      (const uint8_t *)freeml_const_data(rt, e->data));
}

/* The layer's bias as the sparse kernels take it. */
static freeml_sparse_bias bias_of(const freeml_runtime *rt, uint32_t data,
                                  int32_t bias_bytes) {
  freeml_sparse_bias bias = {0, 0};
  if (data == FREEML_NO_DATA) return bias;
  if (bias_bytes == 2) {
    bias.s16 = (const int16_t *)freeml_const_data(rt, data);
  } else {
    bias.s32 = (const int32_t *)freeml_const_data(rt, data);
  }
  return bias;
}

static freeml_status eval_conv(freeml_runtime *rt, const freeml_op *op,
                               freeml_tile tile, void *output,
                               int depthwise) {
  const sparse_conv_params *p =
      (const sparse_conv_params *)freeml_arena_data(rt, op->params);
  const freeml_conv_layer *l = &p->layer;
  const freeml_per_channel_quant q =
      freeml_quant_arrays(rt, l->multipliers, l->shifts);
  const freeml_sparse_filter filter = view_of(rt, &p->filter);
  const int8_t *input = freeml_activation_data(rt, l->input_tensor);
  const freeml_sparse_bias bias = bias_of(rt, l->bias_data, l->bias_bytes);
  if (depthwise) {
    return freeml_depthwise_conv2d_sparse_s8(&l->params, &q, &l->input, input,
                                             &l->filter, &filter, bias,
                                             &l->output, output, tile);
  }
  return freeml_conv2d_sparse_s8(&l->params.conv, &q, &l->input, input,
                                 &l->filter, &filter, bias, &l->output, output,
                                 tile);
}

freeml_status freeml_eval_sparse_conv2d(freeml_runtime *rt,
                                        const freeml_op *op, freeml_tile tile,
                                        void *output) {
  return eval_conv(rt, op, tile, output, 0);
}

freeml_status freeml_eval_sparse_depthwise_conv2d(freeml_runtime *rt,
                                                  const freeml_op *op,
                                                  freeml_tile tile,
                                                  void *output) {
  return eval_conv(rt, op, tile, output, 1);
}

freeml_status freeml_eval_sparse_fully_connected(freeml_runtime *rt,
                                                 const freeml_op *op,
                                                 freeml_tile tile,
                                                 void *output) {
  const sparse_fc_params *p =
      (const sparse_fc_params *)freeml_arena_data(rt, op->params);
  const freeml_fc_layer *l = &p->layer;
  const freeml_per_channel_quant q =
      freeml_quant_arrays(rt, l->multipliers, l->shifts);
  const freeml_sparse_filter filter = view_of(rt, &p->filter);
  return freeml_fully_connected_sparse_s8(
      &l->params, &q, l->batches, l->accum_depth, l->out_units,
      freeml_activation_data(rt, l->input_tensor), &filter,
      bias_of(rt, l->bias_data, l->bias_bytes), output, tile);
}
