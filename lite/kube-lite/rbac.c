/* SPDX-License-Identifier: Apache-2.0 */
/* The RBAC authorizer: rule matching, the bindings that apply to a user, the 403 message. */
#include "rbac.h"

#include <stdio.h>
#include <string.h>

#include "kube/kube.h"

#define WILDCARD "*"

/* Whether the string array field of rule holds want (or, with wildcard, "*"). */
static int list_has(json_object *rule, const char *field, const char *want, int wildcard)
{
  json_object *l;
  if (!json_object_object_get_ex(rule, field, &l) || !json_object_is_type(l, json_type_array))
    return 0;
  for (size_t i = 0; i < json_object_array_length(l); i++) {
    const char *v = json_object_get_string(json_object_array_get_idx(l, i)) ?: "";
    if (!strcmp(v, want) || (wildcard && !strcmp(v, WILDCARD)))
      return 1;
  }
  return 0;
}

static size_t list_len(json_object *rule, const char *field)
{
  json_object *l;
  return json_object_object_get_ex(rule, field, &l) && json_object_is_type(l, json_type_array)
             ? json_object_array_length(l)
             : 0;
}

/* "*", "pods/status" itself, or "* /status" for any resource's subresource. */
static int resource_matches(json_object *rule, const char *combined, const char *sub)
{
  json_object *l;
  if (!json_object_object_get_ex(rule, "resources", &l) || !json_object_is_type(l, json_type_array))
    return 0;
  for (size_t i = 0; i < json_object_array_length(l); i++) {
    const char *r = json_object_get_string(json_object_array_get_idx(l, i)) ?: "";
    if (!strcmp(r, WILDCARD) || !strcmp(r, combined))
      return 1;
    if (*sub && !strncmp(r, "*/", 2) && !strcmp(r + 2, sub))
      return 1;
  }
  return 0;
}

/* "*", the path itself, or a prefix ending in "*". */
static int url_matches(json_object *rule, const char *path)
{
  json_object *l;
  if (!json_object_object_get_ex(rule, "nonResourceURLs", &l) || !json_object_is_type(l, json_type_array))
    return 0;
  for (size_t i = 0; i < json_object_array_length(l); i++) {
    const char *u = json_object_get_string(json_object_array_get_idx(l, i)) ?: "";
    size_t n = strlen(u);
    if (!strcmp(u, WILDCARD) || !strcmp(u, path))
      return 1;
    if (n > 0 && u[n - 1] == '*' && !strncmp(u, path, n - 1))
      return 1;
  }
  return 0;
}

int kl_rbac_rule_allows(json_object *rule, const struct kl_attrs *a)
{
  if (!list_has(rule, "verbs", a->verb, 1))
    return 0;
  if (!a->resource_request)
    return url_matches(rule, a->path);
  char combined[256];
  snprintf(combined, sizeof combined, "%s%s%s", a->resource, a->subresource[0] ? "/" : "", a->subresource);
  return list_has(rule, "apiGroups", a->group, 1) && resource_matches(rule, combined, a->subresource) &&
         (!list_len(rule, "resourceNames") || list_has(rule, "resourceNames", a->name, 0));
}

int kl_rbac_subject_matches(json_object *subject, const struct kl_user *u, const char *binding_ns)
{
  const char *kind = ferry_kube_str(subject, "kind") ?: "", *name = ferry_kube_str(subject, "name") ?: "";
  if (!strcmp(kind, "User"))
    return !strcmp(u->name, name);
  if (!strcmp(kind, "Group"))
    return kl_user_in_group(u, name);
  if (strcmp(kind, "ServiceAccount") != 0)
    return 0;
  const char *ns = ferry_kube_str(subject, "namespace");
  if (!ns || !*ns)
    ns = binding_ns;
  if (!*ns)
    return 0;
  char want[KL_NAME_MAX];
  snprintf(want, sizeof want, KL_SA_PREFIX "%s:%s", ns, name);
  return !strcmp(u->name, want);
}

/* The subject of binding that is u, or NULL. */
static json_object *subject_for(json_object *binding, const struct kl_user *u, const char *binding_ns)
{
  json_object *subs;
  if (!json_object_object_get_ex(binding, "subjects", &subs) || !json_object_is_type(subs, json_type_array))
    return NULL;
  for (size_t i = 0; i < json_object_array_length(subs); i++)
    if (kl_rbac_subject_matches(json_object_array_get_idx(subs, i), u, binding_ns))
      return json_object_array_get_idx(subs, i);
  return NULL;
}

static void describe(char *buf, size_t len, json_object *binding, const char *binding_ns, json_object *subject)
{
  const char *kind = ferry_kube_str(subject, "kind") ?: "", *name = ferry_kube_str(subject, "name") ?: "";
  const char *sns = ferry_kube_str(subject, "namespace");
  char who[KL_NAME_MAX * 2 + 8];
  if (!strcmp(kind, "ServiceAccount"))
    snprintf(who, sizeof who, "%s \"%s/%s\"", kind, name, sns && *sns ? sns : binding_ns);
  else
    snprintf(who, sizeof who, "%s \"%s\"", kind, name);
  const char *bname = ferry_kube_str(binding, "metadata.name") ?: "";
  if (*binding_ns)
    snprintf(buf, len, "RoleBinding \"%s/%s\" of %s \"%s\" to %s", bname, binding_ns,
             ferry_kube_str(binding, "roleRef.kind") ?: "", ferry_kube_str(binding, "roleRef.name") ?: "", who);
  else
    snprintf(buf, len, "ClusterRoleBinding \"%s\" of %s \"%s\" to %s", bname,
             ferry_kube_str(binding, "roleRef.kind") ?: "", ferry_kube_str(binding, "roleRef.name") ?: "", who);
}

static void add_error(json_object *errors, const char *msg)
{
  for (size_t i = 0; i < json_object_array_length(errors); i++)
    if (!strcmp(json_object_get_string(json_object_array_get_idx(errors, i)), msg))
      return;
  json_object_array_add(errors, json_object_new_string(msg));
}

/* The role a binding refers to: a ClusterRole, or a Role in binding_ns. NULL (an error added) when missing. */
static json_object *role_of(struct kl_store *s, json_object *binding, const char *binding_ns, json_object *errors)
{
  const char *kind = ferry_kube_str(binding, "roleRef.kind") ?: "",
             *name = ferry_kube_str(binding, "roleRef.name") ?: "";
  char msg[512], key[KL_NAME_MAX * 2 + 2];
  json_object *role = NULL;
  if (!strcmp(kind, "ClusterRole")) {
    json_object_object_get_ex(kl_store_kind(s, KL_RBAC_GROUP "/clusterroles"), name, &role);
  } else if (!strcmp(kind, "Role") && *binding_ns) {
    snprintf(key, sizeof key, "%s/%s", binding_ns, name);
    json_object_object_get_ex(kl_store_kind(s, KL_RBAC_GROUP "/roles"), key, &role);
  } else {
    snprintf(msg, sizeof msg, "unsupported role reference kind: \"%s\"", kind);
    add_error(errors, msg);
    return NULL;
  }
  if (!role) {
    snprintf(msg, sizeof msg, "%s.rbac.authorization.k8s.io \"%s\" not found",
             !strcmp(kind, "Role") ? "role" : "clusterrole", name);
    add_error(errors, msg);
  }
  return role;
}

/* Visits the rules of the bindings in map (those of ns when ns is not ""). 0 when fn stopped the walk. */
static int visit_bindings(struct kl_store *s, json_object *map, const struct kl_user *u, const char *ns,
                          kl_rbac_rule_fn fn, void *ctx, json_object *errors)
{
  json_object_object_foreach(map, key, binding)
  {
    (void)key;
    if (*ns && strcmp(ferry_kube_str(binding, "metadata.namespace") ?: "", ns) != 0)
      continue;
    json_object *subject = subject_for(binding, u, ns), *role, *rules;
    if (!subject || !(role = role_of(s, binding, ns, errors)))
      continue;
    if (!json_object_object_get_ex(role, "rules", &rules) || !json_object_is_type(rules, json_type_array))
      continue;
    char source[1024];
    describe(source, sizeof source, binding, ns, subject);
    for (size_t i = 0; i < json_object_array_length(rules); i++)
      if (!fn(ctx, json_object_array_get_idx(rules, i), source))
        return 0;
  }
  return 1;
}

void kl_rbac_visit(struct kl_store *s, const struct kl_user *u, const char *ns, kl_rbac_rule_fn fn, void *ctx,
                   json_object *errors)
{
  if (!visit_bindings(s, kl_store_kind(s, KL_RBAC_GROUP "/clusterrolebindings"), u, "", fn, ctx, errors))
    return;
  if (ns && *ns)
    visit_bindings(s, kl_store_kind(s, KL_RBAC_GROUP "/rolebindings"), u, ns, fn, ctx, errors);
}

struct check {
  const struct kl_attrs *a;
  char *reason;
  size_t len;
  int allowed;
};

static int check_rule(void *ctx, json_object *rule, const char *source)
{
  struct check *c = ctx;
  if (!kl_rbac_rule_allows(rule, c->a))
    return 1;
  c->allowed = 1;
  snprintf(c->reason, c->len, "RBAC: allowed by %s", source);
  return 0;
}

/* "RBAC: msg" for one error, "RBAC: [a, b]" for more (Go's aggregate error). */
static void errors_reason(json_object *errors, char *reason, size_t len)
{
  size_t n = json_object_array_length(errors), l = 0;
  reason[0] = '\0';
  if (!n)
    return;
  l += (size_t)snprintf(reason, len, "RBAC: %s", n > 1 ? "[" : "");
  for (size_t i = 0; i < n && l < len; i++)
    l += (size_t)snprintf(reason + l, len - l, "%s%s", i ? ", " : "",
                          json_object_get_string(json_object_array_get_idx(errors, i)));
  if (n > 1 && l < len)
    snprintf(reason + l, len - l, "]");
}

int kl_authorize(struct kl_store *s, const struct kl_attrs *a, char *reason, size_t len)
{
  reason[0] = '\0';
  if (kl_user_in_group(a->user, KL_GROUP_MASTERS))
    return 1;
  struct check c = { .a = a, .reason = reason, .len = len };
  json_object *errors = json_object_new_array();
  kl_rbac_visit(s, a->user, a->resource_request ? a->ns : "", check_rule, &c, errors);
  if (!c.allowed)
    errors_reason(errors, reason, len);
  json_object_put(errors);
  return c.allowed;
}

void kl_forbidden_message(const struct kl_attrs *a, const char *reason, char *buf, size_t len)
{
  char what[2048], res[256], gr[256];
  if (!a->resource_request) {
    snprintf(what, sizeof what, "User \"%s\" cannot %s path \"%s\"", a->user->name, a->verb, a->path);
    snprintf(buf, len, "forbidden: %s%s%s", what, *reason ? ": " : "", reason);
    return;
  }
  snprintf(res, sizeof res, "%s%s%s", a->resource, a->subresource[0] ? "/" : "", a->subresource);
  if (a->ns[0])
    snprintf(what, sizeof what, "User \"%s\" cannot %s resource \"%s\" in API group \"%s\" in the namespace \"%s\"",
             a->user->name, a->verb, res, a->group, a->ns);
  else
    snprintf(what, sizeof what, "User \"%s\" cannot %s resource \"%s\" in API group \"%s\" at the cluster scope",
             a->user->name, a->verb, res, a->group);
  snprintf(gr, sizeof gr, "%s%s%s", a->resource, a->group[0] ? "." : "", a->group);
  if (a->name[0])
    snprintf(buf, len, "%s \"%s\" is forbidden: %s%s%s", gr, a->name, what, *reason ? ": " : "", reason);
  else
    snprintf(buf, len, "%s is forbidden: %s%s%s", gr, what, *reason ? ": " : "", reason);
}
