/* SPDX-License-Identifier: Apache-2.0 */
/* The fake API server of fake_api.h. */
#include "fake_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/util.h"

struct fake_api {
  json_object *objs; /* "group/plural/ns/name" -> object */
  json_object *log;  /* [ { method, path, body } ] */
  json_object *events;
  long rv;
  long uid;
  struct ferry_kube *kube;
};

struct target {
  char group[64], plural[64], ns[128], name[256], sub[32];
  char query[512];
};

static int split_path(const char *path, struct target *t)
{
  memset(t, 0, sizeof *t);
  cleanup_free char *p = ferry_strdup(path);
  char *q = strchr(p, '?');
  if (q) {
    *q++ = '\0';
    snprintf(t->query, sizeof t->query, "%s", q);
  }
  char *seg[12];
  size_t n = 0;
  for (char *s = strtok(p, "/"); s && n < 12; s = strtok(NULL, "/"))
    seg[n++] = s;
  size_t i;
  if (n >= 2 && !strcmp(seg[0], "api"))
    i = 2;
  else if (n >= 3 && !strcmp(seg[0], "apis")) {
    snprintf(t->group, sizeof t->group, "%s", seg[1]);
    i = 3;
  } else
    return -1;
  if (n - i >= 3 && !strcmp(seg[i], "namespaces")) {
    snprintf(t->ns, sizeof t->ns, "%s", seg[i + 1]);
    i += 2;
  }
  if (i >= n)
    return -1;
  snprintf(t->plural, sizeof t->plural, "%s", seg[i]);
  if (i + 1 < n)
    snprintf(t->name, sizeof t->name, "%s", seg[i + 1]);
  if (i + 2 < n)
    snprintf(t->sub, sizeof t->sub, "%s", seg[i + 2]);
  return 0;
}

static char *key_of(const char *group, const char *plural, const char *ns, const char *name)
{
  return ferry_asprintf("%s/%s/%s/%s", group, plural, ns ? ns : "", name);
}

static char *status_body(long code, const char *reason, const char *message)
{
  cleanup_json json_object *s = json_object_new_object();
  json_object_object_add(s, "kind", json_object_new_string("Status"));
  json_object_object_add(s, "status", json_object_new_string("Failure"));
  json_object_object_add(s, "reason", json_object_new_string(reason));
  json_object_object_add(s, "message", json_object_new_string(message));
  json_object_object_add(s, "code", json_object_new_int64(code));
  return ferry_strdup(json_object_to_json_string(s));
}

static int answer(long *code, char **out, long c, json_object *body)
{
  *code = c;
  *out = ferry_strdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN));
  return 0;
}

static int fail(long *code, char **out, long c, const char *reason, const char *message)
{
  *code = c;
  *out = status_body(c, reason, message);
  return 0;
}

static void bump(struct fake_api *f, json_object *obj)
{
  json_object *meta = ferry_kube_obj(obj, "metadata");
  char rv[32];
  snprintf(rv, sizeof rv, "%ld", ++f->rv);
  json_object_object_add(meta, "resourceVersion", json_object_new_string(rv));
}

/* RFC 7386 merge patch. */
static void merge(json_object *dst, json_object *patch)
{
  json_object_object_foreach(patch, k, v)
  {
    json_object *cur = NULL;
    if (!v)
      json_object_object_del(dst, k);
    else if (json_object_is_type(v, json_type_object) && json_object_object_get_ex(dst, k, &cur) &&
             json_object_is_type(cur, json_type_object))
      merge(cur, v);
    else {
      json_object *copy = NULL;
      json_object_deep_copy(v, &copy, NULL);
      json_object_object_add(dst, k, copy);
    }
  }
}

/* RFC 6902 JSON patch: add, replace, remove on object members and array ends. */
static int json_patch(json_object *dst, json_object *ops)
{
  for (size_t i = 0; i < json_object_array_length(ops); i++) {
    json_object *op = json_object_array_get_idx(ops, i);
    const char *kind = ferry_kube_str(op, "op") ?: "", *path = ferry_kube_str(op, "path") ?: "";
    cleanup_free char *p = ferry_strdup(path);
    char *last = strrchr(p, '/');
    if (!last)
      return -1;
    *last++ = '\0';
    json_object *parent = dst;
    for (char *s = strtok(p, "/"); s; s = strtok(NULL, "/")) /* "~1" (a '/' in a key) stays: Ferry sends none */
      if (!json_object_object_get_ex(parent, s, &parent))
        return -1;
    json_object *value = NULL;
    if (strcmp(kind, "remove") != 0)
      json_object_deep_copy(ferry_kube_obj(op, "value"), &value, NULL);
    if (!strcmp(kind, "remove"))
      json_object_object_del(parent, last);
    else if (json_object_is_type(parent, json_type_array) && !strcmp(last, "-"))
      json_object_array_add(parent, value);
    else if (json_object_is_type(parent, json_type_object))
      json_object_object_add(parent, last, value);
    else {
      json_object_put(value);
      return -1;
    }
  }
  return 0;
}

/* label k=v, k!=v, k (exists); fields: a dotted path compared as a string. */
static int selector_matches(json_object *obj, const char *sel, int fields)
{
  if (!sel || !*sel)
    return 1;
  cleanup_free char *s = ferry_strdup(sel);
  for (char *save = NULL, *term = strtok_r(s, ",", &save); term; term = strtok_r(NULL, ",", &save)) {
    char *ne = strstr(term, "!="), *eq = strchr(term, '=');
    char *val = ne ? ne + 2 : eq ? eq + 1 + (eq[1] == '=') : NULL;
    if (ne)
      *ne = '\0';
    else if (eq)
      *eq = '\0';
    const char *have = NULL;
    if (fields)
      have = ferry_kube_str(obj, term);
    else {
      json_object *labels = ferry_kube_obj(obj, "metadata.labels"), *v = NULL;
      if (labels && json_object_object_get_ex(labels, term, &v))
        have = json_object_get_string(v);
    }
    int same = have && val && !strcmp(have, val);
    if ((ne && same) || (!ne && val && !same) || (!val && !have))
      return 0;
  }
  return 1;
}

static char *query_value(const char *query, const char *name)
{
  size_t n = strlen(name);
  for (const char *p = query; p && *p;) {
    if (!strncmp(p, name, n) && p[n] == '=') {
      const char *end = strchr(p, '&');
      cleanup_free char *raw = strndup(p + n + 1, end ? (size_t)(end - p - n - 1) : strlen(p + n + 1));
      char *out = malloc(strlen(raw) + 1), *o = out;
      for (const char *r = raw; *r; r++) { /* percent-decoding */
        unsigned c;
        if (*r == '%' && sscanf(r + 1, "%2x", &c) == 1) {
          *o++ = (char)c;
          r += 2;
        } else
          *o++ = *r;
      }
      *o = '\0';
      return out;
    }
    p = strchr(p, '&');
    p = p ? p + 1 : NULL;
  }
  return NULL;
}

static int do_list(struct fake_api *f, const struct target *t, long *code, char **out)
{
  cleanup_free char *ls = query_value(t->query, "labelSelector"), *fs = query_value(t->query, "fieldSelector");
  cleanup_free char *prefix = ferry_asprintf("%s/%s/%s", t->group, t->plural, t->ns[0] ? t->ns : "");
  cleanup_json json_object *list = json_object_new_object();
  json_object *items = json_object_new_array(), *meta = json_object_new_object();
  json_object_object_foreach(f->objs, k, v)
  {
    int in_ns = t->ns[0] ? !strncmp(k, prefix, strlen(prefix)) && k[strlen(prefix)] == '/'
                         : !strncmp(k, prefix, strlen(prefix) - 1);
    if (in_ns && selector_matches(v, ls, 0) && selector_matches(v, fs, 1))
      json_object_array_add(items, json_object_get(v));
  }
  char rv[32];
  snprintf(rv, sizeof rv, "%ld", f->rv);
  json_object_object_add(meta, "resourceVersion", json_object_new_string(rv));
  json_object_object_add(list, "metadata", meta);
  json_object_object_add(list, "items", items);
  return answer(code, out, 200, list);
}

static int do_create(struct fake_api *f, const struct target *t, json_object *obj, long *code, char **out)
{
  json_object *meta = ferry_kube_obj(obj, "metadata");
  if (!meta) {
    meta = json_object_new_object();
    json_object_object_add(obj, "metadata", meta);
  }
  const char *name = ferry_kube_str(obj, "metadata.name"), *gen = ferry_kube_str(obj, "metadata.generateName");
  cleanup_free char *made = NULL;
  if ((!name || !*name) && gen) {
    made = ferry_asprintf("%s%05ld", gen, f->uid + 1);
    json_object_object_add(meta, "name", json_object_new_string(made));
    name = made;
  }
  if (!name || !*name)
    return fail(code, out, 422, "Invalid", "metadata.name: Required value");
  cleanup_free char *key = key_of(t->group, t->plural, t->ns, name);
  if (json_object_object_get_ex(f->objs, key, NULL))
    return fail(code, out, 409, "AlreadyExists", "already exists");
  if (t->ns[0])
    json_object_object_add(meta, "namespace", json_object_new_string(t->ns));
  char uid[40];
  snprintf(uid, sizeof uid, "uid-%ld", ++f->uid);
  json_object_object_add(meta, "uid", json_object_new_string(uid));
  if (!json_object_object_get_ex(meta, "creationTimestamp", NULL)) /* (a test may say when) */
    json_object_object_add(meta, "creationTimestamp", json_object_new_string("2026-12-01T00:00:00Z"));
  bump(f, obj);
  json_object_object_add(f->objs, key, json_object_get(obj));
  return answer(code, out, 201, obj);
}

static int do_delete(struct fake_api *f, const char *key, json_object *opts, long *code, char **out)
{
  json_object *cur = NULL;
  if (!json_object_object_get_ex(f->objs, key, &cur))
    return fail(code, out, 404, "NotFound", "not found");
  const char *uid = ferry_kube_str(opts, "preconditions.uid");
  if (uid && strcmp(uid, ferry_kube_str(cur, "metadata.uid") ?: "") != 0)
    return fail(code, out, 409, "Conflict", "Precondition failed: UID in precondition does not match");
  json_object *fin = ferry_kube_obj(cur, "metadata.finalizers");
  if (fin && json_object_array_length(fin) > 0) {
    json_object_object_add(ferry_kube_obj(cur, "metadata"), "deletionTimestamp",
                           json_object_new_string("2026-12-01T00:00:00Z"));
    bump(f, cur);
    return answer(code, out, 200, cur);
  }
  json_object_get(cur);
  json_object_object_del(f->objs, key);
  answer(code, out, 200, cur);
  json_object_put(cur);
  return 0;
}

/* PUT, PATCH (also on status), pods/binding, pods/eviction. */
static int do_write(struct fake_api *f, const char *method, const struct target *t, const char *ctype,
                    json_object *body, long *code, char **out)
{
  cleanup_free char *key = key_of(t->group, t->plural, t->ns, t->name);
  json_object *cur = NULL;
  if (!json_object_object_get_ex(f->objs, key, &cur))
    return fail(code, out, 404, "NotFound", "not found");
  if (!strcmp(t->sub, "eviction"))
    return do_delete(f, key, NULL, code, out);
  if (!strcmp(t->sub, "binding")) {
    json_object *spec = ferry_kube_obj(cur, "spec");
    json_object_object_add(spec, "nodeName", json_object_new_string(ferry_kube_str(body, "target.name") ?: ""));
    bump(f, cur);
    return answer(code, out, 201, body);
  }
  const char *want = ferry_kube_str(body, "metadata.resourceVersion");
  if (want && strcmp(want, ferry_kube_str(cur, "metadata.resourceVersion") ?: "") != 0)
    return fail(code, out, 409, "Conflict",
                "the object has been modified; please apply your changes to the latest version");
  json_object *next = NULL;
  json_object_deep_copy(cur, &next, NULL);
  if (!strcmp(method, "PUT")) {
    json_object_put(next);
    json_object_deep_copy(body, &next, NULL);
    json_object_object_add(ferry_kube_obj(next, "metadata"), "uid",
                           json_object_new_string(ferry_kube_str(cur, "metadata.uid") ?: ""));
  } else if (ctype && strstr(ctype, "json-patch")) {
    if (json_patch(next, body) < 0) {
      json_object_put(next);
      return fail(code, out, 422, "Invalid", "the JSON patch does not apply");
    }
  } else
    merge(next, body);
  bump(f, next);
  json_object_object_add(f->objs, key, next);
  return answer(code, out, 200, next);
}

static void record(struct fake_api *f, const char *method, const char *path, json_object *body)
{
  json_object *r = json_object_new_object();
  json_object_object_add(r, "method", json_object_new_string(method));
  json_object_object_add(r, "path", json_object_new_string(path));
  json_object_object_add(r, "body", body ? json_object_get(body) : json_object_new_object());
  json_object_array_add(f->log, r);
}

static int exchange(void *ctx, const char *method, const char *path, const char *ctype, const char *body, long *code,
                    char **out, ferry_error *err)
{
  struct fake_api *f = ctx;
  struct target t;
  if (split_path(path, &t) < 0)
    return ferry_error_set(err, 0, "fake API: %s %s is no resource path", method, path);
  cleanup_json json_object *in = body && *body ? json_tokener_parse(body) : NULL;
  if (body && *body && !in)
    return fail(code, out, 400, "BadRequest", "the body is not JSON");
  if (strcmp(method, "GET") != 0 && !strcmp(t.plural, "events")) {
    char line[1200];
    snprintf(line, sizeof line, "%s: %s", ferry_kube_str(in, "reason") ?: "", ferry_kube_str(in, "message") ?: "");
    json_object_array_add(f->events, json_object_new_string(line));
    return !strcmp(method, "POST") ? do_create(f, &t, in, code, out) : do_write(f, method, &t, ctype, in, code, out);
  }
  if (strcmp(method, "GET") != 0)
    record(f, method, path, in);
  if (!strcmp(method, "GET") && !t.name[0])
    return do_list(f, &t, code, out);
  if (!strcmp(method, "GET")) {
    cleanup_free char *key = key_of(t.group, t.plural, t.ns, t.name);
    json_object *cur = NULL;
    if (!json_object_object_get_ex(f->objs, key, &cur))
      return fail(code, out, 404, "NotFound", "not found");
    return answer(code, out, 200, cur);
  }
  if (!strcmp(method, "POST") && !t.name[0])
    return do_create(f, &t, in, code, out);
  if (!strcmp(method, "DELETE")) {
    cleanup_free char *key = key_of(t.group, t.plural, t.ns, t.name);
    return do_delete(f, key, in, code, out);
  }
  return do_write(f, method, &t, ctype, in, code, out);
}

struct fake_api *fake_api_new(void)
{
  struct fake_api *f = calloc(1, sizeof *f);
  if (!f)
    abort();
  f->objs = json_object_new_object();
  f->log = json_object_new_array();
  f->events = json_object_new_array();
  f->rv = 100;
  f->kube = ferry_kube_open_fake(exchange, f);
  return f;
}

void fake_api_free(struct fake_api *f)
{
  if (!f)
    return;
  ferry_kube_close(f->kube);
  json_object_put(f->objs);
  json_object_put(f->log);
  json_object_put(f->events);
  free(f);
}

struct ferry_kube *fake_api_kube(struct fake_api *f) { return f->kube; }

struct ferry_informers *fake_api_informers(struct fake_api *f) { return ferry_informers_open_fake(exchange, f); }

json_object *fake_api_put(struct fake_api *f, const struct ferry_kube_resource *r, const char *json)
{
  json_object *obj = json_tokener_parse(json);
  if (!obj)
    abort();
  struct target t;
  memset(&t, 0, sizeof t);
  snprintf(t.group, sizeof t.group, "%s", r->group);
  snprintf(t.plural, sizeof t.plural, "%s", r->plural);
  snprintf(t.ns, sizeof t.ns, "%s", r->namespaced ? ferry_kube_str(obj, "metadata.namespace") ?: "default" : "");
  long code = 0;
  cleanup_free char *out = NULL;
  do_create(f, &t, obj, &code, &out);
  if (code != 201)
    abort();
  json_object *stored = fake_api_obj(f, r, t.ns, ferry_kube_str(obj, "metadata.name"));
  json_object_put(obj);
  return stored;
}

json_object *fake_api_obj(struct fake_api *f, const struct ferry_kube_resource *r, const char *ns, const char *name)
{
  cleanup_free char *key = key_of(r->group, r->plural, r->namespaced ? ns : "", name ?: "");
  json_object *cur = NULL;
  return json_object_object_get_ex(f->objs, key, &cur) ? cur : NULL;
}

size_t fake_api_nwrites(const struct fake_api *f) { return json_object_array_length(f->log); }

json_object *fake_api_write(const struct fake_api *f, const char *method, const char *path_suffix, size_t n)
{
  size_t suf = strlen(path_suffix);
  for (size_t i = 0; i < json_object_array_length(f->log); i++) {
    json_object *r = json_object_array_get_idx(f->log, i);
    const char *m = ferry_kube_str(r, "method"), *p = ferry_kube_str(r, "path");
    cleanup_free char *bare = strndup(p, strcspn(p, "?"));
    size_t len = strlen(bare);
    if (!strcmp(m, method) && len >= suf && !strcmp(bare + len - suf, path_suffix) && n-- == 0)
      return ferry_kube_obj(r, "body");
  }
  return NULL;
}

size_t fake_api_nevents(const struct fake_api *f) { return json_object_array_length(f->events); }

const char *fake_api_event(const struct fake_api *f, size_t i)
{
  return json_object_get_string(json_object_array_get_idx(f->events, i));
}

void fake_api_clear_log(struct fake_api *f)
{
  json_object_put(f->log);
  json_object_put(f->events);
  f->log = json_object_new_array();
  f->events = json_object_new_array();
}

void fake_api_dump(const struct fake_api *f)
{
  for (size_t i = 0; i < json_object_array_length(f->log); i++) {
    json_object *r = json_object_array_get_idx(f->log, i);
    fprintf(stderr, "# %s %s %s\n", ferry_kube_str(r, "method"), ferry_kube_str(r, "path"),
            json_object_to_json_string(ferry_kube_obj(r, "body")));
  }
}
