/* SPDX-License-Identifier: Apache-2.0 */
#include "kube/trim.h"

#include <json-c/linkhash.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"

/* Distinct shared values held; past it the table starts again, so values no
 * cached object holds any more are not kept forever (sharing with the objects
 * cached before then is lost, nothing else). */
#define SHARED_MAX 4096
#define SHARED_MARK "(shared)" /* in an object rule: its result is shared; no field has such a name */

struct ferry_trim {
  json_object *keep;
  json_object *shared; /* JSON text -> the one copy of that value */
};

enum rule { RULE_DROP, RULE_KEEP, RULE_SHARE, RULE_TRIM };

static enum rule rule_kind(json_object *r)
{
  if (!r)
    return RULE_DROP;
  if (json_object_is_type(r, json_type_object))
    return RULE_TRIM;
  return json_object_is_type(r, json_type_string) ? RULE_SHARE : RULE_KEEP;
}

/* Every value is true, "shared" or an object of the same kind. */
static int spec_valid(json_object *keep, const char *where, ferry_error *err)
{
  json_object_object_foreach(keep, k, v)
  {
    if (!strcmp(k, SHARED_MARK))
      continue;
    if (json_object_is_type(v, json_type_object)) {
      if (spec_valid(v, k, err) < 0)
        return ferry_error_prefix(err, "%s", where);
    } else if (!(json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v)) &&
               !(json_object_is_type(v, json_type_string) && !strcmp(json_object_get_string(v), "shared"))) {
      return ferry_error_set(err, 0, "%s.%s: neither true, \"shared\" nor an object", where, k);
    }
  }
  return 0;
}

int ferry_trim_new(const char *spec, struct ferry_trim **out, ferry_error *err)
{
  cleanup_json json_object *keep = json_tokener_parse(spec);
  if (!json_object_is_type(keep, json_type_object))
    return ferry_error_set(err, 0, "keep spec: not a JSON object");
  if (spec_valid(keep, "keep spec", err) < 0)
    return -1;
  struct ferry_trim *t = calloc(1, sizeof *t);
  if (!t)
    abort();
  t->keep = ferry_steal(&keep);
  t->shared = json_object_new_object();
  *out = t;
  return 0;
}

void ferry_trim_free(struct ferry_trim *t)
{
  if (!t)
    return;
  json_object_put(t->shared);
  json_object_put(t->keep);
  free(t);
}

size_t ferry_trim_shared(const struct ferry_trim *t) { return (size_t)json_object_object_length(t->shared); }

/* The keep spec's entry for field key (its key string outlives the kept objects),
 * else NULL; *prefix set when it matched as a prefix* (then key is copied). */
static struct lh_entry *rule_for(json_object *keep, const char *key, int *prefix)
{
  struct lh_entry *e = lh_table_lookup_entry(json_object_get_object(keep), key);
  *prefix = 0;
  if (e)
    return e;
  json_object_object_foreach(keep, k, v)
  {
    (void)v;
    size_t n = strlen(k);
    if (n && k[n - 1] == '*' && !strncmp(key, k, n - 1)) {
      *prefix = 1;
      return lh_table_lookup_entry(json_object_get_object(keep), k);
    }
  }
  return NULL;
}

/* v itself, or the equal value kept before: a new reference either way. */
static json_object *share(struct ferry_trim *t, json_object *v)
{
  const char *text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
  json_object *have;
  if (json_object_object_get_ex(t->shared, text, &have))
    return json_object_get(have);
  if (json_object_object_length(t->shared) >= SHARED_MAX) {
    json_object_put(t->shared);
    t->shared = json_object_new_object();
  }
  json_object_object_add(t->shared, text, json_object_get(v));
  return json_object_get(v);
}

static json_object *trim_value(struct ferry_trim *t, json_object *keep, json_object *v);

/* One field of an object under its rule: a new reference, or NULL (dropped). */
static json_object *trim_field(struct ferry_trim *t, json_object *rule, json_object *v)
{
  switch (rule_kind(rule)) {
  case RULE_DROP:
    return NULL;
  case RULE_KEEP:
    return json_object_get(v);
  case RULE_SHARE:
    return share(t, v);
  case RULE_TRIM:
    break;
  }
  json_object *kept = trim_value(t, rule, v);
  if (json_object_is_type(kept, json_type_object) && json_object_object_length(kept) == 0 &&
      json_object_object_length(v) > 0) {
    json_object_put(kept); /* nothing of it was wanted */
    return NULL;
  }
  if (!json_object_object_get_ex(rule, SHARED_MARK, NULL))
    return kept;
  json_object *one = share(t, kept);
  json_object_put(kept);
  return one;
}

static json_object *trim_object(struct ferry_trim *t, json_object *keep, json_object *obj)
{
  json_object *out = json_object_new_object();
  json_object_object_foreach(obj, k, v)
  {
    int prefix;
    struct lh_entry *e = rule_for(keep, k, &prefix);
    json_object *kept = e ? trim_field(t, (json_object *)lh_entry_v(e), v) : NULL;
    if (!kept)
      continue;
    if (prefix)
      json_object_object_add_ex(out, k, kept, JSON_C_OBJECT_ADD_KEY_IS_NEW);
    else
      json_object_object_add_ex(out, (const char *)lh_entry_k(e), kept,
                                JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_ADD_CONSTANT_KEY);
  }
  return out;
}

static json_object *trim_array(struct ferry_trim *t, json_object *keep, json_object *arr)
{
  size_t n = json_object_array_length(arr);
  json_object *out = json_object_new_array_ext((int)n);
  for (size_t i = 0; i < n; i++)
    json_object_array_add(out, trim_value(t, keep, json_object_array_get_idx(arr, i)));
  return out;
}

/* A value under an object rule: objects and arrays trimmed, anything else kept as it is. */
static json_object *trim_value(struct ferry_trim *t, json_object *keep, json_object *v)
{
  if (json_object_is_type(v, json_type_object))
    return trim_object(t, keep, v);
  if (json_object_is_type(v, json_type_array))
    return trim_array(t, keep, v);
  return json_object_get(v);
}

json_object *ferry_trim_apply(struct ferry_trim *t, json_object *obj) { return trim_value(t, t->keep, obj); }
