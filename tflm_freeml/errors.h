/* The one-line error message of the runtime (statuses: freeml_status). */
#ifndef FREEML_ERRORS_H_
#define FREEML_ERRORS_H_

#include "kernels/freeml_kernels.h"

#define FREEML_ERROR_MESSAGE_SIZE 200

typedef struct {
  char message[FREEML_ERROR_MESSAGE_SIZE];
} freeml_error;

/* Formats `message` (printf syntax) into `error` (if not null) and returns
 * `status`, so that callers can write `return freeml_fail(...)`. */
freeml_status freeml_fail(freeml_error *error, freeml_status status,
                          const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif /* FREEML_ERRORS_H_ */
