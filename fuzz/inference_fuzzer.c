/*
 * Fuzz target: .tflite bytes -> on every accepted model of bounded size, one
 * plain inference and one intermittent inference (NVM in memory) on the
 * same input. Both must finish, and the intermittent run must give the
 * plain run's bytes: a differential check of every op's tiling.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_common.h"
#include "tflm_freeml/host/nvm_memory.h"
#include "tflm_freeml/intermittent.h"
#include "tflm_freeml/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t total_macs(const freeml_runtime *rt) {
  uint64_t macs = 0;
  uint32_t i;
  for (i = 0; i < rt->num_ops; ++i) {
    macs += (uint64_t)rt->ops[i].units * rt->ops[i].unit_macs;
  }
  return macs;
}

/* Deterministic input bytes: every graph input filled from a counter. */
static void fill_inputs(const freeml_runtime *rt, uint8_t *bytes,
                        uint32_t capacity, const void *pointers[],
                        uint32_t *used) {
  uint32_t i, j;
  *used = 0;
  for (i = 0; i < freeml_runtime_num_inputs(rt); ++i) {
    freeml_tensor_view view;
    freeml_runtime_tensor(rt, freeml_runtime_input(rt, i), &view);
    if (*used + view.bytes > capacity) abort();
    for (j = 0; j < view.bytes; ++j) bytes[*used + j] = (uint8_t)(j * 37u + i);
    pointers[i] = bytes + *used;
    *used += view.bytes;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t arena[FUZZ_ARENA_BYTES] __attribute__((aligned(16)));
  static uint8_t inputs[FUZZ_ARENA_BYTES] __attribute__((aligned(16)));
  static uint8_t reference[FUZZ_ARENA_BYTES];
  static freeml_runtime rt;
  static freeml_intermittent it;
  const void *pointers[FREEML_MAX_IO];
  freeml_intermittent_config config = {0, 0, 0, 0};
  freeml_nvm_memory nvm;
  freeml_error error, notice;
  uint8_t *model, *nvm_bytes;
  uint32_t used, i, out_bytes = 0;
  if (size > 0xFFFFFFFFu) return 0;
  model = fuzz_aligned_copy(data, size);
  if (freeml_runtime_init(&rt, model, (uint32_t)size, arena, sizeof(arena),
                          &error) != FREEML_OK ||
      total_macs(&rt) > FUZZ_MAX_MACS) {
    free(model);
    return 0;
  }
  fill_inputs(&rt, inputs, sizeof(inputs), pointers, &used);
  for (i = 0; i < freeml_runtime_num_inputs(&rt); ++i) {
    freeml_tensor_view view;
    freeml_runtime_tensor(&rt, freeml_runtime_input(&rt, i), &view);
    memcpy(view.data, pointers[i], view.bytes);
  }
  if (freeml_runtime_invoke(&rt, &error) != FREEML_OK) abort();
  for (i = 0; i < freeml_runtime_num_outputs(&rt); ++i) {
    freeml_tensor_view view;
    freeml_runtime_tensor(&rt, freeml_runtime_output(&rt, i), &view);
    memcpy(reference + out_bytes, view.data, view.bytes);
    out_bytes += view.bytes;
  }

  config.model_hash = 1u;
  config.max_tile_macs = 512u; /* many tiles per op */
  config.max_tile_bytes = 64u;
  if (freeml_intermittent_init(&it, model, (uint32_t)size, arena,
                               sizeof(arena), &config, &error) != FREEML_OK) {
    abort(); /* plain mode accepted the model */
  }
  nvm_bytes = fuzz_aligned_zeros(it.rt.memory.nvm_bytes);
  freeml_nvm_memory_init(&nvm, nvm_bytes, it.rt.memory.nvm_bytes, 0);
  fill_inputs(&it.rt, inputs, sizeof(inputs), pointers, &used);
  if (freeml_intermittent_run(&it, &nvm.port, pointers, &notice, &error) !=
      FREEML_OK) {
    abort();
  }
  used = 0;
  for (i = 0; i < freeml_runtime_num_outputs(&it.rt); ++i) {
    freeml_tensor_view view;
    freeml_runtime_tensor(&it.rt, freeml_runtime_output(&it.rt, i), &view);
    if (memcmp(reference + used, view.data, view.bytes) != 0) abort();
    used += view.bytes;
  }
  free(nvm_bytes);
  free(model);
  return 0;
}
