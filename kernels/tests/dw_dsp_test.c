/* freeml_depthwise_conv2d_s8_dsp writes the bytes of
 * freeml_depthwise_conv2d_s8_portable, on seeded random cases (channels
 * multiple of 4 or not, depth multipliers, padding, stride, dilation,
 * extreme zero points, bias or none, clamps) each run as a random sequence
 * of tiles that start and end mid-pixel. Built for the host and, unchanged,
 * for a Cortex-M4 under QEMU, where the DSP instructions are real. */
#include <stdio.h>
#include <string.h>

#include "kernels/freeml_kernels.h"
#include "kernels/tests/random_cases.h"
#include "tflm_freeml/tests/check.h"

#ifndef DW_DSP_TEST_CASES
#define DW_DSP_TEST_CASES 3000
#endif

enum {
  MAX_INPUT = 4096,
  MAX_FILTER = 8192,
  MAX_OUTPUT = 16384,
  MAX_OUT_C = 64,
  GUARD = 16 /* bytes either side of a tile that it must not write */
};

typedef struct {
  freeml_dw_conv_params params;
  freeml_dims input_dims, filter_dims, output_dims;
  int32_t multiplier[MAX_OUT_C], shift[MAX_OUT_C], bias[MAX_OUT_C];
  int has_bias;
  int8_t input[MAX_INPUT], filter[MAX_FILTER];
  int8_t expected[MAX_OUTPUT], got[MAX_OUTPUT];
  int8_t tile_out[GUARD + MAX_OUTPUT + GUARD];
} dw_case;

/* Weights, data and quantization of a case whose shape and params are set. */
static void fill_case(test_lcg *g, dw_case *c) {
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
  c->params.conv.input_offset = -random_zero_point(g);
  c->params.conv.output_offset = random_zero_point(g);
  c->params.conv.activation = random_activation(g);
}

/* A random shape; 0 if it does not fit the buffers. */
static int random_shape(test_lcg *g, dw_case *c) {
  static const int32_t channels_choice[] = {1, 2, 3, 4, 5, 7, 8, 12, 13, 16};
  static const int32_t multiplier_choice[] = {1, 1, 1, 2, 3};
  freeml_conv_params *p = &c->params.conv;
  c->params.depth_multiplier = lcg_pick(g, multiplier_choice, 5);
  c->input_dims.n = lcg_range(g, 1, 2);
  c->input_dims.h = lcg_range(g, 1, 9);
  c->input_dims.w = lcg_range(g, 1, 9);
  c->input_dims.c = lcg_pick(g, channels_choice, 10);
  c->filter_dims.n = 1;
  c->filter_dims.h = lcg_range(g, 1, 4);
  c->filter_dims.w = lcg_range(g, 1, 4);
  c->filter_dims.c = c->input_dims.c * c->params.depth_multiplier;
  random_window(g, 1, &c->input_dims, &c->filter_dims, p, &c->output_dims);
  c->output_dims.c = c->filter_dims.c;
  return volume(&c->input_dims) <= MAX_INPUT &&
         volume(&c->filter_dims) <= MAX_FILTER &&
         volume(&c->output_dims) <= MAX_OUTPUT && c->output_dims.c <= MAX_OUT_C;
}

/* A depth multiplier 1 layer (stride 1, pad (k - 1) / 2, no dilation). */
static void dense_shape(dw_case *c, int32_t h, int32_t w, int32_t channels,
                        int32_t k) {
  const freeml_dims input = {1, h, w, channels};
  const freeml_dims filter = {1, k, k, channels};
  const freeml_dims output = {1, h, w, channels};
  freeml_conv_params *p = &c->params.conv;
  c->input_dims = input;
  c->filter_dims = filter;
  c->output_dims = output;
  c->params.depth_multiplier = 1;
  p->stride_h = p->stride_w = 1;
  p->dilation_h = p->dilation_w = 1;
  p->pad_h = p->pad_w = (k - 1) / 2;
}

/* Runs the case on both variants; on a mismatch, says where. */
static void compare(test_lcg *g, dw_case *c, int32_t id) {
  const freeml_per_channel_quant quant = {c->multiplier, c->shift};
  const int32_t *bias = c->has_bias ? c->bias : 0;
  const int32_t units = freeml_depthwise_conv2d_s8_units(&c->output_dims);
  int32_t start = 0, i;
  freeml_tile whole;
  whole.start = 0;
  whole.end = units;
  CHECK_EQ_INT(
      freeml_depthwise_conv2d_s8_portable(
          &c->params, &quant, &c->input_dims, c->input, &c->filter_dims,
          c->filter, bias, &c->output_dims, c->expected, whole),
      FREEML_OK);
  while (start < units) {
    freeml_tile tile;
    tile.start = start;
    tile.end = random_tile_end(g, start, units, c->output_dims.c);
    memset(c->tile_out, 0xA5, sizeof(c->tile_out));
    CHECK_EQ_INT(
        freeml_depthwise_conv2d_s8_dsp(
            &c->params, &quant, &c->input_dims, c->input, &c->filter_dims,
            c->filter, bias, &c->output_dims, c->tile_out + GUARD, tile),
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
      const freeml_conv_params *p = &c->params.conv;
      fprintf(stderr,
              "case %ld: output %ld: got %d, expected %d (input %ldx%ldx%ldx"
              "%ld, filter %ldx%ldx%ldx%ld, stride %ld,%ld, dilation %ld,%ld,"
              " pad %ld,%ld, input offset %ld, depth multiplier %ld)\n",
              (long)id, (long)i, c->got[i], c->expected[i],
              (long)c->input_dims.n, (long)c->input_dims.h,
              (long)c->input_dims.w, (long)c->input_dims.c,
              (long)c->filter_dims.n, (long)c->filter_dims.h,
              (long)c->filter_dims.w, (long)c->filter_dims.c, (long)p->stride_h,
              (long)p->stride_w, (long)p->dilation_h, (long)p->dilation_w,
              (long)p->pad_h, (long)p->pad_w, (long)p->input_offset,
              (long)c->params.depth_multiplier);
      ++freeml_test_failures;
      return;
    }
  }
}

static dw_case the_case; /* too big for a small device's stack */

static void test_random_cases(void) {
  test_lcg g = {12345u};
  int32_t id = 0;
  while (id < DW_DSP_TEST_CASES) {
    if (!random_shape(&g, &the_case)) continue;
    fill_case(&g, &the_case);
    compare(&g, &the_case, id++);
  }
}

/* Layers of the keyword-spotting DS-CNN and a MobileNet-like one. */
static void test_dense_layers(void) {
  test_lcg g = {777u};
  dense_shape(&the_case, 25, 5, 64, 3);
  fill_case(&g, &the_case);
  compare(&g, &the_case, -1);
  dense_shape(&the_case, 16, 16, 32, 3);
  fill_case(&g, &the_case);
  compare(&g, &the_case, -2);
}

/* Offsets outside int16 lanes: the _dsp variant hands over to _portable. */
static void test_offset_beyond_int16(void) {
  test_lcg g = {99u};
  dense_shape(&the_case, 5, 5, 6, 3);
  fill_case(&g, &the_case);
  the_case.params.conv.input_offset = 40000;
  compare(&g, &the_case, -3);
}

static void test_bad_tile_writes_nothing(void) {
  test_lcg g = {5u};
  const freeml_per_channel_quant quant = {the_case.multiplier, the_case.shift};
  const freeml_tile bad[] = {{-1, 2}, {3, 2}, {0, 5 * 5 * 6 + 1}};
  int32_t t;
  dense_shape(&the_case, 5, 5, 6, 3);
  fill_case(&g, &the_case);
  for (t = 0; t < 3; ++t) {
    memset(the_case.got, 0x11, 8);
    CHECK_EQ_INT(
        freeml_depthwise_conv2d_s8_dsp(
            &the_case.params, &quant, &the_case.input_dims, the_case.input,
            &the_case.filter_dims, the_case.filter, the_case.bias,
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
