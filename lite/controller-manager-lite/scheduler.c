/* SPDX-License-Identifier: Apache-2.0 */
/* The default scheduler, small: a pod with no node whose schedulerName is
 * default-scheduler (or unset) is bound (pods/binding) to a Ready,
 * schedulable node whose labels match its nodeSelector and whose NoSchedule
 * taints it tolerates, the one with the fewest pods. Pods that name another
 * scheduler (Ferry's target pods: "ferry") are left to it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcm.h"
#include "base/log.h"
#include "base/util.h"

static int node_ready(json_object *node)
{
  json_object *conds = kcm_get(kcm_get(node, "status"), "conditions"),
              *u = kcm_get(kcm_get(node, "spec"), "unschedulable");
  if (u && json_object_get_boolean(u))
    return 0;
  for (size_t i = 0; conds && i < json_object_array_length(conds); i++) {
    json_object *c = json_object_array_get_idx(conds, i);
    if (!strcmp(kcm_str(c, "type") ?: "", "Ready"))
      return !strcmp(kcm_str(c, "status") ?: "", "True");
  }
  return 0;
}

static int fits(json_object *pod, json_object *node)
{
  json_object *sel = kcm_get(kcm_get(pod, "spec"), "nodeSelector");
  if (sel && !kcm_selector_matches(sel, node))
    return 0;
  json_object *taints = kcm_get(kcm_get(node, "spec"), "taints"), *tols = kcm_get(kcm_get(pod, "spec"), "tolerations");
  for (size_t i = 0; taints && i < json_object_array_length(taints); i++) {
    json_object *t = json_object_array_get_idx(taints, i);
    const char *effect = kcm_str(t, "effect") ?: "";
    if (strcmp(effect, "NoSchedule") != 0 && strcmp(effect, "NoExecute") != 0)
      continue;
    int tolerated = 0;
    for (size_t j = 0; tols && j < json_object_array_length(tols) && !tolerated; j++) {
      json_object *o = json_object_array_get_idx(tols, j);
      const char *key = kcm_str(o, "key"), *op = kcm_str(o, "operator") ?: "Equal", *ef = kcm_str(o, "effect");
      if (ef && *ef && strcmp(ef, effect) != 0)
        continue;
      if (!key || !*key)
        tolerated = !strcmp(op, "Exists");
      else if (!strcmp(key, kcm_str(t, "key") ?: ""))
        tolerated = !strcmp(op, "Exists") || !strcmp(kcm_str(o, "value") ?: "", kcm_str(t, "value") ?: "");
    }
    if (!tolerated)
      return 0;
  }
  return 1;
}

int kcm_schedule(struct kcm *k)
{
  json_object *pods = kcm_list(k->pods), *nodes = kcm_list(k->nodes), *bound = json_object_new_object();
  int writes = 0;
  for (size_t i = 0; i < json_object_array_length(pods); i++) {
    json_object *pod = json_object_array_get_idx(pods, i);
    const char *sched = kcm_str(pod, "spec.schedulerName") ?: "default-scheduler",
               *node = kcm_str(pod, "spec.nodeName");
    if ((node && *node) || strcmp(sched, "default-scheduler") != 0 || !kcm_pod_active(pod))
      continue;
    json_object *best = NULL;
    int best_n = 0;
    for (size_t j = 0; j < json_object_array_length(nodes); j++) {
      json_object *n = json_object_array_get_idx(nodes, j);
      if (!node_ready(n) || !fits(pod, n))
        continue;
      const char *nn = kcm_str(n, "metadata.name") ?: "";
      int count = json_object_get_int(kcm_get(bound, nn));
      for (size_t q = 0; q < json_object_array_length(pods); q++)
        count += !strcmp(kcm_str(json_object_array_get_idx(pods, q), "spec.nodeName") ?: "", nn);
      if (!best || count < best_n) {
        best = n;
        best_n = count;
      }
    }
    const char *ns = kcm_str(pod, "metadata.namespace"), *name = kcm_str(pod, "metadata.name");
    if (!best) {
      log_debug("pod %s/%s: no node fits", ns, name);
      continue;
    }
    char *path = ferry_kube_path(&FERRY_KUBE_PODS, ns, name, "binding", NULL);
    char *body = ferry_asprintf("{\"apiVersion\":\"v1\",\"kind\":\"Binding\",\"metadata\":{\"name\":\"%s\"},"
                                "\"target\":{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"name\":\"%s\"}}",
                                name, kcm_str(best, "metadata.name"));
    ferry_error err = FERRY_ERROR_INIT;
    if (ferry_kube_request(k->kube, "POST", path, "application/json", body, NULL, NULL, &err) == 0) {
      log_info("pod %s/%s bound to %s", ns, name, kcm_str(best, "metadata.name"));
      /* count it at once for the next pod of this pass (the cache is not ours to change) */
      const char *bn = kcm_str(best, "metadata.name") ?: "";
      json_object_object_add(bound, bn, json_object_new_int(json_object_get_int(kcm_get(bound, bn)) + 1));
      writes++;
    } else {
      log_debug("binding %s/%s: %s", ns, name, ferry_error_msg(&err));
    }
    ferry_error_clear(&err);
    free(path);
    free(body);
  }
  json_object_put(bound);
  json_object_put(pods);
  json_object_put(nodes);
  return writes;
}
