#include "tflm_freeml/host/nvm_memory.h"

#include <string.h>

static int memory_write(void *context, uint32_t offset, const void *data,
                        uint32_t bytes) {
  freeml_nvm_memory *nvm = (freeml_nvm_memory *)context;
  if (++nvm->writes == nvm->fail_at_write) {
    memcpy(nvm->data + offset, data, bytes / 2u);
    return 1;
  }
  memcpy(nvm->data + offset, data, bytes);
  return 0;
}

/* On the host, stores reach memory (or a shared file mapping's page cache)
 * in program order, which is all a killed process leaves behind; the fence
 * keeps the compiler from moving them across a commit. */
static int memory_barrier(void *context) {
  (void)context;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  return 0;
}

void freeml_nvm_memory_init(freeml_nvm_memory *nvm, uint8_t *data,
                            uint32_t size, uint64_t fail_at_write) {
  memset(nvm, 0, sizeof(*nvm));
  nvm->data = data;
  nvm->fail_at_write = fail_at_write;
  nvm->port.context = nvm;
  nvm->port.base = data;
  nvm->port.size = size;
  nvm->port.write = memory_write;
  nvm->port.barrier = memory_barrier;
}
