/* Status codes and the one-line error message of the runtime. */
#ifndef FREEML_ERRORS_H_
#define FREEML_ERRORS_H_

#include "kernels/freeml_kernels.h"

/* Runtime statuses extend the kernel's freeml_status values. */
#define FREEML_ERR_MODEL ((freeml_status)2)       /* malformed model */
#define FREEML_ERR_UNSUPPORTED ((freeml_status)3) /* op/type not supported */
#define FREEML_ERR_ARENA ((freeml_status)4)       /* arena too small */

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
