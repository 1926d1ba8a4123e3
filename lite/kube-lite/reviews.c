/* SPDX-License-Identifier: Apache-2.0 */
/* Access, rules, self and token reviews: created, answered from the authorizer and the authenticators, not stored. */
#include "reviews.h"

#include <stdio.h>
#include <string.h>

#include "api.h"
#include "base/cleanup.h"
#include "kube/kube.h"
#include "rbac.h"
#include "tokens.h"

#define AUTHZ_GROUP "authorization.k8s.io"
#define AUTHN_GROUP "authentication.k8s.io"
enum review { SSAR, SAR, LSAR, SSRR, SSR, TR };

static const struct {
  enum review r;
  const char *group, *resource, *kind;
  int namespaced;
} REVIEWS[] = {
  { SSAR, AUTHZ_GROUP, "selfsubjectaccessreviews", "SelfSubjectAccessReview", 0 },
  { SAR, AUTHZ_GROUP, "subjectaccessreviews", "SubjectAccessReview", 0 },
  { LSAR, AUTHZ_GROUP, "localsubjectaccessreviews", "LocalSubjectAccessReview", 1 },
  { SSRR, AUTHZ_GROUP, "selfsubjectrulesreviews", "SelfSubjectRulesReview", 0 },
  { SSR, AUTHN_GROUP, "selfsubjectreviews", "SelfSubjectReview", 0 },
  { TR, AUTHN_GROUP, "tokenreviews", "TokenReview", 0 },
};
#define NREVIEWS (sizeof REVIEWS / sizeof REVIEWS[0])

static int review_index(const char *group, const char *resource)
{
  for (size_t i = 0; i < NREVIEWS; i++)
    if (!strcmp(REVIEWS[i].group, group) && !strcmp(REVIEWS[i].resource, resource))
      return (int)i;
  return -1;
}

int kl_review_is(const char *group, const char *version, const char *resource)
{
  int i = review_index(group, resource);
  if (i < 0 || strcmp(version, "v1") != 0)
    return 0;
  return 1;
}

/* ---------- access reviews ---------- */

static void attr(char *dst, size_t len, json_object *o, const char *field)
{
  snprintf(dst, len, "%s", ferry_kube_str(o, field) ?: "");
}

/* spec.resourceAttributes or spec.nonResourceAttributes to *a; a 422 in *out when neither or both. */
static unsigned spec_attrs(json_object *spec, const char *kind, struct kl_attrs *a, json_object **out)
{
  json_object *ra = NULL, *nra = NULL;
  json_object_object_get_ex(spec, "resourceAttributes", &ra);
  json_object_object_get_ex(spec, "nonResourceAttributes", &nra);
  if (!ra != !nra) {
    a->resource_request = ra != NULL;
    attr(a->verb, sizeof a->verb, ra ?: nra, "verb");
    if (nra) {
      attr(a->path, sizeof a->path, nra, "path");
      return 0;
    }
    attr(a->ns, sizeof a->ns, ra, "namespace");
    attr(a->group, sizeof a->group, ra, "group");
    attr(a->version, sizeof a->version, ra, "version");
    attr(a->resource, sizeof a->resource, ra, "resource");
    attr(a->subresource, sizeof a->subresource, ra, "subresource");
    attr(a->name, sizeof a->name, ra, "name");
    return 0;
  }
  char msg[512];
  snprintf(msg, sizeof msg, "%s.%s \"\" is invalid: %s", kind, AUTHZ_GROUP,
           ra ? "spec.nonResourceAttributes: Invalid value: \"object\": cannot be specified in combination with "
                "resourceAttributes"
              : "spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or "
                "resourceAttributes must be specified");
  *out = kl_status(422, "Invalid", kind, "", msg);
  return 422;
}

/* SubjectAccessReview's subject: spec.user, spec.groups, spec.uid as given. */
static unsigned spec_user(json_object *spec, const char *kind, struct kl_user *u, json_object **out)
{
  json_object *groups;
  memset(u, 0, sizeof *u);
  attr(u->name, sizeof u->name, spec, "user");
  attr(u->uid, sizeof u->uid, spec, "uid");
  if (json_object_object_get_ex(spec, "groups", &groups) && json_object_is_type(groups, json_type_array))
    for (size_t i = 0; i < json_object_array_length(groups); i++)
      kl_user_add_group(u, json_object_get_string(json_object_array_get_idx(groups, i)) ?: "");
  if (u->name[0] || u->ngroups)
    return 0;
  char msg[512];
  snprintf(msg, sizeof msg,
           "%s.%s \"\" is invalid: spec.user: Invalid value: \"\": at least one of user or group must be specified",
           kind, AUTHZ_GROUP);
  *out = kl_status(422, "Invalid", kind, "", msg);
  return 422;
}

static unsigned access_review(struct kl_store *s, const struct kl_user *self, enum review r, const char *ns,
                              json_object *body, json_object **out)
{
  const char *kind = REVIEWS[r].kind;
  json_object *spec = json_object_object_get(body, "spec");
  struct kl_user subject;
  struct kl_attrs a;
  memset(&a, 0, sizeof a);
  unsigned code = spec_attrs(spec, kind, &a, out);
  if (!code && r != SSAR)
    code = spec_user(spec, kind, &subject, out);
  if (code)
    return code;
  if (r == LSAR && strcmp(a.ns, ns) != 0) {
    char msg[512];
    snprintf(msg, sizeof msg,
             "%s.%s \"\" is invalid: spec.resourceAttributes.namespace: Invalid value: \"%s\": must match "
             "metadata.namespace",
             kind, AUTHZ_GROUP, a.ns);
    *out = kl_status(422, "Invalid", kind, "", msg);
    return 422;
  }
  a.user = r == SSAR ? self : &subject;
  char reason[1024];
  int allowed = kl_authorize(s, &a, reason, sizeof reason);
  json_object *st = json_object_new_object();
  json_object_object_add(st, "allowed", json_object_new_boolean(allowed));
  if (reason[0])
    json_object_object_add(st, "reason", json_object_new_string(reason));
  json_object_object_add(body, "status", st);
  *out = json_object_get(body);
  return 201;
}

/* ---------- rules review ---------- */

static json_object *copy_list(json_object *rule, const char *field)
{
  json_object *l = NULL, *c = NULL;
  if (json_object_object_get_ex(rule, field, &l) && json_object_is_type(l, json_type_array))
    json_object_deep_copy(l, &c, NULL);
  return c ? c : json_object_new_array();
}

struct rules {
  json_object *resource, *non_resource;
};

static int collect_rule(void *ctx, json_object *rule, const char *source)
{
  (void)source;
  struct rules *r = ctx;
  json_object *l;
  if (json_object_object_get_ex(rule, "resources", &l) && json_object_array_length(l)) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "verbs", copy_list(rule, "verbs"));
    json_object_object_add(o, "apiGroups", copy_list(rule, "apiGroups"));
    json_object_object_add(o, "resources", copy_list(rule, "resources"));
    if (json_object_object_get_ex(rule, "resourceNames", &l) && json_object_array_length(l))
      json_object_object_add(o, "resourceNames", copy_list(rule, "resourceNames"));
    json_object_array_add(r->resource, o);
  }
  if (json_object_object_get_ex(rule, "nonResourceURLs", &l) && json_object_array_length(l)) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "verbs", copy_list(rule, "verbs"));
    json_object_object_add(o, "nonResourceURLs", copy_list(rule, "nonResourceURLs"));
    json_object_array_add(r->non_resource, o);
  }
  return 1;
}

static unsigned rules_review(struct kl_store *s, const struct kl_user *self, json_object *body, json_object **out)
{
  const char *ns = ferry_kube_str(body, "spec.namespace") ?: "";
  struct rules r = { json_object_new_array(), json_object_new_array() };
  cleanup_json json_object *errors = json_object_new_array();
  kl_rbac_visit(s, self, ns, collect_rule, &r, errors);
  json_object *st = json_object_new_object();
  json_object_object_add(st, "resourceRules", r.resource);
  json_object_object_add(st, "nonResourceRules", r.non_resource);
  json_object_object_add(st, "incomplete", json_object_new_boolean(json_object_array_length(errors) > 0));
  if (json_object_array_length(errors))
    json_object_object_add(st, "evaluationError",
                           json_object_new_string(json_object_get_string(json_object_array_get_idx(errors, 0))));
  json_object_object_add(body, "status", st);
  *out = json_object_get(body);
  return 201;
}

/* ---------- authentication reviews ---------- */

static unsigned token_review(const struct kl_auth *a, struct kl_store *s, json_object *body, json_object **out)
{
  const char *token = ferry_kube_str(body, "spec.token") ?: "";
  struct kl_user u;
  ferry_error err = FERRY_ERROR_INIT;
  json_object *st = json_object_new_object();
  int ok = *token && kl_token_authenticate(a, s, token, &u, &err) == 0;
  json_object_object_add(st, "authenticated", json_object_new_boolean(ok));
  if (ok) {
    kl_user_add_group(&u, KL_GROUP_AUTHENTICATED);
    json_object_object_add(st, "user", kl_user_info(&u));
    json_object *aud = json_object_new_array();
    json_object_array_add(aud, json_object_new_string(a->issuer));
    json_object_object_add(st, "audiences", aud);
  } else {
    json_object_object_add(st, "user", json_object_new_object());
    json_object_object_add(st, "error", json_object_new_string(*token ? "invalid bearer token" : "no token"));
  }
  ferry_error_clear(&err);
  json_object_object_add(body, "status", st);
  *out = json_object_get(body);
  return 201;
}

unsigned kl_review(const struct kl_auth *a, struct kl_store *s, const struct kl_user *u, const char *group,
                   const char *resource, const char *ns, json_object *body, json_object **out)
{
  int i = review_index(group, resource);
  if (i < 0 || (REVIEWS[i].namespaced != (*ns != 0))) {
    *out = kl_status(404, "NotFound", NULL, NULL, "the server could not find the requested resource");
    return 404;
  }
  if (!json_object_is_type(body, json_type_object)) {
    *out = kl_status(400, "BadRequest", NULL, NULL, "the request body is not a JSON object");
    return 400;
  }
  char av[64];
  snprintf(av, sizeof av, "%s/v1", REVIEWS[i].group);
  json_object_object_add(body, "apiVersion", json_object_new_string(av));
  json_object_object_add(body, "kind", json_object_new_string(REVIEWS[i].kind));
  json_object *m;
  if (!json_object_object_get_ex(body, "metadata", &m) || !json_object_is_type(m, json_type_object)) {
    m = json_object_new_object();
    json_object_object_add(body, "metadata", m);
  }
  json_object_object_add(m, "creationTimestamp", NULL);
  if (*ns)
    json_object_object_add(m, "namespace", json_object_new_string(ns));
  switch (REVIEWS[i].r) {
  case SSRR:
    return rules_review(s, u, body, out);
  case SSR:
    json_object_object_add(body, "status", json_object_new_object());
    json_object_object_add(json_object_object_get(body, "status"), "userInfo", kl_user_info(u));
    *out = json_object_get(body);
    return 201;
  case TR:
    return token_review(a, s, body, out);
  default:
    return access_review(s, u, REVIEWS[i].r, ns, body, out);
  }
}

static void add_entry(json_object *list, const char *name, int namespaced, const char *kind, const char *group)
{
  json_object *o = json_object_new_object(), *verbs = json_object_new_array();
  json_object_object_add(o, "name", json_object_new_string(name));
  json_object_object_add(o, "singularName", json_object_new_string(""));
  json_object_object_add(o, "namespaced", json_object_new_boolean(namespaced));
  if (group) {
    json_object_object_add(o, "group", json_object_new_string(group));
    json_object_object_add(o, "version", json_object_new_string("v1"));
  }
  json_object_object_add(o, "kind", json_object_new_string(kind));
  json_object_array_add(verbs, json_object_new_string("create"));
  json_object_object_add(o, "verbs", verbs);
  json_object_array_add(list, o);
}

void kl_review_discovery(const char *group, const char *version, json_object *list)
{
  if (strcmp(version, "v1") != 0)
    return;
  if (!*group)
    add_entry(list, "serviceaccounts/token", 1, "TokenRequest", AUTHN_GROUP);
  for (size_t i = 0; i < NREVIEWS; i++)
    if (!strcmp(REVIEWS[i].group, group))
      add_entry(list, REVIEWS[i].resource, REVIEWS[i].namespaced, REVIEWS[i].kind, NULL);
}

size_t kl_review_resources(struct kl_resource *out, size_t max)
{
  size_t n = 0;
  for (size_t i = 0; i < NREVIEWS && n < max; i++, n++) {
    memset(&out[n], 0, sizeof out[n]);
    snprintf(out[n].group, sizeof out[n].group, "%s", REVIEWS[i].group);
    snprintf(out[n].version, sizeof out[n].version, "v1");
    snprintf(out[n].plural, sizeof out[n].plural, "%s", REVIEWS[i].resource);
    snprintf(out[n].kind, sizeof out[n].kind, "%s", REVIEWS[i].kind);
    out[n].namespaced = REVIEWS[i].namespaced;
  }
  return n;
}
