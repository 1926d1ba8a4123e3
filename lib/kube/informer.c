/* SPDX-License-Identifier: Apache-2.0 */
#include "kube/informer.h"

#include <curl/curl.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "kube/trim.h"

#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 30000
#define WATCH_TIMEOUT_S 300 /* the server ends a watch after this; we start the next */
/* Objects per list page. A page is parsed whole, and the memory it took is left
 * in holes between the (trimmed) objects kept from it: about 60 KB per pod of a
 * real cluster's, so 100 leave at most some 6 MB (500 left 30 MB). */
#define LIST_PAGE 100

enum state { NEED_LIST, START_WATCH, WATCHING };

struct ferry_informer {
  struct ferry_informers *g;
  struct ferry_kube_resource r;
  char *ns, *ls, *fs;
  struct ferry_informer_handlers h;
  json_object *cache;      /* "ns/name" -> object */
  struct ferry_trim *trim; /* what is kept of each object (NULL: all) */
  char *rv;
  int synced;
  enum state state;
  int64_t retry_at;
  long backoff_ms;
  CURL *watch;
  struct curl_slist *hdrs;
  char *line;
  size_t line_len, line_cap;
  int relist;       /* the stream said 410: list again */
  int stream_error; /* the stream said something else went wrong */
  struct ferry_informer_stats stats;
};

struct ferry_informers {
  struct ferry_kube_config cfg;
  struct ferry_kube *kube; /* lists */
  CURLM *multi;
  struct ferry_informer **infs;
  size_t n;
  unsigned long changes; /* objects added, updated or deleted: ends a run early */
};

int ferry_watch_event_parse(const char *line, char *type, size_t type_len, json_object **obj, ferry_error *err)
{
  enum json_tokener_error je;
  json_object *ev = json_tokener_parse_verbose(line, &je), *t, *o;
  if (!ev)
    return ferry_error_set(err, 0, "watch event is not JSON (%s)", json_tokener_error_desc(je));
  if (!json_object_object_get_ex(ev, "type", &t) || !json_object_is_type(t, json_type_string) ||
      !json_object_object_get_ex(ev, "object", &o) || !json_object_is_type(o, json_type_object)) {
    json_object_put(ev);
    return ferry_error_set(err, 0, "watch event without a type or an object");
  }
  snprintf(type, type_len, "%s", json_object_get_string(t));
  *obj = json_object_get(o);
  json_object_put(ev);
  return 0;
}

static char *key_of(json_object *obj)
{
  const char *ns = ferry_kube_str(obj, "metadata.namespace"), *name = ferry_kube_str(obj, "metadata.name");
  if (!name)
    return NULL;
  return ns && *ns ? ferry_asprintf("%s/%s", ns, name) : ferry_strdup(name);
}

static void set_rv(struct ferry_informer *inf, const char *rv)
{
  if (!rv || !*rv)
    return;
  free(inf->rv);
  inf->rv = ferry_strdup(rv);
}

static void backoff(struct ferry_informer *inf, const char *why)
{
  inf->backoff_ms = inf->backoff_ms ? inf->backoff_ms * 2 : BACKOFF_MIN_MS;
  if (inf->backoff_ms > BACKOFF_MAX_MS)
    inf->backoff_ms = BACKOFF_MAX_MS;
  inf->retry_at = ferry_now_mono_ms() + inf->backoff_ms;
  log_warn("informer %s: %s; retrying in %ld ms", inf->r.plural, why, inf->backoff_ms);
}

/* Puts obj (a new reference, consumed) into the cache and tells the handlers. */
static void apply_upsert(struct ferry_informer *inf, json_object *obj)
{
  char *key = key_of(obj);
  if (!key) {
    json_object_put(obj);
    return;
  }
  json_object *old = NULL;
  if (json_object_object_get_ex(inf->cache, key, &old))
    json_object_get(old);
  json_object_object_add(inf->cache, key, obj);
  inf->g->changes++;
  if (old) {
    const char *orv = ferry_kube_str(old, "metadata.resourceVersion"),
               *nrv = ferry_kube_str(obj, "metadata.resourceVersion");
    if (inf->h.on_update && !(orv && nrv && strcmp(orv, nrv) == 0))
      inf->h.on_update(inf->h.ctx, old, obj);
    json_object_put(old);
  } else if (inf->h.on_add) {
    inf->h.on_add(inf->h.ctx, obj);
  }
  free(key);
}

static void apply_delete(struct ferry_informer *inf, json_object *obj)
{
  char *key = key_of(obj);
  json_object *old = NULL;
  if (key && json_object_object_get_ex(inf->cache, key, &old)) {
    json_object_get(old);
    json_object_object_del(inf->cache, key);
    inf->g->changes++;
    if (inf->h.on_delete)
      inf->h.on_delete(inf->h.ctx, obj);
    json_object_put(old);
  }
  free(key);
}

/* What the cache keeps of obj: a new reference. */
static json_object *kept(void *ctx, json_object *obj)
{
  struct ferry_informer *inf = ctx;
  return inf->trim ? ferry_trim_apply(inf->trim, obj) : json_object_get(obj);
}

static void handle_line(struct ferry_informer *inf, const char *line)
{
  char type[16];
  json_object *obj = NULL;
  ferry_error err = FERRY_ERROR_INIT;
  if (ferry_watch_event_parse(line, type, sizeof type, &obj, &err) < 0) {
    log_warn("informer %s: %s", inf->r.plural, ferry_error_msg(&err));
    ferry_error_clear(&err);
    inf->stream_error = 1;
    return;
  }
  inf->stats.events++;
  if (!strcmp(type, "ERROR")) {
    json_object *code;
    long c = json_object_object_get_ex(obj, "code", &code) ? (long)json_object_get_int64(code) : 0;
    const char *msg = ferry_kube_str(obj, "message");
    if (c == 410) {
      log_info("informer %s: resourceVersion %s is too old (%s); listing again", inf->r.plural, inf->rv ? inf->rv : "",
               msg ? msg : "410 Gone");
      inf->relist = 1;
    } else {
      log_warn("informer %s: watch error %ld: %s", inf->r.plural, c, msg ? msg : "");
      inf->stream_error = 1;
    }
    json_object_put(obj);
    return;
  }
  inf->backoff_ms = 0; /* the stream works */
  set_rv(inf, ferry_kube_str(obj, "metadata.resourceVersion"));
  if (!strcmp(type, "BOOKMARK")) {
    inf->stats.bookmarks++;
    json_object_put(obj);
  } else if (!strcmp(type, "DELETED")) {
    apply_delete(inf, obj);
    json_object_put(obj);
  } else if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED")) {
    apply_upsert(inf, kept(inf, obj));
    json_object_put(obj);
  } else {
    log_warn("informer %s: unknown watch event type %s", inf->r.plural, type);
    json_object_put(obj);
  }
}

static size_t on_watch_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
  struct ferry_informer *inf = userdata;
  size_t n = size * nmemb;
  for (size_t i = 0; i < n; i++) {
    if (ptr[i] != '\n') {
      if (inf->line_len + 2 > inf->line_cap) {
        size_t cap = inf->line_cap ? inf->line_cap * 2 : 16384;
        char *l = realloc(inf->line, cap);
        if (!l)
          return 0;
        inf->line = l;
        inf->line_cap = cap;
      }
      inf->line[inf->line_len++] = ptr[i];
      continue;
    }
    if (!inf->line_len)
      continue;
    inf->line[inf->line_len] = '\0';
    handle_line(inf, inf->line);
    inf->line_len = 0;
    if (inf->relist || inf->stream_error)
      return 0; /* end this stream: libcurl reports a write error, we know why */
  }
  return n;
}

/* A list parses pages of whole objects between the ones it keeps: the pages'
 * memory, free now, is given back to the system rather than kept in holes. */
static void release_pages(void)
{
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

/* Lists and reconciles the cache: adds, updates, and deletes for what vanished. */
static int do_list(struct ferry_informer *inf)
{
  ferry_error err = FERRY_ERROR_INIT;
  json_object *items = NULL;
  char *rv = NULL;
  inf->stats.lists++;
  if (ferry_kube_list_map(inf->g->kube, &inf->r, inf->ns, inf->ls, inf->fs, LIST_PAGE, kept, inf, &items, &rv, &err) <
      0) {
    backoff(inf, ferry_error_msg(&err));
    ferry_error_clear(&err);
    return -1;
  }
  json_object *seen = json_object_new_object();
  for (size_t i = 0; i < json_object_array_length(items); i++) {
    json_object *obj = json_object_array_get_idx(items, i);
    char *key = key_of(obj);
    if (!key)
      continue;
    json_object_object_add(seen, key, NULL);
    free(key);
    apply_upsert(inf, json_object_get(obj));
  }
  /* What the cache has and the list has not was deleted while we were not watching. */
  json_object *gone = json_object_new_array();
  json_object_object_foreach(inf->cache, key, val)
  {
    if (!json_object_object_get_ex(seen, key, NULL))
      json_object_array_add(gone, json_object_get(val));
  }
  for (size_t i = 0; i < json_object_array_length(gone); i++)
    apply_delete(inf, json_object_array_get_idx(gone, i));
  json_object_put(gone);
  json_object_put(seen);
  json_object_put(items);
  set_rv(inf, rv);
  free(rv);
  release_pages();
  inf->synced = 1;
  inf->backoff_ms = 0;
  inf->state = START_WATCH;
  return 0;
}

static int start_watch(struct ferry_informer *inf, ferry_error *err)
{
  char *ls = inf->ls ? ferry_kube_escape(inf->ls) : NULL, *fs = inf->fs ? ferry_kube_escape(inf->fs) : NULL;
  char *q = ferry_asprintf("watch=true&allowWatchBookmarks=true&timeoutSeconds=%d&resourceVersion=%s%s%s%s%s",
                           WATCH_TIMEOUT_S, inf->rv ? inf->rv : "0", ls ? "&labelSelector=" : "", ls ? ls : "",
                           fs ? "&fieldSelector=" : "", fs ? fs : "");
  char *path = ferry_kube_path(&inf->r, inf->ns, NULL, NULL, q);
  char *url = ferry_asprintf("%s%s", inf->g->cfg.server, path);
  free(ls);
  free(fs);
  free(q);
  free(path);
  CURL *h = inf->watch;
  curl_easy_reset(h);
  int rc = 0;
  CURLcode c = CURLE_OK;
  CURLMcode mc;
  if (ferry_kube_curl_setup(&inf->g->cfg, h, err) < 0) {
    rc = -1;
  } else if ((c = curl_easy_setopt(h, CURLOPT_URL, url)) != CURLE_OK ||
             (c = curl_easy_setopt(h, CURLOPT_HTTPHEADER, inf->hdrs)) != CURLE_OK ||
             (c = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_watch_data)) != CURLE_OK ||
             (c = curl_easy_setopt(h, CURLOPT_WRITEDATA, inf)) != CURLE_OK ||
             (c = curl_easy_setopt(h, CURLOPT_PRIVATE, inf)) != CURLE_OK ||
             /* a stalled stream (no byte, not even a bookmark, for this long) is dropped */
             (c = curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L)) != CURLE_OK ||
             (c = curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)WATCH_TIMEOUT_S + 30)) != CURLE_OK) {
    rc = ferry_error_set(err, 0, "watch %s: libcurl: %s", inf->r.plural, curl_easy_strerror(c));
  } else if ((mc = curl_multi_add_handle(inf->g->multi, h)) != CURLM_OK) {
    rc = ferry_error_set(err, 0, "watch %s: %s", inf->r.plural, curl_multi_strerror(mc));
  } else {
    inf->line_len = 0;
    inf->relist = inf->stream_error = 0;
    inf->state = WATCHING;
    inf->stats.watches++;
  }
  free(url);
  return rc;
}

/* A watch stream ended: decide what comes next. */
static void watch_done(struct ferry_informer *inf, CURLcode result)
{
  long code = 0;
  curl_easy_getinfo(inf->watch, CURLINFO_RESPONSE_CODE, &code);
  curl_multi_remove_handle(inf->g->multi, inf->watch);
  inf->state = START_WATCH;
  if (inf->relist || code == 410) {
    inf->stats.relists_410++;
    inf->state = NEED_LIST;
    inf->retry_at = 0;
  } else if (result == CURLE_OK && code == 200) {
    inf->retry_at = 0; /* the server ended it (timeoutSeconds): go on from the last resourceVersion */
  } else {
    inf->stats.reconnects++;
    char why[256];
    snprintf(why, sizeof why, "watch ended: %s%s (HTTP %ld)", inf->stream_error ? "bad event; " : "",
             result == CURLE_OK ? "closed" : curl_easy_strerror(result), code);
    backoff(inf, why);
  }
}

int ferry_informers_new(const struct ferry_kube_config *cfg, struct ferry_informers **out, ferry_error *err)
{
  ferry_kube_global_init();
  struct ferry_informers *g = calloc(1, sizeof *g);
  if (!g)
    abort();
  ferry_kube_config_copy(&g->cfg, cfg);
  if (ferry_kube_open(cfg, &g->kube, err) < 0) {
    ferry_informers_free(g);
    return -1;
  }
  g->multi = curl_multi_init();
  if (!g->multi) {
    ferry_informers_free(g);
    return ferry_error_set(err, ENOMEM, "curl_multi_init");
  }
  *out = g;
  return 0;
}

struct ferry_informers *ferry_informers_open_fake(ferry_kube_exchange_fn exchange, void *ctx)
{
  struct ferry_informers *g = calloc(1, sizeof *g);
  if (!g)
    abort();
  g->kube = ferry_kube_open_fake(exchange, ctx);
  g->multi = curl_multi_init();
  if (!g->multi)
    abort();
  return g;
}

int ferry_informers_relist(struct ferry_informers *g, ferry_error *err)
{
  for (size_t i = 0; i < g->n; i++)
    if (do_list(g->infs[i]) < 0)
      return ferry_error_set(err, 0, "informer %s: the list failed", g->infs[i]->r.plural);
  return 0;
}

static void informer_free(struct ferry_informer *inf)
{
  if (inf->watch) {
    if (inf->state == WATCHING)
      curl_multi_remove_handle(inf->g->multi, inf->watch);
    curl_easy_cleanup(inf->watch);
  }
  curl_slist_free_all(inf->hdrs);
  json_object_put(inf->cache); /* first: cached objects use the trim's key strings */
  ferry_trim_free(inf->trim);
  free(inf->ns);
  free(inf->ls);
  free(inf->fs);
  free(inf->rv);
  free(inf->line);
  free(inf);
}

void ferry_informers_free(struct ferry_informers *g)
{
  if (!g)
    return;
  for (size_t i = 0; i < g->n; i++)
    informer_free(g->infs[i]);
  free(g->infs);
  if (g->multi)
    curl_multi_cleanup(g->multi);
  ferry_kube_close(g->kube);
  ferry_kube_config_free(&g->cfg);
  free(g);
}

int ferry_informer_add(struct ferry_informers *g, const struct ferry_kube_resource *r, const char *ns,
                       const char *label_selector, const char *field_selector, const struct ferry_informer_handlers *h,
                       struct ferry_informer **out, ferry_error *err)
{
  struct ferry_informer *inf = calloc(1, sizeof *inf);
  if (!inf)
    abort();
  inf->g = g;
  inf->r = *r;
  inf->ns = ns ? ferry_strdup(ns) : NULL;
  inf->ls = label_selector ? ferry_strdup(label_selector) : NULL;
  inf->fs = field_selector ? ferry_strdup(field_selector) : NULL;
  if (h)
    inf->h = *h;
  inf->cache = json_object_new_object();
  inf->state = NEED_LIST;
  inf->watch = curl_easy_init();
  struct curl_slist *t = curl_slist_append(NULL, "Accept: application/json");
  char *auth = ferry_kube_auth_header(&g->cfg);
  if (t && auth)
    t = curl_slist_append(t, auth);
  free(auth);
  inf->hdrs = t;
  if (!inf->watch || !inf->hdrs) {
    informer_free(inf);
    return ferry_error_set(err, ENOMEM, "informer %s", r->plural);
  }
  struct ferry_informer **infs = realloc(g->infs, (g->n + 1) * sizeof *infs);
  if (!infs)
    abort();
  g->infs = infs;
  g->infs[g->n++] = inf;
  if (out)
    *out = inf;
  return 0;
}

int ferry_informer_keep(struct ferry_informer *inf, const char *spec, ferry_error *err)
{
  struct ferry_trim *t = NULL;
  if (inf->synced || json_object_object_length(inf->cache))
    return ferry_error_set(err, 0, "informer %s: its keep spec comes before its first list", inf->r.plural);
  if (ferry_trim_new(spec, &t, err) < 0)
    return ferry_error_prefix(err, "informer %s", inf->r.plural);
  ferry_trim_free(inf->trim);
  inf->trim = t;
  return 0;
}

int ferry_informers_run(struct ferry_informers *g, long timeout_ms, ferry_error *err)
{
  int64_t deadline = ferry_now_mono_ms() + timeout_ms;
  unsigned long changes = g->changes;
  for (;;) {
    int64_t now = ferry_now_mono_ms();
    int64_t next = deadline;
    for (size_t i = 0; i < g->n; i++) {
      struct ferry_informer *inf = g->infs[i];
      if (inf->state != WATCHING && inf->retry_at > now) {
        if (inf->retry_at < next)
          next = inf->retry_at;
        continue;
      }
      if (inf->state == NEED_LIST && do_list(inf) < 0)
        continue;
      if (inf->state == START_WATCH && start_watch(inf, err) < 0)
        return -1;
    }
    int running = 0;
    CURLMcode mc = curl_multi_perform(g->multi, &running);
    if (mc != CURLM_OK)
      return ferry_error_set(err, 0, "curl_multi_perform: %s", curl_multi_strerror(mc));
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(g->multi, &left))) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      struct ferry_informer *inf = NULL;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&inf);
      if (inf)
        watch_done(inf, msg->data.result);
    }
    now = ferry_now_mono_ms();
    if (now >= deadline || g->changes != changes) /* the caller has work to do */
      return 0;
    int64_t wait = (next > now ? next : now) - now;
    if (wait > 100)
      wait = 100;
    mc = curl_multi_poll(g->multi, NULL, 0, (int)(wait > 0 ? wait : 1), NULL);
    if (mc != CURLM_OK)
      return ferry_error_set(err, 0, "curl_multi_poll: %s", curl_multi_strerror(mc));
  }
}

int ferry_informer_synced(const struct ferry_informer *inf) { return inf->synced; }

json_object *ferry_informer_get(const struct ferry_informer *inf, const char *ns, const char *name)
{
  char *key = ns && *ns ? ferry_asprintf("%s/%s", ns, name) : ferry_strdup(name);
  json_object *o = NULL;
  json_object_object_get_ex(inf->cache, key, &o);
  free(key);
  return o;
}

size_t ferry_informer_len(const struct ferry_informer *inf) { return (size_t)json_object_object_length(inf->cache); }

void ferry_informer_each(const struct ferry_informer *inf, void (*fn)(void *ctx, json_object *obj), void *ctx)
{
  json_object_object_foreach(inf->cache, key, val)
  {
    (void)key;
    fn(ctx, val);
  }
}

const char *ferry_informer_resource_version(const struct ferry_informer *inf) { return inf->rv; }

void ferry_informer_stats(const struct ferry_informer *inf, struct ferry_informer_stats *out) { *out = inf->stats; }
