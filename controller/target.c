/* SPDX-License-Identifier: Apache-2.0 */
/* Where a migrating pod goes: the agents that run (their Leases, and what
 * their CRIU can dump), what the pods already on each node use, and the
 * choice of the target node. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reconcile.h"
#include "placement.h"
#include "api/podmigration.h"
#include "base/cleanup.h"
#include "base/util.h"
#include "base/cleanup.h"
#include "base/error.h"
#include "rebalance/json.h"

/* ---------- agents ---------- */

int ctl_agent_ready(struct ctl *c, const char *node, double *cpu)
{
  char name[300];
  snprintf(name, sizeof name, "%s%s", FERRY_AGENT_LEASE_PREFIX, node);
  json_object *lease = ferry_informer_get(c->leases, c->agent_ns, name);
  if (cpu)
    *cpu = 0;
  if (!lease)
    return 0;
  int64_t renewed = ferry_parse_time_ms(ferry_kube_str(lease, "spec.renewTime") ?: "");
  if (renewed <= 0 || ferry_now_real_ms() - renewed > (int64_t)c->agent_stale_s * 1000)
    return 0;
  /* the annotation's name holds dots: a member, not a dotted path */
  json_object *load = ferry_kube_key(ferry_kube_obj(lease, "metadata.annotations"), FERRY_ANN_LOAD);
  struct rb_node n = { .name = node };
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (cpu && json_object_is_type(load, json_type_string) &&
      rb_node_load_from_report(&n, json_object_get_string(load), &err) == 0)
    *cpu = n.cpu; /* as the rebalancer reads it: what the node's pods use */
  return 1;
}

int ctl_store_full(struct ctl *c, const char *node, char *why, size_t len)
{
  char name[300];
  snprintf(name, sizeof name, "%s%s", FERRY_AGENT_LEASE_PREFIX, node);
  json_object *lease = ferry_informer_get(c->leases, c->agent_ns, name);
  json_object *v = ferry_kube_key(ferry_kube_obj(lease, "metadata.annotations"), FERRY_ANN_STORE); /* dots: no path */
  cleanup_json json_object *st =
      v && json_object_is_type(v, json_type_string) ? json_tokener_parse(json_object_get_string(v)) : NULL;
  json_object *full = NULL, *free_b = NULL, *min_b = NULL;
  if (!st || !json_object_object_get_ex(st, "full", &full) || !json_object_get_boolean(full))
    return 0;
  json_object_object_get_ex(st, "freeBytes", &free_b);
  json_object_object_get_ex(st, "minFreeBytes", &min_b);
  char have[32], floor[32];
  ferry_format_bytes(json_object_get_int64(free_b), have, sizeof have);
  ferry_format_bytes(json_object_get_int64(min_b), floor, sizeof floor);
  snprintf(why, len, "%s's image store has %s free, below its agent's --store-min-free %s", node, have, floor);
  return 1;
}

/* ---------- what the source can dump: the agent's node check ---------- */

const char *ctl_agent_annotation(struct ctl *c, const char *node, const char *key)
{
  char name[300];
  snprintf(name, sizeof name, "%s%s", FERRY_AGENT_LEASE_PREFIX, node);
  json_object *lease = ferry_informer_get(c->leases, c->agent_ns, name);
  json_object *v = ferry_kube_key(ferry_kube_obj(lease, "metadata.annotations"), key); /* keys have dots: no path */
  return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

const char *ctl_node_check(struct ctl *c, const char *node)
{
  return ctl_agent_annotation(c, node, FERRY_ANN_NODE_CHECK);
}

int ctl_node_check_nonroot_refused(const char *check, char *reason, size_t len)
{
  cleanup_json json_object *o = check ? json_tokener_parse(check) : NULL;
  json_object *nonroot = ferry_kube_obj(o, "nonRootContainers"), *ok = ferry_kube_obj(nonroot, "ok");
  if (!ok || !json_object_is_type(ok, json_type_boolean) || json_object_get_boolean(ok))
    return 0; /* an agent from before the check, or one that can: the dump will tell */
  snprintf(reason, len, "%s", ferry_kube_str(nonroot, "reason") ?: "no reason given");
  return 1;
}

/* FIELD of the container's securityContext, else the pod's; -1 when neither sets it. */
static int64_t run_as(json_object *pod, json_object *container, const char *field)
{
  json_object *v = ferry_kube_key(ferry_kube_obj(container, "securityContext"), field);
  if (!v)
    v = ferry_kube_key(ferry_kube_obj(pod, "spec.securityContext"), field);
  return v && json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
}

int ctl_pod_runs_as(json_object *pod, const char *cname, char *as, size_t len)
{
  json_object *containers = ferry_kube_obj(pod, "spec.containers"), *container = NULL;
  for (size_t i = 0; containers && i < json_object_array_length(containers) && !container; i++)
    if (!strcmp(ferry_kube_str(json_object_array_get_idx(containers, i), "name") ?: "", cname))
      container = json_object_array_get_idx(containers, i);
  int64_t uid = run_as(pod, container, "runAsUser"), gid = run_as(pod, container, "runAsGroup");
  if (uid > 0)
    snprintf(as, len, "uid %lld", (long long)uid);
  else if (gid > 0)
    snprintf(as, len, "gid %lld", (long long)gid);
  return uid > 0 || gid > 0;
}

void ctl_cannot_dump_message(const char *node, const char *cname, const char *as, const char *reason, char *msg,
                             size_t len)
{
  if (!strcmp(reason, FERRY_NODE_CHECK_LACKS_SYS_RESOURCE))
    snprintf(msg, len,
             "container %s runs as %s and %s's CRIU lacks CAP_SYS_RESOURCE (it cannot dump a non-root process's "
             "rlimits)",
             cname, as, node);
  else
    snprintf(msg, len, "container %s runs as %s and %s cannot dump a non-root process: %s", cname, as, node, reason);
}

/* ---------- what the nodes' pods use ---------- */

struct usage {
  struct {
    char node[254];
    struct node_use use;
  } * v;
  size_t n;
};

static void add_use(void *ctx, json_object *pod)
{
  struct usage *u = ctx;
  const char *node = ferry_kube_str(pod, "spec.nodeName"), *phase = ferry_kube_str(pod, "status.phase") ?: "";
  if (!node || !*node || !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"))
    return;
  size_t i = 0;
  while (i < u->n && strcmp(u->v[i].node, node) != 0)
    i++;
  if (i == u->n) {
    void *nv = realloc(u->v, (u->n + 1) * sizeof *u->v);
    if (!nv)
      return;
    u->v = nv;
    memset(&u->v[i], 0, sizeof u->v[i]);
    snprintf(u->v[i].node, sizeof u->v[i].node, "%s", node);
    u->n++;
  }
  u->v[i].use.cpu_milli += placement_pod_request(pod, "cpu");
  u->v[i].use.mem_milli += placement_pod_request(pod, "memory");
  u->v[i].use.pods++;
}

static struct node_use use_of(const struct usage *u, const char *node)
{
  for (size_t i = 0; i < u->n; i++)
    if (!strcmp(u->v[i].node, node))
      return u->v[i].use;
  struct node_use none = { 0, 0, 0 };
  return none;
}

/* ---------- the choice ---------- */

/* placement_fit, then room in the node's image store (the image goes there unless the store is shared). */
static enum misfit target_fit(struct ctl *c, json_object *pod, json_object *node, json_object *selector,
                              const struct node_use *u, double *cpu, char *why, size_t why_len)
{
  const char *name = ferry_kube_str(node, "metadata.name") ?: "";
  enum misfit m = placement_fit(pod, node, selector, u, ctl_agent_ready(c, name, cpu), why, why_len);
  char full[256];
  if (m == FIT && ctl_store_full(c, name, full, sizeof full)) {
    if (why)
      snprintf(why, why_len, "%s", full);
    return MISFIT_STORE_FULL;
  }
  return m;
}

struct choice {
  struct ctl *c;
  json_object *pod, *selector;
  struct usage *use;
  int counts[MISFIT__COUNT], nodes;
  json_object *best;
  double best_score;
};

static void consider(void *ctx, json_object *node)
{
  struct choice *ch = ctx;
  const char *name = ferry_kube_str(node, "metadata.name") ?: "";
  double cpu = 0;
  struct node_use u = use_of(ch->use, name);
  enum misfit m = target_fit(ch->c, ch->pod, node, ch->selector, &u, &cpu, NULL, 0);
  ch->counts[m]++;
  ch->nodes++;
  if (m != FIT)
    return;
  double score = placement_score(ch->pod, node, &u, cpu);
  if (!ch->best || score < ch->best_score ||
      (score == ch->best_score && strcmp(name, ferry_kube_str(ch->best, "metadata.name")) < 0)) {
    ch->best = node;
    ch->best_score = score;
  }
}

/* The node the PodMigration names, if the pod fits there. */
static json_object *asked_target(struct ctl *c, json_object *pod, const char *want, json_object *selector,
                                 const struct usage *use, char *why, size_t why_len, const char **reason)
{
  json_object *node = ferry_informer_get(c->nodes, NULL, want);
  if (!node) {
    *reason = "TargetNotFound";
    snprintf(why, why_len, "node %s does not exist", want);
    return NULL;
  }
  struct node_use u = use_of(use, want);
  char detail[256];
  enum misfit m = target_fit(c, pod, node, selector, &u, NULL, detail, sizeof detail);
  if (m == FIT)
    return node;
  *reason = "TargetDoesNotFit";
  snprintf(why, why_len, "node %s: %s%s%s%s", want, placement_misfit_text(m), *detail ? " (" : "", detail,
           *detail ? ")" : "");
  return NULL;
}

json_object *ctl_choose_target(struct ctl *c, json_object *pm, json_object *pod, char *why, size_t why_len,
                               const char **reason)
{
  struct usage use = { NULL, 0 };
  ferry_informer_each(c->pods, add_use, &use);
  json_object *selector = ferry_kube_obj(ferry_kube_obj(pm, "spec"), "nodeSelector");
  const char *want = ferry_kube_str(pm, "spec.targetNode");
  json_object *result = NULL;
  if (want && *want) {
    result = asked_target(c, pod, want, selector, &use, why, why_len, reason);
  } else {
    struct choice ch = { c, pod, selector, &use, { 0 }, 0, NULL, 0 };
    ferry_informer_each(c->nodes, consider, &ch);
    result = ch.best;
    if (!result) {
      *reason = "NoNodeFits";
      placement_summary(ch.counts, ch.nodes, why, why_len);
    }
  }
  free(use.v);
  return result;
}
