/* SPDX-License-Identifier: Apache-2.0 */
#include "admission.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"
#include "kube/kubeconfig.h"
#include "base/log.h"
#include "patch.h"
#include "webhook_target.h"
#include "base/util.h"

static int in_list(json_object *list, const char *v)
{
  for (size_t i = 0; list && i < json_object_array_length(list); i++) {
    const char *e = json_object_get_string(json_object_array_get_idx(list, i));
    if (!strcmp(e, "*") || !strcmp(e, v))
      return 1;
  }
  return 0;
}

static int rule_matches(json_object *wh, const struct kl_resource *r)
{
  json_object *rules;
  if (!json_object_object_get_ex(wh, "rules", &rules))
    return 0;
  for (size_t i = 0; i < json_object_array_length(rules); i++) {
    json_object *rule = json_object_array_get_idx(rules, i), *ops, *groups, *versions, *res;
    json_object_object_get_ex(rule, "operations", &ops);
    json_object_object_get_ex(rule, "apiGroups", &groups);
    json_object_object_get_ex(rule, "apiVersions", &versions);
    json_object_object_get_ex(rule, "resources", &res);
    if (in_list(ops, "CREATE") && in_list(groups, r->group) && in_list(versions, r->version) && in_list(res, r->plural))
      return 1;
  }
  return 0;
}

/* objectSelector.matchLabels only (an empty selector matches everything). */
static int object_matches(json_object *wh, json_object *obj)
{
  json_object *sel, *ml, *m, *labels = NULL;
  if (!json_object_object_get_ex(wh, "objectSelector", &sel) || !json_object_object_get_ex(sel, "matchLabels", &ml))
    return 1;
  if (json_object_object_get_ex(obj, "metadata", &m))
    json_object_object_get_ex(m, "labels", &labels);
  json_object_object_foreach(ml, k, v)
  {
    json_object *have;
    if (!labels || !json_object_object_get_ex(labels, k, &have) ||
        strcmp(json_object_get_string(have), json_object_get_string(v)))
      return 0;
  }
  return 1;
}

struct buf {
  char *data;
  size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
  struct buf *b = ctx;
  size_t add = size * n;
  if (b->len > (1u << 24))
    return 0;
  char *nd = realloc(b->data, b->len + add + 1);
  if (!nd)
    return 0;
  memcpy(nd + b->len, p, add);
  b->data = nd;
  b->len += add;
  b->data[b->len] = '\0';
  return add;
}

/* POSTs the review; the answer's "response" (new reference) or NULL with why. */
static json_object *call(struct kl_store *s, json_object *wh, const char *review, char *why, size_t why_len)
{
  const char *ca = ferry_kube_str(wh, "clientConfig.caBundle");
  struct kl_webhook_target target;
  if (kl_webhook_target(s, ferry_kube_obj(wh, "clientConfig"), &target, why, why_len) < 0)
    return NULL;
  const char *url = target.url;
  json_object *t;
  long timeout = json_object_object_get_ex(wh, "timeoutSeconds", &t) ? json_object_get_int(t) : 10;
  CURL *curl = curl_easy_init();
  if (!curl) {
    snprintf(why, why_len, "curl_easy_init failed");
    return NULL;
  }
  char *pem = NULL;
  size_t pem_len = 0;
  struct buf b = { NULL, 0 };
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json"), *connect_to = NULL;
  json_object *resp = NULL;
  if (ca && ferry_base64_decode(ca, &pem, &pem_len) < 0) {
    snprintf(why, why_len, "clientConfig.caBundle is not base64");
    goto out;
  }
  curl_easy_setopt(curl, CURLOPT_URL, url);
  if (target.connect_to[0] && (connect_to = curl_slist_append(NULL, target.connect_to)))
    curl_easy_setopt(curl, CURLOPT_CONNECT_TO, connect_to);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, review);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
  if (pem) {
    struct curl_blob blob = { pem, pem_len, CURL_BLOB_COPY };
    curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
  }
  CURLcode rc = curl_easy_perform(curl);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  if (rc != CURLE_OK) {
    snprintf(why, why_len, "failed calling webhook: Post \"%.300s\": %s", url, curl_easy_strerror(rc));
    goto out;
  }
  json_object *doc = b.data ? json_tokener_parse(b.data) : NULL, *r;
  if (code != 200 || !doc || !json_object_object_get_ex(doc, "response", &r)) {
    snprintf(why, why_len, "failed calling webhook: %.300s answered %ld%s", url, code, doc ? "" : " (not JSON)");
    json_object_put(doc);
    goto out;
  }
  resp = json_object_get(r);
  json_object_put(doc);
out:
  curl_slist_free_all(h);
  curl_slist_free_all(connect_to);
  curl_easy_cleanup(curl);
  free(pem);
  free(b.data);
  return resp;
}

int kl_admit_create(struct kl_store *s, const struct kl_resource *r, const char *ns, json_object **obj, int *code,
                    char *why, size_t why_len)
{
  json_object *configs = kl_store_kind(s, "admissionregistration.k8s.io/mutatingwebhookconfigurations");
  json_object_object_foreach(configs, ckey, cfg)
  {
    (void)ckey;
    json_object *whs;
    if (!json_object_object_get_ex(cfg, "webhooks", &whs))
      continue;
    for (size_t i = 0; i < json_object_array_length(whs); i++) {
      json_object *wh = json_object_array_get_idx(whs, i);
      if (!rule_matches(wh, r) || !object_matches(wh, *obj))
        continue;
      const char *name = ferry_kube_str(wh, "name") ?: "";
      int fail_closed = strcmp(ferry_kube_str(wh, "failurePolicy") ?: "Fail", "Ignore") != 0;
      char uid[40];
      unsigned char rnd[16];
      FILE *f = fopen("/dev/urandom", "r");
      if (!f || fread(rnd, 1, sizeof rnd, f) != sizeof rnd)
        memset(rnd, 0x5a, sizeof rnd);
      if (f)
        fclose(f);
      snprintf(uid, sizeof uid, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
               rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], rnd[8], rnd[9], rnd[10], rnd[11], rnd[12], rnd[13],
               rnd[14], rnd[15]);
      json_object *review = json_object_new_object(), *req = json_object_new_object(), *kind = json_object_new_object(),
                  *res = json_object_new_object();
      json_object_object_add(review, "apiVersion", json_object_new_string("admission.k8s.io/v1"));
      json_object_object_add(review, "kind", json_object_new_string("AdmissionReview"));
      json_object_object_add(req, "uid", json_object_new_string(uid));
      json_object_object_add(kind, "group", json_object_new_string(r->group));
      json_object_object_add(kind, "version", json_object_new_string(r->version));
      json_object_object_add(kind, "kind", json_object_new_string(r->kind));
      json_object_object_add(res, "group", json_object_new_string(r->group));
      json_object_object_add(res, "version", json_object_new_string(r->version));
      json_object_object_add(res, "resource", json_object_new_string(r->plural));
      json_object_object_add(req, "kind", kind);
      json_object_object_add(req, "resource", res);
      json_object_object_add(req, "name", json_object_new_string(ferry_kube_str(*obj, "metadata.name") ?: ""));
      if (ns && *ns)
        json_object_object_add(req, "namespace", json_object_new_string(ns));
      json_object_object_add(req, "operation", json_object_new_string("CREATE"));
      json_object_object_add(req, "userInfo", json_tokener_parse("{\"username\":\"kube-lite\"}"));
      json_object_object_add(req, "object", json_object_get(*obj));
      json_object_object_add(req, "dryRun", json_object_new_boolean(0));
      json_object_object_add(review, "request", req);
      char cwhy[512] = "";
      json_object *resp =
          call(s, wh, json_object_to_json_string_ext(review, JSON_C_TO_STRING_PLAIN), cwhy, sizeof cwhy);
      json_object_put(review);
      if (!resp) {
        log_warn("admission webhook %s: %s%s", name, cwhy, fail_closed ? "" : " (failurePolicy Ignore: admitted)");
        if (!fail_closed)
          continue;
        *code = 500;
        snprintf(why, why_len, "Internal error occurred: failed calling webhook \"%s\": %s", name, cwhy);
        return -1;
      }
      json_object *allowed;
      if (!json_object_object_get_ex(resp, "allowed", &allowed) || !json_object_get_boolean(allowed)) {
        json_object *st, *c;
        *code = json_object_object_get_ex(resp, "status", &st) && json_object_object_get_ex(st, "code", &c)
                    ? json_object_get_int(c)
                    : 400;
        snprintf(why, why_len, "admission webhook \"%s\" denied the request: %s", name,
                 ferry_kube_str(resp, "status.message") ?: "");
        json_object_put(resp);
        return -1;
      }
      const char *patch = ferry_kube_str(resp, "patch");
      if (patch && *patch) {
        char *text = NULL, pwhy[256];
        size_t len = 0;
        json_object *ops = NULL;
        int root_op = 0; /* the object itself stays the caller's: no operation on "" */
        if (ferry_base64_decode(patch, &text, &len) == 0 && (ops = json_tokener_parse(text)) &&
            json_object_is_type(ops, json_type_array))
          for (size_t j = 0; j < json_object_array_length(ops); j++)
            root_op |= !strcmp(ferry_kube_str(json_object_array_get_idx(ops, j), "path") ?: "", "");
        if (!ops || root_op || kl_json_patch(obj, ops, pwhy, sizeof pwhy) < 0) {
          *code = 500;
          snprintf(why, why_len,
                   "Internal error occurred: admission webhook \"%s\" returned a patch that cannot be applied", name);
          free(text);
          json_object_put(ops);
          json_object_put(resp);
          return -1;
        }
        log_info("admission webhook %s mutated %s %s/%s", name, r->plural, ns ? ns : "",
                 ferry_kube_str(*obj, "metadata.name") ?: ferry_kube_str(*obj, "metadata.generateName") ?: "");
        free(text);
        json_object_put(ops);
      }
      json_object_put(resp);
    }
  }
  return 0;
}
