/* SPDX-License-Identifier: Apache-2.0 */
/* ServiceAccount tokens as the API server issues and checks them: the
 * TokenRequest subresource (POST .../serviceaccounts/NAME/token, what `kubectl
 * create token` calls) signs a JWT for the account, optionally bound to a Pod
 * (the claims then name its node too), a Secret or a Node; a token is accepted
 * while its signature, issuer, audience and times hold and the account (and
 * bound object) still exists with that uid. Its user carries the extra the API
 * server's authenticator sets (authentication.kubernetes.io/pod-name, pod-uid,
 * node-name, node-uid, credential-id). */
#ifndef KL_TOKENS_H
#define KL_TOKENS_H

#include <json-c/json.h>

#include "authn.h"
#include "store.h"

#define KL_TOKEN_DEFAULT_SECONDS 3600
#define KL_TOKEN_MIN_SECONDS 600
#define KL_TOKEN_MAX_SECONDS 4294967296LL

/* Answers a TokenRequest for ns/name (s->mu held): the HTTP code, *out the
 * TokenRequest with its status, or a Status. */
unsigned kl_token_request(const struct kl_auth *a, struct kl_store *s, const char *ns, const char *name,
                          json_object *request, json_object **out);
/* The ServiceAccount user of token (s->mu held); -1 with err when it is not valid now. */
int kl_token_authenticate(const struct kl_auth *a, struct kl_store *s, const char *token, struct kl_user *u,
                          ferry_error *err);

#endif
