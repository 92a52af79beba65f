/* CRC-32 against the standard check values (the same as zlib's crc32()),
 * and chaining, which the input hash of several inputs relies on. */
#include "tflm_freeml/crc32.h"

#include "tflm_freeml/tests/check.h"

int main(void) {
  static const char kDigits[] = "123456789";
  static const uint8_t kZeros[32] = {0};
  CHECK_EQ_INT(freeml_crc32(0, kDigits, 9), 0xCBF43926u);
  CHECK_EQ_INT(freeml_crc32(0, kDigits, 0), 0u);
  CHECK_EQ_INT(freeml_crc32(0, kZeros, 32), 0x190A55ADu);
  CHECK_EQ_INT(freeml_crc32(freeml_crc32(0, kDigits, 4), kDigits + 4, 5),
               0xCBF43926u);
  TEST_MAIN_END();
}
