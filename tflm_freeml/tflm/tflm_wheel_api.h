// The part of TFLM's C++ API that the adapter uses, declared as the pinned
// tflite-micro wheel (requirements.txt) compiled it, for builds without a
// TFLM checkout: no wheel ships TFLM's headers. With a checkout, define
// FREEML_TFLM_HEADERS and tflm_api.h includes the real ones instead.
//
// Nothing here is code of the wheel's; these are the shapes its exported
// symbols and structs have. Each is checked against the wheel:
// tests/tflm/test_wheel_api.py compares every TFLM symbol the adapter
// library imports with the wheel's exports (nm -DC) and the virtual slots
// below with the wheel's vtable, and the adapter checks the resolver's
// layout when it registers (AddCustom below).
#ifndef FREEML_TFLM_TFLM_WHEEL_API_H_
#define FREEML_TFLM_TFLM_WHEEL_API_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

void MicroPrintf(const char* format, ...);

namespace tflite {

enum BuiltinOperator { BuiltinOperator_CUSTOM = 32 };

namespace micro {

enum TfLiteStatus { kTfLiteOk = 0, kTfLiteError = 1, kTfLiteAbort = 15 };

struct TfLiteIntArray {
  int size;
  int data[1];  // `size` entries in fact
};

union TfLitePtrUnion {
  int32_t* i32;
  int8_t* int8;
  uint8_t* uint8;
  char* raw;
  void* data;
};

struct TfLiteEvalTensor {
  TfLitePtrUnion data;
  TfLiteIntArray* dims;
  int type;  // TfLiteType
};

// The node's fields after `outputs` are not used.
struct TfLiteNode {
  TfLiteIntArray* inputs;
  TfLiteIntArray* outputs;
};

// TFLM keeps its MicroContext here; kernels reach it via GetMicroContext.
struct TfLiteContext {
  void* impl_;
};

struct TfLiteTensor;

struct TFLMRegistration {
  void* (*init)(TfLiteContext* context, const char* buffer, size_t length);
  void (*free)(TfLiteContext* context, void* buffer);
  TfLiteStatus (*prepare)(TfLiteContext* context, TfLiteNode* node);
  TfLiteStatus (*invoke)(TfLiteContext* context, TfLiteNode* node);
  void (*reset)(TfLiteContext* context, void* buffer);
  int32_t builtin_code;
  const char* custom_name;
};

TFLMRegistration RegisterOp(
    void* (*init)(TfLiteContext* context, const char* buffer, size_t length),
    TfLiteStatus (*prepare)(TfLiteContext* context, TfLiteNode* node),
    TfLiteStatus (*invoke)(TfLiteContext* context, TfLiteNode* node),
    void (*free)(TfLiteContext* context, void* buffer),
    void (*reset)(TfLiteContext* context, void* buffer));

const TfLiteEvalTensor* GetEvalInput(const TfLiteContext* context,
                                     const TfLiteNode* node, int index);
TfLiteEvalTensor* GetEvalOutput(const TfLiteContext* context,
                                const TfLiteNode* node, int index);

// Virtual functions in the wheel's order, up to the last one used.
class MicroContext {
 public:
  virtual ~MicroContext();
  virtual void* AllocatePersistentBuffer(size_t bytes) = 0;
  virtual TfLiteStatus RequestScratchBufferInArena(size_t bytes,
                                                   int* buffer_index) = 0;
  virtual void* GetScratchBuffer(int buffer_index) = 0;
  virtual TfLiteTensor* AllocateTempTfLiteTensor(int tensor_index) = 0;
  virtual void DeallocateTempTfLiteTensor(TfLiteTensor* tensor) = 0;
  virtual uint8_t* AllocateTempBuffer(size_t size, size_t alignment) = 0;
  virtual void DeallocateTempBuffer(uint8_t* buffer) = 0;
  virtual TfLiteEvalTensor* GetEvalTensor(int tensor_index) = 0;
};

inline MicroContext* GetMicroContext(const TfLiteContext* context) {
  return static_cast<MicroContext*>(context->impl_);
}

// The wheel's resolver holds its registrations in an array after the
// vtable pointer. AddCustom is inline in TFLM (so not exported): this one
// does what TFLM's does and then asks the wheel's own FindOp whether it
// sees the entry; a layout that changed fails registration instead of
// corrupting the interpreter.
template <unsigned int tOpCount>
class MicroMutableOpResolver {
 public:
  const TFLMRegistration* FindOp(const char* op) const;  // the wheel's

  TfLiteStatus AddCustom(const char* name,
                         const TFLMRegistration* registration) {
    if (registrations_len_ >= tOpCount || FindOp(name) != nullptr) {
      MicroPrintf("AddCustom(%s): resolver full or op already added", name);
      return kTfLiteError;
    }
    TFLMRegistration* entry = &registrations_[registrations_len_];
    *entry = *registration;
    entry->builtin_code = BuiltinOperator_CUSTOM;
    entry->custom_name = name;
    ++registrations_len_;
    if (FindOp(name) != entry) {
      --registrations_len_;
      std::memset(entry, 0, sizeof(*entry));
      MicroPrintf(
          "AddCustom(%s): the resolver's layout is not the one this "
          "adapter was built for (tflm_wheel_api.h)",
          name);
      return kTfLiteError;
    }
    return kTfLiteOk;
  }

 private:
  void* vtable_;
  TFLMRegistration registrations_[tOpCount];
  unsigned int registrations_len_;
};

}  // namespace micro

// The resolver the wheel's Python interpreter hands to op registerers.
class PythonOpsResolver : public micro::MicroMutableOpResolver<200> {};

}  // namespace tflite

#endif  // FREEML_TFLM_TFLM_WHEEL_API_H_
