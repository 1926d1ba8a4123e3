/* SPDX-License-Identifier: Apache-2.0 */
/* The pod admission webhook (see controller.h). libmicrohttpd with TLS, its own
 * thread; it reads a table the main loop publishes under a mutex. */
#include <errno.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "steer.h"
#include "base/cleanup.h"
#include "base/httpd.h"
#include "base/log.h"
#include "api/podmigration.h"
#include "base/util.h"

#define MAX_STEERS 256
#define MAX_BODY (4 << 20)

struct webhook {
  struct ferry_httpd *httpd;
  pthread_mutex_t mu;
  struct steer s[MAX_STEERS];
  int n;
};

struct req {
  char *body;
  size_t len;
  int too_big;
};

struct pub {
  struct steer s[MAX_STEERS];
  int n;
};

static void collect(void *ctx, json_object *pm)
{
  struct pub *p = ctx;
  const char *owner = ferry_kube_str(pm, "status.owner.uid"), *target = ferry_kube_str(pm, "status.targetPod");
  enum pm_phase phase = pm_phase(pm);
  if (!owner || p->n >= MAX_STEERS)
    return;
  /* The first replacement while the image waits for it becomes the target pod;
   * any other one the owner makes before the migration has ended (the target
   * pod deleted after a failed restore, a rollback) is held unbound, until the
   * source pod is its owner's again (clean_up) or the move succeeded. */
  int transferring = phase == PM_TRANSFERRING && (!target || !*target);
  int statefulset = !strcmp(ferry_kube_str(pm, "status.owner.kind") ?: "", "StatefulSet");
  /* (a StatefulSet's pod that ended its migration is its own: rolled back into, or lost and made afresh) */
  int ended =
      phase == PM_SUCCEEDED || (pm_phase_is_terminal(phase) && (statefulset || pm_condition_true(pm, "CleanedUp")));
  int before_freeze = phase == PM_PENDING || phase == PM_SCHEDULED || phase == PM_CHECKPOINTING;
  if (ended || before_freeze)
    return;
  int rolling = !transferring;
  struct steer *s = &p->s[p->n++];
  memset(s, 0, sizeof *s);
  snprintf(s->pm, sizeof s->pm, "%s/%s", ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "metadata.name"));
  snprintf(s->owner_uid, sizeof s->owner_uid, "%s", owner);
  snprintf(s->pod, sizeof s->pod, "%s", ferry_kube_str(pm, "spec.pod") ?: "");
  s->statefulset = statefulset;
  s->rolling_back = rolling;
}

/* Puts p in w's table; the claims of the migrations still in it survive. */
static void publish(struct webhook *w, struct pub *p)
{
  pthread_mutex_lock(&w->mu);
  for (int i = 0; i < p->n; i++)
    for (int j = 0; j < w->n; j++)
      if (!strcmp(p->s[i].pm, w->s[j].pm))
        p->s[i].claimed_ms = w->s[j].claimed_ms;
  memcpy(w->s, p->s, sizeof p->s);
  w->n = p->n;
  pthread_mutex_unlock(&w->mu);
}

int webhook_release_claim(struct webhook *w, const char *pm, int64_t grace_ms)
{
  if (!w)
    return 0;
  pthread_mutex_lock(&w->mu);
  int released = steer_release(w->s, w->n, pm, ferry_now_mono_ms(), grace_ms);
  pthread_mutex_unlock(&w->mu);
  return released;
}

void webhook_publish(struct webhook *w, struct ferry_informer *pms)
{
  if (!w)
    return;
  cleanup_free struct pub *p = calloc(1, sizeof *p);
  if (!p)
    return;
  ferry_informer_each(pms, collect, p);
  publish(w, p);
}

void webhook_publish_list(struct webhook *w, json_object *pms)
{
  cleanup_free struct pub *p = calloc(1, sizeof *p);
  if (!p)
    return;
  size_t n = json_object_is_type(pms, json_type_array) ? json_object_array_length(pms) : 0;
  for (size_t i = 0; i < n; i++)
    collect(p, json_object_array_get_idx(pms, i));
  publish(w, p);
}

static char *b64(const char *in)
{
  size_t n = strlen(in);
  char *out = malloc(4 * ((n + 2) / 3) + 1);
  if (out)
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)n);
  return out;
}

/* The migration a new pod belongs to (pm filled; empty: none), and whether it
 * is to be restored (*restore) or only held unbound (steer_pick). */
static void steer(struct webhook *w, json_object *pod, json_object *owners, char *pm, size_t pm_len, int *restore)
{
  const char *name = ferry_kube_str(pod, "metadata.name") ?: "";
  pthread_mutex_lock(&w->mu);
  for (size_t i = 0; owners && i < json_object_array_length(owners) && !pm[0]; i++) {
    json_object *o = json_object_array_get_idx(owners, i), *ctl;
    if (!json_object_object_get_ex(o, "controller", &ctl) || !json_object_get_boolean(ctl))
      continue;
    int j = steer_pick(w->s, w->n, ferry_kube_str(o, "uid") ?: "", name, ferry_now_mono_ms(), restore);
    if (j >= 0)
      snprintf(pm, pm_len, "%s", w->s[j].pm);
  }
  pthread_mutex_unlock(&w->mu);
}

static json_object *add_op(const char *path, json_object *value)
{
  json_object *op = json_object_new_object();
  json_object_object_add(op, "op", json_object_new_string("add"));
  json_object_object_add(op, "path", json_object_new_string(path));
  json_object_object_add(op, "value", value);
  return op;
}

/* The JSONPatch (base64) that makes the pod pm's: its annotations (kept, plus
 * ferry.dev/restore-from and ferry.dev/migration, or ferry.dev/held-by) and schedulerName ferry. */
static char *steer_patch(json_object *meta, const char *pm, int restore)
{
  json_object *ann = NULL, *have = NULL;
  if (meta && json_object_object_get_ex(meta, "annotations", &have))
    json_object_deep_copy(have, &ann, NULL);
  if (!ann)
    ann = json_object_new_object();
  if (restore) {
    json_object_object_add(ann, FERRY_ANN_RESTORE_FROM, json_object_new_string(pm));
    json_object_object_add(ann, FERRY_ANN_MIGRATION, json_object_new_string(pm));
  } else {
    json_object_object_add(ann, "ferry.dev/held-by", json_object_new_string(pm));
  }
  cleanup_json json_object *ops = json_object_new_array();
  json_object_array_add(ops, add_op("/metadata/annotations", ann));
  json_object_array_add(ops, add_op("/spec/schedulerName", json_object_new_string(FERRY_SCHEDULER_NAME)));
  return b64(json_object_to_json_string_ext(ops, JSON_C_TO_STRING_PLAIN));
}

/* The AdmissionReview answer for one pod: allowed always (failing a pod create
 * would be worse than not steering it), with a JSONPatch when it is ours. */
static char *review(struct webhook *w, json_object *rv)
{
  json_object *req = NULL, *pod = NULL;
  json_object_object_get_ex(rv, "request", &req);
  json_object_object_get_ex(req, "object", &pod);
  const char *uid = ferry_kube_str(req, "uid") ?: "";
  char pm[300] = "";
  int restore = 0;
  json_object *owners = NULL, *m = NULL;
  if (pod && json_object_object_get_ex(pod, "metadata", &m) &&
      json_object_object_get_ex(m, "ownerReferences", &owners) && !json_object_is_type(owners, json_type_array))
    owners = NULL; /* no list of owners: the pod has none we know */
  steer(w, pod, owners, pm, sizeof pm, &restore);
  cleanup_json json_object *out = json_object_new_object();
  json_object *resp = json_object_new_object();
  json_object_object_add(out, "apiVersion", json_object_new_string("admission.k8s.io/v1"));
  json_object_object_add(out, "kind", json_object_new_string("AdmissionReview"));
  json_object_object_add(resp, "uid", json_object_new_string(uid));
  json_object_object_add(resp, "allowed", json_object_new_boolean(1));
  if (pm[0]) {
    cleanup_free char *patch = steer_patch(m, pm, restore);
    if (patch) {
      json_object_object_add(resp, "patchType", json_object_new_string("JSONPatch"));
      json_object_object_add(resp, "patch", json_object_new_string(patch));
    }
    log_info("webhook: a new pod of %s/%s %s for podmigration %s",
             ferry_kube_str(pod, "metadata.namespace") ?: ferry_kube_str(req, "namespace") ?: "",
             ferry_kube_str(pod, "metadata.generateName") ?: ferry_kube_str(pod, "metadata.name") ?: "",
             restore ? "is to be restored from the image" : "is held unbound until the migration has ended", pm);
  }
  json_object_object_add(out, "response", resp);
  return ferry_strdup(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
}

char *webhook_answer(struct webhook *w, const char *body, unsigned *code)
{
  cleanup_json json_object *rv = body ? json_tokener_parse(body) : NULL;
  if (!rv) {
    *code = 400;
    return ferry_strdup("an AdmissionReview (JSON) is expected\n");
  }
  *code = 200;
  return review(w, rv);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **con_cls)
{
  struct webhook *w = cls;
  (void)version;
  struct req *r = *con_cls;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r)
      return MHD_NO;
    *con_cls = r;
    return MHD_YES;
  }
  if (*size) {
    if (r->len + *size > MAX_BODY) {
      r->too_big = 1;
    } else {
      char *nb = realloc(r->body, r->len + *size + 1);
      if (!nb)
        return MHD_NO;
      memcpy(nb + r->len, data, *size);
      r->body = nb;
      r->len += *size;
      r->body[r->len] = '\0';
    }
    *size = 0;
    return MHD_YES;
  }
  unsigned code = 404;
  char *text = NULL;
  if (strcmp(method, "POST") != 0 || strcmp(url, "/mutate-pods") != 0)
    text = ferry_strdup("not found\n");
  else
    text = webhook_answer(w, r->too_big ? NULL : r->body, &code);
  struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header(resp, "Content-Type", code == 200 ? "application/json" : "text/plain");
  enum MHD_Result x = MHD_queue_response(c, code, resp);
  MHD_destroy_response(resp);
  return x;
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
  (void)cls;
  (void)c;
  (void)toe;
  struct req *r = *con_cls;
  if (r) {
    free(r->body);
    free(r);
  }
  *con_cls = NULL;
}

struct webhook *webhook_new(void)
{
  struct webhook *w = calloc(1, sizeof *w);
  if (w)
    pthread_mutex_init(&w->mu, NULL);
  return w;
}

int webhook_start(const char *listen, const char *cert_file, const char *key_file, struct webhook **out, int *port,
                  ferry_error *err)
{
  cleanup_free struct webhook *w = webhook_new();
  if (!w)
    return ferry_error_set(err, ENOMEM, "webhook");
  struct ferry_httpd_opts o = {
    .listen = listen,
    .flag = "--webhook-listen",
    .what = "the webhook",
    .cert_file = cert_file,
    .key_file = key_file,
    .handler = answer,
    .handler_cls = w,
    .completed = done,
    .completed_cls = w,
  };
  if (ferry_httpd_start(&o, &w->httpd, port, err) < 0) {
    pthread_mutex_destroy(&w->mu);
    return -1;
  }
  *out = ferry_steal(&w);
  return 0;
}

void webhook_stop(struct webhook *w)
{
  if (!w)
    return;
  ferry_httpd_stop(w->httpd);
  pthread_mutex_destroy(&w->mu);
  free(w);
}
