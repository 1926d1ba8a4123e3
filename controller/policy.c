/* SPDX-License-Identifier: Apache-2.0 */
/* MigrationPolicies and the limits they set: how many migrations may run in
 * the cluster and on one node, each phase's timeout, the default strategy. */
#include <stdio.h>
#include <string.h>

#include "reconcile.h"
#include "api/podmigration.h"

#define DEFAULT_PER_NODE 1
#define DEFAULT_TOTAL 4
#define DEFAULT_PHASE_TIMEOUT_S 300

struct policy_pick {
  json_object *pod;
  const char *ns;
  json_object *best;
};

/* spec.namespaces covers ns (none: every namespace). A list that is no list of
 * names covers none: the API server's schema never lets one through. */
static int covers_namespace(json_object *nss, const char *ns)
{
  if (!nss)
    return 1;
  if (!json_object_is_type(nss, json_type_array))
    return 0;
  size_t n = json_object_array_length(nss);
  for (size_t i = 0; i < n; i++) {
    const char *one = json_object_get_string(json_object_array_get_idx(nss, i));
    if (one && !strcmp(one, ns))
      return 1;
  }
  return n == 0;
}

/* spec.podSelector.matchLabels all on the pod (none: every pod; no map: none). */
static int matches_labels(json_object *ml, json_object *pod)
{
  if (!ml)
    return 1;
  if (!json_object_is_type(ml, json_type_object))
    return 0;
  json_object *labels = ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "labels");
  json_object_object_foreach(ml, k, v)
  {
    json_object *hv = ferry_kube_key(labels, k);
    if (!hv || strcmp(json_object_get_string(hv), json_object_get_string(v) ?: "") != 0)
      return 0;
  }
  return 1;
}

int ctl_policy_selects(json_object *pol, json_object *pod, const char *ns)
{
  json_object *spec = ferry_kube_obj(pol, "spec");
  return covers_namespace(ferry_kube_obj(spec, "namespaces"), ns) &&
         matches_labels(ferry_kube_obj(ferry_kube_obj(spec, "podSelector"), "matchLabels"), pod);
}

static void pick_policy(void *ctx, json_object *pol)
{
  struct policy_pick *p = ctx;
  if (!ctl_policy_selects(pol, p->pod, p->ns))
    return;
  if (!p->best || strcmp(ferry_kube_str(pol, "metadata.name"), ferry_kube_str(p->best, "metadata.name")) < 0)
    p->best = pol;
}

static int int_or(json_object *o, const char *k, int def)
{
  json_object *v = ferry_kube_key(o, k);
  return v ? json_object_get_int(v) : def;
}

json_object *ctl_policy_object(struct ctl *c, json_object *pod, const char *ns)
{
  struct policy_pick p = { pod, ns, NULL };
  ferry_informer_each(c->policies, pick_policy, &p);
  return p.best;
}

void ctl_policy_for(struct ctl *c, json_object *pod, const char *ns, struct policy *out)
{
  ctl_policy_read(ctl_policy_object(c, pod, ns), out);
}

void ctl_policy_read(json_object *best, struct policy *out)
{
  json_object *spec = ferry_kube_obj(best, "spec");
  out->name = best ? ferry_kube_str(best, "metadata.name") : NULL;
  out->per_node = int_or(spec, "maxParallelPerNode", DEFAULT_PER_NODE);
  out->total = int_or(spec, "maxParallel", DEFAULT_TOTAL);
  out->phase_timeout_s = int_or(spec, "phaseTimeoutSeconds", DEFAULT_PHASE_TIMEOUT_S);
  out->image_retention = ferry_kube_obj(spec, "imageRetention");
  const char *strategy = ferry_kube_str(spec, "defaultStrategy");
  out->bad_strategy = NULL;
  out->strategy = PM_STRATEGY_STOP_AND_COPY;
  if (strategy && pm_strategy_parse(strategy, &out->strategy) < 0)
    out->bad_strategy = strategy;
}

int ctl_phase_timeout_s(struct ctl *c, json_object *pm, json_object *pod)
{
  json_object *v = ferry_kube_obj(ferry_kube_obj(pm, "spec"), "phaseTimeoutSeconds");
  if (v)
    return json_object_get_int(v);
  struct policy pol;
  ctl_policy_for(c, pod, ferry_kube_str(pm, "metadata.namespace") ?: "", &pol);
  return pol.phase_timeout_s;
}

struct busy {
  const char *uid, *source, *target;
  struct ctl_busy n;
};

static void count_busy(void *ctx, json_object *pm)
{
  struct busy *b = ctx;
  if (!strcmp(ferry_kube_str(pm, "metadata.uid") ?: "", b->uid) || !pm_phase_is_active(pm_phase(pm)))
    return;
  b->n.total++;
  const char *s = ferry_kube_str(pm, "status.sourceNode") ?: "", *t = ferry_kube_str(pm, "status.targetNode") ?: "";
  if (b->source && (!strcmp(s, b->source) || !strcmp(t, b->source)))
    b->n.on_source++;
  if (b->target && (!strcmp(s, b->target) || !strcmp(t, b->target)))
    b->n.on_target++;
}

void ctl_limits_wait(struct ctl *c, json_object *pm, const struct policy *pol, const char *source, const char *target,
                     char *wait, size_t wait_len)
{
  struct busy all = { ferry_kube_str(pm, "metadata.uid") ?: "", source, target, { 0, 0, 0 } };
  ferry_informer_each(c->pms, count_busy, &all);
  ctl_inflight_count(c, all.uid, source, target, &all.n);
  const struct ctl_busy b = all.n;
  *wait = '\0';
  if (b.total >= pol->total)
    snprintf(wait, wait_len, "waiting: %d migrations running in the cluster (limit %d)", b.total, pol->total);
  else if (b.on_source >= pol->per_node)
    snprintf(wait, wait_len, "waiting: %d migrations running on %s (limit %d)", b.on_source, source, pol->per_node);
  else if (b.on_target >= pol->per_node)
    snprintf(wait, wait_len, "waiting: %d migrations running on %s (limit %d)", b.on_target, target, pol->per_node);
}
