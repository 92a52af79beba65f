/*
 * The board services firmware needs: exit statuses, reset, stack use, and
 * an instruction clock (systick_clock.h). Ported per board; this one is the
 * STM32F405 (QEMU netduinoplus2, Renode stm32f4_discovery, real boards).
 */
#ifndef FREEML_FIRMWARE_BOARD_H_
#define FREEML_FIRMWARE_BOARD_H_

#include <stdint.h>

/* Semihosting exit statuses of the firmware. */
#define BOARD_EXIT_OK 0u
#define BOARD_EXIT_MODEL 1u /* the model image is corrupted or refused */
#define BOARD_EXIT_USAGE 2u /* bad command line */
#define BOARD_EXIT_IO 3u    /* the host could not read or write a file */
#define BOARD_EXIT_FAULT 4u /* a CPU fault (HardFault, BusFault, ...) */

/* Bytes of the main stack written since reset (painted at reset). */
uint32_t board_stack_used(void);

/* System reset (SYSRESETREQ): a simulated power failure. */
void board_reset(void) __attribute__((noreturn));

#endif /* FREEML_FIRMWARE_BOARD_H_ */
