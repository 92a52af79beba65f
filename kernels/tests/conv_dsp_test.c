/* freeml_conv2d_s8_dsp writes the bytes of freeml_conv2d_s8_portable, on
 * seeded random cases (channels per group multiple of 4 or not, odd and even
 * output channels, padding, stride, dilation, groups, extreme zero points,
 * bias or none, clamps) each run as a random sequence of tiles that start and
 * end mid-pixel. Built for the host and, unchanged, for a Cortex-M4 under
 * QEMU, where the DSP instructions are real. */
#include <stdio.h>
#include <string.h>

#include "kernels/freeml_kernels.h"
#include "kernels/tests/random_cases.h"
#include "tflm_freeml/tests/check.h"

#ifndef CONV_DSP_TEST_CASES
#define CONV_DSP_TEST_CASES 3000
#endif

enum {
  MAX_INPUT = 4096,
  MAX_FILTER = 8192,
  MAX_OUTPUT = 16384,
  MAX_OUT_C = 64,
  GUARD = 16 /* bytes either side of a tile that it must not write */
};

typedef struct {
  freeml_conv_params params;
  freeml_dims input_dims, filter_dims, output_dims;
  int32_t multiplier[MAX_OUT_C], shift[MAX_OUT_C], bias[MAX_OUT_C];
  int has_bias;
  int8_t input[MAX_INPUT], filter[MAX_FILTER];
  int8_t expected[MAX_OUTPUT], got[MAX_OUTPUT];
  int8_t tile_out[GUARD + MAX_OUTPUT + GUARD];
} conv_case;

/* Weights, data and quantization of a case whose shape and params are set. */
static void fill_case(test_lcg *g, conv_case *c) {
  int32_t oc;
  const int32_t out_c = c->output_dims.c;
  lcg_fill_s8(g, c->input, volume(&c->input_dims));
  lcg_fill_s8(g, c->filter, volume(&c->filter_dims));
  for (oc = 0; oc < out_c; ++oc) {
    const freeml_quant q = random_quant(g);
    c->multiplier[oc] = q.multiplier;
    c->shift[oc] = q.shift;
    c->bias[oc] = lcg_range(g, -40000, 40000);
  }
  c->has_bias = lcg_range(g, 0, 2) != 0;
  c->params.input_offset = -random_zero_point(g);
  c->params.output_offset = random_zero_point(g);
  c->params.activation = random_activation(g);
}

/* A random shape; 0 if it does not fit the buffers. */
static int random_shape(test_lcg *g, conv_case *c) {
  static const int32_t groups_choice[] = {1, 1, 1, 2, 3};
  static const int32_t group_c_choice[] = {1, 2, 3, 4, 5, 7, 8, 12, 16};
  const int32_t groups = lcg_pick(g, groups_choice, 5);
  const int32_t group_c = lcg_pick(g, group_c_choice, 9);
  const int32_t filters_per_group = lcg_range(g, 1, 9);
  freeml_conv_params *p = &c->params;
  c->input_dims.n = lcg_range(g, 1, 2);
  c->input_dims.h = lcg_range(g, 1, 9);
  c->input_dims.w = lcg_range(g, 1, 9);
  c->input_dims.c = groups * group_c;
  c->filter_dims.n = groups * filters_per_group;
  c->filter_dims.h = lcg_range(g, 1, 4);
  c->filter_dims.w = lcg_range(g, 1, 4);
  c->filter_dims.c = group_c;
  random_window(g, 1, &c->input_dims, &c->filter_dims, p, &c->output_dims);
  c->output_dims.c = c->filter_dims.n;
  return volume(&c->input_dims) <= MAX_INPUT &&
         volume(&c->filter_dims) <= MAX_FILTER &&
         volume(&c->output_dims) <= MAX_OUTPUT;
}

/* A dense layer (no groups, stride 1, pad (k - 1) / 2, no dilation). */
static void dense_shape(conv_case *c, int32_t hw, int32_t in_c, int32_t out_c,
                        int32_t k) {
  const freeml_dims input = {1, hw, hw, in_c};
  const freeml_dims filter = {out_c, k, k, in_c};
  const freeml_dims output = {1, hw, hw, out_c};
  c->input_dims = input;
  c->filter_dims = filter;
  c->output_dims = output;
  c->params.stride_h = c->params.stride_w = 1;
  c->params.dilation_h = c->params.dilation_w = 1;
  c->params.pad_h = c->params.pad_w = (k - 1) / 2;
}

/* Runs the case on both variants; on a mismatch, says where. */
static void compare(test_lcg *g, conv_case *c, int32_t id) {
  const freeml_per_channel_quant quant = {c->multiplier, c->shift};
  const int32_t *bias = c->has_bias ? c->bias : 0;
  const int32_t units = freeml_conv2d_s8_units(&c->output_dims);
  int32_t start = 0, i;
  freeml_tile whole;
  whole.start = 0;
  whole.end = units;
  CHECK_EQ_INT(
      freeml_conv2d_s8_portable(&c->params, &quant, &c->input_dims, c->input,
                                &c->filter_dims, c->filter, bias,
                                &c->output_dims, c->expected, whole),
      FREEML_OK);
  while (start < units) {
    freeml_tile tile;
    tile.start = start;
    tile.end = random_tile_end(g, start, units, c->output_dims.c);
    memset(c->tile_out, 0xA5, sizeof(c->tile_out));
    CHECK_EQ_INT(
        freeml_conv2d_s8_dsp(&c->params, &quant, &c->input_dims, c->input,
                             &c->filter_dims, c->filter, bias, &c->output_dims,
                             c->tile_out + GUARD, tile),
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
      const freeml_conv_params *p = &c->params;
      fprintf(stderr,
              "case %ld: output %ld: got %d, expected %d (input %ldx%ldx%ldx"
              "%ld, filter %ldx%ldx%ldx%ld, stride %ld,%ld, dilation %ld,%ld,"
              " pad %ld,%ld, input offset %ld)\n",
              (long)id, (long)i, c->got[i], c->expected[i],
              (long)c->input_dims.n, (long)c->input_dims.h,
              (long)c->input_dims.w, (long)c->input_dims.c,
              (long)c->filter_dims.n, (long)c->filter_dims.h,
              (long)c->filter_dims.w, (long)c->filter_dims.c, (long)p->stride_h,
              (long)p->stride_w, (long)p->dilation_h, (long)p->dilation_w,
              (long)p->pad_h, (long)p->pad_w, (long)p->input_offset);
      ++freeml_test_failures;
      return;
    }
  }
}

static conv_case the_case; /* too big for a small device's stack */

static void test_random_cases(void) {
  test_lcg g = {12345u};
  int32_t id = 0;
  while (id < CONV_DSP_TEST_CASES) {
    if (!random_shape(&g, &the_case)) continue;
    fill_case(&g, &the_case);
    compare(&g, &the_case, id++);
  }
}

static void test_dense_layers(void) {
  test_lcg g = {777u};
  dense_shape(&the_case, 16, 16, 32, 3);
  fill_case(&g, &the_case);
  compare(&g, &the_case, -1);
  dense_shape(&the_case, 32, 3, 16, 3);
  fill_case(&g, &the_case);
  compare(&g, &the_case, -2);
}

/* Offsets outside int16 lanes: the _dsp variant hands over to _portable. */
static void test_offset_beyond_int16(void) {
  test_lcg g = {99u};
  dense_shape(&the_case, 5, 6, 3, 3);
  fill_case(&g, &the_case);
  the_case.params.input_offset = 40000;
  compare(&g, &the_case, -3);
}

static void test_bad_tile_writes_nothing(void) {
  test_lcg g = {5u};
  const freeml_per_channel_quant quant = {the_case.multiplier, the_case.shift};
  const freeml_tile bad[] = {{-1, 2}, {3, 2}, {0, 5 * 5 * 3 + 1}};
  int32_t t;
  dense_shape(&the_case, 5, 6, 3, 3);
  fill_case(&g, &the_case);
  for (t = 0; t < 3; ++t) {
    memset(the_case.got, 0x11, 8);
    CHECK_EQ_INT(
        freeml_conv2d_s8_dsp(&the_case.params, &quant, &the_case.input_dims,
                             the_case.input, &the_case.filter_dims,
                             the_case.filter, the_case.bias,
                             &the_case.output_dims, the_case.got, bad[t]),
        FREEML_ERR_ARG);
    CHECK_EQ_INT(the_case.got[0], 0x11);
  }
}

int main(void) {
  test_random_cases();
  test_dense_layers();
  test_offset_beyond_int16();
  test_bad_tile_writes_nothing();
  TEST_MAIN_END();
}
