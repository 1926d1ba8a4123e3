/* SPDX-License-Identifier: Apache-2.0 */
/* Defaults of built-in kinds and a CRD's status, as the API server sets them (defaults.h). */
#include "defaults.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "kube/kube.h"

#define DS_MAX_UNAVAILABLE 1
#define DS_REVISION_HISTORY 10
#define POD_GRACE_SECONDS 30

/* o[key], made an empty object when absent. */
static json_object *child(json_object *o, const char *key)
{
  json_object *c;
  if (json_object_object_get_ex(o, key, &c) && json_object_is_type(c, json_type_object))
    return c;
  c = json_object_new_object();
  json_object_object_add(o, key, c);
  return c;
}

static void default_str(json_object *o, const char *key, const char *value)
{
  json_object *v;
  if (!json_object_object_get_ex(o, key, &v) || !json_object_get_string_len(v))
    json_object_object_add(o, key, json_object_new_string(value));
}

static void default_int(json_object *o, const char *key, int value)
{
  if (!json_object_object_get_ex(o, key, NULL))
    json_object_object_add(o, key, json_object_new_int(value));
}

/* SetDefaults_PodSpec's fields that kubectl describe and the controllers read. */
static void pod_spec_defaults(json_object *spec)
{
  default_str(spec, "restartPolicy", "Always");
  default_str(spec, "dnsPolicy", "ClusterFirst");
  default_str(spec, "schedulerName", "default-scheduler");
  default_int(spec, "terminationGracePeriodSeconds", POD_GRACE_SECONDS);
  child(spec, "securityContext");
}

/* apps/v1 SetDefaults_DaemonSet: RollingUpdate with maxUnavailable 1 and maxSurge 0, 10 revisions kept. */
static void daemonset_defaults(json_object *ds)
{
  json_object *spec = child(ds, "spec"), *strategy = child(spec, "updateStrategy");
  default_str(strategy, "type", "RollingUpdate");
  if (!strcmp(ferry_kube_str(strategy, "type") ?: "", "RollingUpdate")) {
    json_object *ru = child(strategy, "rollingUpdate");
    default_int(ru, "maxUnavailable", DS_MAX_UNAVAILABLE);
    default_int(ru, "maxSurge", 0);
  }
  default_int(spec, "revisionHistoryLimit", DS_REVISION_HISTORY);
  pod_spec_defaults(child(child(spec, "template"), "spec"));
}

/* A condition of a CRD's status, keeping lastTransitionTime while its status stays. */
static json_object *condition(json_object *old_conds, const char *type, const char *reason, const char *msg)
{
  char now[32];
  const char *since = NULL;
  for (size_t i = 0; old_conds && i < json_object_array_length(old_conds); i++) {
    json_object *c = json_object_array_get_idx(old_conds, i);
    if (!strcmp(ferry_kube_str(c, "type") ?: "", type) && !strcmp(ferry_kube_str(c, "status") ?: "", "True"))
      since = ferry_kube_str(c, "lastTransitionTime");
  }
  if (!since) {
    ferry_format_time(ferry_now_real_ms(), now, sizeof now);
    since = now;
  }
  json_object *c = json_object_new_object();
  json_object_object_add(c, "type", json_object_new_string(type));
  json_object_object_add(c, "status", json_object_new_string("True"));
  json_object_object_add(c, "lastTransitionTime", json_object_new_string(since));
  json_object_object_add(c, "reason", json_object_new_string(reason));
  json_object_object_add(c, "message", json_object_new_string(msg));
  return c;
}

/* spec.names with singular (the kind in lower case) and listKind (KIND + "List") defaulted. */
static void crd_names_defaults(json_object *names)
{
  const char *kind = ferry_kube_str(names, "kind") ?: "";
  char lower[128], list[160];
  size_t i = 0;
  for (; i < sizeof lower - 1 && kind[i]; i++)
    lower[i] = (char)tolower((unsigned char)kind[i]);
  lower[i] = '\0';
  snprintf(list, sizeof list, "%sList", kind);
  default_str(names, "singular", lower);
  default_str(names, "listKind", list);
}

/* storedVersions: the versions ever stored, the storage one added. */
static json_object *stored_versions(json_object *spec, json_object *old_status)
{
  json_object *out = json_object_new_array(), *old = NULL, *versions = NULL;
  if (old_status && json_object_object_get_ex(old_status, "storedVersions", &old))
    for (size_t i = 0; i < json_object_array_length(old); i++)
      json_object_array_add(out, json_object_get(json_object_array_get_idx(old, i)));
  json_object_object_get_ex(spec, "versions", &versions);
  for (size_t i = 0; versions && i < json_object_array_length(versions); i++) {
    json_object *v = json_object_array_get_idx(versions, i), *storage;
    if (!json_object_object_get_ex(v, "storage", &storage) || !json_object_get_boolean(storage))
      continue;
    const char *name = ferry_kube_str(v, "name") ?: "";
    int have = 0;
    for (size_t k = 0; k < json_object_array_length(out); k++)
      have |= !strcmp(json_object_get_string(json_object_array_get_idx(out, k)), name);
    if (!have)
      json_object_array_add(out, json_object_new_string(name));
  }
  return out;
}

/* The status the apiextensions server's naming and establishing controllers write. kube-lite
 * serves a CRD's resources as soon as it is stored, so its names are accepted and it is established. */
static void crd_status(json_object *crd, json_object *cur)
{
  json_object *spec = child(crd, "spec"), *names = child(spec, "names"), *old_status = NULL, *old_conds = NULL;
  crd_names_defaults(names);
  if (cur && json_object_object_get_ex(cur, "status", &old_status))
    json_object_object_get_ex(old_status, "conditions", &old_conds);
  json_object *status = json_object_new_object(), *conds = json_object_new_array(), *accepted = NULL;
  json_object_deep_copy(names, &accepted, NULL);
  json_object_array_add(conds, condition(old_conds, "NamesAccepted", "NoConflicts", "no conflicts found"));
  json_object_array_add(
      conds, condition(old_conds, "Established", "InitialNamesAccepted", "the initial names have been accepted"));
  json_object_object_add(status, "conditions", conds);
  json_object_object_add(status, "acceptedNames", accepted);
  json_object_object_add(status, "storedVersions", stored_versions(spec, old_status));
  json_object_object_add(crd, "status", status);
}

/* A Namespace's kubernetes.io/metadata.name label: its name, always (as the API server sets it). */
static void namespace_defaults(json_object *ns)
{
  const char *name = ferry_kube_str(ns, "metadata.name");
  default_str(child(ns, "status"), "phase", "Active");
  if (name && *name)
    json_object_object_add(child(child(ns, "metadata"), "labels"), KL_NAMESPACE_NAME_LABEL,
                           json_object_new_string(name));
}

/* admissionregistration/v1 SetDefaults_Rule on each rule of a list: scope "*". */
static void rules_defaults(json_object *rules)
{
  for (size_t i = 0; json_object_is_type(rules, json_type_array) && i < json_object_array_length(rules); i++) {
    json_object *rule = json_object_array_get_idx(rules, i);
    if (json_object_is_type(rule, json_type_object))
      default_str(rule, "scope", "*");
  }
}

/* SetDefaults_MatchResources: matchPolicy Equivalent, empty namespace and object selectors. */
static void match_resources_defaults(json_object *m)
{
  default_str(m, "matchPolicy", "Equivalent");
  child(m, "namespaceSelector");
  child(m, "objectSelector");
  rules_defaults(json_object_object_get(m, "resourceRules"));
  rules_defaults(json_object_object_get(m, "excludeResourceRules"));
}

/* A ValidatingAdmissionPolicy (failurePolicy Fail, its matchConstraints') or a binding's matchResources. */
static void admission_policy_defaults(const char *plural, json_object *obj)
{
  json_object *spec = child(obj, "spec"), *m;
  int policy = !strcmp(plural, "validatingadmissionpolicies");
  if (policy)
    default_str(spec, "failurePolicy", "Fail");
  if (json_object_object_get_ex(spec, policy ? "matchConstraints" : "matchResources", &m) &&
      json_object_is_type(m, json_type_object))
    match_resources_defaults(m);
}

void kl_defaults(const struct kl_resource *r, json_object *obj, json_object *cur)
{
  if (r->custom)
    return;
  if (!r->group[0] && !strcmp(r->plural, "secrets"))
    default_str(obj, "type", "Opaque");
  else if (!r->group[0] && !strcmp(r->plural, "namespaces"))
    namespace_defaults(obj);
  else if (!strcmp(r->group, "apps") && !strcmp(r->plural, "daemonsets"))
    daemonset_defaults(obj);
  else if (!strcmp(r->group, "apiextensions.k8s.io") && !strcmp(r->plural, "customresourcedefinitions"))
    crd_status(obj, cur);
  else if (!strcmp(r->group, "admissionregistration.k8s.io") && strstr(r->plural, "validatingadmissionpolic"))
    admission_policy_defaults(r->plural, obj);
}
