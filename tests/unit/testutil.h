/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the unit tests: temporary directories and small files. */
#ifndef FERRY_TESTUTIL_H
#define FERRY_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/util.h"

static inline char *tu_mkdtemp(void)
{
  char tmpl[] = "/tmp/ferry-unit.XXXXXX";
  char *d = mkdtemp(tmpl);
  assert_non_null(d);
  return ferry_strdup(d);
}

static inline void tu_write(const char *dir, const char *rel, const char *text)
{
  char *p = ferry_path_join(dir, rel);
  char *slash = strrchr(p, '/');
  *slash = '\0';
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_mkdir_p(p, 0755, &err), 0);
  *slash = '/';
  assert_int_equal(ferry_write_file(p, text, strlen(text), &err), 0);
  free(p);
}

static inline char *tu_read(const char *dir, const char *rel)
{
  char *p = ferry_path_join(dir, rel), *text = NULL;
  ferry_error err = FERRY_ERROR_INIT;
  if (ferry_read_file(p, &text, NULL, &err) < 0)
    text = NULL;
  ferry_error_clear(&err);
  free(p);
  return text;
}

static inline void tu_rm(char *dir)
{
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_rm_rf(dir, &err), 0);
  free(dir);
}

#endif
