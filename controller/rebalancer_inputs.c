/* SPDX-License-Identifier: Apache-2.0 */
/* The rebalancer's round input from the controller's caches: the nodes with
 * their agents' load reports (node load = what its pods use over what it can
 * allocate: the nodes of one machine share /proc/stat, and a node's own
 * daemons are not the rebalancer's to move), the pods with their measured use
 * and what their policies allow, and each pod's moves so far from the
 * PodMigrations (a moved pod is a new pod: status.targetPod leads from a
 * migration's pod to the one it became). */
#include <stdio.h>
#include <string.h>

#include "rebalancer.h"
#include "api/podmigration.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "rebalance/json.h"
#include "rebalance/map.h"

#define CHAIN_MAX 64 /* moves followed back from a pod to the pod it started as */

/* ---------- nodes ---------- */

/* The agent's load report on its Lease, parsed; NULL when there is none. */
static json_object *agent_report(struct ctl *c, const char *node)
{
  char name[300];
  snprintf(name, sizeof name, "%s%s", FERRY_AGENT_LEASE_PREFIX, node);
  json_object *lease = ferry_informer_get(c->leases, c->agent_ns, name);
  json_object *ann = ferry_kube_obj(ferry_kube_obj(lease, "metadata"), "annotations");
  json_object *v = ferry_kube_key(ann, FERRY_ANN_LOAD);
  return v ? json_tokener_parse(json_object_get_string(v)) : NULL;
}

struct node_pass {
  struct ctl *c;
  struct rbw_inputs *in;
};

static void add_node(void *ctx, json_object *obj)
{
  struct node_pass *p = ctx;
  struct rb_node *n = &p->in->nodes[p->in->n_nodes];
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (rb_node_from_json(&p->in->arena, obj, n, &err) < 0) {
    log_warn("rebalancer: %s: left out", ferry_error_msg(&err));
    return;
  }
  p->in->n_nodes++;
  n->agent = ctl_agent_ready(p->c, n->name, NULL);
  json_object *report = n->agent ? agent_report(p->c, n->name) : NULL;
  if (!report)
    return;
  json_object_object_add(p->in->reports, n->name, report);
  if (rb_node_load_from_report(n, json_object_to_json_string_ext(report, JSON_C_TO_STRING_PLAIN), &err) < 0)
    log_warn("rebalancer: %s", ferry_error_msg(&err));
}

/* ---------- the pods' histories ---------- */

/* PodMigrations by the pod they made (namespace, status.targetPod) and by the
 * pod they move (namespace, spec.pod) while they run. */
struct history {
  struct rb_map made, active;
  json_object **pms;
  size_t n;
};

static void index_pm(void *ctx, json_object *pm)
{
  struct history *h = ctx;
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *target = ferry_kube_str(pm, "status.targetPod");
  enum pm_phase phase = pm_phase(pm);
  size_t i = h->n++;
  h->pms[i] = pm;
  if (pm_phase_is_active(phase) || (pm_phase_is_terminal(phase) && !pm_condition_true(pm, "CleanedUp")))
    *rb_map_put(&h->active, ns, ferry_kube_str(pm, "spec.pod"), NULL) = i + 1;
  if (phase == PM_SUCCEEDED && target && *target)
    *rb_map_put(&h->made, ns, target, NULL) = i + 1;
}

/* When the migration ended (its restore, else its last condition), else began. */
static int64_t pm_end_ms(json_object *pm)
{
  int64_t t = ferry_parse_time_ms(ferry_kube_str(pm, "status.restoredAt") ?: "");
  json_object *conds = ferry_kube_obj(pm, "status.conditions");
  for (size_t i = 0; conds && i < json_object_array_length(conds); i++) {
    int64_t c = ferry_parse_time_ms(ferry_kube_str(json_object_array_get_idx(conds, i), "lastTransitionTime") ?: "");
    if (c > t)
      t = c;
  }
  return t > 0 ? t : ferry_parse_time_ms(ferry_kube_str(pm, "metadata.creationTimestamp") ?: "");
}

/* The pod's moves: the latest end, how many ended within history_ms, and the
 * name of the pod it started as (the core's key for it across moves). */
static const char *pod_history(struct history *h, struct rb_arena *a, struct rb_pod *pod, int64_t now_ms,
                               int64_t history_ms)
{
  const char *name = pod->name;
  for (int depth = 0; depth < CHAIN_MAX; depth++) {
    size_t *i = rb_map_get(&h->made, pod->ns, name);
    if (!i)
      break;
    json_object *pm = h->pms[*i - 1];
    int64_t end = pm_end_ms(pm);
    if (end > pod->last_moved_ms)
      pod->last_moved_ms = end;
    if (now_ms - end <= history_ms)
      pod->recent_moves++;
    const char *was = ferry_kube_str(pm, "spec.pod");
    if (!was)
      break;
    name = was;
  }
  size_t len = strlen(pod->ns) + strlen(name) + 2;
  char *key = rb_arena_alloc(a, len);
  snprintf(key, len, "%s/%s", pod->ns, name);
  return key;
}

/* ---------- pods ---------- */

struct pod_pass {
  struct ctl *c;
  struct rbw_inputs *in;
  struct history *h;
  int64_t now_ms, history_ms;
};

static int pod_counts(json_object *pod)
{
  const char *phase = ferry_kube_str(pod, "status.phase") ?: "";
  const char *node = ferry_kube_str(pod, "spec.nodeName");
  return node && *node && strcmp(phase, "Succeeded") != 0 && strcmp(phase, "Failed") != 0;
}

/* Its CPU cores and memory in use from its node's report ("pods": {"NS/NAME": {cpu, memory}}). */
static void measured_use(struct rbw_inputs *in, struct rb_pod *pod)
{
  json_object *report = ferry_kube_key(in->reports, pod->node);
  char key[512];
  snprintf(key, sizeof key, "%s/%s", pod->ns, pod->name);
  json_object *use = ferry_kube_key(ferry_kube_key(report, "pods"), key);
  json_object *cpu = ferry_kube_key(use, "cpu"), *mem = ferry_kube_key(use, "memory");
  pod->cpu_cores = cpu ? json_object_get_double(cpu) : 0;
  pod->mem_bytes = mem ? json_object_get_int64(mem) : 0;
}

/* What may move: what its policy enables, with Ferry's runtime class, not in a migration now. */
static void allowed(struct pod_pass *p, json_object *obj, struct rb_pod *pod)
{
  const char *rclass = ferry_kube_str(obj, "spec.runtimeClassName") ?: "";
  if (!pod->allow)
    return;
  pod->allow &= rbw_pod_allows(p->c, obj, &pod->cooldown_ms);
  if (rb_map_get(&p->h->active, pod->ns, pod->name) ||
      (p->c->runtime_class && *p->c->runtime_class && strcmp(rclass, p->c->runtime_class) != 0))
    pod->allow = 0;
}

static void add_pod(void *ctx, json_object *obj)
{
  struct pod_pass *p = ctx;
  if (!pod_counts(obj))
    return;
  struct rb_pod *pod = &p->in->pods[p->in->n_pods];
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (rb_pod_from_json(&p->in->arena, obj, pod, &err) < 0) {
    log_warn("rebalancer: %s: left out", ferry_error_msg(&err));
    return;
  }
  p->in->n_pods++;
  measured_use(p->in, pod);
  allowed(p, obj, pod);
  pod->uid = pod_history(p->h, &p->in->arena, pod, p->now_ms, p->history_ms);
}

void rbw_inputs_build(struct ctl *c, const struct rb_policy *pol, int64_t now_ms, struct rbw_inputs *in)
{
  memset(in, 0, sizeof *in);
  in->reports = json_object_new_object();
  size_t nodes = ferry_informer_len(c->nodes), pods = ferry_informer_len(c->pods), pms = ferry_informer_len(c->pms);
  in->nodes = rb_arena_alloc(&in->arena, (nodes + 1) * sizeof *in->nodes);
  in->pods = rb_arena_alloc(&in->arena, (pods + 1) * sizeof *in->pods);
  struct node_pass np = { c, in };
  ferry_informer_each(c->nodes, add_node, &np);
  struct history h = { .pms = rb_arena_alloc(&in->arena, (pms + 1) * sizeof *h.pms) };
  rb_map_init(&h.made, pms);
  rb_map_init(&h.active, pms);
  ferry_informer_each(c->pms, index_pm, &h);
  struct pod_pass pp = { c, in, &h, now_ms, pol->history_ms };
  ferry_informer_each(c->pods, add_pod, &pp);
  rb_map_free(&h.made);
  rb_map_free(&h.active);
}

void rbw_inputs_free(struct rbw_inputs *in)
{
  json_object_put(in->reports);
  rb_arena_free(&in->arena);
  memset(in, 0, sizeof *in);
}
