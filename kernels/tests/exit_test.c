/* The gNet head split by exit: chaining freeml_exit_accumulate_s8 (or _s4
 * on the same weights packed) over the exits (each run as a random sequence
 * of tiles) and requantizing with freeml_exit_logits_s8 gives the bytes of
 * freeml_fully_connected_s8 on the concatenated features, the features of
 * exits not reached being the zero point. Seeded random cases: exit counts
 * and widths (odd columns split int4 bytes between exits), classes,
 * per-tensor and per-class quantization, extreme zero points. */
#include <string.h>

#include "kernels/freeml_kernels.h"
#include "kernels/tests/random_cases.h"
#include "tflm_freeml/tests/check.h"

#ifndef EXIT_TEST_CASES
#define EXIT_TEST_CASES 2000
#endif

enum { MAX_EXITS = 5, MAX_WIDTH = 70, MAX_FEATURES = MAX_EXITS * MAX_WIDTH,
       MAX_CLASSES = 12 };

typedef struct {
  int32_t exits, classes, features;
  int32_t width[MAX_EXITS], column[MAX_EXITS + 1];
  int32_t zero_point, per_channel, int4;
  int8_t x[MAX_FEATURES], w[MAX_CLASSES * MAX_FEATURES];
  uint8_t packed[(MAX_CLASSES * MAX_FEATURES + 1) / 2]; /* w as int4 */
  int32_t bias[MAX_CLASSES], multiplier[MAX_CLASSES], shift[MAX_CLASSES];
} exit_case;

static void random_case(test_lcg *g, exit_case *c) {
  int32_t k, o;
  c->exits = lcg_range(g, 1, MAX_EXITS);
  c->classes = lcg_range(g, 1, MAX_CLASSES);
  c->column[0] = 0;
  for (k = 0; k < c->exits; ++k) {
    c->width[k] = lcg_range(g, 1, MAX_WIDTH);
    c->column[k + 1] = c->column[k] + c->width[k];
  }
  c->features = c->column[c->exits];
  c->zero_point = random_zero_point(g);
  c->per_channel = lcg_range(g, 0, 1);
  lcg_fill_s8(g, c->x, c->features);
  lcg_fill_s8(g, c->w, c->classes * c->features);
  c->int4 = lcg_range(g, 0, 1);
  if (c->int4) {
    memset(c->packed, 0, sizeof(c->packed));
    for (o = 0; o < c->classes * c->features; ++o) {
      c->w[o] = (int8_t)(c->w[o] >> 4); /* -8..7 */
      c->packed[o / 2] |= (uint8_t)((c->w[o] & 0xF) << (4 * (o % 2)));
    }
  }
  for (o = 0; o < c->classes; ++o) {
    const freeml_quant q = random_quant(g);
    c->multiplier[o] = q.multiplier;
    c->shift[o] = q.shift;
    c->bias[o] = lcg_range(g, -100000, 100000);
  }
}

/* The head op, TFLM style, on the features with exits after `reached` at
 * the zero point. */
static void head_op(const exit_case *c, int32_t reached, int8_t *logits) {
  int8_t x[MAX_FEATURES];
  const freeml_per_channel_quant quant = {c->multiplier, c->shift};
  freeml_fc_params params;
  freeml_tile all;
  memcpy(x, c->x, (size_t)c->features);
  memset(x + c->column[reached + 1], c->zero_point,
         (size_t)(c->features - c->column[reached + 1]));
  memset(&params, 0, sizeof(params));
  params.input_offset = -c->zero_point;
  params.per_channel = c->per_channel;
  params.activation.min = -128;
  params.activation.max = 127;
  all.start = 0;
  all.end = c->classes;
  CHECK_EQ_INT(freeml_fully_connected_s8_portable(&params, &quant, 1,
                                                  c->features, c->classes, x,
                                                  c->w, c->bias, logits, all),
               FREEML_OK);
}

static void check_case(test_lcg *g, const exit_case *c, int32_t id) {
  const freeml_per_channel_quant quant = {c->multiplier, c->shift};
  int32_t acc[2][MAX_CLASSES];
  const int32_t *previous = c->bias;
  int32_t k;
  for (k = 0; k < c->exits; ++k) {
    freeml_exit_accumulate_params p;
    freeml_exit_logits_params lp;
    int32_t *out = acc[k % 2];
    int8_t got[MAX_CLASSES], expected[MAX_CLASSES];
    int32_t start = 0;
    p.classes = c->classes;
    p.features = c->width[k];
    p.row_stride = c->features;
    p.column = c->column[k];
    p.input_offset = -c->zero_point;
    while (start < c->classes) { /* any split into tiles, in order */
      freeml_tile tile;
      tile.start = start;
      tile.end = random_tile_end(g, start, c->classes, c->classes);
      CHECK_EQ_INT(c->int4 ? freeml_exit_accumulate_s4(&p, c->x + p.column,
                                                       c->packed, previous,
                                                       out + start, tile)
                           : freeml_exit_accumulate_s8(&p, c->x + p.column,
                                                       c->w, previous,
                                                       out + start, tile),
                   FREEML_OK);
      start = tile.end;
    }
    lp.classes = c->classes;
    lp.output_offset = 0;
    lp.per_channel = c->per_channel;
    freeml_exit_logits_s8(&lp, &quant, out, got);
    head_op(c, k, expected);
    if (memcmp(got, expected, (size_t)c->classes) != 0) {
      fprintf(stderr, "case %d exit %d: logits differ from the head op\n",
              (int)id, (int)k);
      ++freeml_test_failures;
      return;
    }
    previous = out;
  }
}

int main(void) {
  static exit_case c;
  test_lcg g = {12345u};
  freeml_tile bad = {0, 2};
  freeml_exit_accumulate_params p = {1, 1, 1, 0, 0};
  int32_t i;
  for (i = 0; i < EXIT_TEST_CASES; ++i) {
    random_case(&g, &c);
    check_case(&g, &c, i);
  }
  /* A tile past the classes is refused. */
  CHECK_EQ_INT(freeml_exit_accumulate_s8(&p, c.x, c.w, c.bias, c.bias, bad),
               FREEML_ERR_ARG);
  CHECK_EQ_INT(
      freeml_exit_accumulate_s4(&p, c.x, c.packed, c.bias, c.bias, bad),
      FREEML_ERR_ARG);
  TEST_MAIN_END();
}
