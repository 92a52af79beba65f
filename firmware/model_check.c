#include "firmware/model_check.h"

#include <stddef.h>
#include <string.h>

#include "tflm_freeml/crc32.h"

#define MODEL_CHECK_MAGIC 0x434D4D46u /* "FMMC" */

typedef char slot_is_32_bytes[sizeof(model_check_slot) == 32 ? 1 : -1];

static uint32_t slot_crc(const model_check_slot *slot) {
  return freeml_crc32(0, slot, offsetof(model_check_slot, crc));
}

/* Whether a slot holds progress of this check. */
static int slot_applies(const model_check_slot *slot, uint32_t bytes,
                        uint32_t expected_crc, uint32_t run_id,
                        uint32_t input_hash) {
  return slot->magic == MODEL_CHECK_MAGIC &&
         slot->model_crc32 == expected_crc && slot->run_id == run_id &&
         slot->input_hash == input_hash && slot->checked_bytes <= bytes &&
         slot->crc == slot_crc(slot);
}

int model_check_run(model_check_record *record, const uint8_t *image,
                    uint32_t bytes, uint32_t expected_crc, uint32_t run_id,
                    uint32_t input_hash) {
  model_check_slot progress;
  int valid[2];
  uint32_t i;
  for (i = 0; i < 2; ++i) {
    valid[i] = slot_applies(&record->slots[i], bytes, expected_crc, run_id,
                            input_hash);
  }
  memset(&progress, 0, sizeof(progress));
  if (valid[0] || valid[1]) {
    i = valid[0] && valid[1]
            ? (record->slots[1].chunks > record->slots[0].chunks ? 1u : 0u)
            : (valid[1] ? 1u : 0u);
    progress = record->slots[i];
    if (progress.checked_bytes == bytes) {
      if (progress.crc_so_far == expected_crc) return 0;
      memset(&progress, 0, sizeof(progress)); /* failed before: again */
    }
  }
  progress.magic = MODEL_CHECK_MAGIC;
  progress.model_crc32 = expected_crc;
  progress.run_id = run_id;
  progress.input_hash = input_hash;
  do {
    const uint32_t left = bytes - progress.checked_bytes;
    const uint32_t chunk =
        left < MODEL_CHECK_CHUNK_BYTES ? left : MODEL_CHECK_CHUNK_BYTES;
    progress.crc_so_far = freeml_crc32(
        progress.crc_so_far, image + progress.checked_bytes, chunk);
    progress.checked_bytes += chunk;
    progress.chunks += 1u;
    progress.crc = slot_crc(&progress);
    record->slots[progress.chunks & 1u] = progress;
    __asm__ volatile("dsb" ::: "memory");
  } while (progress.checked_bytes < bytes);
  return progress.crc_so_far == expected_crc ? 0 : 1;
}
