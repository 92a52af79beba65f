/*
 * Simulated power failures: a system reset after a seeded pseudo-random
 * number of instructions, again at every boot until the requested count is
 * spent. The firmware arms the failure once the runtime is initialised:
 * before that a boot only reads flash (the op tables), so a failure there
 * leaves NVM as a failure at the end of it would. The seed, the generator's state and the count live in NVM, so the
 * schedule goes on across the resets; under QEMU -icount the whole run is
 * deterministic.
 */
#ifndef FREEML_FIRMWARE_POWER_FAILURE_H_
#define FREEML_FIRMWARE_POWER_FAILURE_H_

#include <stdint.h>

/* As stored in NVM (little-endian, 40 bytes). */
typedef struct {
  uint32_t magic;               /* POWER_FAILURE_MAGIC */
  uint32_t seed;                /* --seed */
  uint32_t failures;            /* --failures */
  uint32_t failures_done;       /* resets so far */
  uint32_t max_interval;        /* instructions; intervals in [1, this] */
  uint32_t random_state;        /* xorshift32, advanced at each failure */
  uint64_t instructions_before; /* instructions of the boots that failed */
  uint32_t crc;                 /* CRC-32 of the fields above */
  uint32_t reserved;
} power_failure_record;

/* At boot: keeps the schedule NVM holds, or starts the one the command
 * line asks for when NVM holds none (or a different one). */
void power_failure_boot(power_failure_record *record, uint32_t failures,
                        uint32_t seed, uint32_t max_interval);

/* Arms the SysTick clock (systick_clock_start first) to reset the board
 * after the next interval of the schedule, if a failure is left. */
void power_failure_arm(power_failure_record *record);

#endif /* FREEML_FIRMWARE_POWER_FAILURE_H_ */
