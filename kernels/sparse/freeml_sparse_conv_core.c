#include <string.h>

#include "kernels/sparse/freeml_sparse.h"

/* How a filter's positions are found in the input. Positions only grow
 * within a filter, so they are walked, not divided:
 *  - a table walk, when each position is a kernel tap (group_c 1: the
 *    depthwise convolutions) of at most MAX_TAPS: the output pixel's taps
 *    are looked up in a table of MAX_TAPS pointers on the stack;
 *  - a run walk otherwise: runs are the stretches of positions that are
 *    contiguous in the input, a tap's group_c channels or, for a window
 *    with no padded column whose taps of a kernel row are adjacent
 *    (dilation_w 1, one group), a whole kernel row, carried one to the
 *    next.
 * Each walk takes three flags, constants where it is inlined. `padded`: some
 * tap of the window is padded, so each run or tap is tested (and a run is
 * carried as an input row and column, not as a pointer). `pair`: the walk
 * serves two windows of one output row, pair_step input bytes apart and
 * padded alike, that share each entry's decoding. `value_bits`: the
 * values' width (8, 4 or 2), read through a freeml_sparse_cursor. */
enum { MAX_TAPS = 64 };

/* A filter's sums over one window (first) or two (first, second) without
 * the input offset, and the sum of the values they took: the offset times
 * it is added once, at the end, not to each input. */
typedef struct {
  int32_t first, second, values;
} sums;

/* Adds value times x (and x2, for a pair). */
FREEML_SPARSE_INLINE void add_product(sums *acc, int32_t value, int32_t x,
                                      int32_t x2, int pair) {
  acc->first += value * x;
  if (pair) acc->second += value * x2;
  acc->values += value;
}

/* An output pixel's window, as the walks see it. */
typedef struct {
  int32_t pair_step;
  /* runs */
  int32_t run_len;      /* positions per run */
  int32_t runs_per_row; /* runs per kernel row: k_w, or 1 for row runs */
  /* runs of a window without padded taps */
  const int8_t *origin; /* the input at tap (0, 0), channel 0 */
  int32_t run_step;     /* input bytes from a run to the next in a row */
  int32_t row_wrap;     /* and from a row's last run to the next row's first */
  /* runs of a window with padded taps, and tables */
  const int8_t *image; /* the output pixel's batch of the input */
  int32_t in_h, in_w, in_c;
  int32_t dilation_h, dilation_w;
  int32_t y0, x0; /* input row and column of tap (0, 0) */
} window;

/* ---- the run walk ---- */

/* A filter's current run. */
typedef struct {
  int32_t runs_left; /* after it in its kernel row */
  int32_t iy, ix;    /* padded: its input row and column */
  const int8_t *x;   /* the input at its first position; 0 if padded */
  const int8_t *x2;  /* pair: the same in the second window */
} run;

/* Input channel ic0 at input row iy, column ix; 0 if that is padding. */
FREEML_SPARSE_INLINE const int8_t *padded_input(const window *w, int32_t iy,
                                                int32_t ix, int32_t ic0) {
  if ((uint32_t)iy >= (uint32_t)w->in_h || (uint32_t)ix >= (uint32_t)w->in_w) {
    return 0; /* padded taps are skipped, as TFLM does */
  }
  return w->image + (iy * w->in_w + ix) * w->in_c + ic0;
}

/* r->x2 from r->x, for a pair. */
FREEML_SPARSE_INLINE void set_second(const window *w, run *r, int padded) {
  r->x2 = padded && r->x == 0 ? 0 : r->x + w->pair_step;
}

FREEML_SPARSE_INLINE run first_run(const window *w, int32_t ic0, int padded,
                                   int pair) {
  run r;
  r.runs_left = w->runs_per_row - 1;
  if (padded) {
    r.iy = w->y0;
    r.ix = w->x0;
    r.x = padded_input(w, r.iy, r.ix, ic0);
  } else {
    r.x = w->origin + ic0;
  }
  if (pair) set_second(w, &r, padded);
  return r;
}

/* Moves r on to the run of position q, counted from r's first position
 * (q >= run_len); returns q counted from the new run's first. The runs a
 * filter passes add up to at most its k_h * k_w taps. */
FREEML_SPARSE_INLINE int32_t next_run(const window *w, run *r, int32_t q,
                                      int32_t ic0, int padded, int pair) {
  do {
    q -= w->run_len;
    if (r->runs_left == 0) {
      r->runs_left = w->runs_per_row - 1;
      if (padded) {
        r->iy += w->dilation_h;
        r->ix = w->x0;
      } else {
        r->x += w->row_wrap;
      }
    } else {
      --r->runs_left;
      if (padded) {
        r->ix += w->dilation_w;
      } else {
        r->x += w->run_step;
      }
    }
  } while (q >= w->run_len);
  if (padded) r->x = padded_input(w, r->iy, r->ix, ic0);
  if (pair) set_second(w, r, padded);
  return q;
}

/* Adds value times the input at q of run r (of both windows, for a pair). */
FREEML_SPARSE_INLINE void run_product(const run *r, int32_t q, int32_t value,
                                      sums *acc, int padded, int pair) {
  if (padded && r->x == 0) return;
  add_product(acc, value, r->x[q], pair ? r->x2[q] : 0, pair);
}

/* The sums of the products of n delta entries, values from *v on (moved
 * past them), with the window(s). */
FREEML_SPARSE_INLINE sums run_delta_sum(const window *w, const uint8_t *delta,
                                        freeml_sparse_cursor *v, int32_t n,
                                        int32_t ic0, int padded, int pair,
                                        int value_bits) {
  const uint8_t *end = delta + n;
  run r = first_run(w, ic0, padded, pair);
  sums acc = {0, 0, 0};
  int32_t q = -1;
  while (delta != end) {
    q += *delta++ + 1;
    if (FREEML_SPARSE_RARELY(q >= w->run_len)) {
      q = next_run(w, &r, q, ic0, padded, pair);
    }
    run_product(&r, q, freeml_sparse_next(v, value_bits), &acc, padded, pair);
  }
  return acc;
}

/* Adds the products of the mask bits `bits` (not 0) of the word that
 * starts *d positions into run r, of values from *v on, testing each for
 * the end of its run: *d and r follow the runs passed. */
FREEML_SPARSE_INLINE void run_word_sum(const window *w, run *r, int32_t *d,
                                       uint32_t bits, freeml_sparse_cursor *v,
                                       sums *acc, int32_t ic0, int padded,
                                       int pair, int value_bits) {
  do {
    const int32_t bit = freeml_sparse_ctz(bits);
    int32_t q = *d + bit;
    bits &= bits - 1u;
    if (q >= w->run_len) {
      q = next_run(w, r, q, ic0, padded, pair);
      *d = q - bit;
    }
    run_product(r, q, freeml_sparse_next(v, value_bits), acc, padded, pair);
  } while (bits != 0);
}

/* The same as run_delta_sum for a bitmask row of mask_bytes. A mask word
 * that lies in one run (every word, when runs are multiples of 32
 * positions) is taken with no test per bit. */
FREEML_SPARSE_INLINE sums run_bitmask_sum(const window *w, const uint8_t *row,
                                          int32_t mask_bytes,
                                          freeml_sparse_cursor *v, int32_t ic0,
                                          int padded, int pair,
                                          int value_bits) {
  const uint8_t *end = row + (mask_bytes & ~3); /* of the whole words */
  /* A word that starts d positions into a run lies in it if d < fit. */
  const uint32_t fit = w->run_len >= 32 ? (uint32_t)w->run_len - 31u : 0u;
  run r = first_run(w, ic0, padded, pair);
  sums acc = {0, 0, 0};
  int32_t d = 0; /* the word's first position, counted from r's first */
  uint32_t bits;
  for (; row != end; row += 4, d += 32) {
    bits = freeml_sparse_mask_word(row, 4);
    if (bits == 0) continue;
    if (FREEML_SPARSE_RARELY(d >= w->run_len)) {
      d = next_run(w, &r, d, ic0, padded, pair);
    }
    if ((uint32_t)d >= fit) {
      run_word_sum(w, &r, &d, bits, v, &acc, ic0, padded, pair, value_bits);
    } else if (padded && r.x == 0) {
      freeml_sparse_skip(v, freeml_sparse_popcount(bits), value_bits);
    } else { /* the word's runs are r's: d + bit, with no test */
      run in_word = r;
      in_word.x += d;
      if (pair) in_word.x2 += d;
      do {
        run_product(&in_word, freeml_sparse_ctz(bits),
                    freeml_sparse_next(v, value_bits), &acc, 0, pair);
        bits &= bits - 1u;
      } while (bits != 0);
    }
  }
  bits = freeml_sparse_mask_word(row, mask_bytes & 3);
  if (bits != 0) {
    run_word_sum(w, &r, &d, bits, v, &acc, ic0, padded, pair, value_bits);
  }
  return acc;
}

/* ---- the table walk ----
 * Its table has 1 + k_h * k_w pointers: tap[1 + t] is the input at tap t of
 * the window, channel 0, or 0 where padded; tap[0] is one before the first,
 * where a walk starts. */

/* Adds value times channel c at tap x (and the pair's). */
FREEML_SPARSE_INLINE void tap_product(const int8_t *x, int32_t c,
                                      int32_t pair_step, int32_t value,
                                      sums *acc, int padded, int pair) {
  if (padded && x == 0) return;
  add_product(acc, value, x[c], pair ? x[c + pair_step] : 0, pair);
}

/* The sums of the products of n delta entries of channel c, values from
 * *v on (moved past them), with the window(s) of the table `tap`. */
FREEML_SPARSE_INLINE sums tap_delta_sum(const int8_t *const *tap,
                                        int32_t pair_step, const uint8_t *delta,
                                        freeml_sparse_cursor *v, int32_t n,
                                        int32_t c, int padded, int pair,
                                        int value_bits) {
  const uint8_t *end = delta + n;
  sums acc = {0, 0, 0};
  while (delta != end) {
    tap += *delta++;
    tap_product(*++tap, c, pair_step, freeml_sparse_next(v, value_bits), &acc,
                padded, pair);
  }
  return acc;
}

/* The same for a bitmask row of mask_bytes. */
FREEML_SPARSE_INLINE sums tap_bitmask_sum(const int8_t *const *taps,
                                          int32_t pair_step, const uint8_t *row,
                                          int32_t mask_bytes,
                                          freeml_sparse_cursor *v, int32_t c,
                                          int padded, int pair,
                                          int value_bits) {
  sums acc = {0, 0, 0};
  int32_t byte;
  for (byte = 0; byte < mask_bytes; byte += 4) {
    const int8_t *const *tap = taps + 1 + 8 * byte;
    uint32_t bits = freeml_sparse_mask_word(row + byte, mask_bytes - byte);
    while (bits != 0) {
      tap_product(tap[freeml_sparse_ctz(bits)], c, pair_step,
                  freeml_sparse_next(v, value_bits), &acc, padded, pair);
      bits &= bits - 1u;
    }
  }
  return acc;
}

/* Fills the table `tap` for the window of w. */
static void find_taps(const int8_t **tap, const window *w, int32_t k_h,
                      int32_t k_w) {
  int32_t ky, kx;
  *tap++ = 0;
  for (ky = 0; ky < k_h; ++ky) {
    for (kx = 0; kx < k_w; ++kx) {
      *tap++ = padded_input(w, w->y0 + ky * w->dilation_h,
                            w->x0 + kx * w->dilation_w, 0);
    }
  }
}

/* ---- output pixels ---- */

/* Where an output element is. */
typedef struct {
  int32_t b, oy, ox, oc;
} place;

static place place_of(int32_t unit, const freeml_dims *output_dims) {
  place at;
  int32_t rest = unit / output_dims->c;
  at.oc = unit % output_dims->c;
  at.ox = rest % output_dims->w;
  rest /= output_dims->w;
  at.oy = rest % output_dims->h;
  at.b = rest / output_dims->h;
  return at;
}

/* Channel 0 of the next output pixel. */
static void next_pixel(place *at, const freeml_dims *output_dims) {
  at->oc = 0;
  if (++at->ox == output_dims->w) {
    at->ox = 0;
    if (++at->oy == output_dims->h) {
      at->oy = 0;
      ++at->b;
    }
  }
}

/* What one step of a tile's walk over output pixels takes: the channels
 * of the pixel at `at` in the tile or, as a pair, all the channels of it
 * and the next pixel, both whole in the tile, of one output row and with
 * no padded column, so that their windows have the same padded taps. */
typedef struct {
  int32_t y0, x0;     /* input row and column of the window's tap (0, 0) */
  int32_t last;       /* the pixel's channels in the tile: [at.oc, last) */
  int columns_inside; /* no tap left or right of the input */
  int padded;         /* some tap outside the input */
  int pair;
  int32_t pair_step; /* pair: input bytes from its first window to the next */
} step;

static step step_at(const place *at, const freeml_conv_params *params,
                    const freeml_dims *input_dims, int32_t k_h, int32_t k_w,
                    const freeml_dims *output_dims, int32_t units_left) {
  /* Input rows and columns a window spans past its first. */
  const int64_t span_h = (int64_t)(k_h - 1) * params->dilation_h;
  const int64_t span_w = (int64_t)(k_w - 1) * params->dilation_w;
  const int32_t out_c = output_dims->c;
  step s;
  s.y0 = at->oy * params->stride_h - params->pad_h;
  s.x0 = at->ox * params->stride_w - params->pad_w;
  s.last = units_left < out_c - at->oc ? at->oc + units_left : out_c;
  s.columns_inside = s.x0 >= 0 && s.x0 + span_w < input_dims->w;
  s.padded = !s.columns_inside || s.y0 < 0 || s.y0 + span_h >= input_dims->h;
  s.pair = at->oc == 0 && units_left >= 2 * out_c && s.columns_inside &&
           at->ox + 1 < output_dims->w &&
           s.x0 + params->stride_w + span_w < input_dims->w;
  /* The second window is in the input's row, so this fits int32. */
  s.pair_step = s.pair ? params->stride_w * input_dims->c : 0;
  return s;
}

/* Moves *at past the pixels of s; returns their units. */
static int32_t step_done(place *at, const step *s,
                         const freeml_dims *output_dims) {
  const int32_t units = s->pair ? 2 * output_dims->c : s->last - at->oc;
  if (s->pair) next_pixel(at, output_dims);
  at->oc = s->last;
  if (s->last == output_dims->c) next_pixel(at, output_dims);
  return units;
}

/* What the pixels of a call share. */
typedef struct {
  window w;    /* set per pixel */
  int by_taps; /* the table walk, on `taps` (filled per pixel) */
  int value_bits; /* of each value: 8, 4 or 2 */
  const int8_t *taps[1 + MAX_TAPS];
  const freeml_sparse_filter *filter;
  int32_t group_c, filters_per_step;
  int32_t input_offset;
  freeml_sparse_output out;
} conv_call;

/* Writes output channel oc's byte at output and, for a pair, the next
 * pixel's, `next` bytes on. */
FREEML_SPARSE_INLINE void put(const conv_call *call, sums acc, int32_t oc,
                              int8_t *output, int32_t next, int pair) {
  const int32_t offset = acc.values * call->input_offset;
  if (pair) {
    output[next] =
        freeml_sparse_output_byte(&call->out, acc.second + offset, oc, oc);
  }
  *output = freeml_sparse_output_byte(&call->out, acc.first + offset, oc, oc);
}

/* Output channels [oc, last) of the pixel of call->w, written to output
 * and, for a pair (all the channels of both pixels), those of the next
 * pixel after them; filter oc's entries start at `entry`. `by_taps`: the
 * table walk, and `value_bits`, constants as the other flags. */
FREEML_SPARSE_INLINE void filters(const conv_call *call, int32_t oc,
                                  int32_t last, int32_t entry, int8_t *output,
                                  int padded, int pair, int by_taps,
                                  int value_bits) {
  const window w = call->w;
  const freeml_sparse_filter *s = call->filter;
  const int32_t group_c = call->group_c;
  const int32_t filters_per_step = call->filters_per_step;
  const int32_t next = last; /* from an output to the next pixel's (pair) */
  freeml_sparse_cursor v = freeml_sparse_at(s->values, entry, value_bits);
  /* 2-bit values come with bitmask only: no delta loop for them. */
  if (value_bits != 2 && s->format == FREEML_SPARSE_DELTA) {
    const uint8_t *delta = s->delta + entry;
    for (; oc < last; ++oc, ++output) {
      const int32_t n = (int32_t)freeml_sparse_u16(s->count + 2 * oc);
      const int32_t ic0 = (oc / filters_per_step) * group_c;
      put(call,
          by_taps ? tap_delta_sum(call->taps, w.pair_step, delta, &v, n, ic0,
                                  padded, pair, value_bits)
                  : run_delta_sum(&w, delta, &v, n, ic0, padded, pair,
                                  value_bits),
          oc, output, next, pair);
      delta += n;
    }
  } else {
    const int32_t mask_bytes = s->mask_bytes;
    const uint8_t *row = s->mask + oc * mask_bytes;
    for (; oc < last; ++oc, ++output, row += mask_bytes) {
      const int32_t ic0 = (oc / filters_per_step) * group_c;
      put(call,
          by_taps ? tap_bitmask_sum(call->taps, w.pair_step, row, mask_bytes,
                                    &v, ic0, padded, pair, value_bits)
                  : run_bitmask_sum(&w, row, mask_bytes, &v, ic0, padded, pair,
                                    value_bits),
          oc, output, next, pair);
    }
  }
}

/* filters() for call->value_bits, a constant in each copy. */
FREEML_SPARSE_INLINE void pixel_of(const conv_call *call, int32_t oc,
                                   int32_t last, int32_t entry,
                                   int8_t *output, int padded, int pair,
                                   int by_taps) {
  if (FREEML_SPARSE_HAS_INT4 && call->value_bits == 4) {
    filters(call, oc, last, entry, output, padded, pair, by_taps, 4);
  } else if (FREEML_SPARSE_HAS_INT2 && call->value_bits == 2) {
    filters(call, oc, last, entry, output, padded, pair, by_taps, 2);
  } else {
    filters(call, oc, last, entry, output, padded, pair, by_taps, 8);
  }
}

FREEML_SPARSE_INLINE void pixel(const conv_call *call, int32_t oc, int32_t last,
                                int32_t entry, int8_t *output, int padded,
                                int pair) {
  if (call->by_taps) {
    pixel_of(call, oc, last, entry, output, padded, pair, 1);
  } else {
    pixel_of(call, oc, last, entry, output, padded, pair, 0);
  }
}

FREEML_SPARSE_NOINLINE void padded_pixel(const conv_call *call, int32_t oc,
                                         int32_t last, int32_t entry,
                                         int8_t *output) {
  pixel(call, oc, last, entry, output, 1, 0);
}

FREEML_SPARSE_NOINLINE void interior_pixel(const conv_call *call, int32_t oc,
                                           int32_t last, int32_t entry,
                                           int8_t *output) {
  pixel(call, oc, last, entry, output, 0, 0);
}

FREEML_SPARSE_NOINLINE void padded_pair(const conv_call *call, int32_t out_c,
                                        int8_t *output) {
  pixel(call, 0, out_c, 0, output, 1, 1);
}

FREEML_SPARSE_NOINLINE void interior_pair(const conv_call *call, int32_t out_c,
                                          int8_t *output) {
  pixel(call, 0, out_c, 0, output, 0, 1);
}

/* Sets call->w for the pixel(s) of s at `at`. */
static void set_window(conv_call *call, const step *s, const place *at,
                       const freeml_conv_params *params,
                       const freeml_dims *input_dims, const int8_t *input,
                       int32_t k_h, int32_t k_w) {
  window *w = &call->w;
  /* Runs are kernel rows where no column is padded and a row's taps are
   * adjacent. */
  const int row_runs = params->dilation_w == 1 &&
                       call->group_c == input_dims->c && s->columns_inside;
  w->y0 = s->y0;
  w->x0 = s->x0;
  w->image = input + at->b * (w->in_h * w->in_w * w->in_c);
  w->pair_step = s->pair_step;
  if (call->by_taps) {
    find_taps(call->taps, w, k_h, k_w);
    return;
  }
  w->run_len = row_runs ? k_w * call->group_c : call->group_c;
  w->runs_per_row = row_runs ? 1 : k_w;
  if (!s->padded) {
    /* The window's taps are in the input, so its steps fit int32: from a
     * run to the next in a kernel row, and from a row's last run (the whole
     * row, or tap k_w - 1) to the next row's first. */
    w->origin = w->image + (s->y0 * w->in_w + s->x0) * w->in_c;
    w->run_step = k_w > 1 ? params->dilation_w * w->in_c : 0;
    w->row_wrap = k_h > 1 ? params->dilation_h * w->in_w * w->in_c -
                                (w->runs_per_row - 1) * w->run_step
                          : 0;
  }
}

freeml_status freeml_sparse_conv_core(
    const freeml_conv_params *params, const freeml_per_channel_quant *quant,
    const freeml_dims *input_dims, const int8_t *input, int32_t k_w,
    int32_t group_c, int32_t filters_per_step,
    const freeml_sparse_filter *filter, freeml_sparse_bias bias,
    const freeml_dims *output_dims, int8_t *output, freeml_tile tile) {
  const int32_t out_c = output_dims->c;
  const int32_t k_h = filter->filter_size / (k_w * group_c);
  place at;
  conv_call call;
  int32_t i, entry;
  if (!freeml_tile_valid(tile, (int64_t)output_dims->n * output_dims->h *
                                   output_dims->w * out_c) ||
      !freeml_sparse_values_built(filter) ||
      (filter->value_bits == 2 && filter->format != FREEML_SPARSE_BITMASK)) {
    return FREEML_ERR_ARG;
  }
  if (tile.start == tile.end) return FREEML_OK;
  memset(&call, 0, sizeof(call));
  call.w.in_h = input_dims->h;
  call.w.in_w = input_dims->w;
  call.w.in_c = input_dims->c;
  call.w.dilation_h = params->dilation_h;
  call.w.dilation_w = params->dilation_w;
  call.by_taps = group_c == 1 && filter->filter_size <= MAX_TAPS;
  call.value_bits = filter->value_bits;
  call.filter = filter;
  call.group_c = group_c;
  call.filters_per_step = filters_per_step;
  call.input_offset = params->input_offset;
  call.out = freeml_sparse_output_of(bias, quant, params->output_offset,
                                     params->activation);
  at = place_of(tile.start, output_dims);
  /* A tile that starts inside a pixel finds its first entry once. */
  entry = freeml_sparse_first_entry(filter, at.oc);
  for (i = tile.start; i < tile.end; entry = 0) {
    const step s =
        step_at(&at, params, input_dims, k_h, k_w, output_dims, tile.end - i);
    int8_t *pixel_output = output + (i - tile.start);
    set_window(&call, &s, &at, params, input_dims, input, k_h, k_w);
    if (s.pair) {
      if (s.padded) {
        padded_pair(&call, out_c, pixel_output);
      } else {
        interior_pair(&call, out_c, pixel_output);
      }
    } else if (s.padded) {
      padded_pixel(&call, at.oc, s.last, entry, pixel_output);
    } else {
      interior_pixel(&call, at.oc, s.last, entry, pixel_output);
    }
    i += step_done(&at, &s, output_dims);
  }
  return FREEML_OK;
}
