/* SPDX-License-Identifier: Apache-2.0 */
/* The RBAC authorizer, as the API server's: the rules of the ClusterRoles
 * bound by ClusterRoleBindings, and in a namespace those of the Roles and
 * ClusterRoles bound by its RoleBindings, each rule matched on verb, API group,
 * resource (with subresource and the * / * and * /sub wildcards), resource name
 * and non-resource URL. system:masters is allowed everything before RBAC is asked. */
#ifndef KL_RBAC_H
#define KL_RBAC_H

#include <json-c/json.h>

#include "requestinfo.h"
#include "store.h"

#define KL_RBAC_GROUP "rbac.authorization.k8s.io"

/* One PolicyRule against a request (RuleAllows). */
int kl_rbac_rule_allows(json_object *rule, const struct kl_attrs *a);
/* Whether a binding's subject is u (binding_ns: the RoleBinding's namespace, "" for a ClusterRoleBinding). */
int kl_rbac_subject_matches(json_object *subject, const struct kl_user *u, const char *binding_ns);

/* Called for each rule that applies; source describes the binding ("ClusterRoleBinding \"x\" of ...").
 * Returns 0 to stop the walk. */
typedef int (*kl_rbac_rule_fn)(void *ctx, json_object *rule, const char *source);
/* Walks the rules of u in ns (the ClusterRoleBindings', then ns's RoleBindings'; s->mu held).
 * A binding whose role is missing adds its error message to errors (an array). */
void kl_rbac_visit(struct kl_store *s, const struct kl_user *u, const char *ns, kl_rbac_rule_fn fn, void *ctx,
                   json_object *errors);

/* The API server's authorizers in order (s->mu held): system:masters, then RBAC.
 * 1 allowed, 0 denied; reason: what allowed it, or RBAC's errors ("" when none). */
int kl_authorize(struct kl_store *s, const struct kl_attrs *a, char *reason, size_t len);

/* The message of the 403 for a denied request, as the API server words it:
 * `secrets "x" is forbidden: User "u" cannot get resource "secrets" in API group "" in the namespace "default"`. */
void kl_forbidden_message(const struct kl_attrs *a, const char *reason, char *buf, size_t len);

#endif
