#include "firmware/board/systick_clock.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define CSR_ENABLE_TICKINT_CORECLOCK 7u
#define MAX_PERIOD (1ull << 24) /* the counter is 24 bits wide */

/* The interrupt handler's state: the one place this driver keeps. */
static struct {
  volatile uint64_t completed; /* ticks of the finished periods */
  volatile uint32_t reload;    /* RVR of the running period */
  uint64_t deadline;           /* 0: none */
  void (*on_deadline)(void);
} clock_state;

void freeml_systick_handler(void);

static uint32_t period_reload(uint64_t completed) {
  if (clock_state.deadline > completed &&
      clock_state.deadline - completed <= MAX_PERIOD) {
    return (uint32_t)(clock_state.deadline - completed - 1u);
  }
  return (uint32_t)(MAX_PERIOD - 1u);
}

/* (Re)starts the counter at `now` ticks with a period that ends at the
 * deadline if it is near. */
static void restart(uint64_t now) {
  SYST_CSR = 0;
  clock_state.completed = now;
  clock_state.reload = period_reload(now);
  SYST_RVR = clock_state.reload;
  SYST_CVR = 0; /* the counter reloads from RVR on the next tick */
  SYST_CSR = CSR_ENABLE_TICKINT_CORECLOCK;
}

void systick_clock_start(void) {
  clock_state.deadline = 0;
  clock_state.on_deadline = 0;
  restart(0);
}

void systick_clock_set_deadline(uint64_t deadline_ticks,
                                void (*on_deadline)(void)) {
  const uint64_t now = systick_clock_ticks();
  if (deadline_ticks <= now) on_deadline();
  clock_state.deadline = deadline_ticks;
  clock_state.on_deadline = on_deadline;
  restart(now);
}

void freeml_systick_handler(void) {
  const uint64_t completed = clock_state.completed + clock_state.reload + 1u;
  const uint32_t reload = period_reload(completed);
  clock_state.completed = completed;
  if (clock_state.deadline != 0 && completed >= clock_state.deadline) {
    clock_state.on_deadline();
  }
  if (reload != clock_state.reload) {
    /* Restart the count so the shorter last period ends at the deadline. */
    clock_state.reload = reload;
    SYST_RVR = reload;
    SYST_CVR = 0;
  }
}

uint64_t systick_clock_ticks(void) {
  uint64_t completed;
  uint32_t reload, value;
  do { /* re-read if a wrap was handled in between */
    completed = clock_state.completed;
    reload = clock_state.reload;
    value = SYST_CVR;
  } while (completed != clock_state.completed);
  return completed + (reload - value);
}

uint64_t systick_ticks_to_instructions(uint64_t ticks) {
  return (ticks * SYSTICK_INSTRUCTIONS_PER_SECOND + SYSTICK_CLOCK_HZ / 2u) /
         SYSTICK_CLOCK_HZ;
}

uint64_t systick_instructions_to_ticks(uint64_t instructions) {
  return (instructions * SYSTICK_CLOCK_HZ +
          SYSTICK_INSTRUCTIONS_PER_SECOND / 2u) /
         SYSTICK_INSTRUCTIONS_PER_SECOND;
}
