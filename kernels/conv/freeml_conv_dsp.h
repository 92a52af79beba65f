/* Helpers shared by the conv-family _dsp kernels (internal to conv/). */
#ifndef FREEML_CONV_DSP_H_
#define FREEML_CONV_DSP_H_

#include <stdint.h>

#include "kernels/freeml_arith.h"

/* Taps k in [0, taps) whose position start + k * dilation is in [0, size):
 * a range [*lo, *hi), empty when *lo == *hi. Found once per output pixel,
 * so the loops over taps need no padding test. */
static inline void freeml_valid_taps(int32_t start, int32_t size, int32_t taps,
                                     int32_t dilation, int32_t *lo,
                                     int32_t *hi) {
  int32_t first = 0, end = taps;
  if (start < 0) first = (dilation - 1 - start) / dilation;
  if (start + (taps - 1) * dilation >= size) {
    end = size > start ? (size - start + dilation - 1) / dilation : 0;
  }
  if (first > taps) first = taps;
  *lo = first;
  *hi = end > first ? end : first;
}

/* Requantizes the sums of channels [oc, oc + n) into out, as the portable
 * kernels do per output. One call per block of channels, with the
 * per-output work inlined in its loop. */
static inline void freeml_conv_requantize(const int32_t *acc, int32_t n,
                                          int32_t oc, const int32_t *bias,
                                          const freeml_per_channel_quant *quant,
                                          const freeml_conv_params *params,
                                          int8_t *out) {
  int32_t k;
  for (k = 0; k < n; ++k) {
    const int32_t c = oc + k;
    const int32_t a = bias != 0 ? acc[k] + bias[c] : acc[k];
    const int32_t y = freeml_mbqm(a, quant->multiplier[c], quant->shift[c]);
    out[k] = (int8_t)freeml_offset_clamp(y, params->output_offset,
                                         params->activation.min,
                                         params->activation.max);
  }
}

#endif /* FREEML_CONV_DSP_H_ */
