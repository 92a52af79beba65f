// FreeML's ops for the tflite-micro wheel's Python interpreter, which looks
// up op registerers by name: pass "FreemlTflmRegisterer" in
// custom_op_registerers after loading this library with RTLD_GLOBAL and
// calling freeml_tflm_use with an adapter set up for the same model
// (tflm_freeml/tflm_adapter.py does both).
#include "tflm_freeml/tflm/freeml_tflm_ops.h"

extern "C" {

void freeml_tflm_use(freeml_tflm_adapter* adapter) {
  freeml_tflm::UseAdapter(adapter);
}

uint32_t freeml_tflm_adapter_size(void) {
  return static_cast<uint32_t>(sizeof(freeml_tflm_adapter));
}

bool FreemlTflmRegisterer(tflite::PythonOpsResolver* resolver) {
  freeml_tflm_adapter* adapter = freeml_tflm::CurrentAdapter();
  if (adapter == nullptr) {
    MicroPrintf("FreemlTflmRegisterer: call freeml_tflm_use first");
    return false;
  }
  return freeml_tflm::RegisterOps(*resolver, adapter) ==
         tflite::micro::kTfLiteOk;
}

}  // extern "C"
