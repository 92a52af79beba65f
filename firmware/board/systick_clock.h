/*
 * SysTick as a 64-bit tick counter with one optional deadline.
 *
 * SysTick runs at the core clock (168 MHz on this board). Under QEMU with
 * -icount shift=0 each instruction takes 1 ns of virtual time, so SysTick
 * counts 0.168 ticks per instruction and instruction counts follow from
 * ticks (to about 6 instructions). DWT CYCCNT would be simpler, but QEMU does
 * not implement it. On a real board the same numbers are cycles.
 */
#ifndef FREEML_FIRMWARE_SYSTICK_CLOCK_H_
#define FREEML_FIRMWARE_SYSTICK_CLOCK_H_

#include <stdint.h>

#define SYSTICK_CLOCK_HZ 168000000u
/* Instructions per second under QEMU -icount shift=0. */
#define SYSTICK_INSTRUCTIONS_PER_SECOND 1000000000u

/* Starts counting from 0, with no deadline. */
void systick_clock_start(void);

/* `on_deadline` runs in the SysTick interrupt once systick_clock_ticks()
 * reaches deadline_ticks (at once if it has); it should not return: it is
 * meant to reset the board. */
void systick_clock_set_deadline(uint64_t deadline_ticks,
                                void (*on_deadline)(void));

/* Ticks since systick_clock_start. */
uint64_t systick_clock_ticks(void);

/* Conversions at the rates above, rounded to nearest. */
uint64_t systick_ticks_to_instructions(uint64_t ticks);
uint64_t systick_instructions_to_ticks(uint64_t instructions);

#endif /* FREEML_FIRMWARE_SYSTICK_CLOCK_H_ */
