/*
 * Shared by the sparse kernels: byte-wise little-endian reads, bit counting,
 * where a filter's entries start and how a sum becomes an output byte.
 * Private to kernels/sparse/.
 */
#ifndef FREEML_KERNELS_SPARSE_FREEML_SPARSE_H_
#define FREEML_KERNELS_SPARSE_FREEML_SPARSE_H_

#include <stdint.h>

#include "kernels/freeml_arith.h"

/* FREEML_SPARSE_INLINE: for helpers whose callers pass a constant flag
 * (such as "no tap is padded"): each call compiles to its own loop without
 * the tests the flag rules out. FREEML_SPARSE_NOINLINE: for the functions
 * that hold those loops, so each gets the registers to itself.
 * FREEML_SPARSE_RARELY: a test that is seldom true (a filter's walk moving
 * to its next kernel tap), so that the compiler keeps the registers for
 * the loop around it. */
#if defined(__GNUC__)
#define FREEML_SPARSE_INLINE static inline __attribute__((always_inline))
#define FREEML_SPARSE_NOINLINE static __attribute__((noinline))
#define FREEML_SPARSE_RARELY(x) __builtin_expect((x), 0)
#else
#define FREEML_SPARSE_INLINE static inline
#define FREEML_SPARSE_NOINLINE static
#define FREEML_SPARSE_RARELY(x) (x)
#endif

/* FREEML_SPARSE_HAS_INT4, FREEML_SPARSE_HAS_INT2: whether the loops for
 * int4 and 2-bit values are built (see FREEML_SPARSE_INT4 in
 * freeml_kernels.h). */
#if defined(FREEML_SPARSE_NO_INT4)
#define FREEML_SPARSE_HAS_INT4 0
#else
#define FREEML_SPARSE_HAS_INT4 1
#endif
#if defined(FREEML_SPARSE_NO_INT2)
#define FREEML_SPARSE_HAS_INT2 0
#else
#define FREEML_SPARSE_HAS_INT2 1
#endif

/* Whether this build has the loops for the filter's values. */
static inline int freeml_sparse_values_built(const freeml_sparse_filter *s) {
  return s->value_bits == 8 || (FREEML_SPARSE_HAS_INT4 && s->value_bits == 4) ||
         (FREEML_SPARSE_HAS_INT2 && s->value_bits == 2);
}

/* Little-endian unsigned integer of `bytes` (0 to 4) bytes at p. */
static inline uint32_t freeml_sparse_uint(const uint8_t *p, int32_t bytes) {
  uint32_t value = 0;
  while (bytes > 0) {
    --bytes;
    value = (value << 8) | p[bytes];
  }
  return value;
}

static inline uint32_t freeml_sparse_u16(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

/* The next 32 positions of a mask row from p: its last word has
 * `bytes_left` < 4 bytes, the missing ones read as 0. */
static inline uint32_t freeml_sparse_mask_word(const uint8_t *p,
                                               int32_t bytes_left) {
  if (bytes_left >= 4) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
  }
  return freeml_sparse_uint(p, bytes_left);
}

static inline int32_t freeml_sparse_popcount(uint32_t x) {
  x = x - ((x >> 1) & 0x55555555u);
  x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
  x = (x + (x >> 4)) & 0x0F0F0F0Fu;
  return (int32_t)((x * 0x01010101u) >> 24);
}

/* Index of the lowest set bit; x != 0. gcc and clang have an instruction
 * for it (Cortex-M4: RBIT + CLZ). */
static inline int32_t freeml_sparse_ctz(uint32_t x) {
#if defined(__GNUC__)
  return (int32_t)__builtin_ctz(x);
#else
  return freeml_sparse_popcount((x & (0u - x)) - 1u);
#endif
}

/* A walk through the values in entry order, `bits` (8, 4 or 2) each. With
 * int8 values it is a pointer (`field` unused, and gone where `bits` is the
 * constant 8); else the byte of the next value and which of its 8 / bits
 * fields, from the least significant: entry e is field e % (8 / bits) of
 * byte e / (8 / bits). A 2-bit field holds code c of value c - 2 + c / 2
 * (-2, -1, 1, 2). */
typedef struct {
  const int8_t *p;
  uint32_t field;
} freeml_sparse_cursor;

FREEML_SPARSE_INLINE freeml_sparse_cursor freeml_sparse_at(const int8_t *values,
                                                           int32_t e,
                                                           int bits) {
  freeml_sparse_cursor c;
  const int32_t per_byte = 8 / bits;
  c.p = values + e / per_byte;
  c.field = (uint32_t)(e % per_byte);
  return c;
}

/* The value at c, c moved to the next. */
FREEML_SPARSE_INLINE int32_t freeml_sparse_next(freeml_sparse_cursor *c,
                                                int bits) {
  if (bits == 4) {
    const uint32_t byte = (uint8_t)*c->p;
    const int32_t value =
        (int32_t)(int8_t)(uint8_t)(c->field ? byte : byte << 4) >> 4;
    c->p += c->field;
    c->field ^= 1u;
    return value;
  }
  if (bits == 2) {
    const int32_t code =
        (int32_t)(((uint32_t)(uint8_t)*c->p >> (2u * c->field)) & 3u);
    c->field = (c->field + 1u) & 3u;
    c->p += c->field == 0u;
    return code - 2 + (code >> 1);
  }
  return *c->p++;
}

/* c moved past n values. */
FREEML_SPARSE_INLINE void freeml_sparse_skip(freeml_sparse_cursor *c, int32_t n,
                                             int bits) {
  if (bits == 8) {
    c->p += n;
  } else {
    const uint32_t fields = c->field + (uint32_t)n;
    const uint32_t per_byte = 8u / (uint32_t)bits;
    c->p += fields / per_byte;
    c->field = fields % per_byte;
  }
}

/* The entry index of c. */
FREEML_SPARSE_INLINE int32_t freeml_sparse_index(freeml_sparse_cursor c,
                                                 const int8_t *values,
                                                 int bits) {
  return (int32_t)(c.p - values) * (8 / bits) + (int32_t)c.field;
}

/* Set bits in bytes [0, n) of p. */
static inline int32_t freeml_sparse_popcount_bytes(const uint8_t *p,
                                                   uint32_t n) {
  int32_t count = 0;
  uint32_t i;
  for (i = 0; i < n; i += 4) {
    count += freeml_sparse_popcount(freeml_sparse_mask_word(
        p + i, n - i >= 4 ? 4 : (int32_t)(n - i)));
  }
  return count;
}

/* Index of filter f's first entry: read (CSR) or summed over the filters
 * before it (delta: their counts, bitmask: their set bits). Called once per
 * tile, for a tile that starts inside a pixel or a batch. */
static inline int32_t freeml_sparse_first_entry(const freeml_sparse_filter *s,
                                                int32_t f) {
  int32_t entry = 0;
  int32_t k;
  switch (s->format) {
    case FREEML_SPARSE_CSR:
      return (int32_t)freeml_sparse_uint(s->row_start + f * s->row_bytes,
                                         s->row_bytes);
    case FREEML_SPARSE_DELTA:
      for (k = 0; k < f; ++k) {
        entry += (int32_t)freeml_sparse_u16(s->count + 2 * k);
      }
      return entry;
    default:
      return freeml_sparse_popcount_bytes(
          s->mask, (uint32_t)f * (uint32_t)s->mask_bytes);
  }
}

static inline int32_t freeml_sparse_saturate(int64_t x) {
  return x < INT32_MIN ? INT32_MIN : (x > INT32_MAX ? INT32_MAX : (int32_t)x);
}

/* How an output's int32 sum becomes its byte, as in the dense kernels. */
typedef struct {
  freeml_sparse_bias bias;
  const int32_t *multiplier;
  const int32_t *shift;
  int32_t output_offset;
  int32_t min, max; /* the activation's bounds less output_offset */
} freeml_sparse_output;

static inline freeml_sparse_output freeml_sparse_output_of(
    freeml_sparse_bias bias, const freeml_per_channel_quant *quant,
    int32_t output_offset, freeml_activation activation) {
  freeml_sparse_output o;
  o.bias = bias;
  o.multiplier = quant->multiplier;
  o.shift = quant->shift;
  o.output_offset = output_offset;
  /* clamp(y + offset, min, max) is clamp(y, min - offset, max - offset) +
   * offset, with no 64-bit sum per output (a bound past int32 is one no
   * int32 y passes, so saturating it changes nothing). */
  o.min = freeml_sparse_saturate((int64_t)activation.min - output_offset);
  o.max = freeml_sparse_saturate((int64_t)activation.max - output_offset);
  return o;
}

/* The byte of an output of channel c (bias c) whose quantization is q. */
static inline int8_t freeml_sparse_output_byte(const freeml_sparse_output *o,
                                               int32_t acc, int32_t c,
                                               int32_t q) {
  if (o->bias.s32 != 0) {
    acc += o->bias.s32[c];
  } else if (o->bias.s16 != 0) {
    acc += o->bias.s16[c];
  }
  return (int8_t)(freeml_clamp(freeml_mbqm(acc, o->multiplier[q], o->shift[q]),
                               o->min, o->max) +
                  o->output_offset);
}

/* Both sparse convolutions (delta or bitmask filters, checked by the
 * caller): output channel oc applies filter oc, of k_h * k_w * group_c
 * positions, to input channels [ic0, ic0 + group_c) with ic0 =
 * (oc / filters_per_step) * group_c. CONV_2D: group_c is the filter depth,
 * filters_per_step the filters per group; DEPTHWISE_CONV_2D: 1 and the
 * depth multiplier. Tile contract of the public kernels. Uses about 700
 * bytes of stack on the Cortex-M4, a table of kernel taps the most. */
freeml_status freeml_sparse_conv_core(
    const freeml_conv_params *params, const freeml_per_channel_quant *quant,
    const freeml_dims *input_dims, const int8_t *input, int32_t k_w,
    int32_t group_c, int32_t filters_per_step,
    const freeml_sparse_filter *filter, freeml_sparse_bias bias,
    const freeml_dims *output_dims, int8_t *output, freeml_tile tile);

#endif /* FREEML_KERNELS_SPARSE_FREEML_SPARSE_H_ */
