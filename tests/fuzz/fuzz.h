/* SPDX-License-Identifier: Apache-2.0 */
/* What every libFuzzer harness of tests/fuzz/ shares (make fuzz, docs/development.md). */
#ifndef FERRY_FUZZ_H
#define FERRY_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

/* The input as a NUL-terminated string (caller frees): the parsers take C strings. */
static inline char *fuzz_text(const uint8_t *data, size_t len)
{
  char *s = malloc(len + 1);
  if (!s)
    abort();
  memcpy(s, data, len);
  s[len] = '\0';
  return s;
}

/* A directory of the harness's own under /dev/shm (no disk writes, fsync is
 * free), made on the first call and removed with everything in it at exit. */
static char fuzz_dir[] = "/dev/shm/ferry-fuzz.XXXXXX";

static inline void fuzz_dir_remove(void)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_rm_rf(fuzz_dir, &err) < 0)
    abort();
}

static inline const char *fuzz_tmpdir(void)
{
  if (fuzz_dir[sizeof fuzz_dir - 2] == 'X') {
    if (!mkdtemp(fuzz_dir) || atexit(fuzz_dir_remove) != 0)
      abort();
  }
  return fuzz_dir;
}

#endif
