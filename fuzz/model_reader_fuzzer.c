/*
 * Fuzz target: .tflite bytes -> the reader, op preparation and memory plan
 * of both runtimes. Any input must end in "accepted" or an error with a
 * message; never a crash, a hang, or an access out of bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz/fuzz_common.h"
#include "tflm_freeml/intermittent.h"
#include "tflm_freeml/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t arena[FUZZ_ARENA_BYTES] __attribute__((aligned(16)));
  static freeml_runtime rt;
  static freeml_intermittent it;
  freeml_intermittent_config config = {0, 0, 0, 0};
  freeml_error error;
  uint8_t *model;
  if (size > 0xFFFFFFFFu) return 0;
  model = fuzz_aligned_copy(data, size);
  error.message[0] = '\0';
  if (freeml_runtime_init(&rt, model, (uint32_t)size, arena, sizeof(arena),
                          &error) != FREEML_OK &&
      error.message[0] == '\0') {
    abort(); /* a refusal must say why */
  }
  config.model_hash = 1u;
  error.message[0] = '\0';
  if (freeml_intermittent_init(&it, model, (uint32_t)size, arena,
                               sizeof(arena), &config,
                               &error) != FREEML_OK &&
      error.message[0] == '\0') {
    abort();
  }
  free(model);
  return 0;
}
