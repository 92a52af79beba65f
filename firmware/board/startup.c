/*
 * Reset and fault handling for the STM32F405 (any Cortex-M4F): vector
 * table, C runtime setup, FPU on, stack painted for the high-water mark.
 * A CPU fault ends the run through semihosting with its own exit status, so
 * a test sees an error instead of a hung emulator.
 */
#include <stdint.h>
#include <string.h>

#include "firmware/board/board.h"
#include "firmware/board/semihosting.h"

/* Linker script symbols: addresses only, declared as arrays. */
extern uint32_t __data_start[], __data_end[], __data_load[];
extern uint32_t __bss_start[], __bss_end[];
extern uint32_t __stack_limit[], __stack_top[];

extern int main(void);
void freeml_reset_handler(void);
void freeml_systick_handler(void);

#define STACK_PAINT 0x5AF3C0DEu
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

static void fault_handler(void) {
  semihosting_write_console("freeml_fw: error: CPU fault\n");
  semihosting_exit(BOARD_EXIT_FAULT);
}

void freeml_reset_handler(void) {
  uint32_t *word;
  uint32_t *frame;
  __asm__ volatile("mov %0, sp" : "=r"(frame));
  /* Paint the stack below this frame, for board_stack_used(). */
  for (word = __stack_limit; word < frame - 16; ++word) *word = STACK_PAINT;
  memcpy(__data_start, __data_load,
         (size_t)((uint8_t *)__data_end - (uint8_t *)__data_start));
  memset(__bss_start, 0,
         (size_t)((uint8_t *)__bss_end - (uint8_t *)__bss_start));
  SCB_CPACR |= 0xFu << 20; /* CP10 and CP11: the FPU, full access */
  __asm__ volatile("dsb\n\tisb");
  semihosting_exit((uint32_t)main());
}

/* newlib's exit() ends here: report the status instead of spinning. */
void _exit(int status);
void _exit(int status) { semihosting_exit((uint32_t)status); }

uint32_t board_stack_used(void) {
  const uint32_t *word = __stack_limit;
  while (word < __stack_top && *word == STACK_PAINT) ++word;
  return (uint32_t)((const uint8_t *)__stack_top - (const uint8_t *)word);
}

void board_reset(void) {
  /* AIRCR: VECTKEY and SYSRESETREQ. SRAM outside the loaded segments keeps
   * its contents across this reset (on QEMU and on the real chip). */
  __asm__ volatile("dsb");
  *(volatile uint32_t *)0xE000ED0Cu = 0x05FA0004u;
  __asm__ volatile("dsb");
  for (;;) {
  }
}

typedef void (*vector)(void);

/* The 16 Cortex-M system vectors; no peripheral interrupt is used. */
__attribute__((section(".vectors"), used)) static const vector kVectors[16] = {
    (vector)(uintptr_t)__stack_top,
    freeml_reset_handler,
    fault_handler, /* NMI */
    fault_handler, /* HardFault */
    fault_handler, /* MemManage */
    fault_handler, /* BusFault */
    fault_handler, /* UsageFault */
    0,
    0,
    0,
    0,
    fault_handler, /* SVCall */
    fault_handler, /* DebugMonitor */
    0,
    fault_handler, /* PendSV */
    freeml_systick_handler,
};

