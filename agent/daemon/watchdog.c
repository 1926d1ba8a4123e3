/* SPDX-License-Identifier: Apache-2.0 */
/* The watchdog: every few seconds, each container of this node's runc root
 * that no migration in progress here owns is looked at, and released when a
 * frozen cgroup or a CRIU holds it (release.c): a post-copy dump whose agent
 * died with it, a freeze nothing will end. While one stays held, the agent is
 * not ready and says which. */
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "daemon.h"
#include "kube/informer.h"
#include "metrics.h"

struct owned {
  struct daemon *d;
  json_object *names; /* "NS/POD" of the pods migrations in progress here act on */
  int restoring;      /* a restore into this node is under way (its container may have no pod status yet) */
};

static void add_pod(struct owned *o, const char *ns, const char *pod)
{
  if (ns && pod && *pod) {
    char key[512];
    snprintf(key, sizeof key, "%s/%s", ns, pod);
    json_object_object_add(o->names, key, NULL);
  }
}

static void collect_owned(void *ctx, json_object *pm)
{
  struct owned *o = ctx;
  if (!pm_phase_is_active(pm_phase(pm)))
    return;
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *node = o->d->g->node;
  if (!strcmp(ferry_kube_str(pm, "status.sourceNode") ?: "", node))
    add_pod(o, ns, ferry_kube_str(pm, "spec.pod"));
  if (!strcmp(ferry_kube_str(pm, "status.targetNode") ?: "", node)) {
    add_pod(o, ns, ferry_kube_str(pm, "status.targetPod"));
    o->restoring = 1;
  }
}

struct find_pod {
  const char *id;
  json_object *pod;
};

static void match_container(void *ctx, json_object *pod)
{
  struct find_pod *f = ctx;
  json_object *cs = ferry_kube_obj(ferry_kube_obj(pod, "status"), "containerStatuses");
  for (size_t i = 0; !f->pod && cs && i < json_object_array_length(cs); i++) {
    const char *cid = ferry_kube_str(json_object_array_get_idx(cs, i), "containerID") ?: "";
    const char *sep = strstr(cid, "://");
    if (!strcmp(sep ? sep + 3 : cid, f->id))
      f->pod = pod;
  }
}

json_object *pod_of_container(struct daemon *d, const char *id)
{
  struct find_pod f = { id, NULL };
  ferry_informer_each(d->pods, match_container, &f);
  return f.pod;
}

static int is_owned(const struct owned *o, json_object *pod)
{
  if (!pod)
    return o->restoring;
  char key[512];
  snprintf(key, sizeof key, "%s/%s", ferry_kube_str(pod, "metadata.namespace") ?: "",
           ferry_kube_str(pod, "metadata.name") ?: "");
  return json_object_object_get_ex(o->names, key, NULL);
}

void watchdog_pass(struct daemon *d)
{
  struct ferry_runc r = runc_for(d);
  struct ferry_runc_state *list = NULL;
  size_t n = 0, held = 0;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_runc_list(&r, &list, &n, &err) < 0) {
    log_warn("watchdog: %s", ferry_error_msg(&err));
    return;
  }
  struct owned o = { d, json_object_new_object(), 0 };
  ferry_informer_each(d->pms, collect_owned, &o);
  for (size_t i = 0; i < n; i++) {
    const char *status = list[i].status ?: "";
    if (list[i].pid <= 0 || (strcmp(status, "running") != 0 && strcmp(status, "paused") != 0))
      continue;
    json_object *pod = pod_of_container(d, list[i].id);
    if (is_owned(&o, pod))
      continue;
    char why[256];
    if (release_container(d, pod, list[i].id, list[i].pid, why, sizeof why) > 0) {
      held++;
      snprintf(d->held_why, sizeof d->held_why, "container %s is held: %s", list[i].id, why);
    }
  }
  json_object_put(o.names);
  ferry_runc_list_free(list, n);
  d->held = held;
  metrics_held(d->m, held);
}
