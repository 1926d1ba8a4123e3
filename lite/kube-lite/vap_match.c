/* SPDX-License-Identifier: Apache-2.0 */
/* Which requests a policy's matchConstraints or a binding's matchResources select,
 * as the API server's matcher decides it. matchPolicy Equivalent matches as Exact:
 * kube-lite serves each resource in one version only. */
#include <string.h>

#include "kube/kube.h"
#include "select.h"
#include "vap.h"

static int is_namespace(const struct kl_admission *a) { return !a->r->group[0] && !strcmp(a->r->plural, "namespaces"); }

/* The item is "*" or want. */
static int listed(json_object *list, const char *want)
{
  for (size_t i = 0; json_object_is_type(list, json_type_array) && i < json_object_array_length(list); i++) {
    const char *e = json_object_get_string(json_object_array_get_idx(list, i)) ?: "";
    if (!strcmp(e, "*") || !strcmp(e, want))
      return 1;
  }
  return 0;
}

/* resources: "pods" the resource, "pods/binding" a subresource, "*" every resource; "pods/ *" every
 * subresource and, as the API server's matcher has it, the resource itself (its subresource "" too). */
static int resource_listed(json_object *list, const struct kl_admission *a)
{
  for (size_t i = 0; json_object_is_type(list, json_type_array) && i < json_object_array_length(list); i++) {
    const char *e = json_object_get_string(json_object_array_get_idx(list, i)) ?: "", *slash = strchr(e, '/');
    size_t rlen = slash ? (size_t)(slash - e) : strlen(e);
    const char *sub = slash ? slash + 1 : "";
    int res = (rlen == 1 && e[0] == '*') || (strlen(a->r->plural) == rlen && !strncmp(e, a->r->plural, rlen));
    if (res && (!strcmp(sub, "*") || !strcmp(sub, a->subresource)))
      return 1;
  }
  return 0;
}

/* scope: "*" (or none) every request; Namespaced ones in a namespace; Cluster ones not (and namespaces). */
static int scope_holds(const char *scope, const struct kl_admission *a)
{
  int namespaced = !is_namespace(a) && a->ns[0];
  if (!scope || !strcmp(scope, "*"))
    return 1;
  if (!strcmp(scope, "Namespaced"))
    return namespaced;
  if (!strcmp(scope, "Cluster"))
    return !namespaced;
  return 0;
}

static int rule_matches(json_object *rule, const struct kl_admission *a)
{
  json_object *names;
  if (!scope_holds(ferry_kube_str(rule, "scope"), a) ||
      !listed(ferry_kube_obj(rule, "operations"), kl_operation_name(a->op)) ||
      !listed(ferry_kube_obj(rule, "apiGroups"), a->r->group) ||
      !listed(ferry_kube_obj(rule, "apiVersions"), a->r->version) ||
      !resource_listed(ferry_kube_obj(rule, "resources"), a))
    return 0;
  if (!json_object_object_get_ex(rule, "resourceNames", &names) || !json_object_is_type(names, json_type_array) ||
      !json_object_array_length(names))
    return 1;
  for (size_t i = 0; i < json_object_array_length(names); i++)
    if (!strcmp(json_object_get_string(json_object_array_get_idx(names, i)) ?: "", a->name))
      return 1;
  return 0;
}

static int any_rule(json_object *rules, const struct kl_admission *a)
{
  for (size_t i = 0; json_object_is_type(rules, json_type_array) && i < json_object_array_length(rules); i++)
    if (rule_matches(json_object_array_get_idx(rules, i), a))
      return 1;
  return 0;
}

static json_object *labels_of(json_object *o) { return o ? ferry_kube_obj(o, "metadata.labels") : NULL; }

/* A cluster-scoped request always matches; a Namespace's own labels count for it;
 * else its namespace's labels. */
static int namespace_selected(struct kl_store *s, json_object *sel, const struct kl_admission *a)
{
  if (is_namespace(a))
    return kl_label_selector_matches(sel, labels_of(a->object ?: a->old_object));
  if (!a->ns[0])
    return 1;
  json_object *ns = NULL;
  json_object_object_get_ex(kl_store_kind(s, "/namespaces"), a->ns, &ns);
  return kl_label_selector_matches(sel, labels_of(ns));
}

/* The object's or the old object's labels. */
static int object_selected(json_object *sel, const struct kl_admission *a)
{
  if (!sel || !json_object_object_length(sel))
    return 1;
  return (a->object && kl_label_selector_matches(sel, labels_of(a->object))) ||
         (a->old_object && kl_label_selector_matches(sel, labels_of(a->old_object)));
}

int kl_vap_matches(struct kl_store *s, json_object *m, const struct kl_admission *a)
{
  json_object *rules;
  if (!m || !namespace_selected(s, ferry_kube_obj(m, "namespaceSelector"), a) ||
      !object_selected(ferry_kube_obj(m, "objectSelector"), a) ||
      any_rule(ferry_kube_obj(m, "excludeResourceRules"), a))
    return 0;
  if (!json_object_object_get_ex(m, "resourceRules", &rules) || !json_object_is_type(rules, json_type_array) ||
      !json_object_array_length(rules))
    return 1;
  return any_rule(rules, a);
}
