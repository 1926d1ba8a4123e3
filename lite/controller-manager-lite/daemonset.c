/* SPDX-License-Identifier: Apache-2.0 */
/* DaemonSets: one pod on every node the pod template fits (nodeSelector,
 * required node affinity, taints against the template's tolerations plus the
 * ones the real controller adds: not-ready and unreachable NoExecute, the
 * pressure conditions and unschedulable NoSchedule, network-unavailable for
 * hostNetwork pods), cordoned nodes included. A pod is created already bound:
 * spec.nodeName is set, as the DaemonSet controller did before it left binding
 * to the scheduler, and it carries the node affinity the current controller
 * writes (matchFields metadata.name In [node]) so it reads the same. Pods on
 * nodes that no longer fit, or that are gone, are deleted; failed pods are
 * replaced. Updates: RollingUpdate replaces pods whose controller-revision-hash
 * is not the template's, old unavailable ones at once and then ready ones while
 * fewer than maxUnavailable nodes lack an available pod; OnDelete leaves old
 * pods until someone deletes them. Pods of a deleted DaemonSet go with the
 * garbage collection in replicaset.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcm.h"
#include "base/log.h"
#include "base/util.h"

#define REVISION_LABEL "controller-revision-hash"
#define GENERATION_LABEL "pod-template-generation"

/* The tolerations util.AddOrUpdateDaemonPodTolerations gives every daemon pod. */
static const struct {
  const char *key, *effect;
} DEFAULT_TOLERATIONS[] = {
  { "node.kubernetes.io/not-ready", "NoExecute" },
  { "node.kubernetes.io/unreachable", "NoExecute" },
  { "node.kubernetes.io/disk-pressure", "NoSchedule" },
  { "node.kubernetes.io/memory-pressure", "NoSchedule" },
  { "node.kubernetes.io/pid-pressure", "NoSchedule" },
  { "node.kubernetes.io/unschedulable", "NoSchedule" },
  { "node.kubernetes.io/network-unavailable", "NoSchedule" }, /* hostNetwork pods only */
};
#define N_DEFAULT_TOLERATIONS (sizeof DEFAULT_TOLERATIONS / sizeof DEFAULT_TOLERATIONS[0])

/* One DaemonSet's pass: what it saw and did. */
struct ds_pass {
  struct kcm *k;
  json_object *ds;
  const char *ns, *name, *uid;
  char hash[11];
  int rolling;
  int desired, current, ready, updated, misscheduled, unavailable, writes, active;
  json_object *old_ready; /* old-template pods that are ready: replaced within maxUnavailable */
};

static void add_default_tolerations(json_object *spec)
{
  json_object *tols = kcm_get(spec, "tolerations"), *hn = kcm_get(spec, "hostNetwork");
  if (!tols) {
    tols = json_object_new_array();
    json_object_object_add(spec, "tolerations", tols);
  }
  for (size_t i = 0; i < N_DEFAULT_TOLERATIONS; i++) {
    if (strstr(DEFAULT_TOLERATIONS[i].key, "network-unavailable") && !(hn && json_object_get_boolean(hn)))
      continue;
    int have = 0;
    for (size_t j = 0; j < json_object_array_length(tols); j++) {
      json_object *t = json_object_array_get_idx(tols, j);
      have |= !strcmp(kcm_str(t, "key") ?: "", DEFAULT_TOLERATIONS[i].key) &&
              !strcmp(kcm_str(t, "effect") ?: "", DEFAULT_TOLERATIONS[i].effect);
    }
    if (have)
      continue;
    json_object *t = json_object_new_object();
    json_object_object_add(t, "key", json_object_new_string(DEFAULT_TOLERATIONS[i].key));
    json_object_object_add(t, "operator", json_object_new_string("Exists"));
    json_object_object_add(t, "effect", json_object_new_string(DEFAULT_TOLERATIONS[i].effect));
    json_object_array_add(tols, t);
  }
}

/* The template's pod spec as the controller checks it against nodes (default tolerations added). */
static json_object *template_spec(json_object *ds)
{
  json_object *spec = NULL;
  json_object_deep_copy(kcm_get(kcm_get(kcm_get(ds, "spec"), "template"), "spec"), &spec, NULL);
  if (!spec)
    spec = json_object_new_object();
  add_default_tolerations(spec);
  return spec;
}

/* nodeAffinity required: exactly this node (util.ReplaceDaemonSetPodNodeNameNodeAffinity). */
static void pin_to_node(json_object *spec, const char *node)
{
  json_object *aff = kcm_get(spec, "affinity");
  if (!aff) {
    aff = json_object_new_object();
    json_object_object_add(spec, "affinity", aff);
  }
  json_object *na = kcm_get(aff, "nodeAffinity");
  if (!na) {
    na = json_object_new_object();
    json_object_object_add(aff, "nodeAffinity", na);
  }
  char *req = ferry_asprintf("{\"nodeSelectorTerms\":[{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\","
                             "\"values\":[\"%s\"]}]}]}",
                             node);
  json_object_object_add(na, "requiredDuringSchedulingIgnoredDuringExecution", json_tokener_parse(req));
  free(req);
  json_object_object_add(spec, "nodeName", json_object_new_string(node));
}

static void create_pod(struct ds_pass *p, const char *node)
{
  char *gen = ferry_asprintf("%s-", p->name), generation[24];
  json_object *pod = kcm_pod_from_template(p->ds, "DaemonSet", kcm_get(kcm_get(p->ds, "spec"), "template"), NULL, gen);
  json_object *meta = kcm_get(pod, "metadata"), *labels = kcm_get(meta, "labels"), *spec = kcm_get(pod, "spec");
  if (!labels) {
    labels = json_object_new_object();
    json_object_object_add(meta, "labels", labels);
  }
  snprintf(generation, sizeof generation, "%d", json_object_get_int(kcm_get(kcm_get(p->ds, "metadata"), "generation")));
  json_object_object_add(labels, REVISION_LABEL, json_object_new_string(p->hash));
  json_object_object_add(labels, GENERATION_LABEL, json_object_new_string(generation));
  add_default_tolerations(spec);
  pin_to_node(spec, node);
  ferry_error err = FERRY_ERROR_INIT;
  json_object *out = NULL;
  if (ferry_kube_create(p->k->kube, &FERRY_KUBE_PODS, p->ns, pod, &out, NULL, &err) == 0) {
    log_info("daemonset %s/%s: created pod %s on %s", p->ns, p->name, kcm_str(out, "metadata.name"), node);
    p->writes++;
    p->active++;
  } else {
    log_warn("daemonset %s/%s: creating a pod on %s: %s", p->ns, p->name, node, ferry_error_msg(&err));
  }
  ferry_error_clear(&err);
  json_object_put(out);
  json_object_put(pod);
  free(gen);
}

static void delete_pod(struct ds_pass *p, json_object *pod, const char *why)
{
  ferry_error err = FERRY_ERROR_INIT;
  struct ferry_kube_delete_opts d = FERRY_KUBE_DELETE_OPTS_INIT;
  d.uid = kcm_str(pod, "metadata.uid");
  if (ferry_kube_delete(p->k->kube, &FERRY_KUBE_PODS, p->ns, kcm_str(pod, "metadata.name"), &d, NULL, &err) == 0) {
    log_info("daemonset %s/%s: deleted pod %s (%s)", p->ns, p->name, kcm_str(pod, "metadata.name"), why);
    p->writes++;
    p->active -= kcm_pod_active(pod);
  } else {
    log_debug("daemonset %s/%s: deleting %s: %s", p->ns, p->name, kcm_str(pod, "metadata.name"), ferry_error_msg(&err));
  }
  ferry_error_clear(&err);
}

static int is_updated(struct ds_pass *p, json_object *pod)
{
  json_object *v = kcm_get(kcm_get(kcm_get(pod, "metadata"), "labels"), REVISION_LABEL);
  return v && !strcmp(json_object_get_string(v), p->hash);
}

/* A node the DaemonSet should run on: one pod (created when missing, extras deleted), counted. */
static void run_on(struct ds_pass *p, const char *node, json_object *on)
{
  p->desired++;
  size_t n = json_object_array_length(on), keep = 0;
  if (n == 0) {
    create_pod(p, node);
    p->unavailable++;
    return;
  }
  for (size_t i = 0; i < n; i++) /* an updated pod is the one kept */
    if (is_updated(p, json_object_array_get_idx(on, i))) {
      keep = i;
      break;
    }
  for (size_t i = 0; i < n; i++)
    if (i != keep)
      delete_pod(p, json_object_array_get_idx(on, i), "more than one on its node");
  json_object *pod = json_object_array_get_idx(on, keep);
  int ready = kcm_pod_ready(pod), updated = is_updated(p, pod);
  p->current++;
  p->ready += ready;
  p->unavailable += !ready;
  p->updated += updated;
  if (!updated && p->rolling) {
    if (!ready)
      delete_pod(p, pod, "an old template, unavailable");
    else
      json_object_array_add(p->old_ready, json_object_get(pod));
  }
}

/* maxUnavailable: a number, or a percentage of the desired nodes rounded up; at least 1. */
static int max_unavailable(json_object *ds, int desired)
{
  json_object *mu = kcm_get(kcm_get(kcm_get(kcm_get(ds, "spec"), "updateStrategy"), "rollingUpdate"), "maxUnavailable");
  int n = 1;
  if (mu && json_object_is_type(mu, json_type_int))
    n = json_object_get_int(mu);
  else if (mu && json_object_is_type(mu, json_type_string) && strchr(json_object_get_string(mu), '%'))
    n = (desired * atoi(json_object_get_string(mu)) + 99) / 100;
  return n > 0 ? n : 1;
}

/* Only the fields written here are compared, so another writer's fields do not cause a write every pass. */
static void write_status(struct ds_pass *p, int available)
{
  int gen = json_object_get_int(kcm_get(kcm_get(p->ds, "metadata"), "generation"));
  char *st = ferry_asprintf("{\"desiredNumberScheduled\":%d,\"currentNumberScheduled\":%d,\"numberMisscheduled\":%d,"
                            "\"numberReady\":%d,\"updatedNumberScheduled\":%d,\"numberAvailable\":%d,"
                            "\"numberUnavailable\":%d,\"observedGeneration\":%d}",
                            p->desired, p->current, p->misscheduled, p->ready, p->updated, available,
                            p->desired - available, gen);
  json_object *want = json_tokener_parse(st), *cur = kcm_get(p->ds, "status");
  int same = cur != NULL;
  json_object_object_foreach(want, key, v) same = same && json_object_equal(v, kcm_get(cur, key));
  if (!same)
    kcm_write_status(p->k, &KCM_DAEMONSETS, p->ds, st);
  json_object_put(want);
  free(st);
}

/* The DaemonSet's active pods on node (failed ones are deleted to be replaced). */
static json_object *pods_on(struct ds_pass *p, json_object *mine, const char *node)
{
  json_object *on = json_object_new_array();
  for (size_t j = 0; j < json_object_array_length(mine); j++) {
    json_object *pod = json_object_array_get_idx(mine, j);
    if (strcmp(kcm_str(pod, "spec.nodeName") ?: "", node) != 0)
      continue;
    if (!strcmp(kcm_str(pod, "status.phase") ?: "", "Failed"))
      delete_pod(p, pod, "failed");
    else if (kcm_pod_active(pod))
      json_object_array_add(on, json_object_get(pod));
  }
  return on;
}

static void sync_nodes(struct ds_pass *p, json_object *nodes, json_object *mine)
{
  json_object *tspec = template_spec(p->ds);
  for (size_t i = 0; i < json_object_array_length(nodes); i++) {
    json_object *node = json_object_array_get_idx(nodes, i);
    const char *nn = kcm_str(node, "metadata.name") ?: "";
    json_object *on = pods_on(p, mine, nn);
    if (kcm_pod_fits(tspec, node)) {
      run_on(p, nn, on);
    } else if (json_object_array_length(on)) {
      p->misscheduled++;
      for (size_t j = 0; j < json_object_array_length(on); j++)
        delete_pod(p, json_object_array_get_idx(on, j), "its node no longer fits");
    }
    json_object_put(on);
  }
  json_object_put(tspec);
  for (size_t j = 0; j < json_object_array_length(mine); j++) { /* pods on nodes that are gone */
    json_object *pod = json_object_array_get_idx(mine, j);
    const char *nn = kcm_str(pod, "spec.nodeName");
    if (nn && kcm_pod_active(pod) && !ferry_informer_get(p->k->nodes, NULL, nn))
      delete_pod(p, pod, "its node is gone");
  }
}

static int sync_daemonset(struct kcm *k, json_object *ds, json_object *nodes, json_object *pods)
{
  struct ds_pass p = { .k = k, .ds = ds };
  p.ns = kcm_str(ds, "metadata.namespace");
  p.name = kcm_str(ds, "metadata.name") ?: "";
  p.uid = kcm_str(ds, "metadata.uid") ?: "";
  p.rolling = strcmp(kcm_str(ds, "spec.updateStrategy.type") ?: "RollingUpdate", "OnDelete") != 0;
  kcm_template_hash(kcm_get(kcm_get(ds, "spec"), "template"), p.hash);
  json_object *mine = json_object_new_array();
  for (size_t j = 0; j < json_object_array_length(pods); j++) {
    json_object *pod = json_object_array_get_idx(pods, j), *ref = ferry_kube_controller_ref(pod);
    if (ref && !strcmp(kcm_str(ref, "uid") ?: "", p.uid)) {
      json_object_array_add(mine, json_object_get(pod));
      p.active += kcm_pod_active(pod);
    }
  }
  if (kcm_waiting(p.uid, p.active)) { /* the cache has not seen our last writes yet */
    json_object_put(mine);
    return 0;
  }
  p.old_ready = json_object_new_array();
  sync_nodes(&p, nodes, mine);
  int budget = max_unavailable(ds, p.desired) - p.unavailable;
  for (size_t i = 0; i < json_object_array_length(p.old_ready) && budget > 0; i++, budget--)
    delete_pod(&p, json_object_array_get_idx(p.old_ready, i), "rolling update");
  if (p.writes)
    kcm_expect(p.uid, p.active);
  write_status(&p, p.ready);
  json_object_put(p.old_ready);
  json_object_put(mine);
  return p.writes;
}

int kcm_daemonsets(struct kcm *k)
{
  json_object *sets = kcm_list(k->daemonsets), *nodes = kcm_list(k->nodes), *pods = kcm_list(k->pods);
  int writes = 0;
  for (size_t i = 0; i < json_object_array_length(sets); i++) {
    json_object *ds = json_object_array_get_idx(sets, i);
    if (!kcm_str(ds, "metadata.deletionTimestamp"))
      writes += sync_daemonset(k, ds, nodes, pods);
  }
  json_object_put(pods);
  json_object_put(nodes);
  json_object_put(sets);
  return writes;
}
