/* SPDX-License-Identifier: Apache-2.0 */
/* Impersonation, as the API server's filter does it: Impersonate-User (a user,
 * or system:serviceaccount:NS:NAME), Impersonate-Group, Impersonate-Uid and
 * Impersonate-Extra-* each need the `impersonate` verb on users, serviceaccounts,
 * groups, uids or userextras; the request then runs as the one impersonated. */
#ifndef KL_IMPERSONATE_H
#define KL_IMPERSONATE_H

#include <microhttpd.h>

#include "requestinfo.h"
#include "store.h"

enum kl_impersonation { KL_IMPERSONATE_OK, KL_IMPERSONATE_DENIED, KL_IMPERSONATE_BAD };

/* *acting: the impersonated user, or *requestor when no header asks (s->mu held).
 * DENIED: *denied holds the check that failed and reason the authorizer's reason;
 * BAD: groups, uid or extras without a user (reason says so). */
enum kl_impersonation kl_impersonate(struct kl_store *s, struct MHD_Connection *c, const struct kl_user *requestor,
                                     struct kl_user *acting, struct kl_attrs *denied, char *reason, size_t len);

#endif
