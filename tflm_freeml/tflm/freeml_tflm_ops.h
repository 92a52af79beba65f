// The C++ half of the TFLM adapter: FreeML's custom ops as TFLM kernels
// (TFLMRegistration: prepare checks the node against the adapter's model,
// invoke runs the FreeML kernel on TFLM's buffers and, at an exit, may stop
// the graph with kTfLiteAbort). See freeml_tflm.h for the C half.
#ifndef FREEML_TFLM_FREEML_TFLM_OPS_H_
#define FREEML_TFLM_FREEML_TFLM_OPS_H_

#include "tflm_freeml/tflm/freeml_tflm.h"
#include "tflm_freeml/tflm/tflm_api.h"

namespace freeml_tflm {

// The custom op names of FreeML's ops, as in the converter's model.tflite.
constexpr int kNumOps = 4;
extern const char* const kOpNames[kNumOps];

// The registration every FreeML op shares: the adapter tells the ops apart.
const tflite::micro::TFLMRegistration* Registration();

// The adapter the registered ops use. TFLM gives a kernel no pointer of
// the application's, so there is one adapter per process (one model).
void UseAdapter(freeml_tflm_adapter* adapter);
freeml_tflm_adapter* CurrentAdapter();

// Adds FreeML's ops to `resolver` (4 of its tOpCount entries) and makes
// `adapter` (set up by freeml_tflm_init for the same model) theirs.
template <unsigned int tOpCount>
tflite::micro::TfLiteStatus RegisterOps(
    tflite::micro::MicroMutableOpResolver<tOpCount>& resolver,
    freeml_tflm_adapter* adapter) {
  UseAdapter(adapter);
  for (int i = 0; i < kNumOps; ++i) {
    if (resolver.AddCustom(kOpNames[i], Registration()) !=
        tflite::micro::kTfLiteOk) {
      return tflite::micro::kTfLiteError;
    }
  }
  return tflite::micro::kTfLiteOk;
}

}  // namespace freeml_tflm

#endif  // FREEML_TFLM_FREEML_TFLM_OPS_H_
