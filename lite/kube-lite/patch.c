/* SPDX-License-Identifier: Apache-2.0 */
#include "patch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

int kl_merge_patch(json_object **doc, json_object *patch)
{
  if (!json_object_is_type(patch, json_type_object)) {
    json_object_put(*doc);
    *doc = json_object_get(patch);
    return 0;
  }
  if (!*doc || !json_object_is_type(*doc, json_type_object)) {
    json_object_put(*doc);
    *doc = json_object_new_object();
  }
  json_object_object_foreach(patch, key, val)
  {
    if (!val) {
      json_object_object_del(*doc, key);
      continue;
    }
    json_object *cur = NULL;
    if (json_object_object_get_ex(*doc, key, &cur) && json_object_is_type(val, json_type_object)) {
      json_object_get(cur);
      kl_merge_patch(&cur, val);
      json_object_object_add(*doc, key, cur);
    } else if (json_object_is_type(val, json_type_object)) {
      json_object *fresh = NULL;
      kl_merge_patch(&fresh, val);
      json_object_object_add(*doc, key, fresh);
    } else {
      json_object *copy = NULL;
      json_object_deep_copy(val, &copy, NULL);
      json_object_object_add(*doc, key, copy);
    }
  }
  return 0;
}

/* Splits "/a/b/c" into the parent pointer "/a/b" and the last token "c"
 * (unescaped); -1 for the whole document (""), which has neither. */
static int split(const char *path, char **parent, char **last)
{
  const char *slash = strrchr(path, '/');
  if (!slash)
    return -1;
  *parent = ferry_asprintf("%.*s", (int)(slash - path), path);
  char *t = ferry_strdup(slash + 1), *o = t;
  for (char *p = t; *p; p++) {
    if (p[0] == '~' && p[1] == '1') {
      *o++ = '/';
      p++;
    } else if (p[0] == '~' && p[1] == '0') {
      *o++ = '~';
      p++;
    } else {
      *o++ = *p;
    }
  }
  *o = '\0';
  *last = t;
  return 0;
}

static int remove_at(json_object *doc, const char *path, json_object **removed)
{
  char *parent, *last;
  if (split(path, &parent, &last) < 0)
    return -1;
  json_object *p = NULL;
  int rc = -1;
  if ((*parent ? json_pointer_get(doc, parent, &p) : (p = doc, 0)) == 0) {
    json_object *v = NULL;
    if (json_object_is_type(p, json_type_object) && json_object_object_get_ex(p, last, &v)) {
      if (removed)
        *removed = json_object_get(v);
      json_object_object_del(p, last);
      rc = 0;
    } else if (json_object_is_type(p, json_type_array)) {
      char *end;
      long idx = strtol(last, &end, 10);
      if (!*end && idx >= 0 && (size_t)idx < json_object_array_length(p)) {
        if (removed)
          *removed = json_object_get(json_object_array_get_idx(p, (size_t)idx));
        json_object_array_del_idx(p, (size_t)idx, 1);
        rc = 0;
      }
    }
  }
  free(parent);
  free(last);
  return rc;
}

static int add_at(json_object *doc, const char *path, json_object *value)
{
  char *parent, *last;
  if (split(path, &parent, &last) < 0) {
    json_object_put(value);
    return -1;
  }
  json_object *p = NULL;
  int rc = -1;
  if ((*parent ? json_pointer_get(doc, parent, &p) : (p = doc, 0)) == 0) {
    if (json_object_is_type(p, json_type_object)) {
      json_object_object_add(p, last, value);
      rc = 0;
    } else if (json_object_is_type(p, json_type_array)) {
      size_t n = json_object_array_length(p);
      char *end;
      long idx = !strcmp(last, "-") ? (long)n : strtol(last, &end, 10);
      if (idx >= 0 && (size_t)idx <= n) {
        /* json-c 0.16 has no insert: shift the tail up by one, then put */
        for (size_t k = n; k > (size_t)idx; k--)
          json_object_array_put_idx(p, k, json_object_get(json_object_array_get_idx(p, k - 1)));
        json_object_array_put_idx(p, (size_t)idx, value);
        rc = 0;
      }
    }
  }
  if (rc < 0)
    json_object_put(value);
  free(parent);
  free(last);
  return rc;
}

int kl_json_patch(json_object **doc, json_object *ops, char *why, size_t why_len)
{
  if (!json_object_is_type(ops, json_type_array)) {
    snprintf(why, why_len, "a JSON patch is an array of operations");
    return -1;
  }
  for (size_t i = 0; i < json_object_array_length(ops); i++) {
    json_object *o = json_object_array_get_idx(ops, i), *value = NULL;
    json_object *opv, *pathv, *fromv;
    const char *op = json_object_object_get_ex(o, "op", &opv) ? json_object_get_string(opv) : NULL;
    const char *path = json_object_object_get_ex(o, "path", &pathv) ? json_object_get_string(pathv) : NULL;
    const char *from = json_object_object_get_ex(o, "from", &fromv) ? json_object_get_string(fromv) : NULL;
    json_object_object_get_ex(o, "value", &value);
    if (!op || !path || (path[0] && path[0] != '/') || (from && from[0] && from[0] != '/')) {
      snprintf(why, why_len, "operation %zu: needs op and a path (JSON pointers)", i);
      return -1;
    }
    int rc = 0;
    json_object *moved = NULL, *copy = NULL;
    if (!strcmp(op, "add") || !strcmp(op, "replace")) {
      if (!strcmp(op, "replace"))
        rc = remove_at(*doc, path, NULL);
      if (rc == 0) {
        json_object_deep_copy(value, &copy, NULL);
        rc = add_at(*doc, path, copy);
      }
    } else if (!strcmp(op, "remove")) {
      rc = remove_at(*doc, path, NULL);
    } else if (!strcmp(op, "move") && from) {
      rc = remove_at(*doc, from, &moved);
      if (rc == 0)
        rc = add_at(*doc, path, moved);
    } else if (!strcmp(op, "copy") && from) {
      json_object *src = NULL;
      rc = json_pointer_get(*doc, from, &src);
      if (rc == 0) {
        json_object_deep_copy(src, &copy, NULL);
        rc = add_at(*doc, path, copy);
      }
    } else if (!strcmp(op, "test")) {
      json_object *cur = NULL;
      rc = (json_pointer_get(*doc, path, &cur) == 0 && json_object_equal(cur, value)) ? 0 : -1;
    } else {
      snprintf(why, why_len, "operation %zu: unknown op %s", i, op);
      return -1;
    }
    if (rc < 0) {
      snprintf(why, why_len, "operation %zu (%s %s) failed", i, op, path);
      return -1;
    }
  }
  return 0;
}

/* The merge key of a list field, or NULL when the list is replaced whole. */
static const char *merge_key(const char *field, json_object *elems)
{
  static const struct {
    const char *field, *key;
  } keys[] = {
    { "containers", "name" },
    { "initContainers", "name" },
    { "ephemeralContainers", "name" },
    { "volumes", "name" },
    { "env", "name" },
    { "imagePullSecrets", "name" },
    { "volumeMounts", "mountPath" },
    { "conditions", "type" },
    { "ownerReferences", "uid" },
    { "hostAliases", "ip" },
  };
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (!strcmp(field, keys[i].field))
      return keys[i].key;
  if (!strcmp(field, "ports")) { /* container ports by containerPort, service ports by port */
    json_object *first = json_object_array_length(elems) ? json_object_array_get_idx(elems, 0) : NULL;
    return first && json_object_object_get_ex(first, "containerPort", NULL) ? "containerPort" : "port";
  }
  return NULL;
}

static const char *directive(json_object *o, const char *name)
{
  json_object *v;
  return json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, name, &v) ? json_object_get_string(v)
                                                                                            : NULL;
}

static int strategic(json_object **doc, json_object *patch);

static void merge_list(json_object *cur, json_object *patch, const char *key)
{
  for (size_t i = 0; i < json_object_array_length(patch); i++) {
    json_object *p = json_object_array_get_idx(patch, i), *pk;
    if (!json_object_object_get_ex(p, key, &pk))
      continue;
    size_t at = json_object_array_length(cur);
    for (size_t j = 0; j < json_object_array_length(cur); j++) {
      json_object *ck;
      if (json_object_object_get_ex(json_object_array_get_idx(cur, j), key, &ck) && json_object_equal(ck, pk)) {
        at = j;
        break;
      }
    }
    const char *d = directive(p, "$patch");
    if (d && !strcmp(d, "delete")) {
      if (at < json_object_array_length(cur))
        json_object_array_del_idx(cur, at, 1);
    } else if (at < json_object_array_length(cur)) {
      json_object *e = json_object_get(json_object_array_get_idx(cur, at));
      strategic(&e, p);
      json_object_array_put_idx(cur, at, e);
    } else {
      json_object *e = NULL;
      strategic(&e, p);
      json_object_array_add(cur, e);
    }
  }
}

static int strategic(json_object **doc, json_object *patch)
{
  if (!json_object_is_type(patch, json_type_object))
    return kl_merge_patch(doc, patch);
  const char *d = directive(patch, "$patch");
  if (d && !strcmp(d, "replace")) {
    json_object *copy = NULL;
    json_object_deep_copy(patch, &copy, NULL);
    json_object_object_del(copy, "$patch");
    json_object_put(*doc);
    *doc = copy;
    return 0;
  }
  if (!*doc || !json_object_is_type(*doc, json_type_object)) {
    json_object_put(*doc);
    *doc = json_object_new_object();
  }
  json_object_object_foreach(patch, k, val)
  {
    if (k[0] == '$') /* $patch, $retainKeys, $setElementOrder/..., $deleteFromPrimitiveList/... */
      continue;
    json_object *cur = NULL;
    int has = json_object_object_get_ex(*doc, k, &cur);
    const char *key = json_object_is_type(val, json_type_array) ? merge_key(k, val) : NULL;
    if (!val) {
      json_object_object_del(*doc, k);
    } else if (key && has && json_object_is_type(cur, json_type_array)) {
      merge_list(cur, val, key);
    } else if (json_object_is_type(val, json_type_object)) {
      json_object *sub = has ? json_object_get(cur) : NULL;
      strategic(&sub, val);
      json_object_object_add(*doc, k, sub);
    } else {
      json_object *copy = NULL;
      if (key) { /* a new keyed list: its elements may carry directives too */
        copy = json_object_new_array();
        merge_list(copy, val, key);
      } else {
        json_object_deep_copy(val, &copy, NULL);
      }
      json_object_object_add(*doc, k, copy);
    }
  }
  return 0;
}

int kl_strategic_patch(json_object **doc, json_object *patch) { return strategic(doc, patch); }
