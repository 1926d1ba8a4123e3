/* SPDX-License-Identifier: Apache-2.0 */
/* kubectl ferry drain NODE: kubectl drain, except that the node's pods that
 * opted in (ferry.dev/migratable: "true") move to other nodes instead of being
 * evicted. Cordons the node (ferry-controller then migrates the opted-in pods:
 * controller/trigger.c), waits for those migrations, then evicts the other pods
 * the way kubectl drain does (the eviction API, which honours
 * PodDisruptionBudgets: a 429 is retried every 5 s until the timeout),
 * leaving DaemonSet pods and mirror pods alone, and waits until they are gone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kubectl_ferry.h"
#include "api/podmigration.h"
#include "base/cleanup.h"
#include "base/util.h"

static const char *annotation(json_object *pod, const char *key)
{
  json_object *m, *a, *v;
  if (json_object_object_get_ex(pod, "metadata", &m) && json_object_object_get_ex(m, "annotations", &a) &&
      json_object_object_get_ex(a, key, &v))
    return json_object_get_string(v);
  return NULL;
}

static int owned_by_daemonset(json_object *pod)
{
  json_object *m, *owners;
  if (!json_object_object_get_ex(pod, "metadata", &m) || !json_object_object_get_ex(m, "ownerReferences", &owners))
    return 0;
  for (size_t i = 0; i < json_object_array_length(owners); i++)
    if (!strcmp(ferry_kube_str(json_object_array_get_idx(owners, i), "kind") ?: "", "DaemonSet"))
      return 1;
  return 0;
}

static int cordon(struct ferry_kube *k, const char *node, ferry_error *err)
{
  if (ferry_kube_patch(k, &FERRY_KUBE_NODES, NULL, node, FERRY_PATCH_MERGE, "{\"spec\":{\"unschedulable\":true}}", NULL,
                       NULL, NULL, err) < 0)
    return -1;
  printf("node/%s cordoned\n", node);
  return 0;
}

/* The outcome of the pod's drain migration: NULL while there is none or it runs. */
static json_object *drain_pm(struct ferry_kube *k, const char *ns, const char *pod, ferry_error *err)
{
  cleanup_free char *sel = ferry_asprintf("%s=%s", FERRY_LABEL_POD, pod);
  cleanup_free char *rv = NULL;
  cleanup_json json_object *items = NULL;
  if (ferry_kube_list(k, &FERRY_KUBE_PODMIGRATIONS, ns, sel, NULL, 0, &items, &rv, err) < 0)
    return NULL;
  json_object *found = NULL;
  for (size_t i = 0; i < json_object_array_length(items); i++) {
    json_object *pm = json_object_array_get_idx(items, i);
    if (!strcmp(ferry_kube_str(pm, "spec.reason") ?: "", "Drain") && !strcmp(ferry_kube_str(pm, "spec.pod") ?: "", pod))
      found = pm;
  }
  return found ? json_object_get(found) : NULL;
}

#define POLL_US (300 * 1000) /* between two looks at a migration or a pod */
#define EVICT_RETRY_S 5      /* after a 429 (a PodDisruptionBudget said no) */
#define DEFAULT_TIMEOUT_S 300

/* What drain does with each pod of the node. */
enum drain_action { DRAIN_IGNORE, DRAIN_MIGRATE, DRAIN_EVICT, DRAIN_DONE };

struct drain {
  struct ferry_kube *k;
  const char *node;
  int64_t deadline;
  json_object *pods;
  size_t n;
  enum drain_action *what; /* per pod */
  int failed;
};

static const char *pod_ns(const struct drain *d, size_t i)
{
  return ferry_kube_str(json_object_array_get_idx(d->pods, i), "metadata.namespace");
}

static const char *pod_name(const struct drain *d, size_t i)
{
  return ferry_kube_str(json_object_array_get_idx(d->pods, i), "metadata.name");
}

/* DaemonSet pods, mirror pods, pods going or gone are left alone; the opted-in
 * ones migrate, the others are evicted. */
static void classify(struct drain *d)
{
  for (size_t i = 0; i < d->n; i++) {
    json_object *p = json_object_array_get_idx(d->pods, i);
    const char *phase = ferry_kube_str(p, "status.phase") ?: "";
    if (owned_by_daemonset(p) || annotation(p, "kubernetes.io/config.mirror") ||
        ferry_kube_str(p, "metadata.deletionTimestamp") || !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")) {
      if (owned_by_daemonset(p))
        printf("Warning: ignoring DaemonSet-managed pod %s/%s\n", pod_ns(d, i), pod_name(d, i));
      d->what[i] = DRAIN_IGNORE;
      continue;
    }
    const char *opt = annotation(p, FERRY_ANN_MIGRATABLE);
    d->what[i] = opt && !strcmp(opt, "true") ? DRAIN_MIGRATE : DRAIN_EVICT;
  }
}

/* 1 while pod i's migration has not ended; its outcome is printed when it has. */
static int migration_pending(struct drain *d, size_t i)
{
  const char *ns = pod_ns(d, i), *name = pod_name(d, i);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  cleanup_json json_object *pm = drain_pm(d->k, ns, name, &err);
  enum pm_phase phase = pm ? pm_phase(pm) : PM_PENDING;
  if (!pm || !pm_phase_is_terminal(phase))
    return 1;
  if (phase == PM_SUCCEEDED) {
    printf("pod/%s migrated to %s as %s (downtime %s, podmigration %s)\n", name,
           ferry_kube_str(pm, "status.targetNode") ?: "?", ferry_kube_str(pm, "status.targetPod") ?: "?",
           ferry_kube_str(pm, "status.downtime") ?: "?", ferry_kube_str(pm, "metadata.name"));
  } else {
    fprintf(stderr, "error: pod %s/%s was not migrated: podmigration %s %s: %s (it runs on, on %s)\n", ns, name,
            ferry_kube_str(pm, "metadata.name"), pm_phase_name(phase), ferry_kube_str(pm, "status.message") ?: "",
            d->node);
    d->failed++;
  }
  d->what[i] = DRAIN_DONE;
  return 0;
}

/* The opted-in pods: the controller moves them (a cordon is its cue). */
static void await_migrations(struct drain *d)
{
  for (int pending = 1; pending && ferry_now_mono_ms() < d->deadline;) {
    pending = 0;
    for (size_t i = 0; i < d->n; i++)
      if (d->what[i] == DRAIN_MIGRATE && migration_pending(d, i))
        pending = 1;
    if (pending)
      usleep(POLL_US);
  }
  for (size_t i = 0; i < d->n; i++)
    if (d->what[i] == DRAIN_MIGRATE) {
      fprintf(stderr, "error: pod %s/%s: no migration finished within the timeout (is ferry-controller running?)\n",
              pod_ns(d, i), pod_name(d, i));
      d->failed++;
    }
}

/* Evicts pod i, as kubectl drain does: a 429 is retried until the timeout. */
static void evict(struct drain *d, size_t i)
{
  const char *ns = pod_ns(d, i), *name = pod_name(d, i);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  for (;;) {
    struct ferry_kube_status st = { 0 };
    if (ferry_kube_evict(d->k, ns, name, &st, &err) == 0 || st.code == 404) {
      printf("evicting pod %s/%s\n", ns, name);
      return;
    }
    if (st.code == 429 && ferry_now_mono_ms() + EVICT_RETRY_S * 1000 < d->deadline) {
      fprintf(stderr, "error when evicting pods/\"%s\" -n \"%s\" (will retry after 5s): %s\n", name, ns, st.message);
      ferry_error_clear(&err);
      sleep(EVICT_RETRY_S);
      continue;
    }
    fprintf(stderr, "error: evicting pod %s/%s: %s\n", ns, name, ferry_error_msg(&err));
    d->what[i] = DRAIN_IGNORE;
    d->failed++;
    return;
  }
}

/* Waits for evicted pod i to be gone (its kubelet stops it first). */
static void await_gone(struct drain *d, size_t i)
{
  const char *ns = pod_ns(d, i), *name = pod_name(d, i);
  const char *uid = ferry_kube_str(json_object_array_get_idx(d->pods, i), "metadata.uid");
  for (;;) {
    struct ferry_kube_status st = { 0 };
    cleanup_error ferry_error err = FERRY_ERROR_INIT;
    cleanup_json json_object *cur = NULL;
    int rc = ferry_kube_get(d->k, &FERRY_KUBE_PODS, ns, name, &cur, &st, &err);
    if ((rc < 0 && st.code == 404) || (rc == 0 && strcmp(ferry_kube_str(cur, "metadata.uid") ?: "", uid ?: "") != 0)) {
      printf("pod/%s evicted\n", name);
      return;
    }
    if (ferry_now_mono_ms() >= d->deadline) {
      fprintf(stderr, "error: pod %s/%s is still there at the timeout\n", ns, name);
      d->failed++;
      return;
    }
    usleep(POLL_US);
  }
}

/* The node's pods (spec.nodeName), or NULL (reported). */
static json_object *list_pods(struct ferry_kube *k, const char *node)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  cleanup_free char *fs = ferry_asprintf("spec.nodeName=%s", node);
  cleanup_free char *rv = NULL;
  json_object *pods = NULL;
  if (ferry_kube_list(k, &FERRY_KUBE_PODS, NULL, NULL, fs, 0, &pods, &rv, &err) < 0) {
    fprintf(stderr, "error: listing the pods on %s: %s\n", node, ferry_error_msg(&err));
    return NULL;
  }
  return pods;
}

int kf_drain(const struct kf_env *e, const struct kf_opts *o)
{
  struct ferry_kube *k = e->k;
  const char *node = o->args[0];
  int timeout_s = o->timeout_s ? o->timeout_s : DEFAULT_TIMEOUT_S;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (cordon(k, node, &err) < 0) {
    fprintf(stderr, "error: cordoning node %s: %s\n", node, ferry_error_msg(&err));
    return 1;
  }
  struct drain d = { .k = k, .node = node, .deadline = ferry_now_mono_ms() + (int64_t)timeout_s * 1000 };
  cleanup_json json_object *pods = d.pods = list_pods(k, node);
  if (!pods)
    return 1;
  d.n = json_object_array_length(pods);
  cleanup_free enum drain_action *what = d.what = calloc(d.n ? d.n : 1, sizeof *what);
  if (!what)
    return 1;
  classify(&d);
  await_migrations(&d);
  for (size_t i = 0; i < d.n; i++)
    if (d.what[i] == DRAIN_EVICT)
      evict(&d, i);
  for (size_t i = 0; i < d.n; i++)
    if (d.what[i] == DRAIN_EVICT)
      await_gone(&d, i);
  if (!d.failed)
    printf("node/%s drained\n", node);
  return d.failed ? 1 : 0;
}
