/* SPDX-License-Identifier: Apache-2.0 */
/* Whether a pod fits a node, as the scheduler's filters and the DaemonSet
 * controller's predicates decide it: the nodeSelector, the required node
 * affinity (matchExpressions on labels with In, NotIn, Exists, DoesNotExist, Gt,
 * Lt; matchFields on metadata.name), and the node's NoSchedule / NoExecute
 * taints (a cordoned node counts as tainted node.kubernetes.io/unschedulable)
 * against the pod's tolerations. */
#include <stdlib.h>
#include <string.h>

#include "kcm.h"

#define TAINT_UNSCHEDULABLE "node.kubernetes.io/unschedulable"

static int tolerated(json_object *tols, const char *key, const char *value, const char *effect)
{
  for (size_t j = 0; tols && j < json_object_array_length(tols); j++) {
    json_object *o = json_object_array_get_idx(tols, j);
    const char *tkey = kcm_str(o, "key"), *op = kcm_str(o, "operator") ?: "Equal", *ef = kcm_str(o, "effect");
    if (ef && *ef && strcmp(ef, effect) != 0)
      continue;
    if (!tkey || !*tkey) {
      if (!strcmp(op, "Exists"))
        return 1;
    } else if (!strcmp(tkey, key) && (!strcmp(op, "Exists") || !strcmp(kcm_str(o, "value") ?: "", value))) {
      return 1;
    }
  }
  return 0;
}

int kcm_tolerates(json_object *pod_spec, json_object *node)
{
  json_object *spec = kcm_get(node, "spec"), *taints = kcm_get(spec, "taints"), *u = kcm_get(spec, "unschedulable"),
              *tols = kcm_get(pod_spec, "tolerations");
  for (size_t i = 0; taints && i < json_object_array_length(taints); i++) {
    json_object *t = json_object_array_get_idx(taints, i);
    const char *effect = kcm_str(t, "effect") ?: "";
    if (strcmp(effect, "NoSchedule") != 0 && strcmp(effect, "NoExecute") != 0)
      continue;
    if (!tolerated(tols, kcm_str(t, "key") ?: "", kcm_str(t, "value") ?: "", effect))
      return 0;
  }
  return !(u && json_object_get_boolean(u)) || tolerated(tols, TAINT_UNSCHEDULABLE, "", "NoSchedule");
}

/* One requirement of a node selector term: have is the node's value (NULL when absent). */
static int requirement_holds(json_object *req, const char *have)
{
  const char *op = kcm_str(req, "operator") ?: "";
  json_object *vals = kcm_get(req, "values");
  int in = 0;
  for (size_t j = 0; have && vals && j < json_object_array_length(vals); j++)
    in |= !strcmp(json_object_get_string(json_object_array_get_idx(vals, j)), have);
  if (!strcmp(op, "In"))
    return in;
  if (!strcmp(op, "NotIn"))
    return !in;
  if (!strcmp(op, "Exists"))
    return have != NULL;
  if (!strcmp(op, "DoesNotExist"))
    return have == NULL;
  if ((!strcmp(op, "Gt") || !strcmp(op, "Lt")) && have && vals && json_object_array_length(vals) == 1) {
    long a = strtol(have, NULL, 10), b = strtol(json_object_get_string(json_object_array_get_idx(vals, 0)), NULL, 10);
    return !strcmp(op, "Gt") ? a > b : a < b;
  }
  return 0;
}

static int term_holds(json_object *term, json_object *node)
{
  json_object *labels = kcm_get(kcm_get(node, "metadata"), "labels"), *exprs = kcm_get(term, "matchExpressions"),
              *fields = kcm_get(term, "matchFields");
  if (!exprs && !fields)
    return 0; /* an empty term matches no node */
  for (size_t i = 0; exprs && i < json_object_array_length(exprs); i++) {
    json_object *e = json_object_array_get_idx(exprs, i), *v = kcm_get(labels, kcm_str(e, "key") ?: "");
    if (!requirement_holds(e, v ? json_object_get_string(v) : NULL))
      return 0;
  }
  for (size_t i = 0; fields && i < json_object_array_length(fields); i++) {
    json_object *f = json_object_array_get_idx(fields, i);
    const char *have = !strcmp(kcm_str(f, "key") ?: "", "metadata.name") ? kcm_str(node, "metadata.name") : NULL;
    if (!requirement_holds(f, have))
      return 0;
  }
  return 1;
}

int kcm_affinity_matches(json_object *pod_spec, json_object *node)
{
  json_object *req =
      kcm_get(kcm_get(kcm_get(pod_spec, "affinity"), "nodeAffinity"), "requiredDuringSchedulingIgnoredDuringExecution");
  json_object *terms = kcm_get(req, "nodeSelectorTerms");
  if (!terms)
    return 1;
  for (size_t i = 0; i < json_object_array_length(terms); i++)
    if (term_holds(json_object_array_get_idx(terms, i), node))
      return 1;
  return 0;
}

int kcm_pod_fits(json_object *pod_spec, json_object *node)
{
  json_object *sel = kcm_get(pod_spec, "nodeSelector");
  if (sel && !kcm_selector_matches(sel, node))
    return 0;
  return kcm_affinity_matches(pod_spec, node) && kcm_tolerates(pod_spec, node);
}
