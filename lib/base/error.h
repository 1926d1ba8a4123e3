/* SPDX-License-Identifier: Apache-2.0 */
/* Errors carried with context, in the manner of crun's libcrun_error_t: a failing
 * function fills a ferry_error and returns -1; each caller may prefix what it was
 * doing, so the message that reaches the user reads outermost-first. */
#ifndef FERRY_ERROR_H
#define FERRY_ERROR_H

#include <stdarg.h>

typedef struct ferry_error {
  int errnum; /* errno of the root cause, 0 if none */
  char *msg;  /* heap; NULL when no error */
} ferry_error;

#define FERRY_ERROR_INIT                                                                                               \
  {                                                                                                                    \
    0, NULL                                                                                                            \
  }

/* Set *err (replacing any earlier message). Always returns -1. errnum, when not 0,
 * appends ": strerror(errnum)". */
int ferry_error_set(ferry_error *err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int ferry_error_setv(ferry_error *err, int errnum, const char *fmt, va_list ap);
/* Prefix the message with "PREFIX: ". Always returns -1. */
int ferry_error_prefix(ferry_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ferry_error_clear(ferry_error *err);
const char *ferry_error_msg(const ferry_error *err);

#endif
