/* SPDX-License-Identifier: Apache-2.0 */
#include "base/log.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/util.h"

static enum ferry_log_level min_level = FERRY_LOG_INFO;
static int json_format;

static const char *const names[] = { "debug", "info", "warn", "error" };

void ferry_log_set_level(enum ferry_log_level level) { min_level = level; }
void ferry_log_set_json(int on) { json_format = on; }

int ferry_log_parse_level(const char *name, enum ferry_log_level *out)
{
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcasecmp(name, names[i]) == 0) {
      *out = (enum ferry_log_level)i;
      return 0;
    }
  return -1;
}

void ferry_log(enum ferry_log_level level, const char *fmt, ...)
{
  if (level < min_level)
    return;
  va_list ap;
  va_start(ap, fmt);
  char *msg = ferry_vasprintf(fmt, ap);
  va_end(ap);
  if (!msg)
    return;
  struct timespec ts;
  struct tm tm;
  char stamp[64] = "";
  if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && gmtime_r(&ts.tv_sec, &tm)) {
    size_t l = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + l, sizeof stamp - l, ".%03ldZ", ts.tv_nsec / 1000000);
  }
  if (json_format) {
    json_object *o = json_object_new_object();
    if (o) {
      json_object_object_add(o, "ts", json_object_new_string(stamp));
      json_object_object_add(o, "level", json_object_new_string(names[level]));
      json_object_object_add(o, "msg", json_object_new_string(msg));
      fprintf(stderr, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
      json_object_put(o);
    }
  } else {
    fprintf(stderr, "%s %-5s %s\n", stamp, names[level], msg);
  }
  free(msg);
}

int ferry_log_level_option(const char *prog, const char *value)
{
  enum ferry_log_level lv;
  if (ferry_log_parse_level(value, &lv) < 0) {
    fprintf(stderr, "%s: --log-level is debug, info, warn or error, not %s\n", prog, value);
    return -1;
  }
  ferry_log_set_level(lv);
  return 0;
}

int ferry_log_format_option(const char *prog, const char *value)
{
  if (strcmp(value, "text") != 0 && strcmp(value, "json") != 0) {
    fprintf(stderr, "%s: --log-format is text or json, not %s\n", prog, value);
    return -1;
  }
  ferry_log_set_json(!strcmp(value, "json"));
  return 0;
}
