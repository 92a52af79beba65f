/*
 * Fuzz target: recovery from NVM in any state. The model is the .tflite
 * named by $FREEML_FUZZ_MODEL; its answers for two fixed inputs come from a
 * plain, uninterrupted run at start-up. An input is one of:
 *
 *   raw     byte 0 has bit 7 set; the rest is the NVM image the first boot
 *           finds (zero-padded). That boot must finish without error. Any
 *           bytes can be forged into a state the runtime cannot tell from
 *           its own (a CRC is no signature), so its answer is not checked;
 *           a second boot with the other input must give that input's
 *           answer.
 *   history byte 0: bits 0-1 choose the tile plan, bit 2 the first input;
 *           then up to 16 events of 8 bytes: u16 fail_at, u16 offset
 *           (modulo the NVM size), u32 mask.
 *           Per event, one boot from the NVM as it is, with power failing
 *           at NVM write (fail_at & 0x7FFF) of that boot (0: none) and the
 *           other input if bit 15 is set; then the 4 NVM bytes at `offset`
 *           are XORed with `mask`: damage of at most 32 consecutive bits
 *           between two boots. Every boot that finishes, and a last boot
 *           without failure, must give the input's answer.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_common.h"
#include "tflm_freeml/crc32.h"
#include "tflm_freeml/host/nvm_memory.h"
#include "tflm_freeml/intermittent.h"
#include "tflm_freeml/runtime.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NUM_INPUTS 2
#define MAX_EVENTS 16
#define EVENT_BYTES 8
#define RAW_MODE 0x80u
#define NUM_TILE_PLANS 4 /* chosen by bits 0-1 of byte 0 */

/* Tile budgets (MACs, bytes): the default, and finer plans that put many
 * commits inside each op. */
static const uint32_t kTilePlans[NUM_TILE_PLANS][2] = {
    {0, 0}, {2048, 256}, {512, 64}, {64, 16}};

/* What every execution compares against, read once. */
typedef struct {
  uint8_t *model;
  uint32_t model_size;
  uint32_t model_hash;
  uint32_t nvm_bytes[NUM_TILE_PLANS];
  uint32_t snapshot_crc[NUM_TILE_PLANS]; /* the prepared tables' snapshot */
  uint32_t output_bytes;
  uint8_t inputs[NUM_INPUTS][FUZZ_ARENA_BYTES / 4];
  uint8_t answers[NUM_INPUTS][FUZZ_ARENA_BYTES / 4];
} recovery_setup;

static recovery_setup setup;

static uint8_t arena[FUZZ_ARENA_BYTES] __attribute__((aligned(16)));

static void fail(const char *what) {
  fprintf(stderr, "nvm_recovery_fuzzer: %s\n", what);
  abort();
}

static uint8_t *read_file(const char *path, uint32_t *size) {
  FILE *file = fopen(path, "rb");
  uint8_t *copy;
  long length = 0;
  if (file == 0 || fseek(file, 0, SEEK_END) != 0 || (length = ftell(file)) <= 0 ||
      fseek(file, 0, SEEK_SET) != 0) {
    fail("cannot read $FREEML_FUZZ_MODEL");
  }
  copy = fuzz_aligned_zeros((size_t)length);
  if (fread(copy, 1, (size_t)length, file) != (size_t)length) {
    fail("cannot read $FREEML_FUZZ_MODEL");
  }
  fclose(file);
  *size = (uint32_t)length;
  return copy;
}

/* Concatenates the graph's outputs (or inputs) into `out`. */
static uint32_t gather(const freeml_runtime *rt, int outputs, uint8_t *out) {
  const uint32_t count = outputs ? freeml_runtime_num_outputs(rt)
                                 : freeml_runtime_num_inputs(rt);
  uint32_t i, used = 0;
  for (i = 0; i < count; ++i) {
    freeml_tensor_view view;
    freeml_runtime_tensor(rt, outputs ? freeml_runtime_output(rt, i)
                                      : freeml_runtime_input(rt, i),
                          &view);
    if (used + view.bytes > sizeof(setup.answers[0])) fail("model too large");
    memcpy(out + used, view.data, view.bytes);
    used += view.bytes;
  }
  return used;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  static freeml_runtime rt;
  const char *path = getenv("FREEML_FUZZ_MODEL");
  freeml_error error;
  uint32_t n, t, i;
  (void)argc;
  (void)argv;
  if (path == 0) fail("set $FREEML_FUZZ_MODEL to a .tflite the runtime runs");
  setup.model = read_file(path, &setup.model_size);
  setup.model_hash = freeml_crc32(0, setup.model, setup.model_size);
  if (freeml_runtime_init(&rt, setup.model, setup.model_size, arena,
                          sizeof(arena), &error) != FREEML_OK) {
    fail(error.message);
  }
  for (n = 0; n < NUM_INPUTS; ++n) {
    for (t = 0; t < freeml_runtime_num_inputs(&rt); ++t) {
      freeml_tensor_view view;
      freeml_runtime_tensor(&rt, freeml_runtime_input(&rt, t), &view);
      for (i = 0; i < view.bytes; ++i) {
        view.data[i] = (uint8_t)(i * (31u + 6u * n) + 7u * n + t);
      }
    }
    gather(&rt, 0, setup.inputs[n]);
    if (freeml_runtime_invoke(&rt, &error) != FREEML_OK) fail(error.message);
    setup.output_bytes = gather(&rt, 1, setup.answers[n]);
  }
  for (n = 0; n < NUM_TILE_PLANS; ++n) {
    static freeml_intermittent it;
    const freeml_intermittent_config config = {
        setup.model_hash, kTilePlans[n][0], kTilePlans[n][1], 0};
    if (freeml_intermittent_init(&it, setup.model, setup.model_size, arena,
                                 sizeof(arena), &config, &error) != FREEML_OK) {
      fail(error.message);
    }
    setup.nvm_bytes[n] = it.rt.memory.nvm_bytes;
    setup.snapshot_crc[n] = it.snapshot_crc;
  }
  return 0;
}

/* One power-on: SRAM is garbage, the runtime is restored from the NVM
 * snapshot of its tables (or built again) and resumes from `nvm_bytes`. Returns the run's status; a finished run must give the
 * answer for input `which` (unless `any_answer`). */
static freeml_status boot(uint32_t plan, uint8_t *nvm_bytes, uint32_t nvm_size,
                          uint32_t fail_at, uint32_t which, int any_answer) {
  static freeml_intermittent it;
  static uint8_t output[sizeof(setup.answers[0])];
  const freeml_intermittent_config config = {
      setup.model_hash, kTilePlans[plan][0], kTilePlans[plan][1],
      setup.snapshot_crc[plan]};
  const void *pointers[FREEML_MAX_IO];
  freeml_nvm_memory nvm;
  freeml_error error, notice;
  freeml_status status;
  uint32_t i, used = 0;
  memset(arena, 0xA5, sizeof(arena));
  freeml_nvm_memory_init(&nvm, nvm_bytes, nvm_size, fail_at);
  if (freeml_intermittent_boot(&it, setup.model, setup.model_size, arena,
                               sizeof(arena), &config, &nvm.port,
                               &error) != FREEML_OK) {
    fail(error.message);
  }
  for (i = 0; i < freeml_runtime_num_inputs(&it.rt); ++i) {
    pointers[i] = setup.inputs[which] + used;
    used += it.rt.tensors[freeml_runtime_input(&it.rt, i)].bytes;
  }
  status = freeml_intermittent_run(&it, &nvm.port, pointers, &notice, &error);
  if (status == FREEML_INTERRUPTED) return status;
  if (status != FREEML_OK) fail(error.message);
  if (gather(&it.rt, 1, output) != setup.output_bytes ||
      (!any_answer &&
       memcmp(output, setup.answers[which], setup.output_bytes) != 0)) {
    fail("a finished run gave a wrong answer");
  }
  return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint32_t plan, nvm_size, which, e;
  uint8_t *nvm;
  if (size < 1) return 0;
  plan = data[0] & 3u;
  which = (data[0] >> 2) & 1u;
  nvm_size = setup.nvm_bytes[plan];
  nvm = fuzz_aligned_zeros(nvm_size);
  if (data[0] & RAW_MODE) {
    memcpy(nvm, data + 1, size - 1 < nvm_size ? size - 1 : nvm_size);
    if (boot(plan, nvm, nvm_size, 0, which, 1) != FREEML_OK) fail("no power");
    if (boot(plan, nvm, nvm_size, 0, 1u - which, 0) != FREEML_OK) {
      fail("no power");
    }
    free(nvm);
    return 0;
  }
  for (e = 0; e < MAX_EVENTS && 1u + (e + 1u) * EVENT_BYTES <= size; ++e) {
    const uint8_t *event = data + 1u + e * EVENT_BYTES;
    const uint32_t fail_at = (uint32_t)event[0] | (uint32_t)event[1] << 8;
    const uint32_t offset =
        ((uint32_t)event[2] | (uint32_t)event[3] << 8) % nvm_size;
    uint32_t i;
    if (fail_at & 0x8000u) which = 1u - which;
    boot(plan, nvm, nvm_size, fail_at & 0x7FFFu, which, 0);
    for (i = 0; i < 4u && offset + i < nvm_size; ++i) nvm[offset + i] ^= event[4 + i];
  }
  if (boot(plan, nvm, nvm_size, 0, which, 0) != FREEML_OK) fail("no power");
  free(nvm);
  return 0;
}
