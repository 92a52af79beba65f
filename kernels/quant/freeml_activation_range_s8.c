#include <math.h>

#include "kernels/freeml_kernels.h"

enum { ACT_RELU = 1, ACT_RELU_N1_TO_1 = 2, ACT_RELU6 = 3 };

/* TFLM quantizes the bounds with a float division and roundf. A quotient
 * beyond +-2^24 (a tiny output scale; TFLM refuses the model once it passes
 * int32) saturates: it is outside the int8 range either way. */
static int32_t quantize_bound(float value, float scale, int32_t zero_point) {
  const float limit = 16777216.0f;
  float steps = roundf(value / scale);
  if (!(steps > -limit)) steps = -limit;
  if (steps > limit) steps = limit;
  return zero_point + (int32_t)steps;
}

static int32_t max32(int32_t a, int32_t b) { return a > b ? a : b; }
static int32_t min32(int32_t a, int32_t b) { return a < b ? a : b; }

freeml_activation freeml_activation_range_s8(int32_t fused_activation,
                                             float scale, int32_t zero_point) {
  freeml_activation range;
  range.min = -128;
  range.max = 127;
  if (fused_activation == ACT_RELU) {
    range.min = max32(-128, quantize_bound(0.0f, scale, zero_point));
  } else if (fused_activation == ACT_RELU6) {
    range.min = max32(-128, quantize_bound(0.0f, scale, zero_point));
    range.max = min32(127, quantize_bound(6.0f, scale, zero_point));
  } else if (fused_activation == ACT_RELU_N1_TO_1) {
    range.min = max32(-128, quantize_bound(-1.0f, scale, zero_point));
    range.max = min32(127, quantize_bound(1.0f, scale, zero_point));
  }
  return range;
}
