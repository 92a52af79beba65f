/*
 * The NVM port: the only way the intermittent runtime reaches non-volatile
 * memory (FRAM, MRAM, or a file on the host).
 *
 * Reads are plain loads from `base`: the NVMs this runtime targets are
 * memory-mapped, and kernels read their inputs in place. Every store goes
 * through `write`, so a port can count writes, inject power failures and
 * model torn writes. A port is a struct of function pointers, like TFLM's
 * platform hooks, so the runtime carries no target code.
 */
#ifndef FREEML_NVM_PORT_H_
#define FREEML_NVM_PORT_H_

#include <stdint.h>

typedef struct {
  void *context;      /* the port's own state, passed back to each call */
  const uint8_t *base; /* first byte of the NVM region, 16-byte aligned */
  uint32_t size;       /* bytes in the region */
  /* Stores `bytes` bytes at `offset`. Returns 0, or nonzero when power
   * failed during the store (a simulated failure: some prefix of the bytes
   * may have been stored); the runtime then stops at once, as a device would
   * lose power. */
  int (*write)(void *context, uint32_t offset, const void *data,
               uint32_t bytes);
  /* Makes every earlier write durable before any later one starts (a data
   * barrier; nothing on FRAM). Returns 0, or nonzero on a power failure. */
  int (*barrier)(void *context);
} freeml_nvm_port;

#endif /* FREEML_NVM_PORT_H_ */
