/* SPDX-License-Identifier: Apache-2.0 */
/* What the pods of this node use, from their containers' cgroups, for the load
 * report in the agent's Lease: the controller's rebalancer weighs pods by it
 * and sums it per node (the nodes of one machine share /proc/stat, so the
 * node's own figures cannot tell them apart; their pods' cgroups can). */
#include "daemon.h"

#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/util.h"
#include "kube/kube.h"
#include "runtime/cgroup.h"
#include "runtime/runc.h"

struct usage_pass {
  struct daemon *d;
  json_object *pods, *seen; /* the report; this pass's samples (the next pass's previous) */
  int64_t now_ms;
  double cpu, memory;
};

/* CPU cores container id used since its previous sample, -1 when it has none. */
static double cpu_rate(struct usage_pass *p, const char *id, uint64_t usec)
{
  json_object *prev = p->d->usage_prev ? json_object_object_get(p->d->usage_prev, id) : NULL;
  json_object *sample = json_object_new_array_ext(2);
  json_object_array_add(sample, json_object_new_int64((int64_t)usec));
  json_object_array_add(sample, json_object_new_int64(p->now_ms));
  json_object_object_add(p->seen, id, sample);
  if (!prev)
    return -1;
  int64_t was = json_object_get_int64(json_object_array_get_idx(prev, 0));
  int64_t at = json_object_get_int64(json_object_array_get_idx(prev, 1));
  if (p->now_ms <= at || (int64_t)usec < was)
    return -1;
  return (double)((int64_t)usec - was) / (double)((p->now_ms - at) * 1000);
}

/* One running container of a pod of this node: its usage added to the pod's entry. */
static void add_container(struct usage_pass *p, const struct ferry_runc_state *c)
{
  json_object *pod = pod_of_container(p->d, c->id);
  struct ferry_cgroup_usage u;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (!pod || ferry_cgroup_usage(c->pid, &u, &err) < 0)
    return;
  char key[512];
  snprintf(key, sizeof key, "%s/%s", ferry_kube_str(pod, "metadata.namespace") ?: "",
           ferry_kube_str(pod, "metadata.name") ?: "");
  json_object *entry = json_object_object_get(p->pods, key);
  if (!entry) {
    entry = json_object_new_object();
    json_object_object_add(p->pods, key, entry);
  }
  double cpu = cpu_rate(p, c->id, u.cpu_usec);
  if (cpu >= 0) {
    json_object *had = json_object_object_get(entry, "cpu");
    json_object_object_add(entry, "cpu", json_object_new_double((had ? json_object_get_double(had) : 0) + cpu));
    p->cpu += cpu;
  }
  json_object *mem = json_object_object_get(entry, "memory");
  json_object_object_add(entry, "memory",
                         json_object_new_int64((mem ? json_object_get_int64(mem) : 0) + (int64_t)u.memory_bytes));
  p->memory += (double)u.memory_bytes;
}

json_object *pods_usage(struct daemon *d, double *cpu_cores, double *memory_bytes)
{
  struct ferry_runc r = runc_for(d);
  struct ferry_runc_state *list = NULL;
  size_t n = 0;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  struct usage_pass p = { d, json_object_new_object(), json_object_new_object(), ferry_now_mono_ms(), 0, 0 };
  if (ferry_runc_list(&r, &list, &n, &err) == 0) {
    for (size_t i = 0; i < n; i++)
      if (list[i].pid > 0 && list[i].status && !strcmp(list[i].status, "running"))
        add_container(&p, &list[i]);
    ferry_runc_list_free(list, n);
  }
  json_object_put(d->usage_prev);
  d->usage_prev = p.seen;
  *cpu_cores = p.cpu;
  *memory_bytes = p.memory;
  return p.pods;
}
