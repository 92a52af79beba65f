/* CRC-32 (IEEE 802.3, the zlib/PNG polynomial): model hashes and the
 * checksums of the NVM control block. */
#ifndef FREEML_CRC32_H_
#define FREEML_CRC32_H_

#include <stdint.h>

/* CRC of `bytes` bytes, continuing from `crc` (0 to start), so that
 * freeml_crc32(freeml_crc32(0, a, n), b, m) is the CRC of a followed by b.
 * Equal to zlib's crc32(). */
uint32_t freeml_crc32(uint32_t crc, const void *data, uint32_t bytes);

#endif /* FREEML_CRC32_H_ */
