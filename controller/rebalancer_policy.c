/* SPDX-License-Identifier: Apache-2.0 */
/* MigrationPolicy fields for the rebalancer: spec.load, spec.locality and
 * spec.dryRun as the core's struct rb_policy (the CRD's defaults where a
 * field is absent), which policy sets the round, and what a pod's own policy
 * lets the rebalancer do with it. */
#include <string.h>

#include "rebalancer.h"
#include "reconcile.h"

#define PERCENT 100.0
#define MS_PER_S 1000

static int enabled(json_object *spec, const char *section)
{
  json_object *v = ferry_kube_obj(ferry_kube_obj(spec, section), "enabled");
  return v && json_object_get_boolean(v);
}

static void lowest_enabled(void *ctx, json_object *mpol)
{
  json_object **best = ctx, *spec = ferry_kube_obj(mpol, "spec");
  if (!enabled(spec, "load") && !enabled(spec, "locality"))
    return;
  if (!*best || strcmp(ferry_kube_str(mpol, "metadata.name") ?: "", ferry_kube_str(*best, "metadata.name") ?: "") < 0)
    *best = mpol;
}

json_object *rbw_round_policy(struct ctl *c)
{
  json_object *best = NULL;
  ferry_informer_each(c->policies, lowest_enabled, &best);
  return best;
}

/* A number field, when present (an integer or a number). */
static void number(json_object *o, const char *key, double scale, double *out)
{
  json_object *v = ferry_kube_key(o, key);
  if (v && (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
    *out = json_object_get_double(v) / scale;
}

static void seconds(json_object *o, const char *key, int64_t *out_ms)
{
  json_object *v = ferry_kube_key(o, key);
  if (v && json_object_is_type(v, json_type_int))
    *out_ms = json_object_get_int64(v) * MS_PER_S;
}

static void integer(json_object *o, const char *key, int *out)
{
  json_object *v = ferry_kube_key(o, key);
  if (v && json_object_is_type(v, json_type_int))
    *out = json_object_get_int(v);
}

static void load_fields(json_object *load, struct rb_policy *p)
{
  json_object *on = ferry_kube_key(load, "enabled");
  p->load_enabled = on && json_object_get_boolean(on);
  number(load, "cpuHighPercent", PERCENT, &p->cpu_high);
  number(load, "cpuLowPercent", PERCENT, &p->cpu_low);
  number(load, "memoryHighPercent", PERCENT, &p->mem_high);
  number(load, "memoryLowPercent", PERCENT, &p->mem_low);
  number(load, "hysteresisPercent", PERCENT, &p->hysteresis);
  integer(load, "windowObservations", &p->window);
  seconds(load, "cooldownSeconds", &p->pod_cooldown_ms);
  seconds(load, "nodeCooldownSeconds", &p->node_cooldown_ms);
  seconds(load, "historySeconds", &p->history_ms);
  integer(load, "maxMovesPerRound", &p->max_moves);
  integer(load, "maxMovesPerNodePerRound", &p->max_moves_per_node);
  json_object *cost = ferry_kube_key(load, "cost");
  number(cost, "perMove", 1, &p->move_cost);
  number(cost, "perGiB", 1, &p->cost_per_gib);
  number(cost, "perRecentMove", 1, &p->recent_move_cost);
}

static int locality_fields(json_object *loc, struct rb_arena *a, struct rb_policy *p, ferry_error *err)
{
  json_object *v = ferry_kube_key(loc, "enabled");
  p->locality_enabled = v && json_object_get_boolean(v);
  number(loc, "marginWeight", 1, &p->affinity_margin);
  json_object *labels = ferry_kube_key(loc, "hardwareLabels");
  if (!labels)
    return 0;
  if (!json_object_is_type(labels, json_type_array))
    return ferry_error_set(err, 0, "locality.hardwareLabels is not a list of label keys");
  size_t n = json_object_array_length(labels);
  const char **keys = rb_arena_alloc(a, (n ? n : 1) * sizeof *keys);
  for (size_t i = 0; i < n; i++) {
    keys[i] = json_object_get_string(json_object_array_get_idx(labels, i));
    if (!keys[i] || !*keys[i])
      return ferry_error_set(err, 0, "locality.hardwareLabels[%zu] is empty", i);
  }
  p->hardware_labels = keys;
  p->n_hardware_labels = n;
  return 0;
}

int rbw_policy_from(json_object *mpol, struct rb_arena *a, struct rb_policy *out, ferry_error *err)
{
  json_object *spec = ferry_kube_obj(mpol, "spec"), *dry = ferry_kube_key(spec, "dryRun");
  rb_policy_defaults(out);
  load_fields(ferry_kube_key(spec, "load"), out);
  out->dry_run = dry && json_object_get_boolean(dry);
  if (locality_fields(ferry_kube_key(spec, "locality"), a, out, err) < 0 || rb_policy_check(out, err) < 0)
    return -1;
  return 0;
}

unsigned rbw_pod_allows(struct ctl *c, json_object *pod, int64_t *cooldown_ms)
{
  json_object *mpol = ctl_policy_object(c, pod, ferry_kube_str(pod, "metadata.namespace") ?: "");
  json_object *spec = ferry_kube_obj(mpol, "spec");
  *cooldown_ms = 0;
  seconds(ferry_kube_key(spec, "load"), "cooldownSeconds", cooldown_ms);
  return (enabled(spec, "load") ? RB_ALLOW_LOAD : 0) | (enabled(spec, "locality") ? RB_ALLOW_LOCALITY : 0);
}
