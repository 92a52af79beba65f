#include "tflm_freeml/crc32.h"

/* Four bits at a time: a 64-byte table, small enough for any MCU's flash,
 * at two lookups per byte. */
static const uint32_t kNibbleTable[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu,
    0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

uint32_t freeml_crc32(uint32_t crc, const void *data, uint32_t bytes) {
  const uint8_t *p = (const uint8_t *)data;
  uint32_t i;
  crc = ~crc;
  for (i = 0; i < bytes; ++i) {
    crc ^= p[i];
    crc = (crc >> 4) ^ kNibbleTable[crc & 15u];
    crc = (crc >> 4) ^ kNibbleTable[crc & 15u];
  }
  return ~crc;
}
