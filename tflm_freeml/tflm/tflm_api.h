// TFLM's kernel API as the adapter sees it: the real headers of a TFLM
// checkout when FREEML_TFLM_HEADERS is defined (docs/tflm.md), else the
// declarations of the pinned wheel (tflm_wheel_api.h).
#ifndef FREEML_TFLM_TFLM_API_H_
#define FREEML_TFLM_TFLM_API_H_

#ifdef FREEML_TFLM_HEADERS
#include "tensorflow/lite/micro/kernels/kernel_util.h"
#include "tensorflow/lite/micro/micro_context.h"
#include "tensorflow/lite/micro/micro_log.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#else
#include "tflm_freeml/tflm/tflm_wheel_api.h"
#endif

#endif  // FREEML_TFLM_TFLM_API_H_
