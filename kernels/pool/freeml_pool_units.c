#include "kernels/freeml_kernels.h"

int32_t freeml_pool_s8_units(const freeml_dims *output_dims) {
  return output_dims->n * output_dims->h * output_dims->w * output_dims->c;
}
