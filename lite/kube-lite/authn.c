/* SPDX-License-Identifier: Apache-2.0 */
/* Authentication: a request's bearer token (or none) to a user and its groups. */
#include "authn.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "tokens.h"

void kl_user_add_group(struct kl_user *u, const char *group)
{
  if (kl_user_in_group(u, group) || u->ngroups >= KL_MAX_GROUPS)
    return;
  snprintf(u->groups[u->ngroups++], KL_NAME_MAX, "%s", group);
}

int kl_user_in_group(const struct kl_user *u, const char *group)
{
  for (size_t i = 0; i < u->ngroups; i++)
    if (!strcmp(u->groups[i], group))
      return 1;
  return 0;
}

void kl_user_add_extra(struct kl_user *u, const char *key, const char *value)
{
  if (!value || !*value || u->nextra >= KL_MAX_EXTRAS)
    return;
  snprintf(u->extra[u->nextra].key, sizeof u->extra[u->nextra].key, "%s", key);
  snprintf(u->extra[u->nextra].value, sizeof u->extra[u->nextra].value, "%s", value);
  u->nextra++;
}

json_object *kl_user_info(const struct kl_user *u)
{
  json_object *o = json_object_new_object();
  if (u->name[0])
    json_object_object_add(o, "username", json_object_new_string(u->name));
  if (u->uid[0])
    json_object_object_add(o, "uid", json_object_new_string(u->uid));
  if (u->ngroups) {
    json_object *g = json_object_new_array();
    for (size_t i = 0; i < u->ngroups; i++)
      json_object_array_add(g, json_object_new_string(u->groups[i]));
    json_object_object_add(o, "groups", g);
  }
  if (u->nextra) {
    json_object *extra = json_object_new_object(), *values;
    for (size_t i = 0; i < u->nextra; i++) {
      if (!json_object_object_get_ex(extra, u->extra[i].key, &values)) {
        values = json_object_new_array();
        json_object_object_add(extra, u->extra[i].key, values);
      }
      json_object_array_add(values, json_object_new_string(u->extra[i].value));
    }
    json_object_object_add(o, "extra", extra);
  }
  return o;
}

void kl_user_service_account(struct kl_user *u, const char *ns, const char *name, const char *uid)
{
  char group[KL_NAME_MAX];
  memset(u, 0, sizeof *u);
  snprintf(u->name, sizeof u->name, KL_SA_PREFIX "%.100s:%.100s", ns, name);
  snprintf(u->uid, sizeof u->uid, "%s", uid ? uid : "");
  snprintf(group, sizeof group, KL_SA_GROUP ":%.200s", ns);
  kl_user_add_group(u, KL_SA_GROUP);
  kl_user_add_group(u, group);
}

static void set_user(struct kl_user *u, const char *name, const char *group)
{
  memset(u, 0, sizeof *u);
  snprintf(u->name, sizeof u->name, "%s", name);
  kl_user_add_group(u, group);
}

/* The constant-time comparison a token check wants. */
static int same_token(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);
  unsigned char diff = la != lb;
  for (size_t i = 0; i < la && i < lb; i++)
    diff |= (unsigned char)(a[i] ^ b[i]);
  return !diff;
}

int kl_authenticate(const struct kl_auth *a, struct kl_store *s, struct MHD_Connection *c, struct kl_user *u)
{
  const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  const char *token = h && !strncasecmp(h, "Bearer ", 7) ? h + 7 : NULL;
  while (token && *token == ' ')
    token++;
  if (!token || !*token) { /* no credentials: the anonymous authenticator */
    if (a->secure) {
      set_user(u, KL_USER_ANONYMOUS, KL_GROUP_UNAUTHENTICATED);
    } else { /* the insecure port's superuser, as kube-lite always was without a token */
      set_user(u, KL_USER_UNSECURED, KL_GROUP_MASTERS);
      kl_user_add_group(u, KL_GROUP_AUTHENTICATED);
    }
    return 0;
  }
  if (a->admin_token && same_token(token, a->admin_token)) {
    set_user(u, KL_USER_ADMIN, KL_GROUP_MASTERS);
  } else {
    ferry_error err = FERRY_ERROR_INIT;
    if (kl_token_authenticate(a, s, token, u, &err) < 0) {
      log_debug("kube-lite: a bearer token was refused: %s", ferry_error_msg(&err));
      ferry_error_clear(&err);
      return -1;
    }
  }
  kl_user_add_group(u, KL_GROUP_AUTHENTICATED);
  return 0;
}

int kl_auth_init(struct kl_auth *a, const char *key_file, const char *issuer, const char *admin_token, int tls,
                 ferry_error *err)
{
  memset(a, 0, sizeof *a);
  a->issuer = issuer ? issuer : KL_DEFAULT_ISSUER;
  a->sa_key = key_file ? kl_jwt_key_load(key_file, err) : kl_jwt_key_generate(err);
  if (!a->sa_key || kl_jwt_kid(a->sa_key, a->kid, err) < 0)
    return -1;
  a->admin_token = admin_token;
  if (tls && !admin_token) { /* the kubeconfig kube-lite writes needs a credential kubectl sends */
    unsigned char b[KL_ADMIN_TOKEN_BYTES];
    if (RAND_bytes(b, sizeof b) != 1)
      return ferry_error_set(err, 0, "making the admin token failed");
    ferry_hex(b, sizeof b, a->made_token);
    a->admin_token = a->made_token;
  }
  a->secure = tls || admin_token;
  return 0;
}

void kl_auth_free(struct kl_auth *a)
{
  EVP_PKEY_free(a->sa_key);
  a->sa_key = NULL;
}
