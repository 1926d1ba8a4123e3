/* SPDX-License-Identifier: Apache-2.0 */
/* What every libFuzzer harness of tests/fuzz/ shares (make fuzz, README.md "Fuzzing"). */
#ifndef FERRY_FUZZ_H
#define FERRY_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

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

/* The next JSON value of text (len bytes) from *at on, or NULL; *at moves past it. */
static inline json_object *fuzz_json_next(const char *text, size_t len, size_t *at)
{
  json_tokener *tok = json_tokener_new();
  if (!tok)
    abort();
  json_object *o = json_tokener_parse_ex(tok, text + *at, (int)(len - *at));
  if (json_tokener_get_error(tok) == json_tokener_continue)
    o = json_tokener_parse_ex(tok, "", 1); /* the end of the input ends a number */
  *at += json_tokener_get_parse_end(tok);
  json_tokener_free(tok);
  return o;
}

/* A directory of the harness's own, under $FERRY_FUZZ_TMP (tests/fuzz/run.sh
 * gives one it removes, as a crash ends the process without atexit) or else
 * /dev/shm (no disk writes, fsync is free); made on the first call, removed
 * with everything in it at exit. */
static char *fuzz_dir;

static inline void fuzz_dir_remove(void)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_rm_rf(fuzz_dir, &err) < 0)
    abort();
  free(fuzz_dir);
}

static inline const char *fuzz_tmpdir(void)
{
  if (!fuzz_dir) {
    const char *parent = getenv("FERRY_FUZZ_TMP");
    fuzz_dir = ferry_asprintf("%s/ferry-fuzz.XXXXXX", parent && *parent ? parent : "/dev/shm");
    if (!fuzz_dir || !mkdtemp(fuzz_dir) || atexit(fuzz_dir_remove) != 0)
      abort();
  }
  return fuzz_dir;
}

#endif
