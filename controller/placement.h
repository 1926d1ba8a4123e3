/* SPDX-License-Identifier: Apache-2.0 */
/* Where a pod may move: the scheduler's filters that matter for a running pod
 * (node Ready and schedulable, a running Ferry agent, nodeSelector, required
 * node affinity, taints against tolerations, resource requests against
 * allocatable minus what the node's other pods request), and the least loaded
 * of the nodes that pass. Pure functions of the objects: no API calls. */
#ifndef FERRY_PLACEMENT_H
#define FERRY_PLACEMENT_H

#include <json-c/json.h>
#include <stdint.h>

enum misfit {
  FIT = 0,
  MISFIT_SOURCE, /* the pod is there already */
  MISFIT_NOT_READY,
  MISFIT_UNSCHEDULABLE, /* cordoned */
  MISFIT_NO_AGENT,
  MISFIT_SELECTOR, /* nodeSelector (the pod's or the PodMigration's) */
  MISFIT_AFFINITY, /* required node affinity */
  MISFIT_TAINT,
  MISFIT_CPU,
  MISFIT_MEMORY,
  MISFIT_PODS,
  MISFIT_STORE_FULL, /* its agent's image store is below its floor (controller/target.c; never placement_fit) */
  MISFIT__COUNT
};

/* "is the source", "not ready", "tainted", "not enough memory"... */
const char *placement_misfit_text(enum misfit m);

/* What the pods already bound to a node request. */
struct node_use {
  int64_t cpu_milli, mem_milli;
  int pods;
};

/* The pod's request for "cpu" or "memory" in thousandths (the larger of the
 * containers' sum and any init container's, as the scheduler counts). */
int64_t placement_pod_request(json_object *pod, const char *resource);

/* Whether pod fits on node. extra_selector: the PodMigration's nodeSelector
 * (NULL: none). agent_ready: a Ferry agent runs there. why (may be NULL)
 * receives a short detail for the log ("taint dedicated=gpu:NoSchedule"). */
enum misfit placement_fit(json_object *pod, json_object *node, json_object *extra_selector, const struct node_use *used,
                          int agent_ready, char *why, size_t why_len);

/* A node's load score in [0, ~2]: the requested share of CPU and memory with
 * the pod added, plus the agent's reported CPU use (0..1, or 0 when unknown).
 * Lower is less loaded. */
double placement_score(json_object *pod, json_object *node, const struct node_use *used, double reported_cpu);

/* "0/3 nodes fit: 1 is the source, 2 tainted" from counts per misfit. */
void placement_summary(const int counts[MISFIT__COUNT], int nodes, char *buf, size_t len);

#endif
