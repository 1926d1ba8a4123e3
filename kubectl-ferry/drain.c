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
  if (ferry_kube_patch(k, &FERRY_KUBE_NODES, NULL, node, FERRY_PATCH_MERGE, "{\"spec\":{\"unschedulable\":true}}", NULL, NULL,
                       NULL, err) < 0)
    return -1;
  printf("node/%s cordoned\n", node);
  return 0;
}

/* The outcome of the pod's drain migration: NULL while there is none or it runs. */
static json_object *drain_pm(struct ferry_kube *k, const char *ns, const char *pod, ferry_error *err)
{
  char *sel = ferry_asprintf("%s=%s", FERRY_LABEL_POD, pod);
  json_object *items = NULL, *found = NULL;
  char *rv = NULL;
  if (ferry_kube_list(k, &FERRY_KUBE_PODMIGRATIONS, ns, sel, NULL, 0, &items, &rv, err) == 0) {
    for (size_t i = 0; i < json_object_array_length(items); i++) {
      json_object *pm = json_object_array_get_idx(items, i);
      if (!strcmp(ferry_kube_str(pm, "spec.reason") ?: "", "Drain") && !strcmp(ferry_kube_str(pm, "spec.pod") ?: "", pod))
        found = pm;
    }
    if (found)
      json_object_get(found);
  }
  json_object_put(items);
  free(rv);
  free(sel);
  return found;
}

int ferry_drain(struct ferry_kube *k, const char *node, int timeout_s)
{
  ferry_error err = FERRY_ERROR_INIT;
  int64_t deadline = ferry_now_mono_ms() + (int64_t)timeout_s * 1000;
  int failed = 0;
  if (cordon(k, node, &err) < 0) {
    fprintf(stderr, "error: cordoning node %s: %s\n", node, ferry_error_msg(&err));
    ferry_error_clear(&err);
    return 1;
  }
  char *fs = ferry_asprintf("spec.nodeName=%s", node);
  json_object *pods = NULL;
  char *rv = NULL;
  if (ferry_kube_list(k, &FERRY_KUBE_PODS, NULL, NULL, fs, 0, &pods, &rv, &err) < 0) {
    fprintf(stderr, "error: listing the pods on %s: %s\n", node, ferry_error_msg(&err));
    ferry_error_clear(&err);
    free(fs);
    return 1;
  }
  free(rv);
  size_t n = json_object_array_length(pods);
  /* 0 ignore, 1 migrate, 2 evict; then 3 done */
  int *what = calloc(n ? n : 1, sizeof *what);
  if (!what) {
    json_object_put(pods);
    free(fs);
    return 1;
  }
  for (size_t i = 0; i < n; i++) {
    json_object *p = json_object_array_get_idx(pods, i);
    const char *phase = ferry_kube_str(p, "status.phase") ?: "";
    if (owned_by_daemonset(p) || annotation(p, "kubernetes.io/config.mirror") || ferry_kube_str(p, "metadata.deletionTimestamp") ||
        !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")) {
      if (owned_by_daemonset(p))
        printf("Warning: ignoring DaemonSet-managed pod %s/%s\n", ferry_kube_str(p, "metadata.namespace"), ferry_kube_str(p, "metadata.name"));
      continue;
    }
    const char *opt = annotation(p, FERRY_ANN_MIGRATABLE);
    what[i] = opt && !strcmp(opt, "true") ? 1 : 2;
  }
  /* the opted-in pods: the controller moves them (a cordon is its cue) */
  for (int pending = 1; pending && ferry_now_mono_ms() < deadline;) {
    pending = 0;
    for (size_t i = 0; i < n; i++) {
      if (what[i] != 1)
        continue;
      json_object *p = json_object_array_get_idx(pods, i);
      const char *ns = ferry_kube_str(p, "metadata.namespace"), *name = ferry_kube_str(p, "metadata.name");
      json_object *pm = drain_pm(k, ns, name, &err);
      ferry_error_clear(&err);
      enum pm_phase phase = pm ? pm_phase(pm) : PM_PENDING;
      if (pm && pm_phase_is_terminal(phase)) {
        if (phase == PM_SUCCEEDED) {
          printf("pod/%s migrated to %s as %s (downtime %s, podmigration %s)\n", name, ferry_kube_str(pm, "status.targetNode") ?: "?",
                 ferry_kube_str(pm, "status.targetPod") ?: "?", ferry_kube_str(pm, "status.downtime") ?: "?", ferry_kube_str(pm, "metadata.name"));
        } else {
          fprintf(stderr, "error: pod %s/%s was not migrated: podmigration %s %s: %s (it runs on, on %s)\n", ns, name,
                  ferry_kube_str(pm, "metadata.name"), pm_phase_name(phase), ferry_kube_str(pm, "status.message") ?: "", node);
          failed++;
        }
        what[i] = 3;
      } else {
        pending = 1;
      }
      json_object_put(pm);
    }
    if (pending)
      usleep(300 * 1000);
  }
  for (size_t i = 0; i < n; i++)
    if (what[i] == 1) {
      json_object *p = json_object_array_get_idx(pods, i);
      fprintf(stderr, "error: pod %s/%s: no migration finished within the timeout (is ferry-controller running?)\n",
              ferry_kube_str(p, "metadata.namespace"), ferry_kube_str(p, "metadata.name"));
      failed++;
    }
  /* the others: evicted, as kubectl drain does */
  for (size_t i = 0; i < n; i++) {
    if (what[i] != 2)
      continue;
    json_object *p = json_object_array_get_idx(pods, i);
    const char *ns = ferry_kube_str(p, "metadata.namespace"), *name = ferry_kube_str(p, "metadata.name");
    for (;;) {
      struct ferry_kube_status st = { 0 };
      if (ferry_kube_evict(k, ns, name, &st, &err) == 0 || st.code == 404) {
        printf("evicting pod %s/%s\n", ns, name);
        break;
      }
      if (st.code == 429 && ferry_now_mono_ms() + 5000 < deadline) {
        fprintf(stderr, "error when evicting pods/\"%s\" -n \"%s\" (will retry after 5s): %s\n", name, ns, st.message);
        ferry_error_clear(&err);
        sleep(5);
        continue;
      }
      fprintf(stderr, "error: evicting pod %s/%s: %s\n", ns, name, ferry_error_msg(&err));
      ferry_error_clear(&err);
      what[i] = 0;
      failed++;
      break;
    }
  }
  /* wait for the evicted pods to be gone (their kubelet stops them first) */
  for (size_t i = 0; i < n; i++) {
    if (what[i] != 2)
      continue;
    json_object *p = json_object_array_get_idx(pods, i), *cur = NULL;
    const char *ns = ferry_kube_str(p, "metadata.namespace"), *name = ferry_kube_str(p, "metadata.name"), *uid = ferry_kube_str(p, "metadata.uid");
    for (;;) {
      struct ferry_kube_status st = { 0 };
      int rc = ferry_kube_get(k, &FERRY_KUBE_PODS, ns, name, &cur, &st, &err);
      ferry_error_clear(&err);
      int gone = (rc < 0 && st.code == 404) || (rc == 0 && strcmp(ferry_kube_str(cur, "metadata.uid") ?: "", uid ?: "") != 0);
      json_object_put(cur);
      cur = NULL;
      if (gone) {
        printf("pod/%s evicted\n", name);
        break;
      }
      if (ferry_now_mono_ms() >= deadline) {
        fprintf(stderr, "error: pod %s/%s is still there at the timeout\n", ns, name);
        failed++;
        break;
      }
      usleep(300 * 1000);
    }
  }
  if (!failed)
    printf("node/%s drained\n", node);
  free(what);
  json_object_put(pods);
  free(fs);
  return failed ? 1 : 0;
}
