/*
 * The model image's CRC-32 check, once per run and resumable.
 *
 * Flash does not tear at a power failure, so the image a run was checked
 * against stays checked for the rest of that run: checking it at every boot
 * (0.35M instructions for a 96 KB model) would cost more than one charge of
 * a small capacitor. The check runs once per run (run id and input hash of
 * the runtime's control block), in chunks, each recorded in NVM, so that a
 * check cut by a power failure goes on from its last chunk; a new run, or
 * another image, checks again from the start.
 */
#ifndef FREEML_FIRMWARE_MODEL_CHECK_H_
#define FREEML_FIRMWARE_MODEL_CHECK_H_

#include <stdint.h>

/* One slot as stored in NVM (little-endian, 32 bytes). */
typedef struct {
  uint32_t magic;         /* MODEL_CHECK_MAGIC */
  uint32_t model_crc32;   /* the CRC-32 the image must have */
  uint32_t run_id;        /* the run the check is for */
  uint32_t input_hash;
  uint32_t chunks;        /* chunks checked; stored in slot chunks % 2 */
  uint32_t checked_bytes; /* the image's first bytes checked so far */
  uint32_t crc_so_far;    /* their CRC-32 */
  uint32_t crc;           /* CRC-32 of the fields above */
} model_check_slot;

/* Two slots, written in turn: a slot torn by a power failure leaves the
 * other, one chunk behind. */
typedef struct {
  model_check_slot slots[2];
} model_check_record;

/* Bytes of the image checked between two records: about 14,000
 * instructions on a Cortex-M4. */
#define MODEL_CHECK_CHUNK_BYTES 4096u

/* Checks `bytes` bytes of `image` against `expected_crc` for the run
 * (run_id, input_hash), going on from what `record` holds; returns 0 if the
 * image is whole (at once if it was checked for this run before), 1 if its
 * CRC-32 differs. */
int model_check_run(model_check_record *record, const uint8_t *image,
                    uint32_t bytes, uint32_t expected_crc, uint32_t run_id,
                    uint32_t input_hash);

#endif /* FREEML_FIRMWARE_MODEL_CHECK_H_ */
