/*
 * Host NVM port over a caller's buffer, with deterministic failure
 * injection: with `fail_at_write` = N > 0, the N-th write stores only its
 * first half (floor(bytes / 2) bytes: a torn write) and reports a power
 * failure, after which the runtime stops without touching NVM again.
 *
 * The buffer can be a memory-mapped file (nvm_file.h) or memory the caller
 * keeps between simulated boots (the Python binding).
 */
#ifndef FREEML_HOST_NVM_MEMORY_H_
#define FREEML_HOST_NVM_MEMORY_H_

#include <stdint.h>

#include "tflm_freeml/nvm_port.h"

typedef struct {
  freeml_nvm_port port;   /* hand &port to the runtime */
  uint8_t *data;
  uint64_t writes;        /* write calls so far */
  uint64_t fail_at_write; /* 1-based write that fails; 0: none */
} freeml_nvm_memory;

/* `data` must be 16-byte aligned. */
void freeml_nvm_memory_init(freeml_nvm_memory *nvm, uint8_t *data,
                            uint32_t size, uint64_t fail_at_write);

#endif /* FREEML_HOST_NVM_MEMORY_H_ */
