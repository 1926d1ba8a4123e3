/* SPDX-License-Identifier: Apache-2.0 */
#include "placement.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"
#include "kube/quantity.h"

static const char *const MISFIT_TEXT[MISFIT__COUNT] = {
  [FIT] = "fits",
  [MISFIT_SOURCE] = "is the source",
  [MISFIT_NOT_READY] = "not ready",
  [MISFIT_UNSCHEDULABLE] = "unschedulable",
  [MISFIT_NO_AGENT] = "no Ferry agent",
  [MISFIT_SELECTOR] = "node selector mismatch",
  [MISFIT_AFFINITY] = "node affinity mismatch",
  [MISFIT_TAINT] = "tainted",
  [MISFIT_CPU] = "not enough cpu",
  [MISFIT_MEMORY] = "not enough memory",
  [MISFIT_PODS] = "too many pods",
  [MISFIT_STORE_FULL] = "image store full",
};

const char *placement_misfit_text(enum misfit m) { return m < MISFIT__COUNT ? MISFIT_TEXT[m] : "unknown"; }

static json_object *path(json_object *o, const char *dotted)
{
  char buf[256];
  snprintf(buf, sizeof buf, "%s", dotted);
  char *save = NULL;
  for (char *p = strtok_r(buf, ".", &save); p && o; p = strtok_r(NULL, ".", &save))
    o = ferry_kube_key(o, p);
  return o;
}

/* An array's length; 0 for anything else (the API server's schema lets no other through). */
static size_t len_of(json_object *array)
{
  return json_object_is_type(array, json_type_array) ? json_object_array_length(array) : 0;
}

static int64_t quantity(json_object *v)
{
  int64_t m = 0;
  ferry_error err = FERRY_ERROR_INIT;
  if (v && ferry_quantity_milli(json_object_get_string(v), &m, &err) < 0)
    m = 0; /* the API server refuses such objects; count nothing */
  ferry_error_clear(&err);
  return m;
}

static int64_t containers_request(json_object *list, const char *resource, int sum)
{
  int64_t total = 0;
  for (size_t i = 0; i < len_of(list); i++) {
    json_object *c = json_object_array_get_idx(list, i);
    json_object *req = path(c, "resources.requests");
    int64_t v = quantity(ferry_kube_key(req, resource));
    if (!req || !ferry_kube_key(req, resource)) /* requests default to limits */
      v = quantity(ferry_kube_key(path(c, "resources.limits"), resource));
    total = sum ? total + v : (v > total ? v : total);
  }
  return total;
}

int64_t placement_pod_request(json_object *pod, const char *resource)
{
  json_object *spec = ferry_kube_obj(pod, "spec");
  int64_t run = containers_request(ferry_kube_obj(spec, "containers"), resource, 1);
  int64_t init = containers_request(ferry_kube_obj(spec, "initContainers"), resource, 0);
  return run > init ? run : init;
}

static const char *label(json_object *node, const char *key)
{
  json_object *v = ferry_kube_key(path(node, "metadata.labels"), key);
  return v ? json_object_get_string(v) : NULL;
}

static int selector_matches(json_object *node, json_object *sel)
{
  if (!sel || !json_object_is_type(sel, json_type_object))
    return 1;
  json_object_object_foreach(sel, k, v)
  {
    const char *have = label(node, k);
    if (!have || strcmp(have, json_object_get_string(v)) != 0)
      return 0;
  }
  return 1;
}

static int in_values(json_object *values, const char *s)
{
  for (size_t i = 0; s && i < len_of(values); i++)
    if (!strcmp(json_object_get_string(json_object_array_get_idx(values, i)) ?: "", s))
      return 1;
  return 0;
}

/* One node selector requirement: In, NotIn, Exists, DoesNotExist, Gt, Lt. */
static int requirement_matches(const char *have, json_object *req)
{
  const char *op = ferry_kube_str(req, "operator") ?: "";
  json_object *values = ferry_kube_obj(req, "values");
  if (!strcmp(op, "In"))
    return in_values(values, have);
  if (!strcmp(op, "NotIn"))
    return !in_values(values, have);
  if (!strcmp(op, "Exists"))
    return have != NULL;
  if (!strcmp(op, "DoesNotExist"))
    return have == NULL;
  if ((!strcmp(op, "Gt") || !strcmp(op, "Lt")) && have && len_of(values) == 1) {
    char *end;
    long long h = strtoll(have, &end, 10);
    if (*end)
      return 0;
    long long v = strtoll(json_object_get_string(json_object_array_get_idx(values, 0)), &end, 10);
    return op[0] == 'G' ? h > v : h < v;
  }
  return 0;
}

/* requiredDuringSchedulingIgnoredDuringExecution: the terms are ORed, the
 * expressions and fields of one term ANDed. */
static int affinity_matches(json_object *pod, json_object *node)
{
  json_object *terms =
      path(pod, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms");
  if (!len_of(terms))
    return 1;
  for (size_t t = 0; t < len_of(terms); t++) {
    json_object *term = json_object_array_get_idx(terms, t);
    json_object *exprs = ferry_kube_obj(term, "matchExpressions"), *fields = ferry_kube_obj(term, "matchFields");
    if (!len_of(exprs) && !len_of(fields))
      continue; /* an empty term matches nothing */
    int ok = 1;
    for (size_t i = 0; ok && i < len_of(exprs); i++) {
      json_object *e = json_object_array_get_idx(exprs, i);
      ok = requirement_matches(label(node, ferry_kube_str(e, "key") ?: ""), e);
    }
    for (size_t i = 0; ok && i < len_of(fields); i++) {
      json_object *f = json_object_array_get_idx(fields, i);
      const char *key = ferry_kube_str(f, "key") ?: "";
      ok = !strcmp(key, "metadata.name") && requirement_matches(ferry_kube_str(node, "metadata.name"), f);
    }
    if (ok)
      return 1;
  }
  return 0;
}

static int tolerates(json_object *tolerations, json_object *taint)
{
  const char *tk = ferry_kube_str(taint, "key") ?: "", *tv = ferry_kube_str(taint, "value") ?: "",
             *te = ferry_kube_str(taint, "effect") ?: "";
  for (size_t i = 0; i < len_of(tolerations); i++) {
    json_object *t = json_object_array_get_idx(tolerations, i);
    const char *key = ferry_kube_str(t, "key") ?: "", *op = ferry_kube_str(t, "operator") ?: "Equal",
               *value = ferry_kube_str(t, "value") ?: "", *effect = ferry_kube_str(t, "effect") ?: "";
    if (*effect && strcmp(effect, te) != 0)
      continue;
    if (!strcmp(op, "Exists") && (!*key || !strcmp(key, tk)))
      return 1;
    if (!strcmp(op, "Equal") && !strcmp(key, tk) && !strcmp(value, tv))
      return 1;
  }
  return 0;
}

static int node_ready(json_object *node)
{
  json_object *conds = path(node, "status.conditions");
  for (size_t i = 0; i < len_of(conds); i++) {
    json_object *c = json_object_array_get_idx(conds, i);
    if (!strcmp(ferry_kube_str(c, "type") ?: "", "Ready"))
      return !strcmp(ferry_kube_str(c, "status") ?: "", "True");
  }
  return 0;
}

/* allocatable, or capacity when the node reports no allocatable; -1: not reported. */
static int64_t allocatable(json_object *node, const char *resource)
{
  json_object *v = ferry_kube_key(path(node, "status.allocatable"), resource);
  if (!v)
    v = ferry_kube_key(path(node, "status.capacity"), resource);
  return v ? quantity(v) : -1;
}

enum misfit placement_fit(json_object *pod, json_object *node, json_object *extra_selector, const struct node_use *used,
                          int agent_ready, char *why, size_t why_len)
{
  char scratch[8];
  if (!why) {
    why = scratch;
    why_len = sizeof scratch;
  }
  why[0] = '\0';
  const char *name = ferry_kube_str(node, "metadata.name") ?: "";
  if (!strcmp(ferry_kube_str(pod, "spec.nodeName") ?: "", name))
    return MISFIT_SOURCE;
  if (!node_ready(node))
    return MISFIT_NOT_READY;
  json_object *tolerations = path(pod, "spec.tolerations"), *u = path(node, "spec.unschedulable");
  if (u && json_object_get_boolean(u)) {
    json_object *t = json_tokener_parse("{\"key\":\"node.kubernetes.io/unschedulable\",\"effect\":\"NoSchedule\"}");
    int ok = tolerates(tolerations, t);
    json_object_put(t);
    if (!ok)
      return MISFIT_UNSCHEDULABLE;
  }
  if (!agent_ready)
    return MISFIT_NO_AGENT;
  if (!selector_matches(node, path(pod, "spec.nodeSelector")) || !selector_matches(node, extra_selector))
    return MISFIT_SELECTOR;
  if (!affinity_matches(pod, node))
    return MISFIT_AFFINITY;
  json_object *taints = path(node, "spec.taints");
  for (size_t i = 0; i < len_of(taints); i++) {
    json_object *t = json_object_array_get_idx(taints, i);
    const char *effect = ferry_kube_str(t, "effect") ?: "";
    if (!strcmp(effect, "PreferNoSchedule") || tolerates(tolerations, t))
      continue;
    snprintf(why, why_len, "taint %s=%s:%s", ferry_kube_str(t, "key") ?: "", ferry_kube_str(t, "value") ?: "", effect);
    return MISFIT_TAINT;
  }
  int64_t cpu = allocatable(node, "cpu"), mem = allocatable(node, "memory"), pods = allocatable(node, "pods");
  int64_t want_cpu = placement_pod_request(pod, "cpu"), want_mem = placement_pod_request(pod, "memory");
  if (cpu >= 0 && used->cpu_milli + want_cpu > cpu) {
    snprintf(why, why_len, "cpu: %lldm requested, %lldm of %lldm free", (long long)want_cpu,
             (long long)(cpu - used->cpu_milli), (long long)cpu);
    return MISFIT_CPU;
  }
  if (mem >= 0 && used->mem_milli + want_mem > mem) {
    snprintf(why, why_len, "memory: %lld requested, %lld of %lld free", (long long)(want_mem / 1000),
             (long long)((mem - used->mem_milli) / 1000), (long long)(mem / 1000));
    return MISFIT_MEMORY;
  }
  if (pods >= 0 && (int64_t)(used->pods + 1) * 1000 > pods)
    return MISFIT_PODS;
  return FIT;
}

double placement_score(json_object *pod, json_object *node, const struct node_use *used, double reported_cpu)
{
  int64_t cpu = allocatable(node, "cpu"), mem = allocatable(node, "memory");
  double c = cpu > 0 ? (double)(used->cpu_milli + placement_pod_request(pod, "cpu")) / (double)cpu : 0;
  double m = mem > 0 ? (double)(used->mem_milli + placement_pod_request(pod, "memory")) / (double)mem : 0;
  return (c + m) / 2 + (reported_cpu > 0 ? reported_cpu : 0);
}

void placement_summary(const int counts[MISFIT__COUNT], int nodes, char *buf, size_t len)
{
  int fit = counts[FIT];
  size_t l = (size_t)snprintf(buf, len, "%d/%d nodes fit", fit, nodes);
  const char *sep = ": ";
  for (int m = 1; m < MISFIT__COUNT && l < len; m++) {
    if (!counts[m])
      continue;
    l += (size_t)snprintf(buf + l, len - l, "%s%d %s", sep, counts[m], MISFIT_TEXT[m]);
    sep = ", ";
  }
}
