/*
 * FreeML int8 kernels: public API.
 *
 * Every kernel is bit-exact with the TensorFlow Lite Micro reference kernel of
 * the same op (int8 activations, int8 weights, int32 bias, double-rounding
 * requantization). Conventions shared by every kernel:
 *
 *  - Tensors are NHWC, C order, int8 unless stated. Dims are a freeml_dims.
 *  - Quantized multipliers come from freeml_quantize_multiplier(): multiplier
 *    in [2^30, 2^31) (or 0), shift > 0 means a left shift.
 *  - Offsets: `input_offset` is the NEGATED input zero point (added to each
 *    input value), `output_offset` is the output zero point (added after
 *    requantization). This matches TFLM and CMSIS-NN.
 *  - Work is split into "units" (see each kernel: usually output elements, in
 *    C order). A call computes units [tile.start, tile.end) and writes them
 *    to `output`, which points at unit tile.start (not at the tensor's
 *    start): a tile can go to a scratch buffer as well as into place. Any
 *    sequence of tiles gives the bytes of one full run, and a tile can be
 *    re-run with identical results. `..._units()` gives the total.
 *  - Kernels never allocate and keep no state between calls.
 *  - Arguments are validated by the caller (the runtime's prepare step);
 *    kernels only check the tile range and return FREEML_ERR_ARG on a bad one
 *    (before writing anything).
 */
#ifndef FREEML_KERNELS_H_
#define FREEML_KERNELS_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Which variant the entry points with two (freeml_conv2d_s8,
 * freeml_depthwise_conv2d_s8, freeml_fully_connected_s8) call: _dsp on cores
 * with the DSP extension, unless the build defines FREEML_PORTABLE_KERNELS
 * (e.g. to compare on the device); _portable otherwise. */
#if defined(__ARM_FEATURE_DSP) && !defined(FREEML_PORTABLE_KERNELS)
#define FREEML_DSP_KERNELS 1
#else
#define FREEML_DSP_KERNELS 0
#endif

typedef enum {
  FREEML_OK = 0,
  FREEML_ERR_ARG = 1,         /* an argument is out of range (e.g. the tile) */
  FREEML_ERR_MODEL = 2,       /* runtime: malformed model */
  FREEML_ERR_UNSUPPORTED = 3, /* runtime: op or type it does not run */
  FREEML_ERR_ARENA = 4,       /* runtime: arena (or NVM) too small */
  FREEML_INTERRUPTED = 5      /* runtime: power failed during an NVM write */
} freeml_status;

/* Shape of a 4D NHWC tensor. Lower-rank tensors pad with leading 1s. */
typedef struct {
  int32_t n;
  int32_t h;
  int32_t w;
  int32_t c;
} freeml_dims;

/* Range of work units [start, end) a call computes. */
typedef struct {
  int32_t start;
  int32_t end;
} freeml_tile;

/* Clamp range of the fused activation, in the output's quantized domain. */
typedef struct {
  int32_t min;
  int32_t max;
} freeml_activation;

/* One requantization multiplier: real = multiplier * 2^(shift - 31). */
typedef struct {
  int32_t multiplier;
  int32_t shift;
} freeml_quant;

/* One multiplier per output channel (arrays of output-channel length). */
typedef struct {
  const int32_t *multiplier;
  const int32_t *shift;
} freeml_per_channel_quant;

/* ---- Quantization helpers (used when preparing an op) ---- */

/* TFLM QuantizeMultiplier(): splits `real` into multiplier and shift. */
freeml_quant freeml_quantize_multiplier(double real);

/* freeml_quantize_multiplier((double)a * (double)b / (double)c), bit for
 * bit, in integer arithmetic when a, c > 0, b >= 0, all finite (the scale
 * ratios of a filter op: input * filter / output). A Cortex-M4 has no
 * double-precision FPU; this takes about a tenth of the instructions. */
freeml_quant freeml_quantize_multiplier_ratio(float a, float b, float c);

/* TFLM CalculateActivationRangeQuantized() for int8. `fused_activation` is
 * the TFLite ActivationFunctionType code; codes other than RELU (1),
 * RELU_N1_TO_1 (2) and RELU6 (3) give the full int8 range. */
freeml_activation freeml_activation_range_s8(int32_t fused_activation,
                                             float scale, int32_t zero_point);

/* ---- CONV_2D ----
 * input  [n, h, w, in_c]; filter [out_c, kh, kw, in_c / groups];
 * bias [out_c] int32 or NULL; output [n, out_h, out_w, out_c].
 * groups = input.c / filter.c (filter dims: n=out_c, h=kh, w=kw, c=in_c per group).
 * Units: output elements. Padded taps are skipped (TFLM semantics). */
typedef struct {
  int32_t input_offset;
  int32_t output_offset;
  int32_t stride_h;
  int32_t stride_w;
  int32_t dilation_h;
  int32_t dilation_w;
  int32_t pad_h; /* top padding */
  int32_t pad_w; /* left padding */
  freeml_activation activation;
} freeml_conv_params;

int32_t freeml_conv2d_s8_units(const freeml_dims *output_dims);
freeml_status freeml_conv2d_s8(const freeml_conv_params *params,
                               const freeml_per_channel_quant *quant,
                               const freeml_dims *input_dims,
                               const int8_t *input,
                               const freeml_dims *filter_dims,
                               const int8_t *filter, const int32_t *bias,
                               const freeml_dims *output_dims, int8_t *output,
                               freeml_tile tile);
/* The variants behind freeml_conv2d_s8: same contract, identical bytes.
 * _portable is plain C; _dsp uses the Cortex-M DSP extension (two int16 MACs
 * per instruction, no scratch) and emulates it in C on other targets.
 * freeml_conv2d_s8 calls _dsp when the build defines __ARM_FEATURE_DSP and
 * not FREEML_PORTABLE_KERNELS, _portable otherwise. */
freeml_status freeml_conv2d_s8_portable(
    const freeml_conv_params *params, const freeml_per_channel_quant *quant,
    const freeml_dims *input_dims, const int8_t *input,
    const freeml_dims *filter_dims, const int8_t *filter, const int32_t *bias,
    const freeml_dims *output_dims, int8_t *output, freeml_tile tile);
freeml_status freeml_conv2d_s8_dsp(
    const freeml_conv_params *params, const freeml_per_channel_quant *quant,
    const freeml_dims *input_dims, const int8_t *input,
    const freeml_dims *filter_dims, const int8_t *filter, const int32_t *bias,
    const freeml_dims *output_dims, int8_t *output, freeml_tile tile);

/* ---- DEPTHWISE_CONV_2D ----
 * input [n, h, w, in_c]; filter [1, kh, kw, in_c * depth_multiplier];
 * output channel oc = ic * depth_multiplier + m. Units: output elements. */
typedef struct {
  freeml_conv_params conv;
  int32_t depth_multiplier;
} freeml_dw_conv_params;

int32_t freeml_depthwise_conv2d_s8_units(const freeml_dims *output_dims);
freeml_status freeml_depthwise_conv2d_s8(
    const freeml_dw_conv_params *params, const freeml_per_channel_quant *quant,
    const freeml_dims *input_dims, const int8_t *input,
    const freeml_dims *filter_dims, const int8_t *filter, const int32_t *bias,
    const freeml_dims *output_dims, int8_t *output, freeml_tile tile);
/* The variants behind freeml_depthwise_conv2d_s8, chosen as for conv. */
freeml_status freeml_depthwise_conv2d_s8_portable(
    const freeml_dw_conv_params *params, const freeml_per_channel_quant *quant,
    const freeml_dims *input_dims, const int8_t *input,
    const freeml_dims *filter_dims, const int8_t *filter, const int32_t *bias,
    const freeml_dims *output_dims, int8_t *output, freeml_tile tile);
freeml_status freeml_depthwise_conv2d_s8_dsp(
    const freeml_dw_conv_params *params, const freeml_per_channel_quant *quant,
    const freeml_dims *input_dims, const int8_t *input,
    const freeml_dims *filter_dims, const int8_t *filter, const int32_t *bias,
    const freeml_dims *output_dims, int8_t *output, freeml_tile tile);

/* ---- FULLY_CONNECTED ----
 * input read as [batches, accum_depth]; filter [out_units, accum_depth];
 * bias [out_units] int32 or NULL; output [batches, out_units].
 * Per-tensor quantization: pass a freeml_per_channel_quant whose arrays all
 * hold the same value (or set `per_channel` to 0 to read index 0 only).
 * `filter_offset` (negated filter zero point) is applied on the per-tensor
 * path only, as TFLM does. Units: output elements. */
typedef struct {
  int32_t input_offset;
  int32_t filter_offset;
  int32_t output_offset;
  int32_t per_channel; /* 1: quant arrays indexed by output unit */
  freeml_activation activation;
} freeml_fc_params;

int32_t freeml_fully_connected_s8_units(int32_t batches, int32_t out_units);
freeml_status freeml_fully_connected_s8(const freeml_fc_params *params,
                                        const freeml_per_channel_quant *quant,
                                        int32_t batches, int32_t accum_depth,
                                        int32_t out_units, const int8_t *input,
                                        const int8_t *filter,
                                        const int32_t *bias, int8_t *output,
                                        freeml_tile tile);
/* The variants behind freeml_fully_connected_s8, chosen as for conv. */
freeml_status freeml_fully_connected_s8_portable(
    const freeml_fc_params *params, const freeml_per_channel_quant *quant,
    int32_t batches, int32_t accum_depth, int32_t out_units,
    const int8_t *input, const int8_t *filter, const int32_t *bias,
    int8_t *output, freeml_tile tile);
freeml_status freeml_fully_connected_s8_dsp(
    const freeml_fc_params *params, const freeml_per_channel_quant *quant,
    int32_t batches, int32_t accum_depth, int32_t out_units,
    const int8_t *input, const int8_t *filter, const int32_t *bias,
    int8_t *output, freeml_tile tile);

/* ---- Sparse CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED ----
 * The filter of the dense op, stored as docs/sparse.md specifies: F filters
 * (one per output channel or unit) of K positions each, of which E entries
 * are stored. Positions of a filter, in dense order:
 *   conv  filter [F, kh, kw, c]:  p = (ky * kw + kx) * c + ci   (K = kh*kw*c)
 *   dw    filter [1, kh, kw, F]:  p = ky * kw + kx               (K = kh*kw)
 *   fc    weights [F, K]:         p = column
 * Formats: CSR (FULLY_CONNECTED only), delta (the convolutions only) and
 * bitmask (all three); the sparse kernels refuse any other pairing, and a
 * filter whose F or K is not that of the shapes they are given, with
 * FREEML_ERR_ARG (O(1) checks, besides the tile's). Each kernel adds exactly
 * the int32 products of its dense twin's non-zero weights (padded taps
 * skipped), so it writes the same bytes; its work is one multiply per entry,
 * plus for bitmask one step per 32 positions and for the convolutions one
 * step per kernel tap passed. */
/* A format code is one of these, plus FREEML_SPARSE_INT4 when its values
 * are int4, two per byte, or (bitmask only) plus FREEML_SPARSE_INT2 when
 * they are 2-bit codes of -2, -1, 1, 2, four per byte (docs/sparse.md).
 * Built with FREEML_SPARSE_NO_INT4 or FREEML_SPARSE_NO_INT2 defined, the
 * kernels leave out those loops (Cortex-M4 code: docs/sparse.md) and
 * freeml_sparse_filter_check refuses those codes. */
typedef enum {
  FREEML_SPARSE_CSR = 1,
  FREEML_SPARSE_DELTA = 2,
  FREEML_SPARSE_BITMASK = 3,
  FREEML_SPARSE_INT4 = 4,
  FREEML_SPARSE_INT2 = 8
} freeml_sparse_format;

/* A view into an encoding (freeml_sparse_filter_view). Each section has its
 * own pointer, 0 when the format has no such section; all integers are
 * little-endian and read byte by byte (no alignment needed). */
typedef struct {
  int32_t format;      /* freeml_sparse_format, without the value flags */
  int32_t value_bits;  /* 8; 4: entry e in the low (e even) or high nibble
                          of byte e / 2; 2: code c in bits 2*(e % 4) of
                          byte e / 4, value c - 2 + c / 2 */
  int32_t filters;     /* F */
  int32_t filter_size; /* K: positions per filter */
  int32_t entries;     /* E: entries of all filters */
  const uint8_t *row_start; /* CSR: F + 1 integers of row_bytes each */
  const uint8_t *column;    /* CSR: E integers of column_bytes each */
  int32_t row_bytes;        /* CSR: 2 (E <= 65535) or 4 */
  int32_t column_bytes;     /* CSR: 1 (K <= 256) or 2 */
  const uint8_t *count;     /* delta: F uint16, entries per filter */
  const uint8_t *delta;     /* delta: E uint8, position gaps */
  const uint8_t *mask;      /* bitmask: F rows of mask_bytes */
  int32_t mask_bytes;       /* bitmask: ceil(K / 8) */
  const int8_t *values;     /* E values, filter by filter, every format */
} freeml_sparse_filter;

/* A sparse op's bias, one value per output channel: int32, or int16 when
 * every value fits (half the bytes, the same sums). At most one is set;
 * neither: no bias. Passed by value. */
typedef struct {
  const int32_t *s32;
  const int16_t *s16;
} freeml_sparse_bias;

/* Checks an encoding of `bytes` bytes against every rule of docs/sparse.md:
 * format code, F >= 1, K >= 1 (K <= 65536 for CSR), 0 <= E <= F*K, section
 * sizes adding up to exactly `bytes`; CSR row starts from 0 to E,
 * non-decreasing, columns strictly increasing within a row and < K; delta
 * counts summing to E and every position < K; bitmask padding bits clear and
 * E set bits; int4 values: the nibble after an odd E clear; 2-bit values
 * (bitmask only): the bits after the last value clear. Sets
 * *max_entries to the most entries of one filter. O(bytes). Returns
 * FREEML_ERR_MODEL on any violation (and then leaves *max_entries 0). */
freeml_status freeml_sparse_filter_check(int32_t format, int32_t filters,
                                         int32_t filter_size, int32_t entries,
                                         const uint8_t *data, uint32_t bytes,
                                         int32_t *max_entries);

/* The view the sparse kernels read; O(1), no checks: call it only on an
 * encoding freeml_sparse_filter_check accepted (with the same arguments). */
freeml_sparse_filter freeml_sparse_filter_view(int32_t format, int32_t filters,
                                               int32_t filter_size,
                                               int32_t entries,
                                               const uint8_t *data);

/* CONV_2D with a sparse filter (delta or bitmask). `filter_dims` is the
 * dense filter's shape [F, kh, kw, c]; otherwise as freeml_conv2d_s8, whose
 * freeml_conv2d_s8_units() gives the units. */
freeml_status freeml_conv2d_sparse_s8(
    const freeml_conv_params *params, const freeml_per_channel_quant *quant,
    const freeml_dims *input_dims, const int8_t *input,
    const freeml_dims *filter_dims, const freeml_sparse_filter *filter,
    freeml_sparse_bias bias, const freeml_dims *output_dims,
    int8_t *output, freeml_tile tile);

/* DEPTHWISE_CONV_2D with a sparse filter (delta or bitmask). `filter_dims`
 * is the dense filter's shape [1, kh, kw, F]; otherwise as
 * freeml_depthwise_conv2d_s8. */
freeml_status freeml_depthwise_conv2d_sparse_s8(
    const freeml_dw_conv_params *params, const freeml_per_channel_quant *quant,
    const freeml_dims *input_dims, const int8_t *input,
    const freeml_dims *filter_dims, const freeml_sparse_filter *filter,
    freeml_sparse_bias bias, const freeml_dims *output_dims,
    int8_t *output, freeml_tile tile);

/* FULLY_CONNECTED with sparse weights (CSR or bitmask) of out_units filters
 * of accum_depth positions; otherwise as freeml_fully_connected_s8. Zero
 * weights are not stored, so `params->filter_offset` must be 0
 * (FREEML_ERR_ARG otherwise). */
freeml_status freeml_fully_connected_sparse_s8(
    const freeml_fc_params *params, const freeml_per_channel_quant *quant,
    int32_t batches, int32_t accum_depth, int32_t out_units,
    const int8_t *input, const freeml_sparse_filter *filter,
    freeml_sparse_bias bias, int8_t *output, freeml_tile tile);

/* ---- AVERAGE_POOL_2D / MAX_POOL_2D ----
 * Same scale and zero point in and out (the runtime checks this). The window
 * is clipped to the image; the average divides by the in-image tap count and
 * rounds half away from zero. Units: output elements. */
typedef struct {
  int32_t stride_h;
  int32_t stride_w;
  int32_t filter_h;
  int32_t filter_w;
  int32_t pad_h;
  int32_t pad_w;
  freeml_activation activation;
} freeml_pool_params;

int32_t freeml_pool_s8_units(const freeml_dims *output_dims);
freeml_status freeml_avg_pool_s8(const freeml_pool_params *params,
                                 const freeml_dims *input_dims,
                                 const int8_t *input,
                                 const freeml_dims *output_dims,
                                 int8_t *output, freeml_tile tile);
freeml_status freeml_max_pool_s8(const freeml_pool_params *params,
                                 const freeml_dims *input_dims,
                                 const int8_t *input,
                                 const freeml_dims *output_dims,
                                 int8_t *output, freeml_tile tile);

/* ---- ADD ----
 * Elementwise with 4D broadcasting: a dim of an input may be 1 where the
 * output's is larger. Units: output elements. */
typedef struct {
  int32_t input1_offset;
  int32_t input2_offset;
  int32_t output_offset;
  int32_t left_shift; /* 20 for int8 */
  freeml_quant input1; /* shift <= 0 (smaller than one) */
  freeml_quant input2;
  freeml_quant output;
  freeml_activation activation;
} freeml_add_params;

int32_t freeml_add_s8_units(const freeml_dims *output_dims);
freeml_status freeml_add_s8(const freeml_add_params *params,
                            const freeml_dims *input1_dims,
                            const int8_t *input1,
                            const freeml_dims *input2_dims,
                            const int8_t *input2,
                            const freeml_dims *output_dims, int8_t *output,
                            freeml_tile tile);

/* ---- MEAN over H and W ----
 * input [n, h, w, c] -> output [n, 1, 1, c]. `quant` is the per-count
 * adjusted multiplier of TFLM's EvalIntegerMean (see
 * freeml_mean_quant()). Units: output elements (n * c). */
typedef struct {
  int32_t input_zero_point;
  int32_t output_offset;
  freeml_quant quant;
} freeml_mean_params;

/* TFLM's multiplier for a mean over `count` elements with real scale ratio
 * input_scale / output_scale. */
freeml_quant freeml_mean_quant(double real_ratio, int32_t count);
int32_t freeml_mean_s8_units(const freeml_dims *output_dims);
freeml_status freeml_mean_hw_s8(const freeml_mean_params *params,
                                const freeml_dims *input_dims,
                                const int8_t *input, int8_t *output,
                                freeml_tile tile);

/* ---- SOFTMAX ----
 * Rows of `depth` elements (at most FREEML_SOFTMAX_MAX_DEPTH, so the
 * int32 sum of exponentials cannot overflow); output scale 1/256, zero
 * point -128. Units: rows. */
#define FREEML_SOFTMAX_MAX_DEPTH 2048
typedef struct {
  int32_t input_multiplier;
  int32_t input_left_shift;
  int32_t diff_min;
} freeml_softmax_params;

/* TFLM PreprocessSoftmaxScaling(beta, input_scale, 5 integer bits). Returns
 * FREEML_ERR_ARG when beta * input_scale is too small to represent. */
freeml_status freeml_softmax_prepare(double beta, double input_scale,
                                     freeml_softmax_params *params);
freeml_status freeml_softmax_s8(const freeml_softmax_params *params,
                                int32_t rows, int32_t depth,
                                const int8_t *input, int8_t *output,
                                freeml_tile tile);

/* ---- PAD / PADV2 ----
 * Copies input into output at offset `before` per dim, fills the rest with
 * `pad_value`. Units: output elements. */
typedef struct {
  freeml_dims before;
  int8_t pad_value;
} freeml_pad_params;

int32_t freeml_pad_s8_units(const freeml_dims *output_dims);
freeml_status freeml_pad_s8(const freeml_pad_params *params,
                            const freeml_dims *input_dims, const int8_t *input,
                            const freeml_dims *output_dims, int8_t *output,
                            freeml_tile tile);

/* ---- CONCATENATION (no requantization: TFLM requires equal scales) ----
 * Each input is viewed as [outer, axis_size[i], inner]; the output as
 * [outer, sum(axis_size), inner]. Units: output elements. */
freeml_status freeml_concat_s8(int32_t num_inputs,
                               const int8_t *const *inputs,
                               const int32_t *axis_sizes, int32_t outer,
                               int32_t inner, int8_t *output,
                               freeml_tile tile);

/* ---- RESHAPE and plain copies: a byte copy. Units: bytes, of
 * `count` in all. ---- */
freeml_status freeml_copy_s8(const int8_t *input, int8_t *output,
                             int32_t count, freeml_tile tile);

/* ---- QUANTIZE float32 -> int8: clamp(roundf(x / scale) + zero_point).
 * Units: elements, of `count` in all. ---- */
freeml_status freeml_quantize_f32_s8(float scale, int32_t zero_point,
                                     const float *input, int8_t *output,
                                     int32_t count, freeml_tile tile);

/* ---- QUANTIZE int8 -> int8 (requantize). Units: elements. ---- */
typedef struct {
  int32_t input_offset;
  int32_t output_offset;
  freeml_quant quant;
} freeml_requantize_params;

freeml_status freeml_requantize_s8(const freeml_requantize_params *params,
                                   const int8_t *input, int8_t *output,
                                   int32_t count, freeml_tile tile);

/* ---- DEQUANTIZE int8 -> float32: scale * (x - zero_point).
 * Units: elements, of `count` in all. ---- */
freeml_status freeml_dequantize_s8_f32(float scale, int32_t zero_point,
                                       const int8_t *input, float *output,
                                       int32_t count, freeml_tile tile);

/* ---- gNet exit head (kernels/exit). The head is FULLY_CONNECTED on the
 * concatenated pooled features of every exit, so its int32 sum splits into
 * one share per exit. EXIT_ACCUMULATE adds exit k's share:
 *   output[c] = previous[c] + sum_i weights[c * row_stride + column + i]
 *                                   * (features[i] + input_offset)
 * Units: classes. The weights are int8 (_s8) or int4 packed two per byte,
 * element 2j in the low nibble of byte j as TFLite packs them (_s4): a
 * head's weights are most of its bytes. ---- */
typedef struct {
  int32_t classes;
  int32_t features;     /* this exit's pooled features */
  int32_t row_stride;   /* features of every exit: the head's weight row */
  int32_t column;       /* this exit's first feature in the row */
  int32_t input_offset; /* -zero point of the features */
} freeml_exit_accumulate_params;

freeml_status freeml_exit_accumulate_s8(
    const freeml_exit_accumulate_params *params, const int8_t *features,
    const int8_t *weights, const int32_t *previous, int32_t *output,
    freeml_tile tile);

freeml_status freeml_exit_accumulate_s4(
    const freeml_exit_accumulate_params *params, const int8_t *features,
    const uint8_t *packed_weights, const int32_t *previous, int32_t *output,
    freeml_tile tile);

/* An exit's int8 logits from its accumulators: the head op's
 * requantization (no fused activation), with one multiplier per class when
 * per_channel, else quant[0] for all. */
typedef struct {
  int32_t classes;
  int32_t output_offset;
  int32_t per_channel;
} freeml_exit_logits_params;

void freeml_exit_logits_s8(const freeml_exit_logits_params *params,
                           const freeml_per_channel_quant *quant,
                           const int32_t *accumulators, int8_t *logits);

#ifdef __cplusplus
}
#endif

#endif /* FREEML_KERNELS_H_ */
