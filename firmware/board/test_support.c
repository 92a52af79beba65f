/*
 * What the C unit tests need to run unchanged on the board: printf and
 * fprintf through semihosting (newlib's _write), and the small heap newlib's
 * stdio allocates its buffers from. Firmware links no_heap.c instead.
 */
#include <stdint.h>
#include <string.h>

#include "firmware/board/semihosting.h"

#define TEST_HEAP_BYTES (16u * 1024u)
#define CONSOLE_CHUNK 128u

int _write(int fd, const char *data, int bytes);
int _write(int fd, const char *data, int bytes) {
  char chunk[CONSOLE_CHUNK + 1];
  int done = 0;
  (void)fd; /* stdout and stderr share the semihosting console */
  while (done < bytes) {
    uint32_t n = (uint32_t)(bytes - done);
    if (n > CONSOLE_CHUNK) n = CONSOLE_CHUNK;
    memcpy(chunk, data + done, n);
    chunk[n] = '\0';
    semihosting_write_console(chunk);
    done += (int)n;
  }
  return bytes;
}

void *_sbrk(int increment);
void *_sbrk(int increment) {
  static uint8_t heap[TEST_HEAP_BYTES] __attribute__((aligned(8)));
  static uint32_t used;
  void *block;
  if (increment < 0 || (uint32_t)increment > TEST_HEAP_BYTES - used) {
    return (void *)-1;
  }
  block = heap + used;
  used += (uint32_t)increment;
  return block;
}
