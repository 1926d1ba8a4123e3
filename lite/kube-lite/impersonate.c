/* SPDX-License-Identifier: Apache-2.0 */
/* The Impersonate-* headers: each one authorized for the requestor, then the acting user built from them. */
#include "impersonate.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rbac.h"

#define EXTRA_PREFIX "Impersonate-Extra-"
#define MAX_ASKS 24

/* One thing the request asks to act as, in header order: a user or service account, a group, a uid, an extra. */
struct ask {
  char resource[64], group[32], subresource[128];
  char ns[KL_NAME_MAX], name[KL_NAME_MAX];
};

struct asks {
  struct ask user, items[MAX_ASKS];
  size_t n;
  int has_user;
};

static void set_ask(struct ask *a, const char *resource, const char *group, const char *ns, const char *name)
{
  memset(a, 0, sizeof *a);
  snprintf(a->resource, sizeof a->resource, "%s", resource);
  snprintf(a->group, sizeof a->group, "%s", group);
  snprintf(a->ns, sizeof a->ns, "%s", ns);
  snprintf(a->name, sizeof a->name, "%s", name);
}

/* system:serviceaccount:NS:NAME is a ServiceAccount (resource serviceaccounts in NS), anything else a user. */
static void user_ask(struct ask *a, const char *value)
{
  const char *rest = !strncmp(value, KL_SA_PREFIX, strlen(KL_SA_PREFIX)) ? value + strlen(KL_SA_PREFIX) : NULL;
  const char *colon = rest ? strchr(rest, ':') : NULL;
  if (colon && colon > rest && colon[1] && !strchr(colon + 1, ':')) {
    char ns[KL_NAME_MAX];
    snprintf(ns, sizeof ns, "%.*s", (int)(colon - rest), rest);
    set_ask(a, "serviceaccounts", "", ns, colon + 1);
  } else {
    set_ask(a, "users", "", "", value);
  }
}

/* An Impersonate-Extra- header's key: lower case, then percent-decoded (a key's
 * "/" travels as %2F in a header name), as the API server reads it. */
static void extra_key(const char *in, char *out, size_t len)
{
  size_t o = 0;
  for (const char *p = in; *p && o + 1 < len; p++) {
    unsigned v;
    if (p[0] == '%' && p[1] && p[2] && sscanf(p + 1, "%2x", &v) == 1) {
      out[o++] = (char)v;
      p += 2;
    } else {
      out[o++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    }
  }
  out[o] = '\0';
}

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
  (void)kind;
  struct asks *as = cls;
  if (!value)
    return MHD_YES;
  if (!strcasecmp(key, "Impersonate-User") && !as->has_user) {
    user_ask(&as->user, value);
    as->has_user = 1;
    return MHD_YES;
  }
  if (as->n >= MAX_ASKS)
    return MHD_YES;
  struct ask *a = &as->items[as->n];
  if (!strcasecmp(key, "Impersonate-Group"))
    set_ask(a, "groups", "", "", value);
  else if (!strcasecmp(key, "Impersonate-Uid"))
    set_ask(a, "uids", "authentication.k8s.io", "", value);
  else if (!strncasecmp(key, EXTRA_PREFIX, strlen(EXTRA_PREFIX))) {
    set_ask(a, "userextras", "authentication.k8s.io", "", value);
    extra_key(key + strlen(EXTRA_PREFIX), a->subresource, sizeof a->subresource);
  } else
    return MHD_YES;
  as->n++;
  return MHD_YES;
}

/* Whether requestor may impersonate what a asks; *attrs is the check. */
static int may(struct kl_store *s, const struct kl_user *requestor, const struct ask *a, struct kl_attrs *attrs,
               char *reason, size_t len)
{
  memset(attrs, 0, sizeof *attrs);
  attrs->user = requestor;
  attrs->resource_request = 1;
  snprintf(attrs->verb, sizeof attrs->verb, "impersonate");
  snprintf(attrs->group, sizeof attrs->group, "%s", a->group);
  snprintf(attrs->version, sizeof attrs->version, "v1");
  snprintf(attrs->resource, sizeof attrs->resource, "%s", a->resource);
  snprintf(attrs->subresource, sizeof attrs->subresource, "%s", a->subresource);
  snprintf(attrs->ns, sizeof attrs->ns, "%s", a->ns);
  snprintf(attrs->name, sizeof attrs->name, "%s", a->name);
  return kl_authorize(s, attrs, reason, len);
}

/* The user the asks make: the named user or service account, its groups (a service
 * account's own when none is asked), then system:authenticated as the API server adds it. */
static void acting_user(const struct asks *as, struct kl_user *u)
{
  int groups_asked = 0;
  for (size_t i = 0; i < as->n; i++)
    groups_asked |= !strcmp(as->items[i].resource, "groups");
  if (!strcmp(as->user.resource, "serviceaccounts")) {
    kl_user_service_account(u, as->user.ns, as->user.name, NULL);
    if (groups_asked)
      u->ngroups = 0;
  } else {
    memset(u, 0, sizeof *u);
    snprintf(u->name, sizeof u->name, "%s", as->user.name);
  }
  for (size_t i = 0; i < as->n; i++) {
    if (!strcmp(as->items[i].resource, "groups"))
      kl_user_add_group(u, as->items[i].name);
    else if (!strcmp(as->items[i].resource, "uids"))
      snprintf(u->uid, sizeof u->uid, "%s", as->items[i].name);
    else if (!strcmp(as->items[i].resource, "userextras"))
      kl_user_add_extra(u, as->items[i].subresource, as->items[i].name);
  }
  if (!strcmp(u->name, KL_USER_ANONYMOUS))
    kl_user_add_group(u, KL_GROUP_UNAUTHENTICATED);
  else if (!kl_user_in_group(u, KL_GROUP_AUTHENTICATED) && !kl_user_in_group(u, KL_GROUP_UNAUTHENTICATED))
    kl_user_add_group(u, KL_GROUP_AUTHENTICATED);
}

enum kl_impersonation kl_impersonate(struct kl_store *s, struct MHD_Connection *c, const struct kl_user *requestor,
                                     struct kl_user *acting, struct kl_attrs *denied, char *reason, size_t len)
{
  struct asks as;
  memset(&as, 0, sizeof as);
  MHD_get_connection_values(c, MHD_HEADER_KIND, collect, &as);
  if (!as.has_user && !as.n) {
    *acting = *requestor;
    return KL_IMPERSONATE_OK;
  }
  if (!as.has_user) {
    snprintf(reason, len, "requested %s without impersonating a user", as.items[0].resource);
    return KL_IMPERSONATE_BAD;
  }
  if (!may(s, requestor, &as.user, denied, reason, len))
    return KL_IMPERSONATE_DENIED;
  for (size_t i = 0; i < as.n; i++)
    if (!may(s, requestor, &as.items[i], denied, reason, len))
      return KL_IMPERSONATE_DENIED;
  acting_user(&as, acting);
  return KL_IMPERSONATE_OK;
}
