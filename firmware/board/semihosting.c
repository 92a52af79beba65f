#include "firmware/board/semihosting.h"

#include <string.h>

/* Operation numbers of the Arm semihosting specification. */
enum {
  SYS_OPEN = 0x01,
  SYS_CLOSE = 0x02,
  SYS_WRITE0 = 0x04,
  SYS_WRITE = 0x05,
  SYS_READ = 0x06,
  SYS_FLEN = 0x0C,
  SYS_GET_CMDLINE = 0x15,
  SYS_EXIT_EXTENDED = 0x20
};
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static int32_t call(uint32_t operation, const void *argument) {
  register uint32_t r0 __asm__("r0") = operation;
  register const void *r1 __asm__("r1") = argument;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return (int32_t)r0;
}

int32_t semihosting_open(const char *path, uint32_t mode) {
  const uint32_t block[3] = {(uint32_t)(uintptr_t)path, mode,
                             (uint32_t)strlen(path)};
  return call(SYS_OPEN, block);
}

int32_t semihosting_close(int32_t handle) {
  const uint32_t block[1] = {(uint32_t)handle};
  return call(SYS_CLOSE, block);
}

uint32_t semihosting_read(int32_t handle, void *buffer, uint32_t bytes) {
  const uint32_t block[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)buffer,
                             bytes};
  return (uint32_t)call(SYS_READ, block);
}

uint32_t semihosting_write(int32_t handle, const void *buffer,
                           uint32_t bytes) {
  const uint32_t block[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)buffer,
                             bytes};
  return (uint32_t)call(SYS_WRITE, block);
}

int32_t semihosting_file_length(int32_t handle) {
  const uint32_t block[1] = {(uint32_t)handle};
  return call(SYS_FLEN, block);
}

int32_t semihosting_command_line(char *buffer, uint32_t size) {
  uint32_t block[2];
  block[0] = (uint32_t)(uintptr_t)buffer;
  block[1] = size;
  return call(SYS_GET_CMDLINE, block);
}

void semihosting_write_console(const char *text) { call(SYS_WRITE0, text); }

void semihosting_exit(uint32_t status) {
  const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, status};
  for (;;) call(SYS_EXIT_EXTENDED, block);
}
