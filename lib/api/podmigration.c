/* SPDX-License-Identifier: Apache-2.0 */
#include "api/podmigration.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"

static const char *const phase_names[] = {
  [PM_PENDING] = "Pending",
  [PM_SCHEDULED] = "Scheduled",
  [PM_CHECKPOINTING] = "Checkpointing",
  [PM_TRANSFERRING] = "Transferring",
  [PM_RESTORING] = "Restoring",
  [PM_SUCCEEDED] = "Succeeded",
  [PM_FAILED] = "Failed",
  [PM_ROLLING_BACK] = "RollingBack",
  [PM_ROLLED_BACK] = "RolledBack",
};

const char *pm_phase_name(enum pm_phase phase) { return phase >= 0 && phase < PM_UNKNOWN ? phase_names[phase] : NULL; }

enum pm_phase pm_phase_parse(const char *name)
{
  if (!name || !*name)
    return PM_PENDING;
  for (enum pm_phase p = PM_PENDING; p < PM_UNKNOWN; p++)
    if (!strcmp(name, phase_names[p]))
      return p;
  return PM_UNKNOWN;
}

static const char *const reason_names[] = {
  [PM_REASON_MANUAL] = "Manual",
  [PM_REASON_ANNOTATION] = "Annotation",
  [PM_REASON_DRAIN] = "Drain",
  [PM_REASON_LOAD_BALANCE] = "LoadBalance",
  [PM_REASON_AFFINITY] = "Affinity",
  [PM_REASON_HARDWARE] = "Hardware",
  [PM_REASON_SELF_REQUESTED] = "SelfRequested",
};

const char *pm_reason_name(enum pm_reason reason)
{
  return reason >= 0 && reason < PM_REASON_COUNT ? reason_names[reason] : NULL;
}

int pm_reason_parse(const char *name, enum pm_reason *out)
{
  *out = PM_REASON_MANUAL;
  if (!name || !*name)
    return 0;
  for (enum pm_reason r = PM_REASON_MANUAL; r < PM_REASON_COUNT; r++)
    if (!strcmp(name, reason_names[r])) {
      *out = r;
      return 0;
    }
  return -1;
}

enum pm_reason pm_reason(json_object *pm)
{
  enum pm_reason r;
  return pm_reason_parse(ferry_kube_str(pm, "spec.reason"), &r) < 0 ? PM_REASON_MANUAL : r;
}

static const char *const strategy_names[] = {
  [PM_STRATEGY_STOP_AND_COPY] = "stopAndCopy",
  [PM_STRATEGY_PRE_COPY] = "preCopy",
  [PM_STRATEGY_POST_COPY] = "postCopy",
  [PM_STRATEGY_AUTO] = "auto",
};

const char *pm_strategy_name(enum pm_strategy s) { return s >= 0 && s < PM_STRATEGY_COUNT ? strategy_names[s] : NULL; }

int pm_strategy_parse(const char *name, enum pm_strategy *out)
{
  for (enum pm_strategy s = PM_STRATEGY_STOP_AND_COPY; name && s < PM_STRATEGY_COUNT; s++)
    if (!strcmp(name, strategy_names[s])) {
      *out = s;
      return 0;
    }
  return -1;
}

enum pm_phase pm_phase(json_object *pm) { return pm_phase_parse(ferry_kube_str(pm, "status.phase")); }

int pm_phase_is_terminal(enum pm_phase phase)
{
  return phase == PM_SUCCEEDED || phase == PM_FAILED || phase == PM_ROLLED_BACK;
}

int pm_phase_is_active(enum pm_phase phase) { return phase != PM_PENDING && !pm_phase_is_terminal(phase); }

static json_object *conditions(json_object *pm)
{
  json_object *st, *c;
  if (pm && json_object_object_get_ex(pm, "status", &st) && json_object_object_get_ex(st, "conditions", &c) &&
      json_object_is_type(c, json_type_array))
    return c;
  return NULL;
}

int pm_condition_true(json_object *pm, const char *type)
{
  json_object *c = conditions(pm);
  for (size_t i = 0; c && i < json_object_array_length(c); i++) {
    json_object *x = json_object_array_get_idx(c, i);
    if (!strcmp(ferry_kube_str(x, "type") ?: "", type))
      return !strcmp(ferry_kube_str(x, "status") ?: "", "True");
  }
  return 0;
}

static json_object *status_of(json_object *patch)
{
  json_object *st;
  if (!json_object_object_get_ex(patch, "status", &st)) {
    st = json_object_new_object();
    json_object_object_add(patch, "status", st);
  }
  return st;
}

void pm_patch_set(json_object *patch, const char *key, json_object *value)
{
  json_object_object_add(status_of(patch), key, value);
}

json_object *pm_status_patch(enum pm_phase phase, const char *reason, const char *fmt, ...)
{
  json_object *patch = json_object_new_object(), *st = status_of(patch);
  char now[40];
  ferry_format_time(ferry_now_real_ms(), now, sizeof now);
  if (pm_phase_name(phase)) {
    json_object_object_add(st, "phase", json_object_new_string(pm_phase_name(phase)));
    json_object_object_add(st, "phaseTime", json_object_new_string(now));
    if (pm_phase_is_terminal(phase))
      json_object_object_add(st, "completionTime", json_object_new_string(now));
  }
  if (reason)
    json_object_object_add(st, "reason", json_object_new_string(reason));
  if (fmt) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_object_object_add(st, "message", json_object_new_string(msg));
  }
  return patch;
}

void pm_patch_condition(json_object *patch, json_object *pm, const char *type, int status, const char *reason,
                        const char *message)
{
  json_object *st = status_of(patch), *list;
  if (!json_object_object_get_ex(st, "conditions", &list)) {
    list = json_object_new_array();
    json_object *old = conditions(pm);
    for (size_t i = 0; old && i < json_object_array_length(old); i++)
      json_object_array_add(list, json_object_get(json_object_array_get_idx(old, i)));
    json_object_object_add(st, "conditions", list);
  }
  const char *want = status ? "True" : "False";
  char now[40];
  ferry_format_time(ferry_now_real_ms(), now, sizeof now);
  json_object *c = json_object_new_object();
  json_object_object_add(c, "type", json_object_new_string(type));
  json_object_object_add(c, "status", json_object_new_string(want));
  json_object_object_add(c, "reason", json_object_new_string(reason ? reason : ""));
  json_object_object_add(c, "message", json_object_new_string(message ? message : ""));
  json_object_object_add(c, "lastTransitionTime", json_object_new_string(now));
  for (size_t i = 0; i < json_object_array_length(list); i++) {
    json_object *x = json_object_array_get_idx(list, i);
    if (!strcmp(ferry_kube_str(x, "type") ?: "", type)) {
      if (!strcmp(ferry_kube_str(x, "status") ?: "", want)) /* unchanged: keep its transition time */
        json_object_object_add(c, "lastTransitionTime",
                               json_object_new_string(ferry_kube_str(x, "lastTransitionTime") ?: now));
      json_object_array_put_idx(list, i, c);
      return;
    }
  }
  json_object_array_add(list, c);
}

int pm_write_status(struct ferry_kube *k, json_object *pm, json_object *patch, int conditional, json_object **out,
                    struct ferry_kube_status *st, ferry_error *err)
{
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *name = ferry_kube_str(pm, "metadata.name");
  if (conditional) {
    json_object *meta = json_object_new_object();
    json_object_object_add(meta, "resourceVersion",
                           json_object_new_string(ferry_kube_str(pm, "metadata.resourceVersion") ?: ""));
    json_object_object_add(patch, "metadata", meta);
  }
  const char *text = json_object_to_json_string_ext(patch, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  int rc = ferry_kube_patch(k, &FERRY_KUBE_PODMIGRATIONS, ns, name, FERRY_PATCH_MERGE, text, "status", out, st, err);
  if (conditional)
    json_object_object_del(patch, "metadata");
  return rc;
}

void pm_format_duration(int64_t ms, char *buf, size_t len)
{
  if (ms < 10000)
    snprintf(buf, len, "%lldms", (long long)ms);
  else
    snprintf(buf, len, "%.1fs", (double)ms / 1000.0);
}

#define LABEL_VALUE_MAX 63 /* a label value's longest */

json_object *pm_object_new(const char *ns, const char *pod, const char *pm_name, const char *target,
                           const char *strategy, enum pm_reason reason)
{
  json_object *pm = json_object_new_object(), *meta = json_object_new_object(), *spec = json_object_new_object(),
              *labels = json_object_new_object();
  json_object_object_add(pm, "apiVersion", json_object_new_string("ferry.dev/v1alpha1"));
  json_object_object_add(pm, "kind", json_object_new_string("PodMigration"));
  json_object_object_add(meta, "name", json_object_new_string(pm_name));
  json_object_object_add(meta, "namespace", json_object_new_string(ns));
  json_object_object_add(labels, FERRY_LABEL_POD,
                         json_object_new_string(strlen(pod) <= LABEL_VALUE_MAX ? pod : "long-name"));
  json_object_object_add(meta, "labels", labels);
  json_object_object_add(pm, "metadata", meta);
  json_object_object_add(spec, "pod", json_object_new_string(pod));
  if (target)
    json_object_object_add(spec, "targetNode", json_object_new_string(target));
  if (strategy)
    json_object_object_add(spec, "strategy", json_object_new_string(strategy));
  json_object_object_add(spec, "reason", json_object_new_string(pm_reason_name(reason)));
  json_object_object_add(pm, "spec", spec);
  return pm;
}
