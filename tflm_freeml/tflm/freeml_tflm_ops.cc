#include "tflm_freeml/tflm/freeml_tflm_ops.h"

#include <cstdint>

namespace freeml_tflm {

using tflite::micro::GetEvalInput;
using tflite::micro::GetEvalOutput;
using tflite::micro::GetMicroContext;
using tflite::micro::kTfLiteAbort;
using tflite::micro::kTfLiteError;
using tflite::micro::kTfLiteOk;
using tflite::micro::TfLiteContext;
using tflite::micro::TfLiteEvalTensor;
using tflite::micro::TfLiteIntArray;
using tflite::micro::TfLiteNode;
using tflite::micro::TfLiteStatus;

const char* const kOpNames[kNumOps] = {
    "FREEML_SPARSE_CONV_2D", "FREEML_SPARSE_DEPTHWISE_CONV_2D",
    "FREEML_SPARSE_FULLY_CONNECTED", "FREEML_EXIT_ACCUMULATE"};

namespace {

freeml_tflm_adapter* g_adapter = nullptr;

// TFLite's TensorType sizes, for the bytes of an eval tensor.
uint32_t ElementBytes(int type) {
  switch (type) {
    case 2: return 4;  // int32
    case 3: return 1;  // uint8
    case 9: return 1;  // int8
    default: return 0;
  }
}

uint32_t Bytes(const TfLiteEvalTensor* tensor) {
  uint32_t elements = 1;
  for (int d = 0; d < tensor->dims->size; ++d) {
    elements *= static_cast<uint32_t>(tensor->dims->data[d]);
  }
  return elements * ElementBytes(tensor->type);
}

// The adapter's op for this node, or -1 after printing why not.
int32_t OpOf(const TfLiteNode* node) {
  if (g_adapter == nullptr) {
    MicroPrintf("FreeML op: no adapter; call freeml_tflm_init and RegisterOps");
    return -1;
  }
  const int32_t op = freeml_tflm_find_op(g_adapter, node->outputs->data[0]);
  if (op < 0) {
    MicroPrintf("FreeML op writing tensor %d is not in the adapter's model",
                node->outputs->data[0]);
  }
  return op;
}

TfLiteStatus Prepare(TfLiteContext* context, TfLiteNode* node) {
  const int32_t op = OpOf(node);
  if (op < 0) return kTfLiteError;
  if (node->inputs->size > FREEML_MAX_OP_INPUTS) return kTfLiteError;
  freeml_error error;
  if (freeml_tflm_check_op(
          g_adapter, op, reinterpret_cast<const int32_t*>(node->inputs->data),
          static_cast<uint32_t>(node->inputs->size),
          Bytes(GetEvalOutput(context, node, 0)), &error) != FREEML_OK) {
    MicroPrintf("FreeML op: %s", error.message);
    return kTfLiteError;
  }
  return kTfLiteOk;
}

TfLiteStatus Invoke(TfLiteContext* context, TfLiteNode* node) {
  const int32_t op = OpOf(node);
  if (op < 0) return kTfLiteError;
  void* inputs[FREEML_MAX_OP_INPUTS] = {};
  for (int i = 0; i < node->inputs->size && i < FREEML_MAX_OP_INPUTS; ++i) {
    if (node->inputs->data[i] >= 0) {
      inputs[i] = GetEvalInput(context, node, i)->data.data;
    }
  }
  int32_t answer = -1;
  freeml_error error;
  if (freeml_tflm_run_op(g_adapter, op, inputs,
                         static_cast<uint32_t>(node->inputs->size),
                         GetEvalOutput(context, node, 0)->data.data, &answer,
                         &error) != FREEML_OK) {
    MicroPrintf("FreeML op %d: %s", static_cast<int>(op), error.message);
    return kTfLiteError;
  }
  if (answer < 0) return kTfLiteOk;
  // The answer goes to the graph's output itself: the memory planner may
  // share any other buffer with ops not yet run.
  TfLiteEvalTensor* output =
      GetMicroContext(context)->GetEvalTensor(g_adapter->answer_tensor);
  if (freeml_tflm_answer(g_adapter, static_cast<uint32_t>(answer),
                         output->data.int8, Bytes(output),
                         &error) != FREEML_OK) {
    MicroPrintf("FreeML exit %d: %s", static_cast<int>(answer),
                error.message);
    return kTfLiteError;
  }
  return kTfLiteAbort;
}

}  // namespace

void UseAdapter(freeml_tflm_adapter* adapter) { g_adapter = adapter; }

freeml_tflm_adapter* CurrentAdapter() { return g_adapter; }

const tflite::micro::TFLMRegistration* Registration() {
  static const tflite::micro::TFLMRegistration registration =
      tflite::micro::RegisterOp(nullptr, Prepare, Invoke, nullptr, nullptr);
  return &registration;
}

}  // namespace freeml_tflm
