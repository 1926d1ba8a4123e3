/* SPDX-License-Identifier: Apache-2.0 */
/* Strategy auto's inputs from the controller's caches: the pod's memory (what
 * the source agent's load report says its cgroup uses, else its container's
 * memory request, else its limit), the source node's post-copy threshold and
 * both agents' post-copy support, from their Leases' annotations. */
#include <stdio.h>
#include <string.h>

#include "strategy.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "kube/quantity.h"

/* The pod's memory use in the source agent's load report, 0 when it reports none. */
static int64_t reported_memory(struct ctl *c, json_object *pod, const char *source)
{
  const char *load = ctl_agent_annotation(c, source, FERRY_ANN_LOAD);
  cleanup_json json_object *report = load ? json_tokener_parse(load) : NULL;
  char key[512];
  snprintf(key, sizeof key, "%s/%s", ferry_kube_str(pod, "metadata.namespace") ?: "",
           ferry_kube_str(pod, "metadata.name") ?: "");
  json_object *pods = ferry_kube_obj(report, "pods"), *entry = NULL, *mem = NULL;
  if (!pods || !json_object_object_get_ex(pods, key, &entry) || !json_object_object_get_ex(entry, "memory", &mem))
    return 0;
  return json_object_get_int64(mem);
}

/* The container's memory request or limit (which: "requests", "limits") in bytes, 0 when unset or bad. */
static int64_t container_memory(json_object *pod, const char *which)
{
  json_object *cs = ferry_kube_obj(pod, "spec.containers");
  json_object *c0 = cs && json_object_array_length(cs) ? json_object_array_get_idx(cs, 0) : NULL;
  const char *q = ferry_kube_str(ferry_kube_obj(ferry_kube_obj(c0, "resources"), which), "memory");
  int64_t milli = 0;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (q && ferry_quantity_milli(q, &milli, &err) < 0) {
    log_warn("pod %s: memory %s %s: %s", ferry_kube_str(pod, "metadata.name") ?: "?", which, q, ferry_error_msg(&err));
    return 0;
  }
  return milli / 1000;
}

static void gather_memory(struct ctl *c, json_object *pod, const char *source, struct auto_inputs *in)
{
  in->memory_from = AUTO_MEMORY_USAGE;
  if ((in->memory = reported_memory(c, pod, source)) > 0)
    return;
  in->memory_from = AUTO_MEMORY_REQUEST;
  if ((in->memory = container_memory(pod, "requests")) > 0)
    return;
  in->memory_from = AUTO_MEMORY_LIMIT;
  if ((in->memory = container_memory(pod, "limits")) > 0)
    return;
  in->memory_from = AUTO_MEMORY_UNKNOWN;
}

static void gather_threshold(struct ctl *c, const char *source, struct auto_inputs *in, struct auto_storage *st)
{
  const char *text = ctl_agent_annotation(c, source, FERRY_ANN_POSTCOPY_THRESHOLD);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (!text) {
    snprintf(st->threshold_error, sizeof st->threshold_error,
             "its agent publishes none: %s missing on its Lease; an agent older than strategy auto?",
             FERRY_ANN_POSTCOPY_THRESHOLD);
    in->threshold_error = st->threshold_error;
  } else if (ferry_postcopy_threshold_parse(text, &in->threshold, &err) < 0) {
    snprintf(st->threshold_error, sizeof st->threshold_error, "its Lease's %s is malformed: %s",
             FERRY_ANN_POSTCOPY_THRESHOLD, ferry_error_msg(&err));
    in->threshold_error = st->threshold_error;
    log_warn("node %s: %s", source, st->threshold_error);
  }
}

void auto_gather(struct ctl *c, json_object *pod, const char *source, const char *target, struct auto_inputs *in,
                 struct auto_storage *storage)
{
  memset(in, 0, sizeof *in);
  in->source = source;
  in->target = target;
  json_object *owner = ferry_kube_controller_ref(pod);
  in->statefulset = owner && !strcmp(ferry_kube_str(owner, "kind") ?: "", "StatefulSet");
  gather_memory(c, pod, source, in);
  gather_threshold(c, source, in, storage);
  in->source_postcopy = ctl_agent_annotation(c, source, FERRY_ANN_POSTCOPY_SUPPORT);
  in->target_postcopy = ctl_agent_annotation(c, target, FERRY_ANN_POSTCOPY_SUPPORT);
}
