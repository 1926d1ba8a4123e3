/* SPDX-License-Identifier: Apache-2.0 */
#include "api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kube/kube.h"
#include "base/log.h"
#include "access.h"
#include "admission.h"
#include "defaults.h"
#include "disruption.h"
#include "openapi.h"
#include "paging.h"
#include "patch.h"
#include "protobuf.h"
#include "resources.h"
#include "schema.h"
#include "select.h"
#include "table.h"
#include "vap.h"
#include "base/util.h"

#define BOOKMARK_EVERY_MS 1000

struct body {
  char *data;
  size_t len, cap;
};

/* What one request asks beyond its verb and path (its handling is on one thread). */
enum field_validation { FV_WARN, FV_STRICT, FV_IGNORE };
static __thread struct {
  int dry_run;                /* dryRun=All: everything but the write */
  enum field_validation fv;   /* fieldValidation=, the server's default Warn */
  json_object *warnings;      /* strings, sent as Warning: 299 headers */
  const struct kl_user *user; /* who it comes from (access.h), for admission */
  int deleting;               /* a delete that admission has passed: its writes are not updates */
} req;

static void warn(const char *msg)
{
  if (!req.warnings)
    req.warnings = json_object_new_array();
  json_object_array_add(req.warnings, json_object_new_string(msg));
}

/* ---------- answers ---------- */

/* Warning: 299 - "text", quotes and backslashes escaped (RFC 7234). */
static void add_warnings(struct MHD_Response *r)
{
  for (size_t i = 0; req.warnings && i < json_object_array_length(req.warnings); i++) {
    const char *w = json_object_get_string(json_object_array_get_idx(req.warnings, i));
    char buf[1024];
    size_t l = (size_t)snprintf(buf, sizeof buf, "299 - \"");
    for (const char *p = w; *p && l + 4 < sizeof buf; p++) {
      if (*p == '"' || *p == '\\')
        buf[l++] = '\\';
      buf[l++] = *p;
    }
    buf[l++] = '"';
    buf[l] = '\0';
    MHD_add_response_header(r, "Warning", buf);
  }
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned code, json_object *o)
{
  const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, "Content-Type", "application/json");
  MHD_add_response_header(r, "Cache-Control", "no-cache, private");
  add_warnings(r);
  enum MHD_Result x = MHD_queue_response(c, code, r);
  MHD_destroy_response(r);
  return x;
}

static json_object *status_obj(unsigned code, const char *reason, const char *kind, const char *name, const char *msg)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "kind", json_object_new_string("Status"));
  json_object_object_add(o, "apiVersion", json_object_new_string("v1"));
  json_object_object_add(o, "metadata", json_object_new_object());
  json_object_object_add(o, "status", json_object_new_string(code < 300 ? "Success" : "Failure"));
  json_object_object_add(o, "message", json_object_new_string(msg));
  json_object_object_add(o, "reason", json_object_new_string(reason));
  if (kind || name) {
    json_object *d = json_object_new_object();
    if (name)
      json_object_object_add(d, "name", json_object_new_string(name));
    if (kind)
      json_object_object_add(d, "kind", json_object_new_string(kind));
    json_object_object_add(o, "details", d);
  }
  json_object_object_add(o, "code", json_object_new_int((int)code));
  return o;
}

static enum MHD_Result fail(struct MHD_Connection *c, unsigned code, const char *reason, const char *kind,
                            const char *name, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static enum MHD_Result fail(struct MHD_Connection *c, unsigned code, const char *reason, const char *kind,
                            const char *name, const char *fmt, ...)
{
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  json_object *o = status_obj(code, reason, kind, name, msg);
  enum MHD_Result r = send_json(c, code, o);
  json_object_put(o);
  return r;
}

/* ---------- helpers ---------- */

static const char *arg(struct MHD_Connection *c, const char *k)
{
  return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, k);
}

/* A boolean query parameter as the API server parses it (Go's strconv.ParseBool). */
static int arg_true(struct MHD_Connection *c, const char *k)
{
  static const char *const yes[] = { "1", "t", "T", "true", "True", "TRUE" };
  const char *v = arg(c, k);
  for (size_t i = 0; v && i < sizeof yes / sizeof yes[0]; i++)
    if (!strcmp(v, yes[i]))
      return 1;
  return 0;
}

static json_object *meta_of(json_object *o)
{
  json_object *m;
  if (!json_object_object_get_ex(o, "metadata", &m) || !json_object_is_type(m, json_type_object)) {
    m = json_object_new_object();
    json_object_object_add(o, "metadata", m);
  }
  return m;
}

static void set_str(json_object *o, const char *k, const char *v)
{
  json_object_object_add(o, k, json_object_new_string(v));
}

static void now_rfc3339(char *buf, size_t len) { ferry_format_time(ferry_now_real_ms(), buf, len); }

static void new_uid(char *buf, size_t len)
{
  unsigned char b[16];
  FILE *f = fopen("/dev/urandom", "r");
  if (!f || fread(b, 1, 16, f) != 16)
    for (int i = 0; i < 16; i++)
      b[i] = (unsigned char)rand();
  if (f)
    fclose(f);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  snprintf(buf, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
           b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static void set_rv(struct kl_store *s, json_object *o)
{
  char rv[32];
  snprintf(rv, sizeof rv, "%lld", (long long)++s->rv);
  set_str(meta_of(o), "resourceVersion", rv);
}

static char *obj_key(const struct kl_resource *r, const char *ns, const char *name)
{
  return r->namespaced ? ferry_asprintf("%s/%s", ns ? ns : "", name) : ferry_strdup(name);
}

/* A pod its kubelet is still stopping: deleted with a grace period, not yet
 * confirmed by a delete with gracePeriodSeconds 0. */
static int terminating(json_object *o)
{
  json_object *g;
  return json_object_object_get_ex(meta_of(o), "deletionGracePeriodSeconds", &g) && json_object_get_int64(g) > 0;
}

static int has_finalizers(json_object *o)
{
  json_object *f;
  return json_object_object_get_ex(meta_of(o), "finalizers", &f) && json_object_is_type(f, json_type_array) &&
         json_object_array_length(f) > 0;
}

static void persist(struct kl_server *srv)
{
  if (!srv->data_file)
    return;
  json_object *o = json_object_new_object();
  json_object_object_add(o, "resourceVersion", json_object_new_int64(srv->store.rv));
  json_object_object_add(o, "objects", json_object_get(srv->store.objects));
  const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
  ferry_error err = FERRY_ERROR_INIT;
  if (ferry_write_file_atomic(srv->data_file, text, strlen(text), &err) < 0)
    log_error("kube-lite: saving %s: %s", srv->data_file, ferry_error_msg(&err));
  ferry_error_clear(&err);
  json_object_put(o);
}

static int is_custom(const struct kl_resource *r) { return r->custom; }

/* apiVersion and kind are the resource's, whatever the client sent. */
static void set_type(const struct kl_resource *r, json_object *o)
{
  char av[192];
  kl_resource_api_version(r, av, sizeof av);
  set_str(o, "apiVersion", av);
  set_str(o, "kind", r->kind);
}

/* ---------- routing ---------- */

struct route {
  struct kl_resource r;
  char ns[256], name[256], sub[32];
};

/* Splits /api/v1/... and /apis/G/V/...; returns 0 for a resource path, 1 when it is
 * a discovery path answered in *doc, -1 when unknown. */
static int route(struct kl_store *s, const char *url, struct route *rt, json_object **doc)
{
  char *segs[12];
  int n = 0;
  char *copy = ferry_strdup(url), *save = NULL;
  for (char *p = strtok_r(copy, "/", &save); p && n < 12; p = strtok_r(NULL, "/", &save))
    segs[n++] = p;
  memset(rt, 0, sizeof *rt);
  int rc = -1, i = 0;
  const char *group = "", *version = NULL;
  if (n >= 1 && !strcmp(segs[0], "api")) {
    if (n == 1) {
      *doc = kl_discovery_api();
      rc = 1;
      goto out;
    }
    version = segs[1];
    i = 2;
  } else if (n >= 1 && !strcmp(segs[0], "apis")) {
    if (n == 1) {
      *doc = kl_discovery_groups(s);
      rc = 1;
      goto out;
    }
    if (n < 3)
      goto out;
    group = segs[1];
    version = segs[2];
    i = 3;
  } else {
    goto out;
  }
  if (i == n) {
    *doc = kl_discovery_resources(s, group, version);
    rc = *doc ? 1 : -1;
    goto out;
  }
  struct kl_resource nsr;
  if (n - i >= 3 && !strcmp(segs[i], "namespaces") && kl_resource_find(s, group, version, segs[i + 2], &nsr) == 0 &&
      nsr.namespaced) {
    snprintf(rt->ns, sizeof rt->ns, "%s", segs[i + 1]);
    i += 2;
  }
  if (kl_resource_find(s, group, version, segs[i], &rt->r) < 0)
    goto out;
  if (i + 1 < n)
    snprintf(rt->name, sizeof rt->name, "%s", segs[i + 1]);
  if (i + 2 < n)
    snprintf(rt->sub, sizeof rt->sub, "%s", segs[i + 2]);
  rc = i + 3 < n ? -1 : 0;
out:
  free(copy);
  return rc;
}

/* ---------- validating admission (vap.h) ---------- */

/* The request on rt's resource (or subresource) as admission sees it; the kind is the resource's. */
static void admission_of(const struct route *rt, enum kl_operation op, json_object *obj, json_object *old,
                         struct kl_admission *a)
{
  memset(a, 0, sizeof *a);
  a->op = op;
  a->r = &rt->r;
  a->subresource = rt->sub;
  a->kind_group = rt->r.group;
  a->kind_version = rt->r.version;
  a->kind = rt->r.kind;
  a->ns = rt->ns;
  a->name = rt->name;
  a->object = obj;
  a->old_object = old;
  a->user = req.user;
  a->dry_run = req.dry_run;
}

/* The ValidatingAdmissionPolicies on a: 1 when they refuse it (*x answered); Warn texts become warnings. */
static int admission_refuses(struct kl_server *srv, struct MHD_Connection *c, const struct kl_admission *a,
                             enum MHD_Result *x)
{
  json_object *status = NULL;
  unsigned code = kl_vap_admit(srv->cel, &srv->store, a, &req.warnings, &status);
  if (!code)
    return 0;
  *x = send_json(c, code, status);
  json_object_put(status);
  return 1;
}

/* A ValidatingAdmissionPolicy or binding written: validated (1 when refused, *x answered). */
static int policy_refused(struct kl_server *srv, struct MHD_Connection *c, const struct route *rt, json_object *obj,
                          enum MHD_Result *x)
{
  json_object *status = NULL;
  unsigned code = rt->sub[0] ? 0 : kl_vap_check_object(srv->cel, &rt->r, obj, &status);
  if (!code)
    return 0;
  *x = send_json(c, code, status);
  json_object_put(status);
  return 1;
}

/* A subresource's own object (a Binding, an Eviction): the body with its kind and the pod's name and namespace. */
static json_object *sub_object(json_object *body, const char *api_version, const char *kind, const struct route *rt)
{
  json_object *o = NULL;
  if (json_object_is_type(body, json_type_object))
    json_object_deep_copy(body, &o, NULL);
  else
    o = json_object_new_object();
  set_str(o, "apiVersion", api_version);
  set_str(o, "kind", kind);
  json_object *m = meta_of(o);
  if (!ferry_kube_str(o, "metadata.name"))
    set_str(m, "name", rt->name);
  if (!ferry_kube_str(o, "metadata.namespace"))
    set_str(m, "namespace", rt->ns);
  return o;
}

/* pods/binding and pods/eviction: CREATE of a Binding (v1) or an Eviction (policy/v1). */
static int sub_create_refused(struct kl_server *srv, struct MHD_Connection *c, const struct route *rt,
                              json_object *body, enum MHD_Result *x)
{
  int eviction = !strcmp(rt->sub, "eviction");
  json_object *o = sub_object(body, eviction ? "policy/v1" : "v1", eviction ? "Eviction" : "Binding", rt);
  struct kl_admission a;
  admission_of(rt, KL_OP_CREATE, o, NULL, &a);
  a.kind_group = eviction ? "policy" : "";
  a.kind_version = "v1";
  a.kind = eviction ? "Eviction" : "Binding";
  int refused = admission_refuses(srv, c, &a, x);
  json_object_put(o);
  return refused;
}

/* ---------- watches ---------- */

struct watch {
  struct kl_server *srv;
  char kind_key[256];
  struct kl_resource r;
  char ns[256];
  struct kl_selector *sel;
  int64_t next_rv;      /* send events after this */
  json_object *initial; /* ADDED events to send first */
  size_t initial_at;
  int bookmarks;
  int64_t deadline, last_sent;
  unsigned epoch;
  int gone; /* sent the 410 error: end next */
  int ended;
  char *pending; /* a line that did not fit */
  size_t pending_at;
};

static char *event_line(const char *type, json_object *obj)
{
  json_object *ev = json_object_new_object();
  set_str(ev, "type", type);
  json_object_object_add(ev, "object", json_object_get(obj));
  char *line = ferry_asprintf(
      "%s\n", json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(ev);
  return line;
}

static int watch_wants(struct watch *w, const char *kind_key, json_object *obj)
{
  if (strcmp(kind_key, w->kind_key) != 0)
    return 0;
  if (w->ns[0] && strcmp(ferry_kube_str(obj, "metadata.namespace") ?: "", w->ns) != 0)
    return 0;
  return kl_selector_matches(w->sel, obj);
}

/* The next line for this watch (s->mu held); NULL when there is none yet. */
static char *watch_next(struct watch *w)
{
  struct kl_store *s = &w->srv->store;
  if (w->initial && w->initial_at < json_object_array_length(w->initial))
    return event_line("ADDED", json_object_array_get_idx(w->initial, w->initial_at++));
  if (w->next_rv < s->oldest_rv) {
    json_object *st = status_obj(410, "Expired", NULL, NULL, "too old resource version");
    char *line = event_line("ERROR", st);
    json_object_put(st);
    w->gone = 1;
    return line;
  }
  for (size_t i = 0; i < s->hist_len; i++) {
    struct kl_event *e = &s->hist[(s->hist_start + i) % KL_HISTORY];
    if (e->rv <= w->next_rv)
      continue;
    w->next_rv = e->rv;
    if (watch_wants(w, e->kind_key, e->obj))
      return event_line(e->type, e->obj);
  }
  w->next_rv = s->rv > w->next_rv ? s->rv : w->next_rv; /* nothing more for us up to now */
  if (w->bookmarks && ferry_now_mono_ms() - w->last_sent >= BOOKMARK_EVERY_MS) {
    json_object *b = json_object_new_object(), *m = json_object_new_object();
    char rv[32];
    snprintf(rv, sizeof rv, "%lld", (long long)w->next_rv);
    set_str(b, "kind", w->r.kind);
    char av[192];
    kl_resource_api_version(&w->r, av, sizeof av);
    set_str(b, "apiVersion", av);
    set_str(m, "resourceVersion", rv);
    json_object_object_add(b, "metadata", m);
    char *line = event_line("BOOKMARK", b);
    json_object_put(b);
    return line;
  }
  return NULL;
}

static ssize_t watch_read(void *cls, uint64_t pos, char *buf, size_t max)
{
  (void)pos;
  struct watch *w = cls;
  struct kl_store *s = &w->srv->store;
  if (w->ended)
    return MHD_CONTENT_READER_END_OF_STREAM;
  pthread_mutex_lock(&s->mu);
  ssize_t out = 0;
  while (!out) {
    if (w->pending) {
      size_t left = strlen(w->pending + w->pending_at), n = left < max ? left : max;
      memcpy(buf, w->pending + w->pending_at, n);
      w->pending_at += n;
      if (w->pending_at == strlen(w->pending)) {
        free(w->pending);
        w->pending = NULL;
      }
      out = (ssize_t)n;
      break;
    }
    if (w->gone || w->srv->stopping || w->epoch != s->watch_epoch || ferry_now_mono_ms() >= w->deadline) {
      w->ended = 1;
      out = MHD_CONTENT_READER_END_OF_STREAM;
      break;
    }
    char *line = watch_next(w);
    if (line) {
      w->pending = line;
      w->pending_at = 0;
      w->last_sent = ferry_now_mono_ms();
      continue;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += 200 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&s->cv, &s->mu, &ts);
  }
  pthread_mutex_unlock(&s->mu);
  return out;
}

static void watch_free(void *cls)
{
  struct watch *w = cls;
  kl_selector_free(w->sel);
  json_object_put(w->initial);
  free(w->pending);
  free(w);
}

/* ---------- verbs (s->mu held) ---------- */

/* The CRD that defines a custom resource, or NULL. */
static json_object *crd_of(struct kl_store *s, const struct kl_resource *r)
{
  if (!is_custom(r))
    return NULL;
  char key[256];
  snprintf(key, sizeof key, "%s.%s", r->plural, r->group);
  json_object *crd = NULL;
  json_object_object_get_ex(kl_store_kind(s, "apiextensions.k8s.io/customresourcedefinitions"), key, &crd);
  return crd;
}

/* kubectl asks for a Table (Accept: ...;as=Table); answers one when the CRD has
 * printer columns. Returns 1 when it answered. */
static int answer_table(struct kl_store *s, struct MHD_Connection *c, const struct route *rt, json_object *items,
                        const struct kl_page *pg, enum MHD_Result *x)
{
  const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
  if (!accept || !strstr(accept, "as=Table"))
    return 0;
  json_object *crd = crd_of(s, &rt->r);
  char rv[32];
  snprintf(rv, sizeof rv, "%lld", (long long)(pg ? pg->rv : s->rv));
  json_object *t = crd                  ? kl_table(crd, rt->r.version, items, rv)
                   : !is_custom(&rt->r) ? kl_table_builtin(rt->r.group, rt->r.plural, items, rv)
                                        : NULL;
  if (!t)
    return 0;
  json_object *meta;
  if (pg && pg->next && json_object_object_get_ex(t, "metadata", &meta))
    set_str(meta, "continue", pg->next);
  *x = send_json(c, 200, t);
  json_object_put(t);
  return 1;
}

static json_object *sorted_items(json_object *kind_map, const struct route *rt, struct kl_selector *sel)
{
  json_object *items = json_object_new_array();
  json_object_object_foreach(kind_map, key, obj)
  {
    (void)key;
    if (rt->ns[0] && strcmp(ferry_kube_str(obj, "metadata.namespace") ?: "", rt->ns) != 0)
      continue;
    if (kl_selector_matches(sel, obj))
      json_object_array_add(items, json_object_get(obj));
  }
  return items;
}

static int by_key(const void *a, const void *b)
{
  json_object *x = *(json_object *const *)a, *y = *(json_object *const *)b;
  int c = strcmp(ferry_kube_str(x, "metadata.namespace") ?: "", ferry_kube_str(y, "metadata.namespace") ?: "");
  return c ? c : strcmp(ferry_kube_str(x, "metadata.name") ?: "", ferry_kube_str(y, "metadata.name") ?: "");
}

static enum MHD_Result do_list(struct kl_server *srv, struct MHD_Connection *c, const struct route *rt)
{
  struct kl_store *s = &srv->store;
  char why[256] = "", kk[256];
  struct kl_selector *sel = kl_selector_parse(arg(c, "labelSelector"), arg(c, "fieldSelector"), why, sizeof why);
  if (!sel)
    return fail(c, 400, "BadRequest", NULL, NULL, "%s", why);
  kl_resource_key(&rt->r, kk, sizeof kk);
  json_object *items = sorted_items(kl_store_kind(s, kk), rt, sel);
  json_object_array_sort(items, by_key);
  if (arg_true(c, "watch")) {
    struct watch *wt = calloc(1, sizeof *wt);
    if (!wt)
      abort();
    wt->srv = srv;
    snprintf(wt->kind_key, sizeof wt->kind_key, "%s", kk);
    wt->r = rt->r;
    snprintf(wt->ns, sizeof wt->ns, "%s", rt->ns);
    wt->sel = sel;
    const char *rv = arg(c, "resourceVersion");
    const char *to = arg(c, "timeoutSeconds");
    wt->bookmarks = arg_true(c, "allowWatchBookmarks");
    wt->deadline = ferry_now_mono_ms() + (to ? atol(to) : 1800) * 1000;
    wt->epoch = s->watch_epoch;
    wt->last_sent = ferry_now_mono_ms();
    if (!rv || !*rv || !strcmp(rv, "0")) {
      wt->initial = items; /* the current state first, as ADDED events */
      items = NULL;
      wt->next_rv = s->rv;
    } else {
      char *end;
      wt->next_rv = strtoll(rv, &end, 10);
      if (*end) {
        watch_free(wt);
        json_object_put(items);
        return fail(c, 400, "BadRequest", NULL, NULL, "invalid resourceVersion %s", rv);
      }
    }
    json_object_put(items);
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, watch_read, wt, watch_free);
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Transfer-Encoding", "chunked");
    enum MHD_Result x = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return x;
  }
  kl_selector_free(sel);
  struct kl_page pg;
  unsigned refused = kl_page_of(items, arg(c, "limit"), arg(c, "continue"), s->rv, s->oldest_rv, &pg, why, sizeof why);
  if (refused) {
    json_object_put(items);
    return fail(c, refused, refused == 410 ? "Expired" : "BadRequest", NULL, NULL, "%s", why);
  }
  json_object *page = json_object_new_array();
  for (size_t i = pg.from; i < pg.to; i++)
    json_object_array_add(page, json_object_get(json_object_array_get_idx(items, i)));
  json_object_put(items);
  enum MHD_Result tx;
  if (answer_table(s, c, rt, page, &pg, &tx)) {
    json_object_put(page);
    kl_page_free(&pg);
    return tx;
  }
  json_object *list = json_object_new_object(), *meta = json_object_new_object();
  char av[192], kind[96], rv[32];
  kl_resource_api_version(&rt->r, av, sizeof av);
  snprintf(kind, sizeof kind, "%sList", rt->r.kind);
  snprintf(rv, sizeof rv, "%lld", (long long)pg.rv);
  set_str(list, "kind", kind);
  set_str(list, "apiVersion", av);
  set_str(meta, "resourceVersion", rv);
  if (pg.next)
    set_str(meta, "continue", pg.next);
  kl_page_free(&pg);
  json_object_object_add(list, "metadata", meta);
  json_object_object_add(list, "items", page);
  enum MHD_Result x = send_json(c, 200, list);
  json_object_put(list);
  return x;
}

/* Fields that are not the kind's: under fieldValidation=Strict the request fails
 * with 400 as the API server's strict decoding does; under Warn (the default)
 * each becomes a Warning header; under Ignore they are dropped silently. */
static int refuse_unknown(struct MHD_Connection *c, const struct route *rt, json_object *unknown, enum MHD_Result *x)
{
  size_t n = json_object_array_length(unknown);
  if (!n || req.fv == FV_IGNORE)
    return 0;
  if (req.fv == FV_WARN) {
    for (size_t i = 0; i < n; i++) {
      char *w = ferry_asprintf("unknown field \"%s\"", json_object_get_string(json_object_array_get_idx(unknown, i)));
      warn(w);
      free(w);
    }
    return 0;
  }
  char msg[1024];
  int l =
      snprintf(msg, sizeof msg, "%s in version \"%s\" cannot be handled as a %s: strict decoding error: ", rt->r.kind,
               rt->r.version, rt->r.kind);
  for (size_t i = 0; i < n && l < (int)sizeof msg; i++)
    l += snprintf(msg + l, sizeof msg - (size_t)l, "%sunknown field \"%s\"", i ? ", " : "",
                  json_object_get_string(json_object_array_get_idx(unknown, i)));
  json_object *st = status_obj(400, "BadRequest", NULL, NULL, msg);
  *x = send_json(c, 400, st);
  json_object_put(st);
  return 1;
}

/* metadata's fields (ObjectMeta): anything else is unknown, and dropped. */
static void unknown_metadata(json_object *obj, json_object *unknown)
{
  static const char *const known[] = { "name",
                                       "generateName",
                                       "namespace",
                                       "selfLink",
                                       "uid",
                                       "resourceVersion",
                                       "generation",
                                       "creationTimestamp",
                                       "deletionTimestamp",
                                       "deletionGracePeriodSeconds",
                                       "labels",
                                       "annotations",
                                       "ownerReferences",
                                       "finalizers",
                                       "managedFields" };
  json_object *m, *drop = json_object_new_array();
  if (json_object_object_get_ex(obj, "metadata", &m) && json_object_is_type(m, json_type_object)) {
    json_object_object_foreach(m, k, v)
    {
      (void)v;
      size_t i = 0;
      while (i < sizeof known / sizeof known[0] && strcmp(known[i], k) != 0)
        i++;
      if (i == sizeof known / sizeof known[0])
        json_object_array_add(drop, json_object_new_string(k));
    }
    for (size_t i = 0; i < json_object_array_length(drop); i++) {
      const char *field = json_object_get_string(json_object_array_get_idx(drop, i));
      char *path = ferry_asprintf("metadata.%s", field);
      json_object_array_add(unknown, json_object_new_string(path));
      free(path);
      json_object_object_del(m, field);
    }
  }
  json_object_put(drop);
}

/* Decodes and validates obj as the API server would before a write: unknown
 * fields (metadata's for every kind; for custom resources whatever the CRD's
 * schema prunes) per fieldValidation, then the schema's rules (defaults applied).
 * Returns 1 with the 400 or 422 answer queued in *x when the write must not happen.
 * kube-lite has no schemas for built-in kinds: their spec and status are taken as sent. */
static int invalid(struct kl_store *s, struct MHD_Connection *c, const struct route *rt, json_object *obj,
                   enum MHD_Result *x)
{
  json_object *unknown = json_object_new_array(), *causes = NULL;
  unknown_metadata(obj, unknown);
  json_object *crd = crd_of(s, &rt->r);
  int n = crd ? kl_schema_validate(crd, rt->r.version, obj, &causes, unknown) : 0;
  int bad = refuse_unknown(c, rt, unknown, x);
  json_object_put(unknown);
  if (!bad && n) {
    const char *name = ferry_kube_str(obj, "metadata.name") ?: "";
    char msg[1024];
    int l = snprintf(msg, sizeof msg, "%s.%s \"%s\" is invalid: ", rt->r.kind, rt->r.group, name);
    for (int i = 0; i < n && l < (int)sizeof msg; i++) {
      json_object *cz = json_object_array_get_idx(causes, (size_t)i);
      l += snprintf(msg + l, sizeof msg - (size_t)l, "%s%s: %s", i ? ", " : (n > 1 ? "[" : ""),
                    ferry_kube_str(cz, "field"), ferry_kube_str(cz, "message"));
    }
    if (n > 1 && l < (int)sizeof msg)
      snprintf(msg + l, sizeof msg - (size_t)l, "]");
    json_object *st = status_obj(422, "Invalid", rt->r.kind, name, msg);
    json_object *details;
    json_object_object_get_ex(st, "details", &details);
    json_object_object_add(details, "group", json_object_new_string(rt->r.group));
    json_object_object_add(details, "causes", json_object_get(causes));
    *x = send_json(c, 422, st);
    json_object_put(st);
    bad = 1;
  }
  json_object_put(causes);
  return bad;
}

static int namespace_exists(struct kl_store *s, const char *ns)
{
  return json_object_object_get_ex(kl_store_kind(s, "/namespaces"), ns, NULL);
}

static enum MHD_Result do_create(struct kl_server *srv, struct MHD_Connection *c, const struct route *rt,
                                 json_object *obj)
{
  struct kl_store *s = &srv->store;
  if (!json_object_is_type(obj, json_type_object))
    return fail(c, 400, "BadRequest", NULL, NULL, "the request body is not a JSON object");
  if (!req.dry_run) { /* mutating admission comes first, before names are generated (as in the API server) */
    char why[768];
    int code = 500;
    if (kl_admit_create(s, &rt->r, rt->r.namespaced ? rt->ns : NULL, &obj, &code, why, sizeof why) < 0)
      return fail(c, (unsigned)code, code == 500 ? "InternalError" : "BadRequest", NULL, NULL, "%s", why);
    if (srv->fail_admitted > 0 && !strcmp(rt->r.plural, srv->fail_admitted_of)) {
      srv->fail_admitted--;
      return fail(c, 500, "InternalError", NULL, NULL,
                  "injected failure after admission (kube-lite --faults): the %s was not stored", rt->r.kind);
    }
  }
  json_object *meta = meta_of(obj);
  const char *name = ferry_kube_str(obj, "metadata.name"), *gen = ferry_kube_str(obj, "metadata.generateName");
  char generated[300] = "";
  if ((!name || !*name) && gen && *gen) {
    static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
    char sfx[6];
    for (int i = 0; i < 5; i++)
      sfx[i] = alnum[rand() % (int)(sizeof alnum - 1)];
    sfx[5] = '\0';
    snprintf(generated, sizeof generated, "%s%s", gen, sfx);
    set_str(meta, "name", generated);
    name = ferry_kube_str(obj, "metadata.name");
  }
  if (!name || !*name)
    return fail(c, 422, "Invalid", rt->r.kind, NULL,
                "%s \"\" is invalid: metadata.name: Required value: name or generateName is required", rt->r.kind);
  const char *ons = ferry_kube_str(obj, "metadata.namespace");
  if (rt->r.namespaced) {
    if (ons && *ons && strcmp(ons, rt->ns) != 0)
      return fail(c, 400, "BadRequest", NULL, NULL,
                  "the namespace of the provided object does not match the namespace sent on the request");
    set_str(meta, "namespace", rt->ns);
    if (!namespace_exists(s, rt->ns))
      return fail(c, 404, "NotFound", "namespaces", rt->ns, "namespaces \"%s\" not found", rt->ns);
  }
  char kk[256], uid[40], now[32];
  kl_resource_key(&rt->r, kk, sizeof kk);
  json_object *kind_map = kl_store_kind(s, kk);
  char *key = obj_key(&rt->r, rt->ns, name);
  if (json_object_object_get_ex(kind_map, key, NULL)) {
    free(key);
    return fail(c, 409, "AlreadyExists", rt->r.plural, name, "%s \"%s\" already exists", rt->r.plural, name);
  }
  set_type(&rt->r, obj);
  kl_defaults(&rt->r, obj, NULL);
  enum MHD_Result bad;
  if (invalid(s, c, rt, obj, &bad) || policy_refused(srv, c, rt, obj, &bad)) {
    free(key);
    return bad;
  }
  new_uid(uid, sizeof uid);
  now_rfc3339(now, sizeof now);
  set_str(meta, "uid", uid);
  set_str(meta, "creationTimestamp", now);
  json_object_object_add(meta, "generation", json_object_new_int(1));
  json_object_object_del(meta, "deletionTimestamp");
  if (!strcmp(kk, "/namespaces") && !json_object_object_get_ex(obj, "status", NULL))
    json_object_object_add(obj, "status", json_tokener_parse("{\"phase\":\"Active\"}"));
  struct kl_admission a;
  admission_of(rt, KL_OP_CREATE, obj, NULL, &a);
  a.name = generated[0] ? "" : name; /* the request named none */
  if (admission_refuses(srv, c, &a, &bad)) {
    free(key);
    return bad;
  }
  if (req.dry_run) { /* the object as it would be, not stored */
    free(key);
    json_object_object_del(meta, "resourceVersion");
    return send_json(c, 201, obj);
  }
  set_rv(s, obj);
  json_object_object_add(kind_map, key, json_object_get(obj));
  kl_store_record(s, kk, "ADDED", obj);
  free(key);
  persist(srv);
  return send_json(c, 201, obj);
}

/* Stores `next` as the new version of `cur` (both of rt's kind, cur in the map). */
static enum MHD_Result store_update(struct kl_server *srv, struct MHD_Connection *c, const struct route *rt,
                                    json_object *cur, json_object *next)
{
  struct kl_store *s = &srv->store;
  const char *want = ferry_kube_str(next, "metadata.resourceVersion"),
             *have = ferry_kube_str(cur, "metadata.resourceVersion");
  if (want && *want && have && strcmp(want, have) != 0)
    return fail(c, 409, "Conflict", rt->r.plural, rt->name,
                "Operation cannot be fulfilled on %s \"%s\": the object has been modified; please apply your changes "
                "to the latest version and try again",
                rt->r.plural, rt->name);
  const char *nname = ferry_kube_str(next, "metadata.name");
  if (nname && strcmp(nname, rt->name) != 0)
    return fail(c, 400, "BadRequest", NULL, NULL, "the name of the object (%s) does not match the name on the URL (%s)",
                nname, rt->name);
  json_object *result = NULL;
  json_object *cs, *ns;
  if (!strcmp(rt->sub, "status")) {
    json_object_deep_copy(cur, &result, NULL);
    if (json_object_object_get_ex(next, "status", &ns)) {
      json_object *copy = NULL;
      json_object_deep_copy(ns, &copy, NULL);
      json_object_object_add(result, "status", copy);
    }
  } else {
    json_object_deep_copy(next, &result, NULL);
    if (rt->r.has_status) { /* the main resource does not change status */
      json_object *copy = NULL;
      if (json_object_object_get_ex(cur, "status", &cs))
        json_object_deep_copy(cs, &copy, NULL);
      if (copy)
        json_object_object_add(result, "status", copy);
      else
        json_object_object_del(result, "status");
    }
  }
  /* metadata the server owns */
  json_object *m = meta_of(result), *cm = meta_of(cur), *v;
  static const char *const owned[] = { "uid",  "creationTimestamp", "namespace",
                                       "name", "deletionTimestamp", "generation" };
  for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) {
    if (json_object_object_get_ex(cm, owned[i], &v))
      json_object_object_add(m, owned[i], json_object_get(v));
    else
      json_object_object_del(m, owned[i]);
  }
  set_type(&rt->r, result);
  kl_defaults(&rt->r, result, cur);
  enum MHD_Result bad;
  if (invalid(s, c, rt, result, &bad) || policy_refused(srv, c, rt, result, &bad)) {
    json_object_put(result);
    return bad;
  }
  json_object *cspec = NULL, *nspec = NULL;
  json_object_object_get_ex(cur, "spec", &cspec);
  json_object_object_get_ex(result, "spec", &nspec);
  if (!json_object_equal(cspec, nspec)) {
    json_object *g;
    int gen = json_object_object_get_ex(cm, "generation", &g) ? json_object_get_int(g) : 1;
    json_object_object_add(m, "generation", json_object_new_int(gen + 1));
  }
  struct kl_admission a;
  admission_of(rt, KL_OP_UPDATE, result, cur, &a);
  if (!req.deleting && admission_refuses(srv, c, &a, &bad)) {
    json_object_put(result);
    return bad;
  }
  if (req.dry_run) {
    enum MHD_Result x = send_json(c, 200, result);
    json_object_put(result);
    return x;
  }
  set_rv(s, result);
  char kk[256];
  kl_resource_key(&rt->r, kk, sizeof kk);
  char *key = obj_key(&rt->r, rt->ns, rt->name);
  json_object *kind_map = kl_store_kind(s, kk);
  if (json_object_object_get_ex(m, "deletionTimestamp", NULL) && !has_finalizers(result) && !terminating(result)) {
    json_object_object_del(kind_map, key); /* the last finalizer is gone */
    kl_store_record(s, kk, "DELETED", result);
  } else {
    json_object_object_add(kind_map, key, json_object_get(result));
    kl_store_record(s, kk, "MODIFIED", result);
  }
  free(key);
  persist(srv);
  enum MHD_Result x = send_json(c, 200, result);
  json_object_put(result);
  return x;
}

static json_object *find(struct kl_store *s, const struct route *rt)
{
  char kk[256];
  kl_resource_key(&rt->r, kk, sizeof kk);
  char *key = obj_key(&rt->r, rt->ns, rt->name);
  json_object *o = NULL;
  json_object_object_get_ex(kl_store_kind(s, kk), key, &o);
  free(key);
  return o;
}

static enum MHD_Result not_found(struct MHD_Connection *c, const struct route *rt)
{
  return fail(c, 404, "NotFound", rt->r.plural, rt->name, "%s \"%s\" not found", rt->r.plural, rt->name);
}

static enum MHD_Result do_patch(struct kl_server *srv, struct MHD_Connection *c, const struct route *rt,
                                const char *ctype, json_object *patch)
{
  json_object *cur = find(&srv->store, rt);
  if (!cur)
    return not_found(c, rt);
  json_object *doc = NULL;
  json_object_deep_copy(cur, &doc, NULL);
  json_object_object_del(meta_of(doc), "resourceVersion"); /* unconditional unless the patch says otherwise */
  char why[256] = "";
  int rc;
  if (ctype && !strncmp(ctype, "application/json-patch+json", 27)) {
    json_object_object_add(meta_of(doc), "resourceVersion",
                           json_object_new_string(ferry_kube_str(cur, "metadata.resourceVersion")));
    rc = kl_json_patch(&doc, patch, why, sizeof why);
    if (rc == 0 && !strcmp(ferry_kube_str(doc, "metadata.resourceVersion") ?: "",
                           ferry_kube_str(cur, "metadata.resourceVersion") ?: ""))
      json_object_object_del(meta_of(doc), "resourceVersion");
  } else if (ctype && !strncmp(ctype, "application/merge-patch+json", 28)) {
    rc = kl_merge_patch(&doc, patch);
  } else if (ctype && !strncmp(ctype, "application/strategic-merge-patch+json", 38) && !is_custom(&rt->r)) {
    rc = kl_strategic_patch(&doc, patch);
  } else {
    json_object_put(doc);
    return fail(c, 415, "UnsupportedMediaType", NULL, NULL,
                "the body of the request was in an unknown format - accepted media types include: "
                "application/json-patch+json, application/merge-patch+json%s",
                is_custom(&rt->r) ? "" : ", application/strategic-merge-patch+json");
  }
  if (rc < 0) {
    json_object_put(doc);
    return fail(c, 422, "Invalid", rt->r.plural, rt->name, "the patch could not be applied: %s", why);
  }
  enum MHD_Result x = store_update(srv, c, rt, cur, doc);
  json_object_put(doc);
  return x;
}

static int is_core_pod(const struct route *rt) { return !rt->r.group[0] && !strcmp(rt->r.plural, "pods"); }

/* The grace period a pod deletion asks for: DeleteOptions, then the query,
 * then the pod's terminationGracePeriodSeconds, then 30 (as the API server). A
 * pod no kubelet runs (unbound, or finished) goes at once: -1. */
static int64_t pod_grace(struct MHD_Connection *c, json_object *opts, json_object *pod)
{
  const char *node = ferry_kube_str(pod, "spec.nodeName"), *phase = ferry_kube_str(pod, "status.phase") ?: "";
  if (!node || !*node || !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"))
    return -1;
  json_object *g = NULL, *spec;
  const char *q = arg(c, "gracePeriodSeconds");
  if (opts && json_object_object_get_ex(opts, "gracePeriodSeconds", &g) && !json_object_is_type(g, json_type_null))
    return json_object_get_int64(g);
  if (q && *q)
    return strtoll(q, NULL, 10);
  if (json_object_object_get_ex(pod, "spec", &spec) &&
      json_object_object_get_ex(spec, "terminationGracePeriodSeconds", &g))
    return json_object_get_int64(g);
  return 30;
}

/* Marks a bound pod terminating: deletionTimestamp is when the grace period
 * ends; the kubelet stops the containers and deletes it with grace 0. A
 * shorter grace period than the one set shortens it, a longer one does not.
 * Returns the stored object (the store owns it). */
static json_object *pod_terminate(struct kl_server *srv, const struct route *rt, json_object *cur, int64_t grace)
{
  json_object *g;
  int64_t had =
      json_object_object_get_ex(meta_of(cur), "deletionGracePeriodSeconds", &g) ? json_object_get_int64(g) : -1;
  if (had >= 0 && had <= grace)
    return cur;
  json_object *next = NULL;
  json_object_deep_copy(cur, &next, NULL);
  char when[40];
  ferry_format_time(ferry_now_real_ms() + grace * 1000, when, sizeof when);
  set_str(meta_of(next), "deletionTimestamp", when);
  json_object_object_add(meta_of(next), "deletionGracePeriodSeconds", json_object_new_int64(grace));
  set_rv(&srv->store, next);
  char kk[256];
  kl_resource_key(&rt->r, kk, sizeof kk);
  char *key = obj_key(&rt->r, rt->ns, rt->name);
  json_object_object_add(kl_store_kind(&srv->store, kk), key, next);
  free(key);
  kl_store_record(&srv->store, kk, "MODIFIED", next);
  return next;
}

static void delete_now(struct kl_server *srv, const struct route *rt, json_object *cur)
{
  struct kl_store *s = &srv->store;
  char kk[256];
  kl_resource_key(&rt->r, kk, sizeof kk);
  json_object *gone = NULL;
  json_object_deep_copy(cur, &gone, NULL);
  set_rv(s, gone);
  char *key = obj_key(&rt->r, rt->ns, rt->name);
  json_object_object_del(kl_store_kind(s, kk), key);
  free(key);
  kl_store_record(s, kk, "DELETED", gone);
  json_object_put(gone);
}

/* DeleteOptions carry dryRun in the body: {"dryRun": ["All"]}. */
static int dry_run_in(json_object *opts)
{
  json_object *d;
  if (!opts || !json_object_object_get_ex(opts, "dryRun", &d) || !json_object_is_type(d, json_type_array))
    return 0;
  for (size_t i = 0; i < json_object_array_length(d); i++)
    if (!strcmp(json_object_get_string(json_object_array_get_idx(d, i)) ?: "", "All"))
      return 1;
  return 0;
}

static enum MHD_Result do_delete(struct kl_server *srv, struct MHD_Connection *c, const struct route *rt,
                                 json_object *opts)
{
  json_object *cur = find(&srv->store, rt);
  if (!cur)
    return not_found(c, rt);
  const char *puid = opts ? ferry_kube_str(opts, "preconditions.uid") : NULL;
  const char *prv = opts ? ferry_kube_str(opts, "preconditions.resourceVersion") : NULL;
  const char *uid = ferry_kube_str(cur, "metadata.uid") ?: "",
             *rv = ferry_kube_str(cur, "metadata.resourceVersion") ?: "";
  if (puid && strcmp(puid, uid) != 0)
    return fail(c, 409, "Conflict", rt->r.plural, rt->name,
                "Operation cannot be fulfilled on %s \"%s\": Precondition failed: UID in precondition: %s, UID in "
                "object meta: %s",
                rt->r.plural, rt->name, puid, uid);
  if (prv && strcmp(prv, rv) != 0)
    return fail(c, 409, "Conflict", rt->r.plural, rt->name,
                "Operation cannot be fulfilled on %s \"%s\": Precondition failed: ResourceVersion in precondition: %s, "
                "ResourceVersion in object meta: %s",
                rt->r.plural, rt->name, prv, rv);
  struct kl_admission a;
  admission_of(rt, KL_OP_DELETE, NULL, cur, &a);
  a.dry_run |= dry_run_in(opts);
  enum MHD_Result refused;
  if (admission_refuses(srv, c, &a, &refused))
    return refused;
  req.deleting = 1;
  if (req.dry_run || dry_run_in(opts))
    return send_json(c, 200, cur);
  int64_t grace = is_core_pod(rt) ? pod_grace(c, opts, cur) : -1;
  if (grace > 0) {
    json_object *now = pod_terminate(srv, rt, cur, grace);
    persist(srv);
    return send_json(c, 200, now);
  }
  if (grace == 0 && terminating(cur)) { /* the kubelet confirms: the grace period is over */
    json_object_object_add(meta_of(cur), "deletionGracePeriodSeconds", json_object_new_int64(0));
  }
  json_object *answer = json_object_get(cur);
  if (has_finalizers(cur)) {
    if (!json_object_object_get_ex(meta_of(cur), "deletionTimestamp", NULL)) {
      json_object *next = NULL;
      json_object_deep_copy(cur, &next, NULL);
      char now[32];
      now_rfc3339(now, sizeof now);
      set_str(meta_of(next), "deletionTimestamp", now);
      json_object_object_del(meta_of(next), "resourceVersion");
      json_object_put(answer);
      /* deletionTimestamp is server-owned: set it on cur's copy, then store */
      set_str(meta_of(cur), "deletionTimestamp", now);
      enum MHD_Result x = store_update(srv, c, rt, cur, next);
      json_object_put(next);
      return x;
    }
  } else {
    if (!rt->r.group[0] && !strcmp(rt->r.plural, "namespaces")) { /* its contents go with it */
      json_object_object_foreach(srv->store.objects, kk, kind_map)
      {
        (void)kk;
        json_object *victims = json_object_new_array();
        json_object_object_foreach(kind_map, k2, o)
        {
          (void)k2;
          if (!strcmp(ferry_kube_str(o, "metadata.namespace") ?: "", rt->name))
            json_object_array_add(victims, json_object_get(o));
        }
        for (size_t i = 0; i < json_object_array_length(victims); i++) {
          json_object *victim = json_object_array_get_idx(victims, i);
          char *key = ferry_asprintf("%s/%s", rt->name, ferry_kube_str(victim, "metadata.name"));
          json_object_object_del(kind_map, key);
          free(key);
          srv->store.rv++;
          kl_store_record(&srv->store, kk, "DELETED", victim);
        }
        json_object_put(victims);
      }
    }
    delete_now(srv, rt, cur);
  }
  persist(srv);
  enum MHD_Result x = send_json(c, 200, answer);
  json_object_put(answer);
  return x;
}

/* POST pods/NAME/binding: what a scheduler does. Sets spec.nodeName once and
 * the PodScheduled condition; a bound pod answers 409. */
static enum MHD_Result do_binding(struct kl_server *srv, struct MHD_Connection *c, const struct route *rt,
                                  json_object *b)
{
  if (!is_core_pod(rt))
    return fail(c, 404, "NotFound", NULL, NULL, "the server could not find the requested resource");
  json_object *cur = find(&srv->store, rt);
  if (!cur)
    return not_found(c, rt);
  const char *node = b ? ferry_kube_str(b, "target.name") : NULL, *kind = b ? ferry_kube_str(b, "target.kind") : NULL;
  if (!node || !*node)
    return fail(c, 422, "Invalid", "pods", rt->name, "Binding.core \"%s\" is invalid: target.name: Required value",
                rt->name);
  if (kind && *kind && strcmp(kind, "Node") != 0)
    return fail(c, 422, "Invalid", "pods", rt->name,
                "Binding.core \"%s\" is invalid: target.kind: Unsupported value: \"%s\": supported values: \"Node\"",
                rt->name, kind);
  enum MHD_Result refused;
  if (sub_create_refused(srv, c, rt, b, &refused))
    return refused;
  const char *bound = ferry_kube_str(cur, "spec.nodeName");
  if (bound && *bound)
    return fail(c, 409, "Conflict", "pods/binding", rt->name,
                "Operation cannot be fulfilled on pods/binding \"%s\": pod %s is already assigned to node \"%s\"",
                rt->name, rt->name, bound);
  if (json_object_object_get_ex(meta_of(cur), "deletionTimestamp", NULL))
    return fail(
        c, 409, "Conflict", "pods/binding", rt->name,
        "Operation cannot be fulfilled on pods/binding \"%s\": pod %s is being deleted, cannot be assigned to a host",
        rt->name, rt->name);
  if (req.dry_run) {
    json_object *st = status_obj(201, "", NULL, NULL, "");
    enum MHD_Result x = send_json(c, 201, st);
    json_object_put(st);
    return x;
  }
  json_object *next = NULL, *spec, *status, *conds;
  json_object_deep_copy(cur, &next, NULL);
  if (!json_object_object_get_ex(next, "spec", &spec)) {
    spec = json_object_new_object();
    json_object_object_add(next, "spec", spec);
  }
  set_str(spec, "nodeName", node);
  if (!json_object_object_get_ex(next, "status", &status)) {
    status = json_object_new_object();
    json_object_object_add(next, "status", status);
  }
  if (!json_object_object_get_ex(status, "conditions", &conds) || !json_object_is_type(conds, json_type_array)) {
    conds = json_object_new_array();
    json_object_object_add(status, "conditions", conds);
  }
  char now[32];
  now_rfc3339(now, sizeof now);
  json_object *cond = json_object_new_object();
  set_str(cond, "type", "PodScheduled");
  set_str(cond, "status", "True");
  set_str(cond, "lastTransitionTime", now);
  for (size_t i = json_object_array_length(conds); i-- > 0;)
    if (!strcmp(ferry_kube_str(json_object_array_get_idx(conds, i), "type") ?: "", "PodScheduled"))
      json_object_array_del_idx(conds, i, 1);
  json_object_array_add(conds, cond);
  if (!ferry_kube_str(next, "status.phase"))
    set_str(status, "phase", "Pending");
  set_rv(&srv->store, next);
  char kk[256];
  kl_resource_key(&rt->r, kk, sizeof kk);
  char *key = obj_key(&rt->r, rt->ns, rt->name);
  json_object_object_add(kl_store_kind(&srv->store, kk), key, next);
  free(key);
  kl_store_record(&srv->store, kk, "MODIFIED", next);
  persist(srv);
  json_object *st = status_obj(201, "", NULL, NULL, "");
  enum MHD_Result x = send_json(c, 201, st);
  json_object_put(st);
  return x;
}

static enum MHD_Result do_faults(struct kl_server *srv, struct MHD_Connection *c, json_object *ask)
{
  json_object *v;
  struct kl_store *s = &srv->store;
  if (json_object_object_get_ex(ask, "dropWatches", &v) && json_object_get_boolean(v)) {
    s->watch_epoch++;
    pthread_cond_broadcast(&s->cv);
  }
  if (json_object_object_get_ex(ask, "forgetHistory", &v) && json_object_get_boolean(v))
    kl_store_forget(s);
  if (json_object_object_get_ex(ask, "failWrites", &v)) {
    srv->fail_writes = json_object_get_int(v);
    srv->fail_code = json_object_object_get_ex(ask, "code", &v) ? (unsigned)json_object_get_int(v) : 500;
  }
  if (json_object_object_get_ex(ask, "failAdmittedCreates", &v)) {
    srv->fail_admitted = json_object_get_int(v);
    snprintf(srv->fail_admitted_of, sizeof srv->fail_admitted_of, "%s",
             json_object_object_get_ex(ask, "resource", &v) ? json_object_get_string(v) : "pods");
  }
  json_object *o = status_obj(200, "", NULL, NULL, "faults set");
  enum MHD_Result x = send_json(c, 200, o);
  json_object_put(o);
  return x;
}

/* ---------- the handler ---------- */

void kl_request_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
  (void)cls;
  (void)c;
  (void)toe;
  struct body *b = *con_cls;
  if (b) {
    free(b->data);
    free(b);
    *con_cls = NULL;
  }
}

static enum MHD_Result dispatch(struct kl_server *srv, struct MHD_Connection *c, const char *url, const char *method,
                                struct body *b)
{
  enum MHD_Result answered;
  struct kl_user who;
  if (kl_access(srv->auth, &srv->store, c, url, method, b ? b->data : NULL, b ? b->len : 0, &who, &answered))
    return answered;
  req.user = &who;
  req.deleting = 0;
  if (!strcmp(url, "/version")) {
    json_object *v = json_tokener_parse("{\"major\":\"1\",\"minor\":\"32\",\"gitVersion\":\"v1.32.0-kube-lite\","
                                        "\"platform\":\"linux/amd64\"}");
    enum MHD_Result x = send_json(c, 200, v);
    json_object_put(v);
    return x;
  }
  if (!strcmp(url, "/healthz") || !strcmp(url, "/readyz") || !strcmp(url, "/livez")) {
    struct MHD_Response *r = MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result x = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return x;
  }
  int reading = !strcmp(method, "GET");
  const char *dry = reading ? NULL : arg(c, "dryRun"), *fv = reading ? NULL : arg(c, "fieldValidation");
  if (dry && strcmp(dry, "All") != 0)
    return fail(c, 400, "BadRequest", NULL, NULL, "dryRun: Unsupported value: \"%s\": supported values: \"All\"", dry);
  if (fv && *fv && strcmp(fv, "Strict") && strcmp(fv, "Warn") && strcmp(fv, "Ignore"))
    return fail(c, 400, "BadRequest", NULL, NULL,
                "fieldValidation: Unsupported value: \"%s\": supported values: \"Ignore\", \"Strict\", \"Warn\"", fv);
  req.dry_run = dry != NULL;
  req.fv = !fv || !*fv || !strcmp(fv, "Warn") ? FV_WARN : !strcmp(fv, "Strict") ? FV_STRICT : FV_IGNORE;
  json_object *body = NULL;
  const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
  if (b && b->len && ctype && !strncmp(ctype, KL_PROTOBUF_TYPE, strlen(KL_PROTOBUF_TYPE))) {
    char why[512];
    if (kl_protobuf_decode((const uint8_t *)b->data, b->len, &body, why, sizeof why) < 0)
      return fail(c, 400, "BadRequest", NULL, NULL, "%s", why);
  } else if (b && b->len) {
    enum json_tokener_error je;
    body = json_tokener_parse_verbose(b->data, &je);
    if (!body)
      return fail(c, 400, "BadRequest", NULL, NULL, "the request body is not JSON: %s", json_tokener_error_desc(je));
  }
  struct kl_store *s = &srv->store;
  enum MHD_Result x;
  pthread_mutex_lock(&s->mu);
  int write = strcmp(method, "GET") != 0;
  if (!strcmp(url, "/kube-lite/faults") && !strcmp(method, "POST")) {
    x = srv->faults ? do_faults(srv, c, body)
                    : fail(c, 404, "NotFound", NULL, NULL, "fault injection is off (--faults)");
    goto out;
  }
  if (write && srv->fail_writes > 0) {
    srv->fail_writes--;
    x = fail(c, srv->fail_code, srv->fail_code == 409 ? "Conflict" : "InternalError", NULL, NULL,
             "injected failure (kube-lite --faults)");
    goto out;
  }
  if (!strcmp(method, "GET") && (!strcmp(url, "/openapi/v3") || !strncmp(url, "/openapi/v3/", 12))) {
    json_object *spec = url[11] ? kl_openapi_gv(s, url + 12) : kl_openapi_index(s);
    x = spec ? send_json(c, 200, spec)
             : fail(c, 404, "NotFound", NULL, NULL, "the server could not find the requested resource");
    json_object_put(spec);
    goto out;
  }
  struct route rt;
  json_object *doc = NULL;
  int r = route(s, url, &rt, &doc);
  if (r == 1) {
    x = send_json(c, 200, doc);
    json_object_put(doc);
    goto out;
  }
  if (r < 0) {
    x = fail(c, 404, "NotFound", NULL, NULL, "the server could not find the requested resource");
    goto out;
  }
  if (rt.r.namespaced && !rt.ns[0] && strcmp(method, "GET") != 0) {
    x = fail(c, 404, "NotFound", NULL, NULL, "the server could not find the requested resource (namespace required)");
    goto out;
  }
  if (!rt.name[0]) {
    if (!strcmp(method, "GET"))
      x = do_list(srv, c, &rt);
    else if (!strcmp(method, "POST"))
      x = do_create(srv, c, &rt, body);
    else
      x = fail(c, 405, "MethodNotAllowed", NULL, NULL, "%s is not allowed on a collection", method);
    goto out;
  }
  if (rt.sub[0] && strcmp(rt.sub, "status") != 0 && strcmp(rt.sub, "eviction") != 0 && strcmp(rt.sub, "binding") != 0) {
    x = fail(c, 404, "NotFound", NULL, NULL, "the server could not find the requested resource");
    goto out;
  }
  if (!strcmp(rt.sub, "eviction")) {
    json_object *cur = find(s, &rt);
    if (strcmp(method, "POST") != 0 || strcmp(rt.r.plural, "pods") != 0)
      x = fail(c, 405, "MethodNotAllowed", NULL, NULL, "eviction is a POST on pods");
    else if (!cur)
      x = not_found(c, &rt);
    else if (sub_create_refused(srv, c, &rt, body, &x))
      ;
    else if (req.dry_run || dry_run_in(body ? json_object_object_get(body, "deleteOptions") : NULL)) {
      json_object *st = status_obj(201, "", NULL, NULL, "");
      x = send_json(c, 201, st);
      json_object_put(st);
    } else {
      json_object *opts = body ? json_object_object_get(body, "deleteOptions") : NULL;
      char why[512];
      if (kl_eviction_blocked(kl_store_kind(s, "/pods"), kl_store_kind(s, "policy/poddisruptionbudgets"), cur, why,
                              sizeof why)) {
        x = fail(c, 429, "TooManyRequests", "pods", rt.name, "%s", why);
        goto out;
      }
      int64_t grace = pod_grace(c, opts, cur);
      if (grace > 0)
        pod_terminate(srv, &rt, cur, grace);
      else
        delete_now(srv, &rt, cur);
      persist(srv);
      json_object *st = status_obj(201, "", NULL, NULL, "");
      x = send_json(c, 201, st);
      json_object_put(st);
    }
    goto out;
  }
  if (!strcmp(rt.sub, "binding")) {
    x = do_binding(srv, c, &rt, body);
    goto out;
  }
  if (rt.sub[0] && !rt.r.has_status) {
    x = fail(c, 404, "NotFound", NULL, NULL, "%s has no status subresource", rt.r.plural);
  } else if (!strcmp(method, "GET")) {
    json_object *cur = find(s, &rt);
    if (!cur) {
      x = not_found(c, &rt);
    } else {
      json_object *one = json_object_new_array();
      json_object_array_add(one, json_object_get(cur));
      if (rt.sub[0] || !answer_table(s, c, &rt, one, NULL, &x))
        x = send_json(c, 200, cur);
      json_object_put(one);
    }
  } else if (!strcmp(method, "PUT")) {
    json_object *cur = find(s, &rt);
    if (!cur)
      x = not_found(c, &rt);
    else if (!json_object_is_type(body, json_type_object))
      x = fail(c, 400, "BadRequest", NULL, NULL, "the request body is not a JSON object");
    else
      x = store_update(srv, c, &rt, cur, body);
  } else if (!strcmp(method, "PATCH")) {
    x = body ? do_patch(srv, c, &rt, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type"), body)
             : fail(c, 400, "BadRequest", NULL, NULL, "empty patch");
  } else if (!strcmp(method, "DELETE")) {
    x = do_delete(srv, c, &rt, body);
  } else {
    x = fail(c, 405, "MethodNotAllowed", NULL, NULL, "%s is not allowed", method);
  }
out:
  pthread_mutex_unlock(&s->mu);
  json_object_put(body);
  json_object_put(req.warnings);
  req.warnings = NULL;
  req.user = NULL;
  return x;
}

enum MHD_Result kl_handle(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
                          const char *data, size_t *size, void **con_cls)
{
  (void)version;
  struct kl_server *srv = cls;
  struct body *b = *con_cls;
  if (!b) {
    b = calloc(1, sizeof *b);
    if (!b)
      return MHD_NO;
    *con_cls = b;
    return MHD_YES;
  }
  if (*size) {
    if (b->len + *size + 1 > b->cap) {
      size_t cap = b->cap ? b->cap * 2 : 16384;
      while (cap < b->len + *size + 1)
        cap *= 2;
      if (cap > 64u << 20)
        return MHD_NO; /* 64 MiB: far more than any object */
      char *d = realloc(b->data, cap);
      if (!d)
        return MHD_NO;
      b->data = d;
      b->cap = cap;
    }
    memcpy(b->data + b->len, data, *size);
    b->len += *size;
    b->data[b->len] = '\0';
    *size = 0;
    return MHD_YES;
  }
  log_debug("kube-lite: %s %s", method, url);
  return dispatch(srv, c, url, method, b);
}

int kl_server_start(struct kl_server *srv, char *why, size_t why_len)
{
  struct kl_store *s = &srv->store;
  if (srv->data_file && access(srv->data_file, R_OK) == 0) {
    char *text = NULL;
    ferry_error err = FERRY_ERROR_INIT;
    if (ferry_read_file(srv->data_file, &text, NULL, &err) < 0) {
      snprintf(why, why_len, "%s", ferry_error_msg(&err));
      ferry_error_clear(&err);
      return -1;
    }
    json_object *o = json_tokener_parse(text), *objs, *rv;
    free(text);
    if (!o || !json_object_object_get_ex(o, "objects", &objs) ||
        !json_object_object_get_ex(o, "resourceVersion", &rv)) {
      json_object_put(o);
      snprintf(why, why_len, "%s: not a kube-lite data file", srv->data_file);
      return -1;
    }
    json_object_put(s->objects);
    s->objects = json_object_get(objs);
    s->rv = json_object_get_int64(rv);
    s->oldest_rv = s->rv;
    json_object_put(o);
    log_info("kube-lite: loaded %s (resourceVersion %lld)", srv->data_file, (long long)s->rv);
  }
  static const char *const nss[] = { "default", "kube-system", "kube-public", "kube-node-lease" };
  json_object *map = kl_store_kind(s, "/namespaces");
  for (size_t i = 0; i < 4; i++) {
    if (json_object_object_get_ex(map, nss[i], NULL))
      continue;
    json_object *ns = json_object_new_object(), *m = json_object_new_object();
    char uid[40], now[32];
    new_uid(uid, sizeof uid);
    now_rfc3339(now, sizeof now);
    set_str(ns, "apiVersion", "v1");
    set_str(ns, "kind", "Namespace");
    set_str(m, "name", nss[i]);
    json_object_object_add(m, "labels", json_object_new_object());
    json_object_object_add(json_object_object_get(m, "labels"), KL_NAMESPACE_NAME_LABEL,
                           json_object_new_string(nss[i]));
    set_str(m, "uid", uid);
    set_str(m, "creationTimestamp", now);
    json_object_object_add(ns, "metadata", m);
    json_object_object_add(ns, "status", json_tokener_parse("{\"phase\":\"Active\"}"));
    set_rv(s, ns);
    json_object_object_add(map, nss[i], ns);
  }
  s->oldest_rv = s->rv;
  return 0;
}

json_object *kl_status(unsigned code, const char *reason, const char *kind, const char *name, const char *msg)
{
  return status_obj(code, reason, kind, name, msg);
}

enum MHD_Result kl_send_json(struct MHD_Connection *c, unsigned code, json_object *o) { return send_json(c, code, o); }
