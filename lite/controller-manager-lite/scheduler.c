/* SPDX-License-Identifier: Apache-2.0 */
/* The default scheduler, small: a pod with no node whose schedulerName is
 * default-scheduler (or unset) is bound (pods/binding) to a Ready,
 * schedulable node it fits (nodeSelector, required node affinity, NoSchedule
 * and NoExecute taints tolerated: nodefit.c), the one with the fewest pods. Pods that name another
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
      if (!node_ready(n) || !kcm_pod_fits(kcm_get(pod, "spec"), n))
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
