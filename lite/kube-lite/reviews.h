/* SPDX-License-Identifier: Apache-2.0 */
/* The review kinds, created and answered, never stored, as the API server
 * serves them: authorization.k8s.io/v1 SelfSubjectAccessReview,
 * SubjectAccessReview, LocalSubjectAccessReview and SelfSubjectRulesReview
 * (`kubectl auth can-i`, `kubectl auth can-i --list`), authentication.k8s.io/v1
 * SelfSubjectReview (`kubectl auth whoami`) and TokenReview. */
#ifndef KL_REVIEWS_H
#define KL_REVIEWS_H

#include <json-c/json.h>

#include "authn.h"
#include "resources.h"
#include "store.h"

/* Whether group/version/resource is a review kube-lite answers. */
int kl_review_is(const char *group, const char *version, const char *resource);
/* Answers a review created by u (s->mu held): the HTTP code, *out the review with its status or a Status. */
unsigned kl_review(const struct kl_auth *a, struct kl_store *s, const struct kl_user *u, const char *group,
                   const char *resource, const char *ns, json_object *body, json_object **out);
#define KL_REVIEWS_MAX 8
/* The reviews as resources (for OpenAPI): fills up to max of out, returns how many. */
size_t kl_review_resources(struct kl_resource *out, size_t max);
/* Adds the reviews of group/version (and core v1's serviceaccounts/token) to a discovery resource list. */
void kl_review_discovery(const char *group, const char *version, json_object *list);

#endif
