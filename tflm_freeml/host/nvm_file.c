#include "tflm_freeml/host/nvm_file.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int freeml_nvm_file_open(freeml_nvm_file *nvm, const char *path,
                         uint32_t size, uint64_t fail_at_write, char *notice,
                         uint32_t notice_size) {
  struct stat info;
  void *map;
  memset(nvm, 0, sizeof(*nvm));
  notice[0] = '\0';
  nvm->fd = open(path, O_RDWR | O_CREAT, 0644);
  if (nvm->fd < 0 || fstat(nvm->fd, &info) != 0) goto fail;
  if (info.st_size != (off_t)size) {
    if (info.st_size != 0) {
      snprintf(notice, notice_size,
               "NVM file '%s' has %lld bytes, the model needs %u: starting "
               "from an empty NVM",
               path, (long long)info.st_size, (unsigned)size);
    }
    /* Emptied first: a resized file must not keep a valid control block. */
    if (ftruncate(nvm->fd, 0) != 0 || ftruncate(nvm->fd, (off_t)size) != 0) {
      goto fail;
    }
  }
  map = mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED, nvm->fd, 0);
  if (map == MAP_FAILED) goto fail;
  nvm->size = size;
  freeml_nvm_memory_init(&nvm->memory, (uint8_t *)map, size, fail_at_write);
  return 0;
fail:
  if (nvm->fd >= 0) close(nvm->fd);
  nvm->fd = -1;
  return -1;
}

void freeml_nvm_file_close(freeml_nvm_file *nvm) {
  if (nvm->memory.data != 0) munmap(nvm->memory.data, nvm->size);
  if (nvm->fd >= 0) close(nvm->fd);
  nvm->memory.data = 0;
  nvm->fd = -1;
}
