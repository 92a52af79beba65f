/*
 * The NVM port on a RAM region that survives a system reset (a NOLOAD
 * section; see board/stm32f405.ld). It stands in for FRAM: stores are plain
 * stores, the barrier is a DSB. Power failures come from SysTick resets
 * (power_failure.h), not from the port, so writes never report one.
 */
#ifndef FREEML_FIRMWARE_NVM_RAM_PORT_H_
#define FREEML_FIRMWARE_NVM_RAM_PORT_H_

#include <stdint.h>

#include "tflm_freeml/nvm_port.h"

/* A port over region[0, size); region must be 16-byte aligned. */
freeml_nvm_port nvm_ram_port(uint8_t *region, uint32_t size);

#endif /* FREEML_FIRMWARE_NVM_RAM_PORT_H_ */
