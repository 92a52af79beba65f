/*
 * Host NVM port over a file mapped into memory (MAP_SHARED), so its bytes
 * outlive the process the way FRAM outlives a power failure: a process
 * killed at any instruction leaves the file as its stores left it. Failure
 * injection as in nvm_memory.h.
 */
#ifndef FREEML_HOST_NVM_FILE_H_
#define FREEML_HOST_NVM_FILE_H_

#include <stdint.h>

#include "tflm_freeml/host/nvm_memory.h"

typedef struct {
  freeml_nvm_memory memory; /* hand &memory.port to the runtime */
  int fd;
  uint32_t size;
} freeml_nvm_file;

/* Maps `path` as an NVM of exactly `size` bytes, creating it zero-filled if
 * missing. A file of another size (truncated, or from another model) is
 * emptied and resized, and `notice` (of `notice_size` bytes) says so;
 * otherwise notice is "". Returns 0, or -1 with errno set. */
int freeml_nvm_file_open(freeml_nvm_file *nvm, const char *path,
                         uint32_t size, uint64_t fail_at_write, char *notice,
                         uint32_t notice_size);
void freeml_nvm_file_close(freeml_nvm_file *nvm);

#endif /* FREEML_HOST_NVM_FILE_H_ */
