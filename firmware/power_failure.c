#include "firmware/power_failure.h"

#include <stddef.h>

#include "firmware/board/board.h"
#include "firmware/board/systick_clock.h"
#include "tflm_freeml/crc32.h"

#define POWER_FAILURE_MAGIC 0x46504D46u /* "FMPF" */

typedef char record_is_40_bytes[sizeof(power_failure_record) == 40 ? 1 : -1];

/* The armed record: the SysTick interrupt updates it just before reset. */
static power_failure_record *armed_record;

static uint32_t record_crc(const power_failure_record *record) {
  return freeml_crc32(0, record, offsetof(power_failure_record, crc));
}

static uint32_t xorshift32(uint32_t x) {
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x;
}

/* Runs in the SysTick interrupt: count the failure in NVM, then reset. A
 * failure cannot strike in here: this is the failure. */
static void fail_now(void) {
  power_failure_record *record = armed_record;
  record->failures_done += 1u;
  record->random_state = xorshift32(record->random_state);
  record->instructions_before +=
      systick_ticks_to_instructions(systick_clock_ticks());
  record->crc = record_crc(record);
  board_reset();
}

void power_failure_boot(power_failure_record *record, uint32_t failures,
                        uint32_t seed, uint32_t max_interval) {
  if (record->magic != POWER_FAILURE_MAGIC ||
      record->crc != record_crc(record) || record->seed != seed ||
      record->failures != failures || record->max_interval != max_interval) {
    record->magic = POWER_FAILURE_MAGIC;
    record->seed = seed;
    record->failures = failures;
    record->failures_done = 0;
    record->max_interval = max_interval;
    record->random_state = seed != 0 ? seed : 0x9E3779B9u; /* never 0 */
    record->instructions_before = 0;
    record->reserved = 0;
    record->crc = record_crc(record);
  }
}

void power_failure_arm(power_failure_record *record) {
  uint32_t instructions;
  uint64_t ticks;
  if (record->failures_done >= record->failures || record->max_interval == 0) {
    return;
  }
  armed_record = record;
  instructions = 1u + xorshift32(record->random_state) % record->max_interval;
  ticks = systick_instructions_to_ticks(instructions);
  systick_clock_set_deadline(systick_clock_ticks() + (ticks != 0 ? ticks : 1u),
                             fail_now);
}
