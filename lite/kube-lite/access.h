/* SPDX-License-Identifier: Apache-2.0 */
/* The API server's filters ahead of kube-lite's handlers: authentication (401),
 * impersonation and authorization (403 in the API server's words), then the
 * endpoints that belong to them (TokenRequest, the reviews). */
#ifndef KL_ACCESS_H
#define KL_ACCESS_H

#include <microhttpd.h>
#include <stddef.h>

#include "authn.h"
#include "store.h"

/* Runs the filters for one request (takes s->mu). Returns 1 when it answered
 * (*x: a 401, a 403, or one of its own endpoints), 0 when the request goes on
 * to kube-lite's handlers, *who then the user it acts as (admission sees it).
 * a NULL: nothing is checked (*who is the unsecured superuser). */
int kl_access(const struct kl_auth *a, struct kl_store *s, struct MHD_Connection *c, const char *url,
              const char *method, const char *body, size_t len, struct kl_user *who, enum MHD_Result *x);

#endif
