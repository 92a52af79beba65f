/*
 * Entry points for the Python binding (tflm_freeml/runtime.py), which loads
 * the runtime as a shared library through ctypes. They expose what ctypes
 * cannot know from the headers: struct sizes and fields by accessor.
 */
#include "tflm_freeml/runtime.h"

uint32_t freeml_py_runtime_size(void) { return (uint32_t)sizeof(freeml_runtime); }

void freeml_py_memory(const freeml_runtime *rt, uint32_t *persistent_bytes,
                      uint32_t *activation_bytes, uint32_t *total_bytes) {
  *persistent_bytes = rt->memory.persistent_bytes;
  *activation_bytes = rt->memory.activation_bytes;
  *total_bytes = rt->memory.total_bytes;
}

uint32_t freeml_py_num_ops(const freeml_runtime *rt) { return rt->num_ops; }
