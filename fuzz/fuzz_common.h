/*
 * What the fuzz targets share: a 16-byte aligned copy of the input (the
 * runtime reads models in place and needs the alignment) and the size
 * bounds that keep one execution short.
 */
#ifndef FREEML_FUZZ_COMMON_H_
#define FREEML_FUZZ_COMMON_H_

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Arena for plain runs: larger than any model the fuzzers start from
 * (the shared ResNet-8 needs 54 KB). */
#define FUZZ_ARENA_BYTES (1u << 20)
/* Inference is only run on models of at most this many MACs. */
#define FUZZ_MAX_MACS 4000000u

/* A malloc'd, zeroed, 16-byte aligned block of `size` bytes (at least 16
 * allocated, so that size 0 works too). Free with free(). */
static inline uint8_t *fuzz_aligned_zeros(size_t size) {
  const size_t rounded = size < 16 ? 16 : (size + 15) & ~(size_t)15;
  uint8_t *block = (uint8_t *)aligned_alloc(16, rounded);
  if (block == 0) abort();
  memset(block, 0, rounded);
  return block;
}

/* A 16-byte aligned copy of data[0, size). Free with free(). */
static inline uint8_t *fuzz_aligned_copy(const uint8_t *data, size_t size) {
  uint8_t *copy = fuzz_aligned_zeros(size);
  if (size > 0) memcpy(copy, data, size);
  return copy;
}

#endif /* FREEML_FUZZ_COMMON_H_ */
