/* freeml_fully_connected_s8_dsp writes the bytes of
 * freeml_fully_connected_s8_portable, on seeded random cases (depth multiple
 * of 4 or not, odd and even unit counts, per-channel and per-tensor, extreme
 * zero points, bias or none, clamps) each run as a random sequence of tiles.
 * Built for the host and, unchanged, for a Cortex-M4 under QEMU. */
#include <stdio.h>
#include <string.h>

#include "kernels/freeml_kernels.h"
#include "kernels/tests/random_cases.h"
#include "tflm_freeml/tests/check.h"

#ifndef FC_DSP_TEST_CASES
#define FC_DSP_TEST_CASES 3000
#endif

enum {
  MAX_BATCHES = 3,
  MAX_DEPTH = 300,
  MAX_UNITS = 16,
  GUARD = 16 /* bytes either side of a tile that it must not write */
};

typedef struct {
  freeml_fc_params params;
  int32_t batches, depth, units;
  int32_t multiplier[MAX_UNITS], shift[MAX_UNITS], bias[MAX_UNITS];
  int has_bias;
  int8_t input[MAX_BATCHES * MAX_DEPTH], filter[MAX_UNITS * MAX_DEPTH];
  int8_t expected[MAX_BATCHES * MAX_UNITS], got[MAX_BATCHES * MAX_UNITS];
  int8_t tile_out[GUARD + MAX_BATCHES * MAX_UNITS + GUARD];
} fc_case;

static void fill_case(test_lcg *g, fc_case *c) {
  int32_t o;
  lcg_fill_s8(g, c->input, c->batches * c->depth);
  lcg_fill_s8(g, c->filter, c->units * c->depth);
  c->params.per_channel = lcg_range(g, 0, 1);
  for (o = 0; o < c->units; ++o) {
    /* Per-tensor: entries past 0 differ, and must not be read. */
    const freeml_quant q = random_quant(g);
    c->multiplier[o] = q.multiplier;
    c->shift[o] = q.shift;
    c->bias[o] = lcg_range(g, -40000, 40000);
  }
  c->has_bias = lcg_range(g, 0, 2) != 0;
  c->params.input_offset = -random_zero_point(g);
  /* Set on the per-channel path too, where it must be ignored. */
  c->params.filter_offset = -random_zero_point(g);
  c->params.output_offset = random_zero_point(g);
  c->params.activation = random_activation(g);
}

static void random_shape(test_lcg *g, fc_case *c) {
  static const int32_t depth_choice[] = {1,  2,  3,  4,  5,  7,   8,   12,
                                         15, 16, 17, 31, 32, 100, 256, 300};
  c->batches = lcg_range(g, 1, MAX_BATCHES);
  c->depth = lcg_pick(g, depth_choice, 16);
  c->units = lcg_range(g, 1, MAX_UNITS);
}

static void compare(test_lcg *g, fc_case *c, int32_t id) {
  const freeml_per_channel_quant quant = {c->multiplier, c->shift};
  const int32_t *bias = c->has_bias ? c->bias : 0;
  const int32_t units = freeml_fully_connected_s8_units(c->batches, c->units);
  int32_t start = 0, i;
  freeml_tile whole;
  whole.start = 0;
  whole.end = units;
  CHECK_EQ_INT(freeml_fully_connected_s8_portable(
                   &c->params, &quant, c->batches, c->depth, c->units, c->input,
                   c->filter, bias, c->expected, whole),
               FREEML_OK);
  while (start < units) {
    freeml_tile tile;
    tile.start = start;
    tile.end = random_tile_end(g, start, units, c->units);
    memset(c->tile_out, 0xA5, sizeof(c->tile_out));
    CHECK_EQ_INT(freeml_fully_connected_s8_dsp(
                     &c->params, &quant, c->batches, c->depth, c->units,
                     c->input, c->filter, bias, c->tile_out + GUARD, tile),
                 FREEML_OK);
    for (i = 0; i < GUARD; ++i) {
      CHECK_EQ_INT(c->tile_out[i], (int8_t)0xA5);
      CHECK_EQ_INT(c->tile_out[GUARD + tile.end - tile.start + i],
                   (int8_t)0xA5);
    }
    memcpy(c->got + start, c->tile_out + GUARD, tile.end - tile.start);
    start = tile.end;
  }
  for (i = 0; i < units; ++i) {
    if (c->got[i] != c->expected[i]) {
      fprintf(stderr,
              "case %ld: output %ld: got %d, expected %d (batches %ld, depth "
              "%ld, units %ld, per_channel %ld, offsets %ld,%ld)\n",
              (long)id, (long)i, c->got[i], c->expected[i], (long)c->batches,
              (long)c->depth, (long)c->units, (long)c->params.per_channel,
              (long)c->params.input_offset, (long)c->params.filter_offset);
      ++freeml_test_failures;
      return;
    }
  }
}

static fc_case the_case;

static void test_random_cases(void) {
  test_lcg g = {424242u};
  int32_t id;
  for (id = 0; id < FC_DSP_TEST_CASES; ++id) {
    random_shape(&g, &the_case);
    fill_case(&g, &the_case);
    compare(&g, &the_case, id);
  }
}

/* The classifier head of the measured models: 256 -> 10. */
static void test_head_layer(void) {
  test_lcg g = {31u};
  int32_t per_channel;
  the_case.batches = 1;
  the_case.depth = 256;
  the_case.units = 10;
  for (per_channel = 0; per_channel <= 1; ++per_channel) {
    fill_case(&g, &the_case);
    the_case.params.per_channel = per_channel;
    compare(&g, &the_case, -1 - per_channel);
  }
}

/* Offsets outside int16 lanes: the _dsp variant hands over to _portable. */
static void test_offset_beyond_int16(void) {
  test_lcg g = {99u};
  the_case.batches = 2;
  the_case.depth = 13;
  the_case.units = 5;
  fill_case(&g, &the_case);
  the_case.params.per_channel = 0;
  the_case.params.filter_offset = -40000;
  compare(&g, &the_case, -3);
  the_case.params.filter_offset = 0;
  the_case.params.input_offset = 40000;
  compare(&g, &the_case, -4);
}

static void test_bad_tile_writes_nothing(void) {
  test_lcg g = {5u};
  const freeml_per_channel_quant quant = {the_case.multiplier, the_case.shift};
  const freeml_tile bad[] = {{-1, 2}, {3, 2}, {0, 2 * 5 + 1}};
  int32_t t;
  the_case.batches = 2;
  the_case.depth = 8;
  the_case.units = 5;
  fill_case(&g, &the_case);
  for (t = 0; t < 3; ++t) {
    memset(the_case.got, 0x11, 8);
    CHECK_EQ_INT(freeml_fully_connected_s8_dsp(
                     &the_case.params, &quant, 2, 8, 5, the_case.input,
                     the_case.filter, the_case.bias, the_case.got, bad[t]),
                 FREEML_ERR_ARG);
    CHECK_EQ_INT(the_case.got[0], 0x11);
  }
}

int main(void) {
  test_random_cases();
  test_head_layer();
  test_offset_beyond_int16();
  test_bad_tile_writes_nothing();
  TEST_MAIN_END();
}
