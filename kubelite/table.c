#include "table.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kube.h"
#include "util.h"

static json_object *printer_columns(json_object *crd, const char *version)
{
  json_object *spec, *versions;
  if (!json_object_object_get_ex(crd, "spec", &spec) || !json_object_object_get_ex(spec, "versions", &versions))
    return NULL;
  for (size_t i = 0; i < json_object_array_length(versions); i++) {
    json_object *v = json_object_array_get_idx(versions, i), *cols;
    if (!strcmp(ferry_kube_str(v, "name") ?: "", version) &&
        json_object_object_get_ex(v, "additionalPrinterColumns", &cols) && json_object_array_length(cols) > 0)
      return cols;
  }
  return NULL;
}

/* "5s", "3m", "2h", "4d", like kubectl's ages. */
static void age(const char *stamp, char *buf, size_t len)
{
  int64_t t = ferry_parse_time_ms(stamp);
  if (!t) {
    snprintf(buf, len, "<unknown>");
    return;
  }
  int64_t s = (ferry_now_real_ms() - t) / 1000;
  if (s < 0)
    s = 0;
  if (s < 120)
    snprintf(buf, len, "%llds", (long long)s);
  else if (s < 7200)
    snprintf(buf, len, "%lldm", (long long)(s / 60));
  else if (s < 172800)
    snprintf(buf, len, "%lldh", (long long)(s / 3600));
  else
    snprintf(buf, len, "%lldd", (long long)(s / 86400));
}

/* A column's cell: its jsonPath (".a.b") read from obj, typed as the column says. */
static json_object *cell(json_object *col, json_object *obj)
{
  const char *path = ferry_kube_str(col, "jsonPath") ?: "", *type = ferry_kube_str(col, "type") ?: "string";
  json_object *cur = obj;
  char key[128];
  for (const char *p = path[0] == '.' ? path + 1 : path; cur && *p;) {
    const char *dot = strchr(p, '.');
    size_t l = dot ? (size_t)(dot - p) : strlen(p);
    if (l >= sizeof key)
      return NULL;
    memcpy(key, p, l);
    key[l] = '\0';
    if (!json_object_object_get_ex(cur, key, &cur))
      cur = NULL;
    p = dot ? dot + 1 : p + l;
  }
  if (!cur)
    return NULL; /* an absent value prints as <none> */
  if (!strcmp(type, "date")) {
    char a[32];
    age(json_object_get_string(cur), a, sizeof a);
    return json_object_new_string(a);
  }
  return json_object_get(cur);
}

json_object *kl_table(json_object *crd, const char *version, json_object *items, const char *rv)
{
  json_object *cols = printer_columns(crd, version);
  if (!cols)
    return NULL;
  json_object *t = json_object_new_object(), *defs = json_object_new_array(), *rows = json_object_new_array();
  json_object_object_add(t, "kind", json_object_new_string("Table"));
  json_object_object_add(t, "apiVersion", json_object_new_string("meta.k8s.io/v1"));
  json_object *meta = json_object_new_object();
  json_object_object_add(meta, "resourceVersion", json_object_new_string(rv));
  json_object_object_add(t, "metadata", meta);
  json_object_array_add(defs, json_tokener_parse("{\"name\":\"Name\",\"type\":\"string\",\"format\":\"name\","
                                                 "\"description\":\"Name of the object\",\"priority\":0}"));
  for (size_t i = 0; i < json_object_array_length(cols); i++) {
    json_object *c = json_object_array_get_idx(cols, i), *d = json_object_new_object(), *pr;
    const char *type = ferry_kube_str(c, "type") ?: "string";
    json_object_object_add(d, "name", json_object_new_string(ferry_kube_str(c, "name") ?: ""));
    json_object_object_add(d, "type", json_object_new_string(!strcmp(type, "date") ? "string" : type));
    json_object_object_add(d, "format", json_object_new_string(ferry_kube_str(c, "format") ?: ""));
    json_object_object_add(d, "description", json_object_new_string(ferry_kube_str(c, "description") ?: ""));
    json_object_object_add(d, "priority", json_object_new_int(json_object_object_get_ex(c, "priority", &pr) ? json_object_get_int(pr) : 0));
    json_object_array_add(defs, d);
  }
  for (size_t r = 0; r < json_object_array_length(items); r++) {
    json_object *obj = json_object_array_get_idx(items, r), *row = json_object_new_object(), *cells = json_object_new_array();
    json_object_array_add(cells, json_object_new_string(ferry_kube_str(obj, "metadata.name") ?: ""));
    for (size_t i = 0; i < json_object_array_length(cols); i++)
      json_object_array_add(cells, cell(json_object_array_get_idx(cols, i), obj));
    json_object_object_add(row, "cells", cells);
    json_object *pom = json_object_new_object(), *m;
    json_object_object_add(pom, "kind", json_object_new_string("PartialObjectMetadata"));
    json_object_object_add(pom, "apiVersion", json_object_new_string("meta.k8s.io/v1"));
    if (json_object_object_get_ex(obj, "metadata", &m))
      json_object_object_add(pom, "metadata", json_object_get(m));
    json_object_object_add(row, "object", pom);
    json_object_array_add(rows, row);
  }
  json_object_object_add(t, "columnDefinitions", defs);
  json_object_object_add(t, "rows", rows);
  return t;
}
