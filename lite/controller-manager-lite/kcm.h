/* SPDX-License-Identifier: Apache-2.0 */
/* controller-manager-lite: the controllers and the scheduler of a cluster, for
 * kube-lite (tests and the demo; never for a real cluster): the default
 * scheduler's binding, Deployments -> ReplicaSets -> Pods, StatefulSets ->
 * ordinal Pods, DaemonSets -> one Pod per fitting node, Services with a selector -> EndpointSlices and Endpoints, and
 * garbage collection of pods whose controller is gone. Each controller is a
 * level-triggered pass over the informers' caches. */
#ifndef KCM_LITE_H
#define KCM_LITE_H

#include <json-c/json.h>

#include "base/error.h"
#include "kube/informer.h"
#include "kube/kube.h"

extern const struct ferry_kube_resource KCM_DEPLOYMENTS, KCM_REPLICASETS, KCM_STATEFULSETS, KCM_DAEMONSETS;

struct kcm {
  struct ferry_kube *kube;
  struct ferry_informers *inf;
  struct ferry_informer *pods, *nodes, *services, *slices, *deployments, *replicasets, *statefulsets, *daemonsets;
};

/* Each pass returns the number of writes it made (-1 never: errors are logged). */
int kcm_schedule(struct kcm *k);
int kcm_deployments(struct kcm *k);
int kcm_replicasets(struct kcm *k);
int kcm_statefulsets(struct kcm *k);
int kcm_daemonsets(struct kcm *k);
int kcm_endpoints(struct kcm *k);

/* shared helpers (main.c) */
const char *kcm_str(json_object *o, const char *path);
json_object *kcm_get(json_object *o, const char *key);
int kcm_pod_ready(json_object *pod);
int kcm_pod_active(json_object *pod); /* not terminating, not finished */
/* A pod from a template, owned by owner (kind, apiVersion). name or generate_name. */
json_object *kcm_pod_from_template(json_object *owner, const char *kind, json_object *tmpl, const char *name,
                                   const char *generate_name);
/* All cached objects of an informer as a new array (stable while writing). */
json_object *kcm_list(struct ferry_informer *inf);
int kcm_selector_matches(json_object *selector, json_object *obj); /* LabelSelector or map */
/* A merge patch of obj's status subresource ({"status": status_json}); failures are logged. */
void kcm_write_status(struct kcm *k, const struct ferry_kube_resource *r, json_object *obj, const char *status_json);
/* The first 10 hex digits of the SHA-256 of a pod template's JSON (pod-template-hash). */
void kcm_template_hash(json_object *tmpl, char hash[11]);

/* nodefit.c: a pod spec against a node, as the scheduler filters nodes. */
int kcm_tolerates(json_object *pod_spec, json_object *node);        /* NoSchedule/NoExecute taints, cordon */
int kcm_affinity_matches(json_object *pod_spec, json_object *node); /* required node affinity */
int kcm_pod_fits(json_object *pod_spec, json_object *node);         /* nodeSelector, affinity, taints */
/* Expectations, as client-go's controllers keep them: after creating n pods for
 * an owner, it is not looked at again until its cache shows them (or 10 s). */
void kcm_expect(const char *owner_uid, int pods);
int kcm_waiting(const char *owner_uid, int pods_in_cache);

#endif
