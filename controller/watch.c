/* SPDX-License-Identifier: Apache-2.0 */
/* What ferry-controller watches, and how a change becomes a queue key: a
 * PodMigration's own key; a pod annotated to move (or migratable on a cordoned
 * node) its "pod/" key, a target pod its migration's; a cordoned node its pods'. */
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "api/podmigration.h"
#include "base/cleanup.h"
#include "base/util.h"

static void enqueue(struct ctl *c, const char *kind, const char *ns, const char *name)
{
  cleanup_free char *key = ferry_asprintf("%s/%s/%s", kind, ns ? ns : "", name ? name : "");
  queue_add(c->q, key, ferry_now_mono_ms());
}

static void pm_changed(void *ctx, json_object *pm) { ctl_enqueue_pm(ctx, pm); }
static void pm_updated(void *ctx, json_object *old, json_object *pm)
{
  ctl_metrics_pm_changed(ctx, old, pm); /* a rollback begun, an end: counted as the watch sees them */
  ctl_enqueue_pm(ctx, pm);
}

static void pod_changed(void *ctx, json_object *pod)
{
  struct ctl *c = ctx;
  json_object *meta, *ann, *v;
  if (!json_object_object_get_ex(pod, "metadata", &meta) || !json_object_object_get_ex(meta, "annotations", &ann))
    return;
  const char *ns = ferry_kube_str(pod, "metadata.namespace"), *name = ferry_kube_str(pod, "metadata.name");
  if (json_object_object_get_ex(ann, FERRY_ANN_MIGRATE_TO, &v) ||
      json_object_object_get_ex(ann, FERRY_ANN_MIGRATABLE, &v))
    enqueue(c, "pod", ns, name);
  /* a target pod's status moves its migration */
  if (json_object_object_get_ex(ann, FERRY_ANN_RESTORE_FROM, &v)) {
    const char *ref = json_object_get_string(v), *slash = strchr(ref, '/');
    if (slash) {
      cleanup_free char *key = ferry_asprintf("pm/%s", ref);
      queue_add(c->q, key, ferry_now_mono_ms());
    }
  }
}
static void pod_updated(void *ctx, json_object *old, json_object *pod)
{
  (void)old;
  pod_changed(ctx, pod);
}

/* A cordoned node: its migratable pods are looked at (trigger.c moves them). */
struct on_node {
  struct ctl *c;
  const char *node;
};
static void pod_on_node(void *ctx, json_object *pod)
{
  struct on_node *o = ctx;
  if (!strcmp(ferry_kube_str(pod, "spec.nodeName") ?: "", o->node))
    pod_changed(o->c, pod);
}
static void node_updated(void *ctx, json_object *old, json_object *node)
{
  struct ctl *c = ctx;
  (void)old;
  json_object *spec, *u;
  if (json_object_object_get_ex(node, "spec", &spec) && json_object_object_get_ex(spec, "unschedulable", &u) &&
      json_object_get_boolean(u)) {
    struct on_node o = { c, ferry_kube_str(node, "metadata.name") ?: "" };
    ferry_informer_each(c->pods, pod_on_node, &o);
  }
}

void ctl_enqueue_all_pms(struct ctl *c) { ferry_informer_each(c->pms, pm_changed, c); }

static int add_informer(struct ctl *c, const struct ferry_kube_resource *r, const char *ns,
                        void (*add)(void *, json_object *), void (*upd)(void *, json_object *, json_object *),
                        struct ferry_informer **out, ferry_error *err)
{
  struct ferry_informer_handlers h = { add, upd, NULL, c };
  return ferry_informer_add(c->inf, r, ns, NULL, NULL, &h, out, err);
}

int ctl_watch(struct ctl *c, const char *lease_ns, ferry_error *err)
{
  if (add_informer(c, &FERRY_KUBE_PODS, NULL, pod_changed, pod_updated, &c->pods, err) < 0 ||
      add_informer(c, &FERRY_KUBE_NODES, NULL, NULL, node_updated, &c->nodes, err) < 0 ||
      add_informer(c, &FERRY_KUBE_PODMIGRATIONS, NULL, pm_changed, pm_updated, &c->pms, err) < 0 ||
      add_informer(c, &FERRY_KUBE_MIGRATIONPOLICIES, NULL, NULL, NULL, &c->policies, err) < 0 ||
      add_informer(c, &FERRY_KUBE_SERVICES, NULL, NULL, NULL, &c->services, err) < 0 ||
      add_informer(c, &FERRY_KUBE_ENDPOINTSLICES, NULL, NULL, NULL, &c->slices, err) < 0 ||
      add_informer(c, &FERRY_KUBE_ENDPOINTS, NULL, NULL, NULL, &c->endpoints, err) < 0 ||
      add_informer(c, &FERRY_KUBE_LEASES, lease_ns, NULL, NULL, &c->leases, err) < 0 || ctl_keep(c, err) < 0)
    return -1;
  return 0;
}

int ctl_synced(struct ctl *c)
{
  struct ferry_informer *all[] = { c->pods,     c->nodes,  c->pms,       c->policies,
                                   c->services, c->slices, c->endpoints, c->leases };
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (!ferry_informer_synced(all[i]))
      return 0;
  return 1;
}
