/* SPDX-License-Identifier: Apache-2.0 */
#include "resources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"
#include "reviews.h"

static const struct kl_resource BUILTIN[] = {
  { "", "v1", "namespaces", "namespace", "Namespace", "ns", 0, 1, 0 },
  { "", "v1", "nodes", "node", "Node", "no", 0, 1, 0 },
  { "", "v1", "pods", "pod", "Pod", "po", 1, 1, 0 },
  { "", "v1", "services", "service", "Service", "svc", 1, 1, 0 },
  { "", "v1", "endpoints", "endpoints", "Endpoints", "ep", 1, 0, 0 },
  { "", "v1", "events", "event", "Event", "ev", 1, 0, 0 },
  { "", "v1", "configmaps", "configmap", "ConfigMap", "cm", 1, 0, 0 },
  { "", "v1", "secrets", "secret", "Secret", "", 1, 0, 0 },
  { "", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", "sa", 1, 0, 0 },
  { "apps", "v1", "deployments", "deployment", "Deployment", "deploy", 1, 1, 0 },
  { "apps", "v1", "replicasets", "replicaset", "ReplicaSet", "rs", 1, 1, 0 },
  { "apps", "v1", "statefulsets", "statefulset", "StatefulSet", "sts", 1, 1, 0 },
  { "apps", "v1", "daemonsets", "daemonset", "DaemonSet", "ds", 1, 1, 0 },
  { "policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", "pdb", 1, 1, 0 },
  { "discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", "", 1, 0, 0 },
  { "coordination.k8s.io", "v1", "leases", "lease", "Lease", "", 1, 0, 0 },
  { "node.k8s.io", "v1", "runtimeclasses", "runtimeclass", "RuntimeClass", "", 0, 0, 0 },
  { "admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "mutatingwebhookconfiguration",
    "MutatingWebhookConfiguration", "", 0, 0, 0 },
  { "admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", "validatingadmissionpolicy",
    "ValidatingAdmissionPolicy", "", 0, 1, 0 },
  { "admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings", "validatingadmissionpolicybinding",
    "ValidatingAdmissionPolicyBinding", "", 0, 0, 0 },
  { "rbac.authorization.k8s.io", "v1", "roles", "role", "Role", "", 1, 0, 0 },
  { "rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", "", 1, 0, 0 },
  { "rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", "", 0, 0, 0 },
  { "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", "", 0, 0, 0 },
  { "apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition", "CustomResourceDefinition",
    "crd,crds", 0, 1, 0 },
};
#define NBUILTIN (sizeof BUILTIN / sizeof BUILTIN[0])

/* Fills r from a CRD for one of its served versions. */
static int from_crd(json_object *crd, const char *version, struct kl_resource *r)
{
  json_object *spec, *versions;
  if (!json_object_object_get_ex(crd, "spec", &spec) || !json_object_object_get_ex(spec, "versions", &versions))
    return -1;
  for (size_t i = 0; i < json_object_array_length(versions); i++) {
    json_object *v = json_object_array_get_idx(versions, i), *served, *sub, *st;
    const char *name = ferry_kube_str(v, "name");
    if (!name || (version && strcmp(name, version) != 0))
      continue;
    if (json_object_object_get_ex(v, "served", &served) && !json_object_get_boolean(served))
      continue;
    memset(r, 0, sizeof *r);
    snprintf(r->group, sizeof r->group, "%s", ferry_kube_str(crd, "spec.group") ?: "");
    snprintf(r->version, sizeof r->version, "%s", name);
    snprintf(r->plural, sizeof r->plural, "%s", ferry_kube_str(crd, "spec.names.plural") ?: "");
    snprintf(r->singular, sizeof r->singular, "%s", ferry_kube_str(crd, "spec.names.singular") ?: "");
    snprintf(r->kind, sizeof r->kind, "%s", ferry_kube_str(crd, "spec.names.kind") ?: "");
    json_object *names, *shorts;
    if (json_object_object_get_ex(spec, "names", &names) && json_object_object_get_ex(names, "shortNames", &shorts))
      for (size_t k = 0; k < json_object_array_length(shorts); k++) {
        size_t l = strlen(r->short_names);
        snprintf(r->short_names + l, sizeof r->short_names - l, "%s%s", l ? "," : "",
                 json_object_get_string(json_object_array_get_idx(shorts, k)));
      }
    const char *scope = ferry_kube_str(crd, "spec.scope");
    r->namespaced = !scope || strcmp(scope, "Cluster") != 0;
    r->has_status = json_object_object_get_ex(v, "subresources", &sub) && json_object_object_get_ex(sub, "status", &st);
    r->custom = 1;
    return 0;
  }
  return -1;
}

int kl_resource_find(struct kl_store *s, const char *group, const char *version, const char *plural,
                     struct kl_resource *out)
{
  for (size_t i = 0; i < NBUILTIN; i++)
    if (!strcmp(BUILTIN[i].group, group) && !strcmp(BUILTIN[i].version, version) &&
        !strcmp(BUILTIN[i].plural, plural)) {
      *out = BUILTIN[i];
      return 0;
    }
  json_object *crds = kl_store_kind(s, "apiextensions.k8s.io/customresourcedefinitions");
  json_object_object_foreach(crds, key, crd)
  {
    (void)key;
    const char *g = ferry_kube_str(crd, "spec.group"), *p = ferry_kube_str(crd, "spec.names.plural");
    if (g && p && !strcmp(g, group) && !strcmp(p, plural) && from_crd(crd, version, out) == 0)
      return 0;
  }
  return -1;
}

void kl_resource_key(const struct kl_resource *r, char *buf, size_t len)
{
  snprintf(buf, len, "%s/%s", r->group, r->plural);
}

void kl_resource_api_version(const struct kl_resource *r, char *buf, size_t len)
{
  if (r->group[0])
    snprintf(buf, len, "%s/%s", r->group, r->version);
  else
    snprintf(buf, len, "%s", r->version);
}

json_object *kl_discovery_api(void)
{
  return json_tokener_parse("{\"kind\":\"APIVersions\",\"versions\":[\"v1\"],\"serverAddressByClientCIDRs\":"
                            "[{\"clientCIDR\":\"0.0.0.0/0\",\"serverAddress\":\"127.0.0.1\"}]}");
}

static void add_group(json_object *groups, const char *name, const char *version)
{
  for (size_t i = 0; i < json_object_array_length(groups); i++)
    if (!strcmp(ferry_kube_str(json_object_array_get_idx(groups, i), "name") ?: "", name))
      return;
  char gv[256];
  snprintf(gv, sizeof gv, "%s/%s", name, version);
  json_object *g = json_object_new_object(), *vs = json_object_new_array(), *v = json_object_new_object();
  json_object_object_add(g, "name", json_object_new_string(name));
  json_object_object_add(v, "groupVersion", json_object_new_string(gv));
  json_object_object_add(v, "version", json_object_new_string(version));
  json_object_array_add(vs, v);
  json_object_object_add(g, "versions", vs);
  json_object_object_add(g, "preferredVersion", json_object_get(v));
  json_object_array_add(groups, g);
}

json_object *kl_discovery_groups(struct kl_store *s)
{
  json_object *o = json_object_new_object(), *groups = json_object_new_array();
  json_object_object_add(o, "kind", json_object_new_string("APIGroupList"));
  json_object_object_add(o, "apiVersion", json_object_new_string("v1"));
  for (size_t i = 0; i < NBUILTIN; i++)
    if (BUILTIN[i].group[0])
      add_group(groups, BUILTIN[i].group, BUILTIN[i].version);
  add_group(groups, "authorization.k8s.io", "v1"); /* the reviews (reviews.h) */
  add_group(groups, "authentication.k8s.io", "v1");
  json_object *crds = kl_store_kind(s, "apiextensions.k8s.io/customresourcedefinitions");
  json_object_object_foreach(crds, key, crd)
  {
    (void)key;
    struct kl_resource r;
    if (from_crd(crd, NULL, &r) == 0)
      add_group(groups, r.group, r.version);
  }
  json_object_object_add(o, "groups", groups);
  return o;
}

static void add_resource(json_object *list, const struct kl_resource *r)
{
  static const char *const verbs[] = { "create", "delete", "get", "list", "patch", "update", "watch" };
  json_object *o = json_object_new_object(), *v = json_object_new_array();
  json_object_object_add(o, "name", json_object_new_string(r->plural));
  json_object_object_add(o, "singularName", json_object_new_string(r->singular));
  json_object_object_add(o, "namespaced", json_object_new_boolean(r->namespaced));
  json_object_object_add(o, "kind", json_object_new_string(r->kind));
  for (size_t i = 0; i < 7; i++)
    json_object_array_add(v, json_object_new_string(verbs[i]));
  json_object_object_add(o, "verbs", v);
  if (r->short_names[0]) {
    json_object *sn = json_object_new_array();
    char buf[64];
    snprintf(buf, sizeof buf, "%s", r->short_names);
    char *save = NULL;
    for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save))
      json_object_array_add(sn, json_object_new_string(p));
    json_object_object_add(o, "shortNames", sn);
  }
  json_object_array_add(list, o);
  int core_pods = !strcmp(r->plural, "pods") && !r->group[0];
  const char *subs[3] = { r->has_status ? "status" : NULL, core_pods ? "eviction" : NULL,
                          core_pods ? "binding" : NULL };
  static const char *const sub_kinds[3] = { NULL, "Eviction", "Binding" };
  for (int i = 0; i < 3; i++) {
    if (!subs[i])
      continue;
    char name[128];
    snprintf(name, sizeof name, "%s/%s", r->plural, subs[i]);
    json_object *so = json_object_new_object();
    json_object_object_add(so, "name", json_object_new_string(name));
    json_object_object_add(so, "singularName", json_object_new_string(""));
    json_object_object_add(so, "namespaced", json_object_new_boolean(r->namespaced));
    if (i == 1) { /* an Eviction is policy/v1 (kubectl drain evicts only where discovery says so, else deletes) */
      json_object_object_add(so, "group", json_object_new_string("policy"));
      json_object_object_add(so, "version", json_object_new_string("v1"));
    }
    json_object_object_add(so, "kind", json_object_new_string(i ? sub_kinds[i] : r->kind));
    json_object_object_add(so, "verbs", json_tokener_parse(i ? "[\"create\"]" : "[\"get\",\"patch\",\"update\"]"));
    json_object_array_add(list, so);
  }
}

json_object *kl_discovery_resources(struct kl_store *s, const char *group, const char *version)
{
  json_object *list = json_object_new_array();
  for (size_t i = 0; i < NBUILTIN; i++)
    if (!strcmp(BUILTIN[i].group, group) && !strcmp(BUILTIN[i].version, version))
      add_resource(list, &BUILTIN[i]);
  json_object *crds = kl_store_kind(s, "apiextensions.k8s.io/customresourcedefinitions");
  json_object_object_foreach(crds, key, crd)
  {
    (void)key;
    struct kl_resource r;
    if (from_crd(crd, version, &r) == 0 && !strcmp(r.group, group))
      add_resource(list, &r);
  }
  kl_review_discovery(group, version, list);
  if (json_object_array_length(list) == 0) {
    json_object_put(list);
    return NULL;
  }
  json_object *o = json_object_new_object();
  char gv[256];
  snprintf(gv, sizeof gv, "%s%s%s", group, group[0] ? "/" : "", version);
  json_object_object_add(o, "kind", json_object_new_string("APIResourceList"));
  json_object_object_add(o, "apiVersion", json_object_new_string("v1"));
  json_object_object_add(o, "groupVersion", json_object_new_string(gv));
  json_object_object_add(o, "resources", list);
  return o;
}

struct kl_resource *kl_resources_all(struct kl_store *s, size_t *n)
{
  json_object *crds = kl_store_kind(s, "apiextensions.k8s.io/customresourcedefinitions");
  size_t cap = NBUILTIN;
  json_object_object_foreach(crds, k0, crd0)
  {
    (void)k0;
    json_object *spec, *versions;
    if (json_object_object_get_ex(crd0, "spec", &spec) && json_object_object_get_ex(spec, "versions", &versions) &&
        json_object_is_type(versions, json_type_array))
      cap += json_object_array_length(versions);
  }
  struct kl_resource *all = calloc(cap, sizeof *all);
  if (!all) {
    *n = 0;
    return NULL;
  }
  memcpy(all, BUILTIN, sizeof BUILTIN);
  *n = NBUILTIN;
  json_object_object_foreach(crds, key, crd)
  {
    (void)key;
    json_object *spec, *versions;
    if (!json_object_object_get_ex(crd, "spec", &spec) || !json_object_object_get_ex(spec, "versions", &versions) ||
        !json_object_is_type(versions, json_type_array))
      continue;
    for (size_t i = 0; i < json_object_array_length(versions) && *n < cap; i++) {
      const char *name = ferry_kube_str(json_object_array_get_idx(versions, i), "name");
      if (name && from_crd(crd, name, &all[*n]) == 0)
        (*n)++;
    }
  }
  return all;
}
