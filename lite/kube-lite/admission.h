/* SPDX-License-Identifier: Apache-2.0 */
/* Mutating admission webhooks (admissionregistration.k8s.io/v1
 * MutatingWebhookConfiguration) on CREATE, as the API server calls them: an
 * AdmissionReview v1 POSTed over HTTPS to clientConfig.url or its Service
 * (webhook_target.h), verified with
 * clientConfig.caBundle; a JSONPatch in the answer is applied; a denial or, with
 * failurePolicy Fail, a webhook that cannot be reached fails the request. */
#ifndef KL_ADMISSION_H
#define KL_ADMISSION_H

#include <json-c/json.h>
#include <stddef.h>

#include "resources.h"
#include "store.h"

/* With s->mu held: the store's MutatingWebhookConfigurations called. 0 when admitted
 * (*obj possibly replaced by the mutated object); else -1 with the HTTP code
 * and message for the client. */
int kl_admit_create(struct kl_store *s, const struct kl_resource *r, const char *ns, json_object **obj, int *code,
                    char *why, size_t why_len);

#endif
