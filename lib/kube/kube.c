/* SPDX-License-Identifier: Apache-2.0 */
#include "kube/kube.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#ifndef FERRY_VERSION
#define FERRY_VERSION "dev"
#endif

const struct ferry_kube_resource FERRY_KUBE_PODS = { "", "v1", "pods", 1 };
const struct ferry_kube_resource FERRY_KUBE_NODES = { "", "v1", "nodes", 0 };
const struct ferry_kube_resource FERRY_KUBE_NAMESPACES = { "", "v1", "namespaces", 0 };
const struct ferry_kube_resource FERRY_KUBE_SERVICES = { "", "v1", "services", 1 };
const struct ferry_kube_resource FERRY_KUBE_ENDPOINTS = { "", "v1", "endpoints", 1 };
const struct ferry_kube_resource FERRY_KUBE_EVENTS = { "", "v1", "events", 1 };
const struct ferry_kube_resource FERRY_KUBE_ENDPOINTSLICES = { "discovery.k8s.io", "v1", "endpointslices", 1 };
const struct ferry_kube_resource FERRY_KUBE_LEASES = { "coordination.k8s.io", "v1", "leases", 1 };
const struct ferry_kube_resource FERRY_KUBE_CRDS = { "apiextensions.k8s.io", "v1", "customresourcedefinitions", 0 };
const struct ferry_kube_resource FERRY_KUBE_PODMIGRATIONS = { "ferry.dev", "v1alpha1", "podmigrations", 1 };
const struct ferry_kube_resource FERRY_KUBE_MIGRATIONPOLICIES = { "ferry.dev", "v1alpha1", "migrationpolicies", 0 };

struct ferry_kube {
  struct ferry_kube_config cfg;
  CURL *curl;
  long timeout_ms;
  char *auth_header;
  ferry_kube_exchange_fn exchange; /* http_exchange, or a fake API's */
  void *exchange_ctx;
};

static int http_exchange(void *ctx, const char *method, const char *path, const char *content_type, const char *body,
                         long *code, char **answer, ferry_error *err);

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void init_curl(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

void ferry_kube_global_init(void) { pthread_once(&curl_once, init_curl); }

static char *dup_or_null(const char *s) { return s ? ferry_strdup(s) : NULL; }

static char *dup_mem(const char *p, size_t n)
{
  if (!p)
    return NULL;
  char *r = malloc(n + 1);
  if (!r)
    abort();
  memcpy(r, p, n);
  r[n] = '\0';
  return r;
}

void ferry_kube_config_copy(struct ferry_kube_config *d, const struct ferry_kube_config *s)
{
  memset(d, 0, sizeof *d);
  d->source = dup_or_null(s->source);
  d->context = dup_or_null(s->context);
  d->server = dup_or_null(s->server);
  d->namespace_ = dup_or_null(s->namespace_);
  d->insecure_skip_tls_verify = s->insecure_skip_tls_verify;
  d->ca_file = dup_or_null(s->ca_file);
  d->ca_pem = dup_mem(s->ca_pem, s->ca_pem_len);
  d->ca_pem_len = s->ca_pem_len;
  d->cert_file = dup_or_null(s->cert_file);
  d->key_file = dup_or_null(s->key_file);
  d->cert_pem = dup_mem(s->cert_pem, s->cert_pem_len);
  d->cert_pem_len = s->cert_pem_len;
  d->key_pem = dup_mem(s->key_pem, s->key_pem_len);
  d->key_pem_len = s->key_pem_len;
  d->token = dup_or_null(s->token);
}

#define SETOPT(h, opt, val)                                                                                            \
  do {                                                                                                                 \
    CURLcode c_ = curl_easy_setopt(h, opt, val);                                                                       \
    if (c_ != CURLE_OK) {                                                                                              \
      ferry_error_set(err, 0, "libcurl option " #opt ": %s", curl_easy_strerror(c_));                                  \
      goto fail;                                                                                                       \
    }                                                                                                                  \
  } while (0)

int ferry_kube_curl_setup(const struct ferry_kube_config *cfg, void *handle, ferry_error *err)
{
  CURL *h = handle;
  SETOPT(h, CURLOPT_NOSIGNAL, 1L);
  SETOPT(h, CURLOPT_USERAGENT, "ferry/" FERRY_VERSION);
  SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  SETOPT(h, CURLOPT_TCP_KEEPALIVE, 1L);
  SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https");
  if (cfg->insecure_skip_tls_verify) {
    SETOPT(h, CURLOPT_SSL_VERIFYPEER, 0L);
    SETOPT(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (cfg->ca_pem) {
    struct curl_blob blob = { cfg->ca_pem, cfg->ca_pem_len, CURL_BLOB_COPY };
    SETOPT(h, CURLOPT_CAINFO_BLOB, &blob);
  } else if (cfg->ca_file) {
    SETOPT(h, CURLOPT_CAINFO, cfg->ca_file);
  }
  if (cfg->cert_pem) {
    struct curl_blob cert = { cfg->cert_pem, cfg->cert_pem_len, CURL_BLOB_COPY };
    struct curl_blob key = { cfg->key_pem, cfg->key_pem_len, CURL_BLOB_COPY };
    SETOPT(h, CURLOPT_SSLCERT_BLOB, &cert);
    SETOPT(h, CURLOPT_SSLKEY_BLOB, &key);
    SETOPT(h, CURLOPT_SSLCERTTYPE, "PEM");
  } else if (cfg->cert_file) {
    SETOPT(h, CURLOPT_SSLCERT, cfg->cert_file);
    SETOPT(h, CURLOPT_SSLKEY, cfg->key_file);
  }
  return 0;
fail:
  return -1;
}

char *ferry_kube_auth_header(const struct ferry_kube_config *cfg)
{
  return cfg->token ? ferry_asprintf("Authorization: Bearer %s", cfg->token) : NULL;
}

int ferry_kube_open(const struct ferry_kube_config *cfg, struct ferry_kube **out, ferry_error *err)
{
  pthread_once(&curl_once, init_curl);
  if (curl_init_rc != CURLE_OK)
    return ferry_error_set(err, 0, "libcurl init: %s", curl_easy_strerror(curl_init_rc));
  if (!cfg->server)
    return ferry_error_set(err, 0, "Kubernetes client: no API server address");
  struct ferry_kube *k = calloc(1, sizeof *k);
  if (!k)
    abort();
  ferry_kube_config_copy(&k->cfg, cfg);
  k->timeout_ms = 30000;
  k->curl = curl_easy_init();
  if (!k->curl) {
    ferry_error_set(err, ENOMEM, "curl_easy_init");
    ferry_kube_close(k);
    return -1;
  }
  if (ferry_kube_curl_setup(&k->cfg, k->curl, err) < 0) {
    ferry_kube_close(k);
    return -1;
  }
  k->auth_header = ferry_kube_auth_header(&k->cfg);
  k->exchange = http_exchange;
  k->exchange_ctx = k;
  *out = k;
  return 0;
}

struct ferry_kube *ferry_kube_open_fake(ferry_kube_exchange_fn exchange, void *ctx)
{
  struct ferry_kube *k = calloc(1, sizeof *k);
  if (!k)
    abort();
  k->cfg.server = ferry_strdup("fake://");
  k->timeout_ms = 30000;
  k->exchange = exchange;
  k->exchange_ctx = ctx;
  return k;
}

void ferry_kube_close(struct ferry_kube *k)
{
  if (!k)
    return;
  if (k->curl)
    curl_easy_cleanup(k->curl);
  ferry_kube_config_free(&k->cfg);
  if (k->auth_header) {
    memset(k->auth_header, 0, strlen(k->auth_header));
    free(k->auth_header);
  }
  free(k);
}

const struct ferry_kube_config *ferry_kube_get_config(const struct ferry_kube *k) { return &k->cfg; }
void ferry_kube_set_timeout_ms(struct ferry_kube *k, long ms) { k->timeout_ms = ms; }

char *ferry_kube_escape(const char *s)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t n = strlen(s);
  char *out = malloc(n * 3 + 1), *o = out;
  if (!out)
    abort();
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      *o++ = (char)c;
    } else {
      *o++ = '%';
      *o++ = hex[c >> 4];
      *o++ = hex[c & 15];
    }
  }
  *o = '\0';
  return out;
}

char *ferry_kube_path(const struct ferry_kube_resource *r, const char *ns, const char *name, const char *sub,
                      const char *query)
{
  char *base =
      r->group[0] ? ferry_asprintf("/apis/%s/%s", r->group, r->version) : ferry_asprintf("/api/%s", r->version);
  char *p = (r->namespaced && ns) ? ferry_asprintf("%s/namespaces/%s/%s", base, ns, r->plural)
                                  : ferry_asprintf("%s/%s", base, r->plural);
  free(base);
  if (name) {
    char *q = ferry_asprintf("%s/%s", p, name);
    free(p);
    p = q;
    if (sub) {
      q = ferry_asprintf("%s/%s", p, sub);
      free(p);
      p = q;
    }
  }
  if (query && *query) {
    char *q = ferry_asprintf("%s?%s", p, query);
    free(p);
    p = q;
  }
  return p;
}

struct buf {
  char *data;
  size_t len, cap;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
  struct buf *b = userdata;
  size_t n = size * nmemb;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 8192;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d)
      return 0;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, ptr, n);
  b->len += n;
  b->data[b->len] = '\0';
  return n;
}

/* Fills st from a Status body (or the bare HTTP code). */
static void read_status(long code, const char *body, struct ferry_kube_status *st)
{
  memset(st, 0, sizeof *st);
  st->code = code;
  json_object *o = body ? json_tokener_parse(body) : NULL, *v;
  if (o && json_object_object_get_ex(o, "reason", &v))
    snprintf(st->reason, sizeof st->reason, "%s", json_object_get_string(v));
  if (o && json_object_object_get_ex(o, "message", &v))
    snprintf(st->message, sizeof st->message, "%s", json_object_get_string(v));
  if (!st->message[0] && body)
    snprintf(st->message, sizeof st->message, "%.200s", body);
  json_object_put(o);
}

/* The HTTP exchange over libcurl: *code and *body (caller frees) on any answer. */
static int http_exchange(void *ctx, const char *method, const char *path, const char *content_type, const char *body,
                         long *code, char **answer, ferry_error *err)
{
  struct ferry_kube *k = ctx;
  CURL *h = k->curl;
  cleanup_free char *url = ferry_asprintf("%s%s", k->cfg.server, path);
  cleanup_free char *ct =
      body ? ferry_asprintf("Content-Type: %s", content_type ? content_type : "application/json") : NULL;
  struct curl_slist *hdrs = NULL;
  const char *lines[] = { "Accept: application/json", k->auth_header, ct };
  for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
    struct curl_slist *t = lines[i] ? curl_slist_append(hdrs, lines[i]) : hdrs;
    if (!t) {
      curl_slist_free_all(hdrs);
      return ferry_error_set(err, ENOMEM, "curl_slist_append");
    }
    hdrs = t;
  }
  struct buf b = { 0 };
  /* A body makes it a POST-like request; none, a GET-like one. Either way the
   * method itself is the custom request string. */
  CURLcode c;
  if ((c = curl_easy_setopt(h, CURLOPT_URL, url)) != CURLE_OK ||
      (c = curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs)) != CURLE_OK ||
      (c = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body)) != CURLE_OK ||
      (c = curl_easy_setopt(h, CURLOPT_WRITEDATA, &b)) != CURLE_OK ||
      (c = curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, k->timeout_ms)) != CURLE_OK ||
      (c = body ? curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body))
                : curl_easy_setopt(h, CURLOPT_HTTPGET, 1L)) != CURLE_OK ||
      (c = body ? curl_easy_setopt(h, CURLOPT_POSTFIELDS, body) : CURLE_OK) != CURLE_OK ||
      (c = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method)) != CURLE_OK)
    ferry_error_set(err, 0, "%s %s: libcurl: %s", method, path, curl_easy_strerror(c));
  else if ((c = curl_easy_perform(h)) != CURLE_OK)
    ferry_error_set(err, 0, "%s %s%s: %s", method, k->cfg.server, path, curl_easy_strerror(c));
  else
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
  curl_slist_free_all(hdrs);
  if (c != CURLE_OK) {
    free(b.data);
    return -1;
  }
  *answer = b.data;
  return 0;
}

int ferry_kube_request(struct ferry_kube *k, const char *method, const char *path, const char *content_type,
                       const char *body, json_object **resp, struct ferry_kube_status *st, ferry_error *err)
{
  struct ferry_kube_status local;
  if (!st)
    st = &local;
  memset(st, 0, sizeof *st);
  if (resp)
    *resp = NULL;
  long code = 0;
  cleanup_free char *answer = NULL;
  if (k->exchange(k->exchange_ctx, method, path, content_type, body, &code, &answer, err) < 0)
    return -1;
  if (code < 200 || code > 299) {
    read_status(code, answer, st);
    return ferry_error_set(err, 0, "%s %s: %ld %s: %s", method, path, code, st->reason[0] ? st->reason : "Error",
                           st->message);
  }
  st->code = code;
  if (resp && answer && *answer) {
    enum json_tokener_error je;
    *resp = json_tokener_parse_verbose(answer, &je);
    if (!*resp)
      return ferry_error_set(err, 0, "%s %s: the API server's answer is not JSON (%s)", method, path,
                             json_tokener_error_desc(je));
  }
  return 0;
}

int ferry_kube_get(struct ferry_kube *k, const struct ferry_kube_resource *r, const char *ns, const char *name,
                   json_object **obj, struct ferry_kube_status *st, ferry_error *err)
{
  char *p = ferry_kube_path(r, ns, name, NULL, NULL);
  int rc = ferry_kube_request(k, "GET", p, NULL, NULL, obj, st, err);
  free(p);
  return rc;
}

int ferry_kube_list(struct ferry_kube *k, const struct ferry_kube_resource *r, const char *ns,
                    const char *label_selector, const char *field_selector, int limit, json_object **items, char **rv,
                    ferry_error *err)
{
  return ferry_kube_list_map(k, r, ns, label_selector, field_selector, limit, NULL, NULL, items, rv, err);
}

int ferry_kube_list_map(struct ferry_kube *k, const struct ferry_kube_resource *r, const char *ns,
                        const char *label_selector, const char *field_selector, int limit, ferry_kube_map_fn map,
                        void *map_ctx, json_object **items, char **rv, ferry_error *err)
{
  json_object *all = json_object_new_array();
  char *cont = NULL;
  int rc = 0;
  if (rv)
    *rv = NULL;
  do {
    char *ls = label_selector ? ferry_kube_escape(label_selector) : NULL;
    char *fs = field_selector ? ferry_kube_escape(field_selector) : NULL;
    char *q = ferry_asprintf("%s%s%s%s%s", ls ? "&labelSelector=" : "", ls ? ls : "", fs ? "&fieldSelector=" : "",
                             fs ? fs : "", "");
    char *q2 = limit > 0 ? ferry_asprintf("%s&limit=%d%s%s", q, limit, cont ? "&continue=" : "", cont ? cont : "")
                         : ferry_strdup(q);
    char *p = ferry_kube_path(r, ns, NULL, NULL, q2[0] == '&' ? q2 + 1 : q2);
    free(ls);
    free(fs);
    free(q);
    free(q2);
    json_object *page = NULL, *its, *meta, *v;
    rc = ferry_kube_request(k, "GET", p, NULL, NULL, &page, NULL, err);
    free(p);
    free(cont);
    cont = NULL;
    if (rc < 0)
      break;
    if (!page || !json_object_object_get_ex(page, "items", &its) || !json_object_is_type(its, json_type_array)) {
      json_object_put(page);
      rc = ferry_error_set(err, 0, "list %s: the answer has no items array", r->plural);
      break;
    }
    for (size_t i = 0; i < json_object_array_length(its); i++) {
      json_object *item = json_object_array_get_idx(its, i);
      json_object_array_add(all, map ? map(map_ctx, item) : json_object_get(item));
    }
    if (json_object_object_get_ex(page, "metadata", &meta)) {
      /* the list's resourceVersion is its first page's: a watch from there
       * misses nothing made while the later pages were read */
      if (rv && !*rv && json_object_object_get_ex(meta, "resourceVersion", &v))
        *rv = ferry_strdup(json_object_get_string(v));
      if (json_object_object_get_ex(meta, "continue", &v) && json_object_get_string(v)[0]) {
        cont = ferry_kube_escape(json_object_get_string(v));
      }
    }
    json_object_put(page);
  } while (cont);
  if (rc < 0) {
    json_object_put(all);
    if (rv) {
      free(*rv);
      *rv = NULL;
    }
    return -1;
  }
  *items = all;
  return 0;
}

/* Compact JSON for the wire. */
static const char *wire(json_object *o)
{
  return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

static const char *obj_name(json_object *obj) { return ferry_kube_str(obj, "metadata.name"); }

int ferry_kube_create(struct ferry_kube *k, const struct ferry_kube_resource *r, const char *ns, json_object *obj,
                      json_object **out, struct ferry_kube_status *st, ferry_error *err)
{
  char *p = ferry_kube_path(r, ns, NULL, NULL, NULL);
  int rc = ferry_kube_request(k, "POST", p, "application/json", wire(obj), out, st, err);
  free(p);
  return rc;
}

int ferry_kube_update(struct ferry_kube *k, const struct ferry_kube_resource *r, const char *ns, json_object *obj,
                      const char *sub, json_object **out, struct ferry_kube_status *st, ferry_error *err)
{
  const char *name = obj_name(obj);
  if (!name)
    return ferry_error_set(err, 0, "update %s: the object has no metadata.name", r->plural);
  char *p = ferry_kube_path(r, ns, name, sub, NULL);
  int rc = ferry_kube_request(k, "PUT", p, "application/json", wire(obj), out, st, err);
  free(p);
  return rc;
}

int ferry_kube_patch(struct ferry_kube *k, const struct ferry_kube_resource *r, const char *ns, const char *name,
                     enum ferry_kube_patch type, const char *patch, const char *sub, json_object **out,
                     struct ferry_kube_status *st, ferry_error *err)
{
  static const char *const types[] = { "application/merge-patch+json", "application/json-patch+json",
                                       "application/strategic-merge-patch+json" };
  char *p = ferry_kube_path(r, ns, name, sub, NULL);
  int rc = ferry_kube_request(k, "PATCH", p, types[type], patch, out, st, err);
  free(p);
  return rc;
}

int ferry_kube_delete(struct ferry_kube *k, const struct ferry_kube_resource *r, const char *ns, const char *name,
                      const struct ferry_kube_delete_opts *opts, struct ferry_kube_status *st, ferry_error *err)
{
  json_object *body = json_object_new_object();
  json_object_object_add(body, "apiVersion", json_object_new_string("v1"));
  json_object_object_add(body, "kind", json_object_new_string("DeleteOptions"));
  if (opts) {
    if (opts->uid || opts->resource_version) {
      json_object *pre = json_object_new_object();
      if (opts->uid)
        json_object_object_add(pre, "uid", json_object_new_string(opts->uid));
      if (opts->resource_version)
        json_object_object_add(pre, "resourceVersion", json_object_new_string(opts->resource_version));
      json_object_object_add(body, "preconditions", pre);
    }
    if (opts->grace_period_seconds >= 0)
      json_object_object_add(body, "gracePeriodSeconds", json_object_new_int64(opts->grace_period_seconds));
    if (opts->propagation)
      json_object_object_add(body, "propagationPolicy", json_object_new_string(opts->propagation));
  }
  char *p = ferry_kube_path(r, ns, name, NULL, NULL);
  int rc = ferry_kube_request(k, "DELETE", p, "application/json", wire(body), NULL, st, err);
  free(p);
  json_object_put(body);
  return rc;
}

int ferry_kube_evict(struct ferry_kube *k, const char *ns, const char *name, struct ferry_kube_status *st,
                     ferry_error *err)
{
  json_object *ev = json_object_new_object(), *meta = json_object_new_object();
  json_object_object_add(ev, "apiVersion", json_object_new_string("policy/v1"));
  json_object_object_add(ev, "kind", json_object_new_string("Eviction"));
  json_object_object_add(meta, "name", json_object_new_string(name));
  json_object_object_add(meta, "namespace", json_object_new_string(ns));
  json_object_object_add(ev, "metadata", meta);
  char *p = ferry_kube_path(&FERRY_KUBE_PODS, ns, name, "eviction", NULL);
  int rc = ferry_kube_request(k, "POST", p, "application/json", wire(ev), NULL, st, err);
  free(p);
  json_object_put(ev);
  return rc;
}

int ferry_kube_update_retry(struct ferry_kube *k, const struct ferry_kube_resource *r, const char *ns, const char *name,
                            const char *sub, ferry_kube_mutate_fn mutate, void *ctx, int attempts, json_object **out,
                            ferry_error *err)
{
  for (int i = 0; i < attempts; i++) {
    json_object *obj = NULL;
    if (ferry_kube_get(k, r, ns, name, &obj, NULL, err) < 0)
      return -1;
    if (mutate(obj, ctx, err) < 0) {
      json_object_put(obj);
      return -1;
    }
    struct ferry_kube_status st;
    int rc = ferry_kube_update(k, r, ns, obj, sub, out, &st, err);
    json_object_put(obj);
    if (rc == 0)
      return 0;
    if (st.code != 409)
      return -1;
    log_debug("update %s/%s: conflict, reading again (attempt %d of %d)", r->plural, name, i + 1, attempts);
    ferry_error_clear(err);
  }
  return ferry_error_set(err, 0, "update %s %s/%s: still conflicting after %d attempts", r->plural, ns ? ns : "", name,
                         attempts);
}

json_object *ferry_kube_obj(json_object *obj, const char *dotted)
{
  char key[128];
  const char *p = dotted;
  json_object *cur = obj;
  while (cur && *p) {
    const char *dot = strchr(p, '.');
    size_t l = dot ? (size_t)(dot - p) : strlen(p);
    if (l >= sizeof key)
      return NULL;
    memcpy(key, p, l);
    key[l] = '\0';
    if (!json_object_object_get_ex(cur, key, &cur))
      return NULL;
    p = dot ? dot + 1 : p + l;
  }
  return cur;
}

json_object *ferry_kube_key(json_object *obj, const char *key)
{
  json_object *v = NULL;
  return obj && json_object_object_get_ex(obj, key, &v) ? v : NULL;
}

const char *ferry_kube_str(json_object *obj, const char *dotted)
{
  json_object *v = ferry_kube_obj(obj, dotted);
  return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

json_object *ferry_kube_controller_ref(json_object *obj)
{
  json_object *m, *owners, *c;
  if (!obj || !json_object_object_get_ex(obj, "metadata", &m) ||
      !json_object_object_get_ex(m, "ownerReferences", &owners) || !json_object_is_type(owners, json_type_array))
    return NULL;
  for (size_t i = 0; i < json_object_array_length(owners); i++) {
    json_object *o = json_object_array_get_idx(owners, i);
    if (json_object_object_get_ex(o, "controller", &c) && json_object_get_boolean(c))
      return o;
  }
  return NULL;
}
