#include "tflm_freeml/errors.h"

#include <stdarg.h>
#include <stdio.h>

freeml_status freeml_fail(freeml_error *error, freeml_status status,
                          const char *format, ...) {
  va_list args;
  if (error != 0) {
    va_start(args, format);
    vsnprintf(error->message, sizeof(error->message), format, args);
    va_end(args);
  }
  return status;
}
