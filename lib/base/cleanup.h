/* SPDX-License-Identifier: Apache-2.0 */
/* Scope-bound release of resources, as crun and conmon do it with
 * __attribute__((cleanup)): a variable declared `cleanup_free char *s = NULL;`
 * is freed whenever it goes out of scope, so a function returns early on any
 * error without a list of frees at a label. ferry_steal() hands the value on
 * (to a caller, a container) and leaves the variable empty. */
#ifndef FERRY_CLEANUP_H
#define FERRY_CLEANUP_H

#include <dirent.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/error.h"

static inline void ferry_freep(void *p) { free(*(void **)p); }
static inline void ferry_closep(int *fd)
{
  if (*fd >= 0)
    close(*fd);
}
static inline void ferry_fclosep(FILE **f)
{
  if (*f)
    fclose(*f);
}
static inline void ferry_closedirp(DIR **d)
{
  if (*d)
    closedir(*d);
}
static inline void ferry_json_putp(json_object **o) { json_object_put(*o); }

#define cleanup_free __attribute__((cleanup(ferry_freep)))
#define cleanup_close __attribute__((cleanup(ferry_closep)))
#define cleanup_file __attribute__((cleanup(ferry_fclosep)))
#define cleanup_dir __attribute__((cleanup(ferry_closedirp)))
#define cleanup_json __attribute__((cleanup(ferry_json_putp)))
/* A ferry_error that is only looked at here (logged, or copied into a status). */
#define cleanup_error __attribute__((cleanup(ferry_error_clear)))

/* The value of *pp, which is left NULL: ownership moves to the caller. */
#define ferry_steal(pp)                                                                                                \
  ({                                                                                                                   \
    __typeof__(*(pp)) steal_v_ = *(pp);                                                                                \
    *(pp) = NULL;                                                                                                      \
    steal_v_;                                                                                                          \
  })
/* The same for a file descriptor, which is left -1. */
static inline int ferry_steal_fd(int *fd)
{
  int v = *fd;
  *fd = -1;
  return v;
}

#endif
