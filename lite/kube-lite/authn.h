/* SPDX-License-Identifier: Apache-2.0 */
/* Who a request comes from, as the API server's authenticators decide it: the
 * admin's bearer token (group system:masters), a ServiceAccount token
 * (tokens.h), no token (system:anonymous, or in kube-lite's open mode the old
 * insecure port's superuser), and then the Impersonate-* headers. */
#ifndef KL_AUTHN_H
#define KL_AUTHN_H

#include <microhttpd.h>
#include <openssl/evp.h>

#include "jwt.h"
#include "store.h"

#define KL_MAX_GROUPS 16
#define KL_NAME_MAX 256

#define KL_GROUP_MASTERS "system:masters"
#define KL_GROUP_AUTHENTICATED "system:authenticated"
#define KL_GROUP_UNAUTHENTICATED "system:unauthenticated"
#define KL_USER_ANONYMOUS "system:anonymous"
#define KL_USER_ADMIN "kube-lite-admin"
#define KL_USER_UNSECURED "system:unsecured"
#define KL_SA_PREFIX "system:serviceaccount:"
#define KL_SA_GROUP "system:serviceaccounts"

#define KL_MAX_EXTRAS 8
#define KL_EXTRA_KEY_MAX 128

/* One value of a user's extra (a key with several values appears once per value). */
struct kl_user_extra {
  char key[KL_EXTRA_KEY_MAX];
  char value[KL_NAME_MAX];
};

struct kl_user {
  char name[KL_NAME_MAX];
  char uid[64];
  char groups[KL_MAX_GROUPS][KL_NAME_MAX];
  size_t ngroups;
  struct kl_user_extra extra[KL_MAX_EXTRAS];
  size_t nextra;
};

/* The keys of a ServiceAccount user's extra, as the API server's authenticator sets them. */
#define KL_EXTRA_POD_NAME "authentication.kubernetes.io/pod-name"
#define KL_EXTRA_POD_UID "authentication.kubernetes.io/pod-uid"
#define KL_EXTRA_NODE_NAME "authentication.kubernetes.io/node-name"
#define KL_EXTRA_NODE_UID "authentication.kubernetes.io/node-uid"
#define KL_EXTRA_CREDENTIAL_ID "authentication.kubernetes.io/credential-id"

#define KL_DEFAULT_ISSUER "https://kubernetes.default.svc.cluster.local"
#define KL_ADMIN_TOKEN_BYTES 24

/* How kube-lite authenticates (set up once in main, read-only after). */
struct kl_auth {
  EVP_PKEY *sa_key; /* signs and verifies ServiceAccount tokens */
  char kid[KL_JWT_KID_LEN];
  const char *issuer;      /* iss of the tokens and the audience the API accepts */
  const char *admin_token; /* the kubeconfig's token, or NULL */
  char made_token[2 * KL_ADMIN_TOKEN_BYTES + 1];
  int secure; /* no token is system:anonymous (else the unsecured superuser) */
};

/* Sets up *a: the signing key (key_file, or a new one), the issuer (NULL: the
 * default), the admin token (a new one when TLS is on and none is given). Over
 * plain HTTP without a token kube-lite stays open: a request without a token is
 * the old insecure port's superuser. */
int kl_auth_init(struct kl_auth *a, const char *key_file, const char *issuer, const char *admin_token, int tls,
                 ferry_error *err);
void kl_auth_free(struct kl_auth *a);

void kl_user_add_group(struct kl_user *u, const char *group);
int kl_user_in_group(const struct kl_user *u, const char *group);
/* Adds one value to the user's extra KEY (nothing when value is empty or the extra is full). */
void kl_user_add_extra(struct kl_user *u, const char *key, const char *value);
/* The user as authentication.k8s.io/v1 UserInfo: username, uid, groups, extra
 * (key to a list of values), each left out when empty (Go's omitempty). */
json_object *kl_user_info(const struct kl_user *u);
/* The user and groups of ServiceAccount ns/name. */
void kl_user_service_account(struct kl_user *u, const char *ns, const char *name, const char *uid);

/* The request's user (s->mu held: ServiceAccount tokens are checked against the
 * store). 0 with *u filled, -1 when a bearer token was sent that is not valid
 * (the caller answers 401). */
int kl_authenticate(const struct kl_auth *a, struct kl_store *s, struct MHD_Connection *c, struct kl_user *u);

#endif
