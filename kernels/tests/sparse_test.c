/* The sparse kernels write the bytes of the dense _portable kernels on the
 * same pruned weights: seeded random convolutions (padding, stride,
 * dilation, groups), depthwise convolutions (depth multipliers, kernels wider
 * than 256 positions) and fully connected layers (per-channel and
 * per-tensor), at densities from 0 to 1, in every format their op may use
 * with int8, (weights in -8..7) int4 and (in -2..2, bitmask) 2-bit values,
 * each run as a random
 * sequence of tiles between guard bytes. The encodings
 * come from a small encoder here (delta with fillers and stored zeros, CSR
 * with 1- and 2-byte columns and, on the host, 4-byte row starts); mutated
 * encodings are refused by freeml_sparse_filter_check. Built for the host
 * and, unchanged, for a Cortex-M4 under QEMU; and with FREEML_SPARSE_NO_INT4
 * and FREEML_SPARSE_NO_INT2, where those encodings must be refused by the
 * check and the kernels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/freeml_kernels.h"
#include "kernels/tests/random_cases.h"
#include "tflm_freeml/tests/check.h"

/* The value flags of the format codes this build leaves out. */
#if defined(FREEML_SPARSE_NO_INT4) && defined(FREEML_SPARSE_NO_INT2)
#define LEFT_OUT (FREEML_SPARSE_INT4 | FREEML_SPARSE_INT2)
#elif defined(FREEML_SPARSE_NO_INT4)
#define LEFT_OUT FREEML_SPARSE_INT4
#elif defined(FREEML_SPARSE_NO_INT2)
#define LEFT_OUT FREEML_SPARSE_INT2
#endif

#ifndef SPARSE_TEST_CASES
#define SPARSE_TEST_CASES 1400
#endif
/* A CSR case with more than 65535 entries needs ~300 KB: host only. */
#ifndef SPARSE_TEST_LARGE
#if defined(__arm__)
#define SPARSE_TEST_LARGE 0
#else
#define SPARSE_TEST_LARGE 1
#endif
#endif

enum {
  MAX_INPUT = 4096,
  MAX_FILTER = 8192,
  MAX_OUTPUT = 4096,
  MAX_CHANNELS = 64,
  MAX_ENCODED = 4 * (MAX_CHANNELS + 1) + 3 * MAX_FILTER,
  GUARD = 16 /* bytes either side of a tile that it must not write */
};

typedef enum { OP_CONV, OP_DEPTHWISE, OP_FC } op_kind;

typedef struct {
  op_kind op;
  freeml_dw_conv_params params; /* conv uses params.conv */
  freeml_fc_params fc;
  freeml_dims input_dims, filter_dims, output_dims;
  int32_t batches, depth, units; /* fully connected */
  int32_t filters, filter_size;  /* F, K */
  int32_t multiplier[MAX_CHANNELS], shift[MAX_CHANNELS], bias[MAX_CHANNELS];
  int16_t bias16[MAX_CHANNELS]; /* bias, when it fits int16 */
  int bias_bits;                /* 0 (no bias), 32 or 16 */
  int value_bits; /* 8; 4: weights in -8..7, encoded with int4 values too;
                     2: in -2..2, with int4 and 2-bit values too */
  int8_t input[MAX_INPUT];
  int8_t filter[MAX_FILTER]; /* the dense filter, pruned */
  int8_t rows[MAX_FILTER];   /* the same as [F, K] rows in position order */
  uint32_t zero_seed; /* see delta_stores */
  uint8_t encoded[MAX_ENCODED];
  int8_t expected[MAX_OUTPUT], got[MAX_OUTPUT];
  int8_t tile_out[GUARD + MAX_OUTPUT + GUARD];
} sparse_case;

static sparse_case the_case; /* too big for a small device's stack */

/* ---- the test's encoder (docs/sparse.md) ---- */

static void put_le(uint8_t *p, uint32_t value, int32_t bytes) {
  int32_t i;
  for (i = 0; i < bytes; ++i) p[i] = (uint8_t)(value >> (8 * i));
}

/* Stores entry e's value of `bits`: int8; int4 in the low nibble of byte
 * e / 2 for even e, the high one for odd; 2-bit code (-2, -1, 1, 2 as 0 to
 * 3) in bits 2 * (e % 4) of byte e / 4. The section starts zeroed. */
static void put_value(uint8_t *values, int32_t e, int8_t v, int bits) {
  if (bits == 4) {
    values[e / 2] |= (uint8_t)(((uint8_t)v & 0xFu) << (4 * (e & 1)));
  } else if (bits == 2) {
    const uint32_t code = (uint32_t)(v < 0 ? v + 2 : v + 1);
    values[e / 4] |= (uint8_t)(code << (2 * (e % 4)));
  } else {
    values[e] = (uint8_t)v;
  }
}

static int32_t value_bytes(int32_t entries, int bits) {
  return (entries * bits + 7) / 8;
}

/* Whether delta stores position i of the rows: each non-zero and, with a
 * zero_seed, about one zero in 16 (the format allows a value of 0). */
static int delta_stores(const int8_t *rows, int32_t i, uint32_t zero_seed) {
  const uint32_t hash = ((uint32_t)i * 2654435761u) ^ zero_seed;
  return rows[i] != 0 || (zero_seed != 0 && hash >> 28 == 0);
}

/* The delta entries of rows [F][K], fillers where a gap exceeds 255; writes
 * them to `out` (laid out for `entries` entries) unless it is 0. Returns E. */
static int32_t delta_entries(const int8_t *rows, int32_t filters, int32_t k,
                             uint32_t zero_seed, uint8_t *out,
                             int32_t entries, int bits, int32_t *most) {
  uint8_t *delta = out != 0 ? out + 2 * filters : 0;
  uint8_t *value = out != 0 ? delta + entries : 0;
  int32_t f, p, e = 0;
  *most = 0;
  if (out != 0) memset(value, 0, (size_t)value_bytes(entries, bits));
  for (f = 0; f < filters; ++f) {
    const int32_t first = e;
    int32_t previous = -1;
    for (p = 0; p < k; ++p) {
      int32_t gap;
      if (!delta_stores(rows, f * k + p, zero_seed)) continue;
      for (gap = p - previous - 1; gap > 255; gap -= 256) {
        if (out != 0) delta[e] = 255; /* a filler of value 0 */
        ++e;
      }
      if (out != 0) {
        delta[e] = (uint8_t)gap;
        put_value(value, e, rows[f * k + p], bits);
      }
      ++e;
      previous = p;
    }
    if (out != 0) put_le(out + 2 * f, (uint32_t)(e - first), 2);
    if (e - first > *most) *most = e - first;
  }
  return e;
}

/* Encodes rows [F][K] in `format` (see delta_stores for zero_seed); with
 * FREEML_SPARSE_INT4, rows must be in -8..7. Returns the bytes written to
 * out; *entries gets E, *most the most entries of one filter. */
static uint32_t encode(int32_t format, const int8_t *rows, int32_t filters,
                       int32_t filter_size, uint32_t zero_seed, uint8_t *out,
                       int32_t *entries, int32_t *most) {
  const int32_t k = filter_size;
  const int bits = (format & FREEML_SPARSE_INT4)   ? 4
                   : (format & FREEML_SPARSE_INT2) ? 2
                                                   : 8;
  int32_t f, p, e = 0;
  *most = 0;
  format &= ~(FREEML_SPARSE_INT4 | FREEML_SPARSE_INT2);
  if (format == FREEML_SPARSE_DELTA) {
    e = delta_entries(rows, filters, k, zero_seed, 0, 0, bits, most);
    delta_entries(rows, filters, k, zero_seed, out, e, bits, most);
    *entries = e;
    return (uint32_t)(2 * filters + e + value_bytes(e, bits));
  }
  for (f = 0; f < filters * k; ++f) e += rows[f] != 0;
  *entries = e;
  if (format == FREEML_SPARSE_CSR) {
    const int32_t row_bytes = e <= 0xFFFF ? 2 : 4;
    const int32_t column_bytes = k <= 256 ? 1 : 2;
    uint8_t *column = out + row_bytes * (filters + 1);
    uint8_t *value = column + column_bytes * e;
    memset(value, 0, (size_t)value_bytes(e, bits));
    e = 0;
    for (f = 0; f < filters; ++f) {
      const int32_t first = e;
      put_le(out + row_bytes * f, (uint32_t)e, row_bytes);
      for (p = 0; p < k; ++p) {
        if (rows[f * k + p] == 0) continue;
        put_le(column + column_bytes * e, (uint32_t)p, column_bytes);
        put_value(value, e++, rows[f * k + p], bits);
      }
      if (e - first > *most) *most = e - first;
    }
    put_le(out + row_bytes * filters, (uint32_t)e, row_bytes);
    return (uint32_t)(row_bytes * (filters + 1) + column_bytes * e +
                      value_bytes(e, bits));
  }
  /* bitmask */
  {
    const int32_t mask_bytes = (k + 7) / 8;
    uint8_t *value = out + filters * mask_bytes;
    memset(out, 0, (size_t)(filters * mask_bytes + value_bytes(e, bits)));
    e = 0;
    for (f = 0; f < filters; ++f) {
      const int32_t first = e;
      for (p = 0; p < k; ++p) {
        if (rows[f * k + p] == 0) continue;
        out[f * mask_bytes + p / 8] |= (uint8_t)(1u << (p % 8));
        put_value(value, e++, rows[f * k + p], bits);
      }
      if (e - first > *most) *most = e - first;
    }
    return (uint32_t)(filters * mask_bytes + value_bytes(e, bits));
  }
}

/* ---- random cases ---- */

static const int32_t kPercent[] = {0, 2, 10, 25, 50, 90, 100};

/* Keeps each weight with probability percent / 100 (kept ones may be 0 by
 * chance, as pruned weights can be); one case in four stores zeros in
 * delta. */
static void prune(test_lcg *g, sparse_case *c, int32_t percent) {
  const int32_t n = c->filters * c->filter_size;
  int32_t i;
  c->zero_seed = lcg_range(g, 0, 3) == 0 ? lcg_next(g) | 1u : 0u;
  for (i = 0; i < n; ++i) {
    if (lcg_range(g, 0, 9999) >= percent * 100) c->filter[i] = 0;
  }
  /* rows: conv and FC filters already are [F, K]; depthwise is [K, F]. */
  for (i = 0; i < n; ++i) {
    const int32_t f = i / c->filter_size, p = i % c->filter_size;
    c->rows[i] = c->op == OP_DEPTHWISE ? c->filter[p * c->filters + f]
                                       : c->filter[i];
  }
}

static void fill_quant(test_lcg *g, sparse_case *c, int32_t channels) {
  int32_t oc;
  for (oc = 0; oc < channels; ++oc) {
    const freeml_quant q = random_quant(g);
    c->multiplier[oc] = q.multiplier;
    c->shift[oc] = q.shift;
    c->bias[oc] = lcg_range(g, -40000, 40000);
  }
  c->bias_bits = 16 * lcg_range(g, 0, 2);
  if (c->bias_bits == 16) {
    for (oc = 0; oc < channels; ++oc) {
      c->bias[oc] = lcg_range(g, INT16_MIN, INT16_MAX);
      c->bias16[oc] = (int16_t)c->bias[oc];
    }
  }
}

static int conv_shape(test_lcg *g, sparse_case *c) {
  static const int32_t groups_choice[] = {1, 1, 1, 2, 3};
  static const int32_t group_c_choice[] = {1, 2, 3, 4, 5, 8, 16, 24, 40};
  const int32_t groups = lcg_pick(g, groups_choice, 5);
  const int32_t group_c = lcg_pick(g, group_c_choice, 9);
  freeml_conv_params *p = &c->params.conv;
  c->input_dims.n = lcg_range(g, 1, 2);
  c->input_dims.h = lcg_range(g, 1, 8);
  c->input_dims.w = lcg_range(g, 1, 8);
  c->input_dims.c = groups * group_c;
  c->filter_dims.n = groups * lcg_range(g, 1, 6);
  c->filter_dims.h = lcg_range(g, 1, 4);
  c->filter_dims.w = lcg_range(g, 1, 4);
  c->filter_dims.c = group_c;
  random_window(g, 1, &c->input_dims, &c->filter_dims, p, &c->output_dims);
  c->output_dims.c = c->filter_dims.n;
  c->filters = c->filter_dims.n;
  c->filter_size = c->filter_dims.h * c->filter_dims.w * group_c;
  c->params.depth_multiplier = 1;
  return volume(&c->input_dims) <= MAX_INPUT &&
         volume(&c->filter_dims) <= MAX_FILTER &&
         volume(&c->output_dims) <= MAX_OUTPUT;
}

/* One case in eight has a kernel of more than 256 taps (delta fillers). */
static int depthwise_shape(test_lcg *g, sparse_case *c) {
  const int wide = lcg_range(g, 0, 7) == 0;
  freeml_conv_params *p = &c->params.conv;
  c->params.depth_multiplier = lcg_range(g, 1, 3);
  c->input_dims.n = lcg_range(g, 1, 2);
  c->input_dims.h = lcg_range(g, 1, wide ? 20 : 8);
  c->input_dims.w = lcg_range(g, 1, wide ? 20 : 8);
  c->input_dims.c = lcg_range(g, 1, wide ? 3 : 8);
  c->filter_dims.n = 1;
  c->filter_dims.h = wide ? lcg_range(g, 14, 20) : lcg_range(g, 1, 4);
  c->filter_dims.w = wide ? lcg_range(g, 14, 20) : lcg_range(g, 1, 4);
  c->filter_dims.c = c->input_dims.c * c->params.depth_multiplier;
  random_window(g, !wide, &c->input_dims, &c->filter_dims, p,
                &c->output_dims);
  c->output_dims.c = c->filter_dims.c;
  c->filters = c->filter_dims.c;
  c->filter_size = c->filter_dims.h * c->filter_dims.w;
  return volume(&c->input_dims) <= MAX_INPUT &&
         volume(&c->filter_dims) <= MAX_FILTER &&
         volume(&c->output_dims) <= MAX_OUTPUT;
}

static int fc_shape(test_lcg *g, sparse_case *c) {
  static const int32_t depth_choice[] = {1,  2,  3,   5,   8,   17,  31,
                                         32, 33, 100, 256, 257, 300, 600};
  c->batches = lcg_range(g, 1, 3);
  c->depth = lcg_pick(g, depth_choice, 14);
  c->units = lcg_range(g, 1, 16);
  c->fc.per_channel = lcg_range(g, 0, 1);
  c->fc.filter_offset = 0; /* zero weights are not stored */
  c->filters = c->units;
  c->filter_size = c->depth;
  return c->batches * c->depth <= MAX_INPUT &&
         c->units * c->depth <= MAX_FILTER &&
         c->batches * c->units <= MAX_OUTPUT;
}

/* A random shape for c->op; 0 if it does not fit the buffers. */
static int random_shape(test_lcg *g, sparse_case *c) {
  switch (c->op) {
    case OP_CONV:
      return conv_shape(g, c);
    case OP_DEPTHWISE:
      return depthwise_shape(g, c);
    default:
      return fc_shape(g, c);
  }
}

static void fill_case(test_lcg *g, sparse_case *c) {
  const int32_t offset_in = -random_zero_point(g);
  const int32_t offset_out = random_zero_point(g);
  const freeml_activation activation = random_activation(g);
  if (c->op == OP_FC) {
    lcg_fill_s8(g, c->input, c->batches * c->depth);
    c->fc.input_offset = offset_in;
    c->fc.output_offset = offset_out;
    c->fc.activation = activation;
  } else {
    lcg_fill_s8(g, c->input, volume(&c->input_dims));
    c->params.conv.input_offset = offset_in;
    c->params.conv.output_offset = offset_out;
    c->params.conv.activation = activation;
  }
  lcg_fill_s8(g, c->filter, c->filters * c->filter_size);
  c->value_bits = 8 >> lcg_range(g, 0, 2);
  if (c->value_bits < 8) { /* -8..7 or -2..2, both ends included */
    int32_t i;
    for (i = 0; i < c->filters * c->filter_size; ++i) {
      c->filter[i] = (int8_t)(c->value_bits == 4 ? c->filter[i] >> 4
                                                 : c->filter[i] % 3);
    }
  }
  fill_quant(g, c, c->filters);
}

/* ---- running a case ---- */

static int32_t units_of(const sparse_case *c) {
  return c->op == OP_FC ? c->batches * c->units : volume(&c->output_dims);
}

static freeml_status run_dense(sparse_case *c, freeml_tile tile) {
  const freeml_per_channel_quant quant = {c->multiplier, c->shift};
  const int32_t *bias = c->bias_bits != 0 ? c->bias : 0;
  switch (c->op) {
    case OP_CONV:
      return freeml_conv2d_s8_portable(
          &c->params.conv, &quant, &c->input_dims, c->input, &c->filter_dims,
          c->filter, bias, &c->output_dims, c->expected, tile);
    case OP_DEPTHWISE:
      return freeml_depthwise_conv2d_s8_portable(
          &c->params, &quant, &c->input_dims, c->input, &c->filter_dims,
          c->filter, bias, &c->output_dims, c->expected, tile);
    default:
      return freeml_fully_connected_s8_portable(
          &c->fc, &quant, c->batches, c->depth, c->units, c->input, c->filter,
          bias, c->expected, tile);
  }
}

static freeml_status run_sparse(sparse_case *c, const freeml_sparse_filter *s,
                                int8_t *output, freeml_tile tile) {
  const freeml_per_channel_quant quant = {c->multiplier, c->shift};
  freeml_sparse_bias bias = {0, 0};
  if (c->bias_bits == 32) bias.s32 = c->bias;
  if (c->bias_bits == 16) bias.s16 = c->bias16;
  switch (c->op) {
    case OP_CONV:
      return freeml_conv2d_sparse_s8(&c->params.conv, &quant, &c->input_dims,
                                     c->input, &c->filter_dims, s, bias,
                                     &c->output_dims, output, tile);
    case OP_DEPTHWISE:
      return freeml_depthwise_conv2d_sparse_s8(
          &c->params, &quant, &c->input_dims, c->input, &c->filter_dims, s,
          bias, &c->output_dims, output, tile);
    default:
      return freeml_fully_connected_sparse_s8(&c->fc, &quant, c->batches,
                                              c->depth, c->units, c->input, s,
                                              bias, output, tile);
  }
}

static void report(const sparse_case *c, int32_t id, int32_t format,
                   int32_t percent, int32_t i) {
  fprintf(stderr,
          "case %ld (op %d, format %ld, density %ld%%, F %ld, K %ld): "
          "output %ld: got %d, expected %d\n",
          (long)id, (int)c->op, (long)format, (long)percent, (long)c->filters,
          (long)c->filter_size, (long)i, c->got[i], c->expected[i]);
  ++freeml_test_failures;
}

/* Encodes the case's pruned filter in `format`, checks the encoding, and
 * runs it as random tiles against the dense kernel's bytes. */
static void compare_format(test_lcg *g, sparse_case *c, int32_t format,
                           int32_t id, int32_t percent) {
  const int32_t units = units_of(c);
  int32_t entries, most, checked_most, start = 0, i;
  uint32_t bytes;
  freeml_sparse_filter s;
  bytes = encode(format, c->rows, c->filters, c->filter_size, c->zero_seed,
                 c->encoded, &entries, &most);
  CHECK(bytes <= MAX_ENCODED);
#if defined(FREEML_SPARSE_NO_INT4) || defined(FREEML_SPARSE_NO_INT2)
  if ((format & LEFT_OUT) != 0) {
    freeml_tile all;
    all.start = 0;
    all.end = units;
    CHECK_EQ_INT(freeml_sparse_filter_check(format, c->filters,
                                            c->filter_size, entries,
                                            c->encoded, bytes, &checked_most),
                 FREEML_ERR_MODEL);
    s = freeml_sparse_filter_view(format, c->filters, c->filter_size, entries,
                                  c->encoded);
    CHECK_EQ_INT(run_sparse(c, &s, c->got, all), FREEML_ERR_ARG);
    return;
  }
#endif
  CHECK_EQ_INT(freeml_sparse_filter_check(format, c->filters, c->filter_size,
                                          entries, c->encoded, bytes,
                                          &checked_most),
               FREEML_OK);
  CHECK_EQ_INT(checked_most, most);
  s = freeml_sparse_filter_view(format, c->filters, c->filter_size, entries,
                                c->encoded);
  while (start < units) {
    freeml_tile tile;
    tile.start = start;
    tile.end = random_tile_end(g, start, units,
                               c->op == OP_FC ? c->units : c->output_dims.c);
    memset(c->tile_out, 0xA5, sizeof(c->tile_out));
    CHECK_EQ_INT(run_sparse(c, &s, c->tile_out + GUARD, tile), FREEML_OK);
    for (i = 0; i < GUARD; ++i) {
      CHECK_EQ_INT(c->tile_out[i], (int8_t)0xA5);
      CHECK_EQ_INT(c->tile_out[GUARD + tile.end - tile.start + i],
                   (int8_t)0xA5);
    }
    memcpy(c->got + start, c->tile_out + GUARD, tile.end - tile.start);
    if (lcg_range(g, 0, 3) == 0) { /* a re-run tile gives the same bytes */
      CHECK_EQ_INT(run_sparse(c, &s, c->tile_out + GUARD, tile), FREEML_OK);
      CHECK(memcmp(c->got + start, c->tile_out + GUARD,
                   tile.end - tile.start) == 0);
    }
    start = tile.end;
  }
  for (i = 0; i < units; ++i) {
    if (c->got[i] != c->expected[i]) {
      report(c, id, format, percent, i);
      return;
    }
  }
}

static void run_case(test_lcg *g, sparse_case *c, int32_t id,
                     int32_t percent) {
  const int32_t other =
      c->op == OP_FC ? FREEML_SPARSE_CSR : FREEML_SPARSE_DELTA;
  freeml_tile whole;
  whole.start = 0;
  whole.end = units_of(c);
  prune(g, c, percent);
  CHECK_EQ_INT(run_dense(c, whole), FREEML_OK);
  compare_format(g, c, FREEML_SPARSE_BITMASK, id, percent);
  compare_format(g, c, other, id, percent);
  if (c->value_bits <= 4) {
    compare_format(g, c, FREEML_SPARSE_BITMASK | FREEML_SPARSE_INT4, id,
                   percent);
    compare_format(g, c, other | FREEML_SPARSE_INT4, id, percent);
  }
  if (c->value_bits == 2) {
    compare_format(g, c, FREEML_SPARSE_BITMASK | FREEML_SPARSE_INT2, id,
                   percent);
  }
}

static void test_random_cases(void) {
  test_lcg g = {2024u};
  int32_t id = 0;
  while (id < SPARSE_TEST_CASES) {
    sparse_case *c = &the_case;
    c->op = (op_kind)(id % 3);
    if (!random_shape(&g, c)) continue;
    fill_case(&g, c);
    run_case(&g, c, id, kPercent[(id / 3) % 7]);
    ++id;
  }
}

/* A pointwise layer with K = 1000 whose gaps between non-zeros are 0,
 * around 255 and around 511 positions: delta needs 0, 1 and 2 fillers. */
static void test_long_gaps(void) {
  static const int32_t gap_choice[] = {0, 254, 255, 256, 257, 511, 512, 513};
  test_lcg g = {31u};
  sparse_case *c = &the_case;
  const freeml_dims input = {1, 2, 2, 1000}, filter = {8, 1, 1, 1000};
  const freeml_dims output = {1, 2, 2, 8};
  int32_t f, p, round;
  c->op = OP_CONV;
  c->input_dims = input;
  c->filter_dims = filter;
  c->output_dims = output;
  c->params.conv.stride_h = c->params.conv.stride_w = 1;
  c->params.conv.dilation_h = c->params.conv.dilation_w = 1;
  c->params.conv.pad_h = c->params.conv.pad_w = 0;
  c->params.depth_multiplier = 1;
  c->filters = 8;
  c->filter_size = 1000;
  for (round = 0; round < 4; ++round) {
    fill_case(&g, c);
    memset(c->filter, 0, sizeof(c->filter));
    for (f = 0; f < c->filters; ++f) {
      for (p = lcg_pick(&g, gap_choice, 8); p < c->filter_size;
           p += 1 + lcg_pick(&g, gap_choice, 8)) {
        c->filter[f * c->filter_size + p] =
            (int8_t)lcg_range(&g, 1, c->value_bits == 8   ? 127
                                     : c->value_bits == 4 ? 7
                                                          : 2);
      }
    }
    run_case(&g, c, -1 - round, 100);
  }
}

#if SPARSE_TEST_LARGE
/* CSR with more than 65535 entries: 4-byte row starts, 2-byte columns. */
static void test_csr_four_byte_row_starts(void) {
  enum { UNITS = 9, DEPTH = 8000, N = UNITS * DEPTH };
  test_lcg g = {77u};
  int8_t *weights = (int8_t *)malloc(N);
  uint8_t *encoded = (uint8_t *)malloc(4 * (UNITS + 1) + 3 * N);
  int8_t input[DEPTH], expected[UNITS], got[UNITS];
  int32_t multiplier[UNITS], shift[UNITS], bias[UNITS];
  const freeml_per_channel_quant quant = {multiplier, shift};
  const freeml_sparse_bias sparse_bias = {bias, 0};
  freeml_fc_params params;
  freeml_sparse_filter s;
  freeml_tile whole = {0, UNITS}, tail = {4, UNITS};
  int32_t entries, most, checked_most, i;
  uint32_t bytes;
  CHECK(weights != 0 && encoded != 0);
  if (weights == 0 || encoded == 0) return;
  for (i = 0; i < N; ++i) {
    weights[i] =
        (int8_t)(lcg_range(&g, 0, 19) == 0 ? 0 : lcg_range(&g, 1, 127));
  }
  lcg_fill_s8(&g, input, DEPTH);
  for (i = 0; i < UNITS; ++i) {
    const freeml_quant q = freeml_quantize_multiplier(1.0 / (1 << 20));
    multiplier[i] = q.multiplier;
    shift[i] = q.shift;
    bias[i] = lcg_range(&g, -40000, 40000);
  }
  params.input_offset = 3;
  params.filter_offset = 0;
  params.output_offset = -5;
  params.per_channel = 1;
  params.activation.min = -128;
  params.activation.max = 127;
  bytes = encode(FREEML_SPARSE_CSR, weights, UNITS, DEPTH, 0, encoded,
                 &entries, &most);
  CHECK(entries > 0xFFFF);
  CHECK_EQ_INT(bytes, 4 * (UNITS + 1) + 3 * entries);
  CHECK_EQ_INT(freeml_sparse_filter_check(FREEML_SPARSE_CSR, UNITS, DEPTH,
                                          entries, encoded, bytes,
                                          &checked_most),
               FREEML_OK);
  CHECK_EQ_INT(checked_most, most);
  s = freeml_sparse_filter_view(FREEML_SPARSE_CSR, UNITS, DEPTH, entries,
                                encoded);
  CHECK_EQ_INT(s.row_bytes, 4);
  CHECK_EQ_INT(s.column_bytes, 2);
  CHECK_EQ_INT(freeml_fully_connected_s8_portable(&params, &quant, 1, DEPTH,
                                                  UNITS, input, weights, bias,
                                                  expected, whole),
               FREEML_OK);
  CHECK_EQ_INT(freeml_fully_connected_sparse_s8(&params, &quant, 1, DEPTH,
                                                UNITS, input, &s, sparse_bias,
                                                got, whole),
               FREEML_OK);
  CHECK(memcmp(got, expected, UNITS) == 0);
  CHECK_EQ_INT(freeml_fully_connected_sparse_s8(&params, &quant, 1, DEPTH,
                                                UNITS, input, &s, sparse_bias,
                                                got, tail),
               FREEML_OK);
  CHECK(memcmp(got, expected + 4, UNITS - 4) == 0);
  /* One row start short of 4 bytes each: refused. */
  CHECK_EQ_INT(freeml_sparse_filter_check(FREEML_SPARSE_CSR, UNITS, DEPTH,
                                          entries, encoded, bytes - 2,
                                          &checked_most),
               FREEML_ERR_MODEL);
  free(weights);
  free(encoded);
}
#endif

/* ---- arguments the kernels refuse ---- */

/* A random case of `op` at density 1/2 in bitmask, viewed in *s. */
static void bitmask_case(test_lcg *g, sparse_case *c, op_kind op,
                         freeml_sparse_filter *s) {
  int32_t entries, most;
  c->op = op;
  while (!random_shape(g, c)) {
  }
  fill_case(g, c);
  prune(g, c, 50);
  encode(FREEML_SPARSE_BITMASK, c->rows, c->filters, c->filter_size, 0,
         c->encoded, &entries, &most);
  *s = freeml_sparse_filter_view(FREEML_SPARSE_BITMASK, c->filters,
                                 c->filter_size, entries, c->encoded);
}

static void test_refused_arguments(void) {
  static const int32_t not_theirs[] = {FREEML_SPARSE_CSR, FREEML_SPARSE_CSR,
                                       FREEML_SPARSE_DELTA};
  test_lcg g = {5u};
  sparse_case *c = &the_case;
  const freeml_tile bad[] = {{-1, 2}, {3, 2}, {0, 1000000}};
  const freeml_tile one = {0, 1};
  freeml_sparse_filter s;
  int32_t op, t;
  for (op = OP_CONV; op <= OP_FC; ++op) {
    bitmask_case(&g, c, (op_kind)op, &s);
    for (t = 0; t < 3; ++t) {
      memset(c->got, 0x11, 8);
      CHECK_EQ_INT(run_sparse(c, &s, c->got, bad[t]), FREEML_ERR_ARG);
      CHECK_EQ_INT(c->got[0], 0x11);
    }
    s.filter_size += 1; /* not the shape the kernel is given */
    CHECK_EQ_INT(run_sparse(c, &s, c->got, one), FREEML_ERR_ARG);
    s.filter_size -= 1;
    s.format = not_theirs[op]; /* a format the op does not use */
    CHECK_EQ_INT(run_sparse(c, &s, c->got, one), FREEML_ERR_ARG);
    s.format = FREEML_SPARSE_BITMASK;
    CHECK_EQ_INT(run_sparse(c, &s, c->got, one), FREEML_OK);
  }
  c->fc.filter_offset = 1; /* stored weights exclude the zero point */
  CHECK_EQ_INT(run_sparse(c, &s, c->got, one), FREEML_ERR_ARG);
}

/* ---- encodings freeml_sparse_filter_check refuses ---- */

enum { V_F = 3, V_K = 21 }; /* K not a multiple of 8: mask padding bits */

static int32_t check_of(int32_t format, int32_t entries, const uint8_t *data,
                        uint32_t bytes) {
  int32_t most = -1;
  const freeml_status status = freeml_sparse_filter_check(
      format, V_F, V_K, entries, data, bytes, &most);
  if (status != FREEML_OK) CHECK_EQ_INT(most, 0);
  return status;
}

static void test_refused_encodings(void) {
  /* Rows with 3, 0 and 2 entries, positions up to K - 1. */
  static const int8_t rows[V_F * V_K] = {
      5, 0, 0, 0, 0, 0, 0, 0, 0, 0, -3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9,
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  uint8_t data[64], bad[64];
  int32_t e, most;
  uint32_t n;

  /* CSR: row_start 0 3 3 5 (2 bytes), columns 0 10 20 1 2, values. */
  n = encode(FREEML_SPARSE_CSR, rows, V_F, V_K, 0, data, &e, &most);
  CHECK_EQ_INT(e, 5);
  CHECK_EQ_INT(check_of(FREEML_SPARSE_CSR, e, data, n), FREEML_OK);
  CHECK_EQ_INT(check_of(FREEML_SPARSE_CSR, e, data, n - 1), FREEML_ERR_MODEL);
  CHECK_EQ_INT(check_of(FREEML_SPARSE_CSR, e, data, n + 1), FREEML_ERR_MODEL);
  memcpy(bad, data, n);
  bad[0] = 1; /* row_start[0] != 0 */
  CHECK_EQ_INT(check_of(FREEML_SPARSE_CSR, e, bad, n), FREEML_ERR_MODEL);
  memcpy(bad, data, n);
  bad[6] = 4; /* row_start[F] != E */
  CHECK_EQ_INT(check_of(FREEML_SPARSE_CSR, e, bad, n), FREEML_ERR_MODEL);
  memcpy(bad, data, n);
  bad[4] = 2; /* row_start decreasing: 0 3 2 5 */
  CHECK_EQ_INT(check_of(FREEML_SPARSE_CSR, e, bad, n), FREEML_ERR_MODEL);
  memcpy(bad, data, n);
  bad[8 + 2] = V_K; /* a column past K */
  CHECK_EQ_INT(check_of(FREEML_SPARSE_CSR, e, bad, n), FREEML_ERR_MODEL);
  memcpy(bad, data, n);
  bad[8 + 1] = 0; /* columns 0 0 20: not increasing */
  CHECK_EQ_INT(check_of(FREEML_SPARSE_CSR, e, bad, n), FREEML_ERR_MODEL);
  memcpy(bad, data, n);
  bad[8 + 3] = 2;
  bad[8 + 4] = 1; /* columns 2 1 */
  CHECK_EQ_INT(check_of(FREEML_SPARSE_CSR, e, bad, n), FREEML_ERR_MODEL);
  /* More columns than 2 bytes address. */
  CHECK_EQ_INT(freeml_sparse_filter_check(FREEML_SPARSE_CSR, 1, 0x10001, 0,
                                          data, 8, &most),
               FREEML_ERR_MODEL);

  /* Delta: counts 3 0 2, deltas 0 9 9 1 0. */
  n = encode(FREEML_SPARSE_DELTA, rows, V_F, V_K, 0, data, &e, &most);
  CHECK_EQ_INT(e, 5);
  CHECK_EQ_INT(check_of(FREEML_SPARSE_DELTA, e, data, n), FREEML_OK);
  CHECK_EQ_INT(check_of(FREEML_SPARSE_DELTA, e, data, n - 1),
               FREEML_ERR_MODEL);
  memcpy(bad, data, n);
  bad[2] = 1; /* counts 3 1 2: sum 6 */
  CHECK_EQ_INT(check_of(FREEML_SPARSE_DELTA, e, bad, n), FREEML_ERR_MODEL);
  memcpy(bad, data, n);
  bad[0] = 2;
  bad[2] = 1; /* counts 2 1 2: sum 5, each position still < K */
  CHECK_EQ_INT(check_of(FREEML_SPARSE_DELTA, e, bad, n), FREEML_OK);
  memcpy(bad, data, n);
  bad[6 + 2] = 10; /* third entry at position 21 = K */
  CHECK_EQ_INT(check_of(FREEML_SPARSE_DELTA, e, bad, n), FREEML_ERR_MODEL);
  memcpy(bad, data, n);
  bad[6 + 4] = 255; /* a gap far past K */
  CHECK_EQ_INT(check_of(FREEML_SPARSE_DELTA, e, bad, n), FREEML_ERR_MODEL);

  /* Bitmask: 3 bytes a row. */
  n = encode(FREEML_SPARSE_BITMASK, rows, V_F, V_K, 0, data, &e, &most);
  CHECK_EQ_INT(n, 3 * 3 + 5);
  CHECK_EQ_INT(check_of(FREEML_SPARSE_BITMASK, e, data, n), FREEML_OK);
  CHECK_EQ_INT(check_of(FREEML_SPARSE_BITMASK, e, data, n + 1),
               FREEML_ERR_MODEL);
  memcpy(bad, data, n);
  bad[2] = (uint8_t)(bad[2] ^ 0x10 ^ 0x40); /* bit 20 moved to padding bit 22 */
  CHECK_EQ_INT(check_of(FREEML_SPARSE_BITMASK, e, bad, n), FREEML_ERR_MODEL);
  memcpy(bad, data, n);
  bad[3] = 0x80; /* a fourth set bit where E is 5: popcount 6 */
  CHECK_EQ_INT(check_of(FREEML_SPARSE_BITMASK, e, bad, n), FREEML_ERR_MODEL);
  memcpy(bad, data, n);
  bad[0] = 0; /* popcount 4 */
  CHECK_EQ_INT(check_of(FREEML_SPARSE_BITMASK, e, bad, n), FREEML_ERR_MODEL);

  /* int4 values: 5 entries in 3 bytes, the last high nibble padding. */
  n = encode(FREEML_SPARSE_BITMASK | FREEML_SPARSE_INT4, rows, V_F, V_K, 0,
             data, &e, &most);
  CHECK_EQ_INT(n, 3 * 3 + 3);
  CHECK_EQ_INT(data[9], 0xD5); /* 5, then -3 */
#if defined(FREEML_SPARSE_NO_INT4)
  CHECK_EQ_INT(
      check_of(FREEML_SPARSE_BITMASK | FREEML_SPARSE_INT4, e, data, n),
      FREEML_ERR_MODEL);
#else
  CHECK_EQ_INT(
      check_of(FREEML_SPARSE_BITMASK | FREEML_SPARSE_INT4, e, data, n),
      FREEML_OK);
  CHECK_EQ_INT(
      check_of(FREEML_SPARSE_BITMASK | FREEML_SPARSE_INT4, e, data, n + 1),
      FREEML_ERR_MODEL);
  memcpy(bad, data, n);
  bad[n - 1] |= 0x10; /* the padding nibble not 0 */
  CHECK_EQ_INT(
      check_of(FREEML_SPARSE_BITMASK | FREEML_SPARSE_INT4, e, bad, n),
      FREEML_ERR_MODEL);
  n = encode(FREEML_SPARSE_DELTA | FREEML_SPARSE_INT4, rows, V_F, V_K, 0, data,
             &e, &most);
  CHECK_EQ_INT(n, 2 * 3 + 5 + 3);
  CHECK_EQ_INT(check_of(FREEML_SPARSE_DELTA | FREEML_SPARSE_INT4, e, data, n),
               FREEML_OK);
  n = encode(FREEML_SPARSE_CSR | FREEML_SPARSE_INT4, rows, V_F, V_K, 0, data,
             &e, &most);
  CHECK_EQ_INT(n, 2 * 4 + 5 + 3);
  CHECK_EQ_INT(check_of(FREEML_SPARSE_CSR | FREEML_SPARSE_INT4, e, data, n),
               FREEML_OK);
#endif

  /* 2-bit values: rows in -2..2, entries 2, -1, 1, -2, 2 in 2 bytes (codes
   * 3 1 2 0, then 3 and six padding bits). Bitmask only. */
  {
    static const int8_t small[V_F * V_K] = {
        2, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, -2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    const int32_t int2 = FREEML_SPARSE_BITMASK | FREEML_SPARSE_INT2;
    n = encode(int2, small, V_F, V_K, 0, data, &e, &most);
    CHECK_EQ_INT(n, 3 * 3 + 2);
    CHECK_EQ_INT(data[9], 3 | 1 << 2 | 2 << 4 | 0 << 6);
    CHECK_EQ_INT(data[10], 3);
#if defined(FREEML_SPARSE_NO_INT2)
    CHECK_EQ_INT(check_of(int2, e, data, n), FREEML_ERR_MODEL);
#else
    CHECK_EQ_INT(check_of(int2, e, data, n), FREEML_OK);
    CHECK_EQ_INT(check_of(int2, e, data, n + 1), FREEML_ERR_MODEL);
    memcpy(bad, data, n);
    bad[n - 1] |= 0x40; /* a padding field not 0 */
    CHECK_EQ_INT(check_of(int2, e, bad, n), FREEML_ERR_MODEL);
#endif
    /* Delta and CSR take no 2-bit values (delta's fillers are 0), and no
     * code has both value flags. */
    CHECK_EQ_INT(check_of(FREEML_SPARSE_DELTA | FREEML_SPARSE_INT2, e, data,
                          2 * 3 + e + 2),
                 FREEML_ERR_MODEL);
    CHECK_EQ_INT(check_of(FREEML_SPARSE_CSR | FREEML_SPARSE_INT2, e, data,
                          2 * 4 + e + 2),
                 FREEML_ERR_MODEL);
    CHECK_EQ_INT(check_of(int2 | FREEML_SPARSE_INT4, e, data, n),
                 FREEML_ERR_MODEL);
  }

  /* Headers that describe no encoding. */
  CHECK_EQ_INT(check_of(0, e, data, n), FREEML_ERR_MODEL);
  CHECK_EQ_INT(check_of(4, e, data, n), FREEML_ERR_MODEL); /* dense int4 */
  CHECK_EQ_INT(check_of(8 | FREEML_SPARSE_CSR, e, data, n), FREEML_ERR_MODEL);
  CHECK_EQ_INT(check_of(FREEML_SPARSE_BITMASK, -1, data, 3 * 3 - 1),
               FREEML_ERR_MODEL);
  CHECK_EQ_INT(check_of(FREEML_SPARSE_BITMASK, e, 0, n), FREEML_ERR_MODEL);
  /* E > F*K, with a byte count to match. */
  CHECK_EQ_INT(freeml_sparse_filter_check(FREEML_SPARSE_DELTA, 1, 2, 3, bad,
                                          2 + 2 * 3, &most),
               FREEML_ERR_MODEL);
  CHECK_EQ_INT(freeml_sparse_filter_check(FREEML_SPARSE_BITMASK, 0, V_K, 0,
                                          data, 1, &most),
               FREEML_ERR_MODEL);
  CHECK_EQ_INT(freeml_sparse_filter_check(FREEML_SPARSE_BITMASK, 1, 0, 0,
                                          data, 1, &most),
               FREEML_ERR_MODEL);
  /* The 4-byte row starts of E > 65535 counted in the size. */
  CHECK_EQ_INT(freeml_sparse_filter_check(FREEML_SPARSE_CSR, 1, 0x10000,
                                          0x10000, data, 2 * 2 + 3 * 0x10000,
                                          &most),
               FREEML_ERR_MODEL);
}

int main(void) {
  test_random_cases();
  test_long_gaps();
#if SPARSE_TEST_LARGE
  test_csr_four_byte_row_starts();
#endif
  test_refused_arguments();
  test_refused_encodings();
  TEST_MAIN_END();
}
