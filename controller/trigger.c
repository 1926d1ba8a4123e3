/* SPDX-License-Identifier: Apache-2.0 */
/* The pod annotation ferry.dev/migrate-to: NODE|auto asks for a migration: the
 * controller creates the PodMigration (reason Annotation) and names it in the
 * pod's ferry.dev/migration annotation; the outcome comes back on the pod as
 * ferry.dev/migration-result (see finish.c's ctl_clean_up).
 * A pod annotated ferry.dev/migratable: "true" on a cordoned node is moved the
 * same way (reason Drain, target auto), once: after a failed attempt it stays
 * for `kubectl ferry drain` (or whoever drains the node) to evict. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/hash.h"
#include "api/podmigration.h"
#include "base/util.h"

#define PM_NAME_BASE 240 /* the pod name's share of the PodMigration's name */

static const char *annotation(json_object *pod, const char *key)
{
  json_object *v = ferry_kube_key(ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "annotations"), key);
  return v ? json_object_get_string(v) : NULL;
}

/* A node name: a DNS-1123 subdomain (lowercase letters, digits, '-' and '.'; at most 253). */
static int node_name_valid(const char *s)
{
  size_t n = strlen(s);
  if (n == 0 || n > 253 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' || s[i] == '.'))
      return 0;
  return 1;
}

struct for_pod {
  const char *ns, *pod;
  int active, ended, drained;
};

static void count_pms(void *ctx, json_object *pm)
{
  struct for_pod *f = ctx;
  if (strcmp(ferry_kube_str(pm, "metadata.namespace") ?: "", f->ns) != 0 ||
      strcmp(ferry_kube_str(pm, "spec.pod") ?: "", f->pod) != 0)
    return;
  /* ended once cleaned up: until then its end is still being written on the pod
   * (the annotation this trigger reads is removed last) */
  if (pm_phase_is_terminal(pm_phase(pm)) && pm_condition_true(pm, "CleanedUp"))
    f->ended++;
  else
    f->active++;
  if (pm_reason(pm) == PM_REASON_DRAIN)
    f->drained++;
}

/* The pod opted in to migration and its node is cordoned. */
static int draining(struct ctl *c, json_object *pod)
{
  const char *opt = annotation(pod, FERRY_ANN_MIGRATABLE), *node = ferry_kube_str(pod, "spec.nodeName");
  if (!opt || strcmp(opt, "true") != 0 || !node || strcmp(ferry_kube_str(pod, "status.phase") ?: "", "Running") != 0)
    return 0;
  json_object *n = ferry_informer_get(c->nodes, NULL, node),
              *u = ferry_kube_obj(ferry_kube_obj(n, "spec"), "unschedulable");
  return u && json_object_get_boolean(u);
}

/* Annotations on the pod (value NULL removes one): a merge patch. */
static int annotate(struct ctl *c, const char *ns, const char *name, json_object *ann, ferry_error *err)
{
  cleanup_json json_object *p = json_object_new_object();
  json_object *m = json_object_new_object();
  json_object_object_add(m, "annotations", ann);
  json_object_object_add(p, "metadata", m);
  struct ferry_kube_status st = { 0 };
  return ferry_kube_patch(c->kube, &FERRY_KUBE_PODS, ns, name, FERRY_PATCH_MERGE,
                          json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN), NULL, NULL, &st, err);
}

/* A migrate-to that names no node: said on the pod (event and result), and the annotation taken away. */
static int refuse_annotation(struct ctl *c, json_object *pod, const char *ns, const char *name, const char *want,
                             ferry_error *err)
{
  char msg[512];
  snprintf(msg, sizeof msg, "Invalid: %s=\"%.200s\" is neither a node name nor \"auto\"", FERRY_ANN_MIGRATE_TO, want);
  ferry_event(c->rec, pod, "Warning", "InvalidAnnotation", "%s", msg);
  json_object *a = json_object_new_object();
  json_object_object_add(a, FERRY_ANN_MIGRATE_TO, NULL);
  json_object_object_add(a, FERRY_ANN_RESULT, json_object_new_string(msg));
  return annotate(c, ns, name, a, err);
}

/* The PodMigration (one that exists already, from an earlier try, is fine). */
static int create_pm(struct ctl *c, json_object *pod, const char *ns, const char *name, const char *pm_name,
                     const char *want, enum pm_reason reason, ferry_error *err)
{
  cleanup_json json_object *pm = pm_object_new(ns, name, pm_name, strcmp(want, "auto") ? want : NULL, NULL, reason);
  struct ferry_kube_status st = { 0 };
  int rc = ferry_kube_create(c->kube, &FERRY_KUBE_PODMIGRATIONS, ns, pm, NULL, &st, err);
  if (rc < 0 && st.code != 409)
    return -1;
  ferry_error_clear(err);
  if (rc == 0) {
    if (reason == PM_REASON_DRAIN)
      log_info("pod %s/%s: its node is cordoned and it is migratable: created podmigration %s", ns, name, pm_name);
    else
      log_info("pod %s/%s: %s=%s: created podmigration %s", ns, name, FERRY_ANN_MIGRATE_TO, want, pm_name);
    ferry_event(c->rec, pod, "Normal", "MigrationRequested", "created PodMigration %s (to %s)", pm_name, want);
  }
  return 0;
}

int ctl_reconcile_pod(struct ctl *c, const char *ns, const char *name, int64_t *requeue_ms, ferry_error *err)
{
  *requeue_ms = 0;
  json_object *pod = ferry_informer_get(c->pods, ns, name);
  const char *want = pod ? annotation(pod, FERRY_ANN_MIGRATE_TO) : NULL;
  enum pm_reason reason = PM_REASON_ANNOTATION;
  if (!pod || ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "deletionTimestamp"))
    return 0;
  struct for_pod f = { ns, name, 0, 0, 0 };
  ferry_informer_each(c->pms, count_pms, &f);
  if (!want && draining(c, pod) && !f.drained) {
    want = "auto";
    reason = PM_REASON_DRAIN;
  }
  if (!want)
    return 0;
  if (f.active)
    return 0; /* one at a time; its end removes the annotation */
  if (strcmp(want, "auto") != 0 && !node_name_valid(want))
    return refuse_annotation(c, pod, ns, name, want, err);
  /* a name derived from the pod and the request: a retried reconcile finds the one it made */
  char seed[512], h[65], pm_name[254];
  snprintf(seed, sizeof seed, "%s/%s/%d", ferry_kube_str(pod, "metadata.uid") ?: name, want, f.ended);
  ferry_sha256_hex(seed, strlen(seed), h);
  snprintf(pm_name, sizeof pm_name, "%.*s-%.5s", PM_NAME_BASE, name, h);
  if (create_pm(c, pod, ns, name, pm_name, want, reason, err) < 0)
    return -1;
  cleanup_free char *ref = ferry_asprintf("%s/%s", ns, pm_name);
  json_object *a = json_object_new_object();
  json_object_object_add(a, FERRY_ANN_MIGRATION, json_object_new_string(ref));
  return annotate(c, ns, name, a, err);
}
