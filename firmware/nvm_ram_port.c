#include "firmware/nvm_ram_port.h"

#include <string.h>

static int ram_write(void *context, uint32_t offset, const void *data,
                     uint32_t bytes) {
  memcpy((uint8_t *)context + offset, data, bytes);
  return 0;
}

static int ram_barrier(void *context) {
  (void)context;
  __asm__ volatile("dsb" ::: "memory");
  return 0;
}

freeml_nvm_port nvm_ram_port(uint8_t *region, uint32_t size) {
  freeml_nvm_port port;
  port.context = region;
  port.base = region;
  port.size = size;
  port.write = ram_write;
  port.barrier = ram_barrier;
  return port;
}
