/* SPDX-License-Identifier: Apache-2.0 */
#include "schema.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"

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

static void check(json_object *schema, json_object *v, const char *path, json_object *causes, json_object *pruned)
{
  const char *type = sget(schema, "type");
  if (type && !type_ok(type, v)) {
    cause(causes, "FieldValueTypeInvalid", path, "Invalid value: \"%s\": %s in body must be of type %s: \"%s\"",
          type_of(v), path, type, type_of(v));
    return;
  }
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
