/* SPDX-License-Identifier: Apache-2.0 */
/* ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1) as the API
 * server's admission chain runs it after the mutating webhooks, on create,
 * update and delete of any resource and subresource (pods/binding, pods/status,
 * pods/eviction, ...): each policy whose matchConstraints select the request and
 * each of its bindings whose matchResources do (vap_match.c) get the policy's
 * CEL expressions evaluated by the kube-lite-cel helper (cel.h) on the object,
 * the old object, the request (vap_input.c) and the namespace; a failed
 * validation denies the request (validationActions Deny), adds a Warning header
 * (Warn) or is only counted (Audit: kube-lite keeps no audit log). Writes of the
 * policies and bindings themselves are validated as the API server validates
 * them: expressions that do not compile are refused with the compiler's message
 * (vap_check.c). */
#ifndef KL_VAP_H
#define KL_VAP_H

#include <json-c/json.h>

#include "authn.h"
#include "cel.h"
#include "resources.h"
#include "store.h"

#define KL_VAP_KIND_KEY "admissionregistration.k8s.io/validatingadmissionpolicies"
#define KL_VAPB_KIND_KEY "admissionregistration.k8s.io/validatingadmissionpolicybindings"

enum kl_operation { KL_OP_CREATE, KL_OP_UPDATE, KL_OP_DELETE };

/* What admission sees of a request (the API server's admission.Attributes). */
struct kl_admission {
  enum kl_operation op;
  const struct kl_resource *r;                  /* the resource: pods for pods/binding */
  const char *subresource;                      /* "" for the resource itself */
  const char *kind_group, *kind_version, *kind; /* the object's kind: Pod, Binding, Eviction */
  const char *ns, *name;                        /* "" when none */
  json_object *object, *old_object;             /* NULL: none (old on create, object on delete) */
  const struct kl_user *user;
  int dry_run;
};

/* The policies for a (s->mu held). 0: admitted, texts of Warn actions appended
 * to *warnings (an array made when NULL). Else the HTTP code to answer with
 * *status, a Status (403/422 ... as the API server words a denial; 500 when the
 * CEL helper cannot be had). */
unsigned kl_vap_admit(struct kl_cel *cel, struct kl_store *s, const struct kl_admission *a, json_object **warnings,
                      json_object **status);

/* A write of a ValidatingAdmissionPolicy or binding (r one of those kinds; any
 * other r: 0): 0 when obj is valid, else the code (422, or 500 without the
 * helper) and *status. */
unsigned kl_vap_check_object(struct kl_cel *cel, const struct kl_resource *r, json_object *obj, json_object **status);

/* 1 when the store holds a ValidatingAdmissionPolicy. */
int kl_vap_any(struct kl_store *s);

/* vap_match.c: whether MatchResources m (namespaceSelector, objectSelector,
 * excludeResourceRules, resourceRules with resourceNames) select a (s->mu held). */
int kl_vap_matches(struct kl_store *s, json_object *m, const struct kl_admission *a);
/* "CREATE", "UPDATE", "DELETE". */
const char *kl_operation_name(enum kl_operation op);
/* vap_input.c: the variables the expressions see: object, oldObject, request, namespaceObject. */
json_object *kl_vap_input(struct kl_store *s, const struct kl_admission *a);

#endif
