/* SPDX-License-Identifier: Apache-2.0 */
#include "base/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ferry_error_setv(ferry_error *err, int errnum, const char *fmt, va_list ap)
{
  if (!err)
    return -1;
  char *base = NULL;
  if (vasprintf(&base, fmt, ap) < 0)
    base = NULL;
  char *full = NULL;
  if (base && errnum) {
    if (asprintf(&full, "%s: %s", base, strerror(errnum)) < 0)
      full = NULL;
    free(base);
  } else {
    full = base;
  }
  free(err->msg);
  err->msg = full ? full : strdup("out of memory while reporting an error");
  err->errnum = errnum;
  return -1;
}

int ferry_error_set(ferry_error *err, int errnum, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  ferry_error_setv(err, errnum, fmt, ap);
  va_end(ap);
  return -1;
}

int ferry_error_prefix(ferry_error *err, const char *fmt, ...)
{
  if (!err)
    return -1;
  char *prefix = NULL;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&prefix, fmt, ap);
  va_end(ap);
  if (n < 0)
    return -1;
  char *full = NULL;
  if (asprintf(&full, "%s: %s", prefix, err->msg ? err->msg : "unknown error") >= 0) {
    free(err->msg);
    err->msg = full;
  }
  free(prefix);
  return -1;
}

void ferry_error_clear(ferry_error *err)
{
  if (!err)
    return;
  free(err->msg);
  err->msg = NULL;
  err->errnum = 0;
}

const char *ferry_error_msg(const ferry_error *err) { return err && err->msg ? err->msg : "unknown error"; }
