/*
 * Arm semihosting: file and console I/O through the debugger or emulator
 * (QEMU -semihosting-config enable=on,target=native; Renode; a debug probe).
 * Each call traps with BKPT 0xAB, so a board without a host attached halts:
 * firmware for the field talks to its sensors instead.
 */
#ifndef FREEML_FIRMWARE_SEMIHOSTING_H_
#define FREEML_FIRMWARE_SEMIHOSTING_H_

#include <stdint.h>

/* Open modes (the ISO C fopen modes the protocol numbers). */
#define SEMIHOSTING_MODE_READ_BINARY 1  /* "rb" */
#define SEMIHOSTING_MODE_WRITE_BINARY 5 /* "wb" */

/* A handle, or -1 when the host cannot open the file. */
int32_t semihosting_open(const char *path, uint32_t mode);
int32_t semihosting_close(int32_t handle);
/* Bytes NOT read/written (0: all of them), as the protocol returns it. */
uint32_t semihosting_read(int32_t handle, void *buffer, uint32_t bytes);
uint32_t semihosting_write(int32_t handle, const void *buffer, uint32_t bytes);
/* File length in bytes, or -1. */
int32_t semihosting_file_length(int32_t handle);
/* The command line, NUL-terminated, into buffer[size]; 0 on success. */
int32_t semihosting_command_line(char *buffer, uint32_t size);
/* Writes a NUL-terminated string to the host console. */
void semihosting_write_console(const char *text);
/* Ends the emulation with this exit status; never returns. */
void semihosting_exit(uint32_t status);

#endif /* FREEML_FIRMWARE_SEMIHOSTING_H_ */
