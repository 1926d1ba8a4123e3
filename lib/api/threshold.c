/* SPDX-License-Identifier: Apache-2.0 */
#include "api/threshold.h"

#include <json-c/json.h>
#include <string.h>

#include "base/cleanup.h"

/* An integer member of o that is at least 0 (required: else -1). */
static int count(json_object *o, const char *key, int required, int64_t *out)
{
  json_object *v;
  if (!json_object_object_get_ex(o, key, &v))
    return required ? -1 : 0;
  if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
    return -1;
  *out = json_object_get_int64(v);
  return 0;
}

int ferry_postcopy_threshold_parse(const char *text, struct ferry_postcopy_threshold *out, ferry_error *err)
{
  memset(out, 0, sizeof *out);
  cleanup_json json_object *o = text ? json_tokener_parse(text) : NULL;
  json_object *src;
  int64_t moves = 0;
  if (!o || !json_object_is_type(o, json_type_object))
    return ferry_error_set(err, 0, "not a JSON object");
  if (count(o, "bytes", 1, &out->bytes) < 0)
    return ferry_error_set(err, 0, "\"bytes\" is missing or not a whole number of bytes");
  if (count(o, "moves", 0, &moves) < 0 || moves > 1000000)
    return ferry_error_set(err, 0, "\"moves\" is not a count");
  out->moves = (int)moves;
  const char *s = json_object_object_get_ex(o, "source", &src) ? json_object_get_string(src) : "";
  if (strcmp(s, "measured") != 0 && strcmp(s, "default") != 0)
    return ferry_error_set(err, 0, "\"source\" is neither measured nor default");
  out->measured = !strcmp(s, "measured");
  return 0;
}
