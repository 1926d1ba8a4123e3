/* SPDX-License-Identifier: Apache-2.0 */
#include "schema.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/util.h"
#include "regex.h"

static void cause(json_object *causes, const char *reason, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void cause(json_object *causes, const char *reason, const char *field, const char *fmt, ...)
{
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  json_object *c = json_object_new_object();
  json_object_object_add(c, "reason", json_object_new_string(reason));
  json_object_object_add(c, "message", json_object_new_string(msg));
  json_object_object_add(c, "field", json_object_new_string(field));
  json_object_array_add(causes, c);
}

static const char *type_of(json_object *v)
{
  switch (json_object_get_type(v)) {
  case json_type_null:
    return "null";
  case json_type_boolean:
    return "boolean";
  case json_type_double:
    return "number";
  case json_type_int:
    return "integer";
  case json_type_object:
    return "object";
  case json_type_array:
    return "array";
  case json_type_string:
    return "string";
  }
  return "unknown";
}

static int type_ok(const char *want, json_object *v)
{
  const char *have = type_of(v);
  if (!strcmp(want, have))
    return 1;
  return !strcmp(want, "number") && !strcmp(have, "integer");
}

static const char *sget(json_object *o, const char *k)
{
  json_object *v;
  return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                                         : NULL;
}

static int bget(json_object *o, const char *k)
{
  json_object *v;
  return json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v);
}

static char *join(const char *path, const char *key)
{
  return *path ? ferry_asprintf("%s.%s", path, key) : ferry_strdup(key);
}

/* Sets every missing property of v that has a default. */
static void apply_defaults(json_object *props, json_object *v)
{
  if (!props)
    return;
  json_object_object_foreach(props, pk, ps)
  {
    json_object *def;
    if (!json_object_object_get_ex(v, pk, NULL) && json_object_object_get_ex(ps, "default", &def)) {
      json_object *copy = NULL;
      json_object_deep_copy(def, &copy, NULL);
      json_object_object_add(v, pk, copy);
    }
  }
}

/* The number of characters (UTF-8 code points) of s, as Go's validator counts a string's length. */
static size_t runes(const char *s)
{
  size_t n = 0;
  for (; *s; s++)
    n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

/* pattern, minLength and maxLength of a string, with the API server's messages. */
static void check_string(json_object *schema, const char *s, const char *path, json_object *causes)
{
  json_object *x;
  const char *pattern = sget(schema, "pattern");
  if (pattern) {
    char why[256];
    enum kl_match m = kl_regex_match(pattern, s, why, sizeof why);
    if (m == KL_MATCH_BAD_PATTERN)
      cause(causes, "FieldValueInvalid", path,
            "Invalid value: \"%s\": %s in body should match '%s', but pattern is invalid: %s", s, path, pattern, why);
    else if (m == KL_MATCH_NO)
      cause(causes, "FieldValueInvalid", path, "Invalid value: \"%s\": %s in body should match '%s'", s, path, pattern);
  }
  int64_t len = (int64_t)runes(s);
  if (json_object_object_get_ex(schema, "minLength", &x) && len < json_object_get_int64(x))
    cause(causes, "FieldValueInvalid", path,
          "Invalid value: \"%s\": %s in body should be at least %" PRId64 " chars long", s, path,
          json_object_get_int64(x));
  if (json_object_object_get_ex(schema, "maxLength", &x) && len > json_object_get_int64(x))
    cause(causes, "FieldValueTooLong", path, "Too long: may not be more than %" PRId64 " %s", json_object_get_int64(x),
          json_object_get_int64(x) == 1 ? "byte" : "bytes");
}

/* A list item's key as the API server prints it in "Duplicate value": Go's %#v of the
 * map of its key fields (map[string]interface {}{"name":"ferry"}), or of the item itself
 * for a set. */
static void dup_value(json_object *keys, json_object *item, char *buf, size_t len)
{
  if (!keys) {
    snprintf(buf, len, "%s",
             json_object_to_json_string_ext(item, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    return;
  }
  size_t l = (size_t)snprintf(buf, len, "map[string]interface {}{");
  /* Go prints a map's keys sorted; x-kubernetes-list-map-keys are few: sort by insertion */
  size_t nk = json_object_array_length(keys);
  const char *sorted[16];
  size_t ns = 0;
  for (size_t i = 0; i < nk && ns < 16; i++) {
    const char *k = json_object_get_string(json_object_array_get_idx(keys, i));
    size_t at = ns++;
    while (at > 0 && strcmp(sorted[at - 1], k) > 0) {
      sorted[at] = sorted[at - 1];
      at--;
    }
    sorted[at] = k;
  }
  int first = 1;
  for (size_t i = 0; i < ns && l < len; i++) {
    json_object *kv;
    if (!json_object_is_type(item, json_type_object) || !json_object_object_get_ex(item, sorted[i], &kv))
      continue;
    l += (size_t)snprintf(buf + l, len - l, "%s\"%s\":%s", first ? "" : ", ", sorted[i],
                          json_object_to_json_string_ext(kv, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    first = 0;
  }
  if (l < len)
    snprintf(buf + l, len - l, "}");
}

/* The key of item in a list-type map (an object of its key fields), or the item itself in a set. */
static json_object *list_key(json_object *keys, json_object *item)
{
  if (!keys)
    return json_object_get(item);
  json_object *k = json_object_new_object();
  for (size_t i = 0; i < json_object_array_length(keys); i++) {
    const char *f = json_object_get_string(json_object_array_get_idx(keys, i));
    json_object *kv;
    if (json_object_is_type(item, json_type_object) && json_object_object_get_ex(item, f, &kv))
      json_object_object_add(k, f, json_object_get(kv));
  }
  return k;
}

/* x-kubernetes-list-type map and set: every item's key (map) or the item (set) once
 * (the API server's "Duplicate value", reported at each one's second occurrence). */
static void check_list_type(json_object *schema, json_object *v, const char *path, json_object *causes)
{
  const char *type = sget(schema, "x-kubernetes-list-type");
  json_object *keys = NULL;
  if (!type || (strcmp(type, "map") && strcmp(type, "set")))
    return;
  if (!strcmp(type, "map") && (!json_object_object_get_ex(schema, "x-kubernetes-list-map-keys", &keys) ||
                               !json_object_is_type(keys, json_type_array)))
    return;
  size_t n = json_object_array_length(v);
  cleanup_json json_object *seen = json_object_new_array();
  for (size_t i = 0; i < n; i++) {
    json_object *item = json_object_array_get_idx(v, i), *key = list_key(keys, item);
    int times = 0;
    for (size_t j = 0; j < i; j++)
      times += json_object_equal(json_object_array_get_idx(seen, j), key);
    json_object_array_add(seen, key);
    if (times == 1) {
      char p[256], val[512];
      snprintf(p, sizeof p, "%s[%zu]", path, i);
      dup_value(keys, item, val, sizeof val);
      cause(causes, "FieldValueDuplicate", p, "Duplicate value: %s", val);
    }
  }
}

static void check(json_object *schema, json_object *v, const char *path, json_object *causes, json_object *pruned)
{
  const char *type = sget(schema, "type");
  if (type && !type_ok(type, v)) {
    cause(causes, "FieldValueTypeInvalid", path, "Invalid value: \"%s\": %s in body must be of type %s: \"%s\"",
          type_of(v), path, type, type_of(v));
    return;
  }
  if (bget(schema, "x-kubernetes-int-or-string") && !json_object_is_type(v, json_type_int) &&
      !json_object_is_type(v, json_type_string)) {
    cause(causes, "FieldValueTypeInvalid", path,
          "Invalid value: \"%s\": %s in body must be of type integer,string: \"%s\"", type_of(v), path, type_of(v));
    return;
  }
  if (json_object_is_type(v, json_type_string))
    check_string(schema, json_object_get_string(v), path, causes);
  json_object *en, *x;
  if (json_object_object_get_ex(schema, "enum", &en) && json_object_is_type(en, json_type_array)) {
    int found = 0;
    char supported[384] = "";
    for (size_t i = 0; i < json_object_array_length(en); i++) {
      json_object *e = json_object_array_get_idx(en, i);
      found |= json_object_equal(e, v);
      size_t l = strlen(supported);
      snprintf(supported + l, sizeof supported - l, "%s%s", i ? ", " : "",
               json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
    }
    if (!found)
      cause(causes, "FieldValueNotSupported", path, "Unsupported value: %s: supported values: %s",
            json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), supported);
  }
  if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
    double d = json_object_get_double(v);
    if (json_object_object_get_ex(schema, "minimum", &x) && d < json_object_get_double(x))
      cause(causes, "FieldValueInvalid", path, "Invalid value: %g: %s in body should be greater than or equal to %g", d,
            path, json_object_get_double(x));
    if (json_object_object_get_ex(schema, "maximum", &x) && d > json_object_get_double(x))
      cause(causes, "FieldValueInvalid", path, "Invalid value: %g: %s in body should be less than or equal to %g", d,
            path, json_object_get_double(x));
  }
  if (json_object_is_type(v, json_type_array))
    check_list_type(schema, v, path, causes);
  if (json_object_is_type(v, json_type_array) && json_object_object_get_ex(schema, "items", &x))
    for (size_t i = 0; i < json_object_array_length(v); i++) {
      char *p = ferry_asprintf("%s[%zu]", path, i);
      check(x, json_object_array_get_idx(v, i), p, causes, pruned);
      free(p);
    }
  if (!json_object_is_type(v, json_type_object))
    return;
  json_object *props = NULL, *req, *addl = NULL;
  json_object_object_get_ex(schema, "properties", &props);
  json_object_object_get_ex(schema, "additionalProperties", &addl);
  /* defaults for missing properties */
  apply_defaults(props, v);
  if (json_object_object_get_ex(schema, "required", &req) && json_object_is_type(req, json_type_array))
    for (size_t i = 0; i < json_object_array_length(req); i++) {
      const char *k = json_object_get_string(json_object_array_get_idx(req, i));
      if (!json_object_object_get_ex(v, k, NULL)) {
        char *p = join(path, k);
        cause(causes, "FieldValueRequired", p, "Required value");
        free(p);
      }
    }
  int preserve = bget(schema, "x-kubernetes-preserve-unknown-fields");
  json_object *unknown = json_object_new_array();
  json_object_object_foreach(v, k, val)
  {
    json_object *sub = NULL;
    char *p = join(path, k);
    if (props && json_object_object_get_ex(props, k, &sub))
      check(sub, val, p, causes, pruned);
    else if (addl && json_object_is_type(addl, json_type_object))
      check(addl, val, p, causes, pruned);
    else if (!preserve && !bget(schema, "additionalProperties")) { /* pruned, as the API server prunes */
      json_object_array_add(unknown, json_object_new_string(k));
      if (pruned)
        json_object_array_add(pruned, json_object_new_string(p));
    }
    free(p);
  }
  for (size_t i = 0; i < json_object_array_length(unknown); i++)
    json_object_object_del(v, json_object_get_string(json_object_array_get_idx(unknown, i)));
  json_object_put(unknown);
}

json_object *kl_schema_of(json_object *crd, const char *version)
{
  json_object *spec, *versions;
  if (!json_object_object_get_ex(crd, "spec", &spec) || !json_object_object_get_ex(spec, "versions", &versions) ||
      !json_object_is_type(versions, json_type_array))
    return NULL;
  for (size_t i = 0; i < json_object_array_length(versions); i++) {
    json_object *ver = json_object_array_get_idx(versions, i), *s1, *s2;
    if (!strcmp(sget(ver, "name") ?: "", version) && json_object_object_get_ex(ver, "schema", &s1) &&
        json_object_object_get_ex(s1, "openAPIV3Schema", &s2))
      return s2;
  }
  return NULL;
}

int kl_schema_validate(json_object *crd, const char *version, json_object *obj, json_object **causes,
                       json_object *pruned)
{
  *causes = json_object_new_array();
  json_object *schema = kl_schema_of(crd, version);
  if (!schema)
    return 0;
  /* apiVersion, kind and metadata are the server's; the rest follows the schema */
  json_object *props = NULL;
  json_object_object_get_ex(schema, "properties", &props);
  json_object *unknown = json_object_new_array();
  json_object_object_foreach(obj, k, val)
  {
    if (!strcmp(k, "apiVersion") || !strcmp(k, "kind") || !strcmp(k, "metadata"))
      continue;
    json_object *ps;
    if (props && json_object_object_get_ex(props, k, &ps)) {
      check(ps, val, k, *causes, pruned);
    } else if (!bget(schema, "x-kubernetes-preserve-unknown-fields")) {
      json_object_array_add(unknown, json_object_new_string(k));
      if (pruned)
        json_object_array_add(pruned, json_object_new_string(k));
    }
  }
  for (size_t i = 0; i < json_object_array_length(unknown); i++)
    json_object_object_del(obj, json_object_get_string(json_object_array_get_idx(unknown, i)));
  json_object_put(unknown);
  apply_defaults(props, obj);
  json_object *req;
  if (json_object_object_get_ex(schema, "required", &req) && json_object_is_type(req, json_type_array))
    for (size_t i = 0; i < json_object_array_length(req); i++) {
      const char *field = json_object_get_string(json_object_array_get_idx(req, i));
      if (!json_object_object_get_ex(obj, field, NULL))
        cause(*causes, "FieldValueRequired", field, "Required value");
    }
  return (int)json_object_array_length(*causes);
}
