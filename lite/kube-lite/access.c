/* SPDX-License-Identifier: Apache-2.0 */
/* Authentication, impersonation, authorization and their own endpoints, in the API server's order. */
#include "access.h"

#include <stdio.h>
#include <string.h>

#include "api.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "impersonate.h"
#include "protobuf.h"
#include "rbac.h"
#include "requestinfo.h"
#include "reviews.h"
#include "tokens.h"

static enum MHD_Result answer(struct MHD_Connection *c, unsigned code, json_object *o)
{
  enum MHD_Result x = kl_send_json(c, code, o);
  json_object_put(o);
  return x;
}

static enum MHD_Result unauthorized(struct MHD_Connection *c)
{
  return answer(c, 401, kl_status(401, "Unauthorized", NULL, NULL, "Unauthorized"));
}

/* 403 Forbidden with details {group, kind: the resource, name}. */
static enum MHD_Result forbidden(struct MHD_Connection *c, const struct kl_attrs *a, const char *reason)
{
  char msg[2048];
  kl_forbidden_message(a, reason, msg, sizeof msg);
  log_debug("kube-lite: %s", msg);
  json_object *st =
      kl_status(403, "Forbidden", a->resource_request ? a->resource : NULL, a->name[0] ? a->name : NULL, msg);
  json_object *d;
  if (a->resource_request && json_object_object_get_ex(st, "details", &d))
    json_object_object_add(d, "group", json_object_new_string(a->group));
  return answer(c, 403, st);
}

/* The Internal Server Error the impersonation filter answers malformed headers with (plain text). */
static enum MHD_Result bad_impersonation(struct MHD_Connection *c, const char *url, const char *why)
{
  cleanup_free char *text = ferry_asprintf("Internal Server Error: \"%s\": %s", url, why);
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
  enum MHD_Result x = MHD_queue_response(c, 500, r);
  MHD_destroy_response(r);
  return x;
}

/* The body as JSON, or (Content-Type protobuf) decoded from the Kubernetes envelope. NULL with *out a 400. */
static json_object *body_json(struct MHD_Connection *c, const char *body, size_t len, json_object **out)
{
  const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
  char why[256] = "the request body is empty";
  json_object *o = NULL;
  if (len && ctype && strstr(ctype, "protobuf")) {
    if (kl_protobuf_decode((const uint8_t *)body, len, &o, why, sizeof why) < 0)
      o = NULL;
  } else if (len) {
    json_tokener *tok = json_tokener_new();
    o = tok ? json_tokener_parse_ex(tok, body, (int)len) : NULL;
    snprintf(why, sizeof why, "the request body is not JSON");
    json_tokener_free(tok);
  }
  if (!o)
    *out = kl_status(400, "BadRequest", NULL, NULL, why);
  return o;
}

/* TokenRequest and the reviews: 1 when a is one of them (answered in *x). */
static int own_endpoint(const struct kl_auth *auth, struct kl_store *s, struct MHD_Connection *c,
                        const struct kl_attrs *a, const char *body, size_t len, enum MHD_Result *x)
{
  int token = !a->group[0] && !strcmp(a->resource, "serviceaccounts") && !strcmp(a->subresource, "token");
  if (!a->resource_request || (!token && !kl_review_is(a->group, a->version, a->resource)))
    return 0;
  json_object *out = NULL;
  if (strcmp(a->verb, "create") != 0) {
    *x = answer(c, 405,
                kl_status(405, "MethodNotAllowed", NULL, NULL,
                          "the server does not allow this method on the requested resource"));
    return 1;
  }
  cleanup_json json_object *in = body_json(c, body, len, &out);
  unsigned code = !in     ? 400
                  : token ? kl_token_request(auth, s, a->ns, a->name, in, &out)
                          : kl_review(auth, s, a->user, a->group, a->resource, a->ns, in, &out);
  *x = answer(c, code, out);
  return 1;
}

/* The filters with s->mu held. */
static int filters(const struct kl_auth *auth, struct kl_store *s, struct MHD_Connection *c, const char *url,
                   const char *method, const char *body, size_t len, struct kl_user *who, enum MHD_Result *x)
{
  struct kl_user requestor, acting;
  struct kl_attrs a, denied;
  char reason[1024];
  if (kl_authenticate(auth, s, c, &requestor) < 0) {
    *x = unauthorized(c);
    return 1;
  }
  switch (kl_impersonate(s, c, &requestor, &acting, &denied, reason, sizeof reason)) {
  case KL_IMPERSONATE_DENIED:
    *x = forbidden(c, &denied, reason);
    return 1;
  case KL_IMPERSONATE_BAD:
    *x = bad_impersonation(c, url, reason);
    return 1;
  case KL_IMPERSONATE_OK:
    break;
  }
  *who = acting;
  memset(&a, 0, sizeof a);
  a.user = &acting;
  kl_request_info(url, method, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "watch"),
                  MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "fieldSelector"), &a);
  if (!kl_authorize(s, &a, reason, sizeof reason)) {
    *x = forbidden(c, &a, reason);
    return 1;
  }
  return own_endpoint(auth, s, c, &a, body, len, x);
}

int kl_access(const struct kl_auth *a, struct kl_store *s, struct MHD_Connection *c, const char *url,
              const char *method, const char *body, size_t len, struct kl_user *who, enum MHD_Result *x)
{
  memset(who, 0, sizeof *who);
  snprintf(who->name, sizeof who->name, KL_USER_UNSECURED);
  kl_user_add_group(who, KL_GROUP_MASTERS);
  if (!a)
    return 0;
  pthread_mutex_lock(&s->mu);
  int answered = filters(a, s, c, url, method, body, len, who, x);
  pthread_mutex_unlock(&s->mu);
  return answered;
}
