#include <string.h>

#include "kernels/freeml_arith.h"

freeml_status freeml_copy_s8(const int8_t *input, int8_t *output,
                             int32_t count, freeml_tile tile) {
  if (!freeml_tile_valid(tile, count)) return FREEML_ERR_ARG;
  if (tile.end > tile.start) {
    memcpy(output, input + tile.start,
           (size_t)(tile.end - tile.start));
  }
  return FREEML_OK;
}
