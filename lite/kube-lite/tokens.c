/* SPDX-License-Identifier: Apache-2.0 */
/* ServiceAccount tokens: issued by TokenRequest, checked on every request that carries one. */
#include "tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "bootstrap.h"
#include "base/cleanup.h"
#include "base/util.h"
#include "kube/kube.h"

#define CLAIMS_KEY "kubernetes.io"

/* The stored object of a core kind ("/pods") in ns (NULL: a cluster-scoped kind such as "/nodes"), or NULL. */
static json_object *stored(struct kl_store *s, const char *kind_key, const char *ns, const char *name)
{
  cleanup_free char *key = ns ? ferry_asprintf("%s/%s", ns, name) : ferry_strdup(name);
  json_object *o = NULL;
  json_object_object_get_ex(kl_store_kind(s, kind_key), key, &o);
  return o;
}

static json_object *ref_claim(const char *name, const char *uid)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "name", json_object_new_string(name));
  json_object_object_add(o, "uid", json_object_new_string(uid));
  return o;
}

/* What a token is bound to: a Pod (with the node it runs on, when it is bound to
 * one: the Node's name and uid, or its name alone when no such Node exists), a
 * Secret or a Node. */
struct bound {
  const char *claim; /* "pod", "secret", "node"; NULL: not bound */
  json_object *obj;
  json_object *node;     /* a pod's Node, or NULL */
  const char *node_name; /* a pod's spec.nodeName, or NULL */
};

/* kubernetes.io's claims of what the token is bound to. */
static void bound_claims(json_object *k, const struct bound *b)
{
  if (!b->claim)
    return;
  json_object_object_add(
      k, b->claim, ref_claim(ferry_kube_str(b->obj, "metadata.name"), ferry_kube_str(b->obj, "metadata.uid") ?: ""));
  if (b->node_name) {
    json_object *n = json_object_new_object();
    json_object_object_add(n, "name", json_object_new_string(b->node_name));
    if (b->node && ferry_kube_str(b->node, "metadata.uid"))
      json_object_object_add(n, "uid", json_object_new_string(ferry_kube_str(b->node, "metadata.uid")));
    json_object_object_add(k, "node", n);
  }
}

/* iss, sub, aud, exp, iat, nbf, jti and kubernetes.io, as the API server's bound tokens carry them. */
static json_object *claims_for(const struct kl_auth *a, json_object *sa, json_object *audiences, int64_t seconds,
                               const struct bound *b)
{
  const char *ns = ferry_kube_str(sa, "metadata.namespace"), *name = ferry_kube_str(sa, "metadata.name");
  int64_t now = (int64_t)time(NULL);
  char sub[KL_NAME_MAX], jti[40];
  snprintf(sub, sizeof sub, KL_SA_PREFIX "%s:%s", ns, name);
  kl_random_uid(jti, sizeof jti);
  json_object *c = json_object_new_object(), *k = json_object_new_object();
  json_object_object_add(c, "aud", json_object_get(audiences));
  json_object_object_add(c, "exp", json_object_new_int64(now + seconds));
  json_object_object_add(c, "iat", json_object_new_int64(now));
  json_object_object_add(c, "iss", json_object_new_string(a->issuer));
  json_object_object_add(c, "jti", json_object_new_string(jti));
  json_object_object_add(k, "namespace", json_object_new_string(ns));
  bound_claims(k, b);
  json_object_object_add(k, "serviceaccount", ref_claim(name, ferry_kube_str(sa, "metadata.uid") ?: ""));
  json_object_object_add(c, CLAIMS_KEY, k);
  json_object_object_add(c, "nbf", json_object_new_int64(now));
  json_object_object_add(c, "sub", json_object_new_string(sub));
  return c;
}

static unsigned invalid(const char *name, int64_t seconds, const char *why, json_object **out)
{
  char msg[512];
  snprintf(msg, sizeof msg,
           "TokenRequest.authentication.k8s.io \"%s\" is invalid: spec.expirationSeconds: Invalid value: %lld: %s",
           name, (long long)seconds, why);
  *out = kl_status(422, "Invalid", "TokenRequest", name, msg);
  return 422;
}

static unsigned refuse(unsigned code, const char *reason, const char *kind, const char *name, const char *msg,
                       json_object **out)
{
  *out = kl_status(code, reason, kind, name, msg);
  return code;
}

/* A bound Pod's node: the Node named by spec.nodeName (name alone when it does not exist). */
static void pod_node(struct kl_store *s, struct bound *b)
{
  const char *node = ferry_kube_str(b->obj, "spec.nodeName");
  if (node && *node) {
    b->node_name = node;
    b->node = stored(s, "/nodes", NULL, node);
  }
}

/* spec.boundObjectRef: the Pod or Secret in ns, or the Node, the token is bound to (*b), or an error answer. */
static unsigned bound_object(struct kl_store *s, const char *ns, const char *sa, json_object *spec, struct bound *b,
                             json_object **out)
{
  json_object *ref;
  memset(b, 0, sizeof *b);
  if (!json_object_object_get_ex(spec, "boundObjectRef", &ref) || !json_object_is_type(ref, json_type_object))
    return 0;
  const char *k = ferry_kube_str(ref, "kind") ?: "", *av = ferry_kube_str(ref, "apiVersion") ?: "";
  const char *name = ferry_kube_str(ref, "name") ?: "", *uid = ferry_kube_str(ref, "uid");
  char msg[512];
  int pod = !strcmp(k, "Pod"), secret = !strcmp(k, "Secret"), node = !strcmp(k, "Node");
  if ((!pod && !secret && !node) || (strcmp(av, "v1") != 0 && *av)) {
    snprintf(msg, sizeof msg, "cannot bind token for serviceaccount \"%s\" to object of kind \"%s, Kind=%s\"", sa, av,
             k);
    return refuse(400, "BadRequest", NULL, NULL, msg, out);
  }
  const char *plural = pod ? "pods" : secret ? "secrets" : "nodes";
  b->claim = pod ? "pod" : secret ? "secret" : "node";
  b->obj = node ? stored(s, "/nodes", NULL, name) : stored(s, pod ? "/pods" : "/secrets", ns, name);
  if (!b->obj) {
    snprintf(msg, sizeof msg, "%s \"%s\" not found", plural, name);
    return refuse(404, "NotFound", plural, name, msg, out);
  }
  if (pod && strcmp(ferry_kube_str(b->obj, "spec.serviceAccountName") ?: "default", sa) != 0) {
    snprintf(msg, sizeof msg,
             "cannot bind token for serviceaccount \"%s\" to pod running with different serviceaccount name.", sa);
    return refuse(400, "BadRequest", NULL, NULL, msg, out);
  }
  if (uid && *uid && strcmp(uid, ferry_kube_str(b->obj, "metadata.uid") ?: "") != 0) {
    snprintf(msg, sizeof msg,
             "Operation cannot be fulfilled on %s \"%s\": the UID in the bound object reference (%s) does not match "
             "the UID in record. The object might have been deleted and then recreated",
             k, name, uid);
    return refuse(409, "Conflict", k, name, msg, out);
  }
  if (pod)
    pod_node(s, b);
  return 0;
}

static json_object *token_answer(const char *ns, const char *name, json_object *spec, const char *token, int64_t exp)
{
  char when[40];
  ferry_format_time(exp * 1000, when, sizeof when);
  json_object *o = json_object_new_object(), *m = json_object_new_object(), *st = json_object_new_object();
  json_object_object_add(o, "kind", json_object_new_string("TokenRequest"));
  json_object_object_add(o, "apiVersion", json_object_new_string("authentication.k8s.io/v1"));
  json_object_object_add(m, "name", json_object_new_string(name));
  json_object_object_add(m, "namespace", json_object_new_string(ns));
  json_object_object_add(m, "creationTimestamp", NULL);
  json_object_object_add(o, "metadata", m);
  json_object_object_add(o, "spec", json_object_get(spec));
  json_object_object_add(st, "token", json_object_new_string(token));
  json_object_object_add(st, "expirationTimestamp", json_object_new_string(when));
  json_object_object_add(o, "status", st);
  return o;
}

unsigned kl_token_request(const struct kl_auth *a, struct kl_store *s, const char *ns, const char *name,
                          json_object *request, json_object **out)
{
  json_object *sa = stored(s, "/serviceaccounts", ns, name), *spec = NULL, *v;
  if (!sa) {
    char msg[512];
    snprintf(msg, sizeof msg, "serviceaccounts \"%s\" not found", name);
    *out = kl_status(404, "NotFound", "serviceaccounts", name, msg);
    return 404;
  }
  cleanup_json json_object *sp = NULL;
  if (request && json_object_object_get_ex(request, "spec", &spec) && json_object_is_type(spec, json_type_object))
    json_object_deep_copy(spec, &sp, NULL);
  else
    sp = json_object_new_object();
  int64_t seconds = json_object_object_get_ex(sp, "expirationSeconds", &v) ? json_object_get_int64(v) : 0;
  if (!seconds)
    seconds = KL_TOKEN_DEFAULT_SECONDS;
  if (seconds < KL_TOKEN_MIN_SECONDS)
    return invalid(name, seconds, "may not specify a duration less than 10 minutes", out);
  if (seconds > KL_TOKEN_MAX_SECONDS)
    return invalid(name, seconds, "may not specify a duration larger than 2^32 seconds", out);
  json_object_object_add(sp, "expirationSeconds", json_object_new_int64(seconds));
  json_object *aud;
  if (!json_object_object_get_ex(sp, "audiences", &aud) || !json_object_is_type(aud, json_type_array) ||
      !json_object_array_length(aud)) {
    aud = json_object_new_array();
    json_object_array_add(aud, json_object_new_string(a->issuer));
    json_object_object_add(sp, "audiences", aud);
  }
  if (!json_object_object_get_ex(sp, "boundObjectRef", NULL))
    json_object_object_add(sp, "boundObjectRef", NULL);
  struct bound b;
  unsigned code = bound_object(s, ns, name, sp, &b, out);
  if (code)
    return code;
  cleanup_json json_object *claims = claims_for(a, sa, aud, seconds, &b);
  ferry_error err = FERRY_ERROR_INIT;
  cleanup_free char *token = kl_jwt_sign(a->sa_key, a->kid, claims, &err);
  if (!token) {
    *out = kl_status(500, "InternalError", NULL, NULL, ferry_error_msg(&err));
    ferry_error_clear(&err);
    return 500;
  }
  *out = token_answer(ns, name, sp, token, json_object_get_int64(json_object_object_get(claims, "exp")));
  return 201;
}

static int has_audience(json_object *aud, const char *want)
{
  if (json_object_is_type(aud, json_type_string))
    return !strcmp(json_object_get_string(aud), want);
  for (size_t i = 0; json_object_is_type(aud, json_type_array) && i < json_object_array_length(aud); i++)
    if (!strcmp(json_object_get_string(json_object_array_get_idx(aud, i)) ?: "", want))
      return 1;
  return 0;
}

/* iss, aud, exp and nbf against now. */
static int times_and_audience_hold(const struct kl_auth *a, json_object *claims, ferry_error *err)
{
  json_object *v;
  int64_t now = (int64_t)time(NULL);
  if (strcmp(ferry_kube_str(claims, "iss") ?: "", a->issuer) != 0)
    return ferry_error_set(err, 0, "the token's issuer is not %s", a->issuer);
  if (!json_object_object_get_ex(claims, "aud", &v) || !has_audience(v, a->issuer))
    return ferry_error_set(err, 0, "the token's audiences do not include %s", a->issuer);
  if (!json_object_object_get_ex(claims, "exp", &v) || json_object_get_int64(v) <= now)
    return ferry_error_set(err, 0, "the token has expired");
  if (json_object_object_get_ex(claims, "nbf", &v) && json_object_get_int64(v) > now)
    return ferry_error_set(err, 0, "the token is not valid yet");
  return 0;
}

/* The object a claim names (kubernetes.io.serviceaccount, .pod, .secret, .node; ns NULL for a
 * cluster-scoped kind) still exists with that uid. */
static int claim_object_lives(struct kl_store *s, const char *kind_key, const char *ns, json_object *ref,
                              ferry_error *err)
{
  const char *name = ferry_kube_str(ref, "name") ?: "", *uid = ferry_kube_str(ref, "uid") ?: "";
  json_object *o = stored(s, kind_key, ns, name);
  if (!o)
    return ferry_error_set(err, 0, "%s %s/%s of the token does not exist", kind_key + 1, ns ?: "", name);
  if (strcmp(ferry_kube_str(o, "metadata.uid") ?: "", uid) != 0)
    return ferry_error_set(err, 0, "%s %s/%s has uid %s, the token %s", kind_key + 1, ns ?: "", name,
                           ferry_kube_str(o, "metadata.uid") ?: "", uid);
  if (ferry_kube_str(o, "metadata.deletionTimestamp"))
    return ferry_error_set(err, 0, "%s %s/%s of the token is being deleted", kind_key + 1, ns ?: "", name);
  return 0;
}

/* The user's extra as the API server's ServiceAccount authenticator sets it: the
 * pod's name and uid, the node's name (and uid when the claim has one), and the
 * credential id of the token's jti. */
static void add_extras(struct kl_user *u, json_object *claims, json_object *pod, json_object *node)
{
  const char *pod_uid = pod ? ferry_kube_str(pod, "uid") : NULL, *jti = ferry_kube_str(claims, "jti");
  if (pod && pod_uid && *pod_uid) {
    kl_user_add_extra(u, KL_EXTRA_POD_NAME, ferry_kube_str(pod, "name"));
    kl_user_add_extra(u, KL_EXTRA_POD_UID, pod_uid);
  }
  if (jti && *jti) {
    char id[128];
    snprintf(id, sizeof id, "JTI=%s", jti);
    kl_user_add_extra(u, KL_EXTRA_CREDENTIAL_ID, id);
  }
  if (node && ferry_kube_str(node, "name")) {
    kl_user_add_extra(u, KL_EXTRA_NODE_NAME, ferry_kube_str(node, "name"));
    kl_user_add_extra(u, KL_EXTRA_NODE_UID, ferry_kube_str(node, "uid"));
  }
}

int kl_token_authenticate(const struct kl_auth *a, struct kl_store *s, const char *token, struct kl_user *u,
                          ferry_error *err)
{
  if (!a->sa_key)
    return ferry_error_set(err, 0, "no ServiceAccount key");
  cleanup_json json_object *claims = kl_jwt_verify(a->sa_key, token, err);
  json_object *k, *sa, *ref;
  if (!claims || times_and_audience_hold(a, claims, err) < 0)
    return -1;
  if (!json_object_object_get_ex(claims, CLAIMS_KEY, &k) || !json_object_object_get_ex(k, "serviceaccount", &sa))
    return ferry_error_set(err, 0, "the token names no ServiceAccount");
  const char *ns = ferry_kube_str(k, "namespace") ?: "", *name = ferry_kube_str(sa, "name") ?: "";
  char sub[KL_NAME_MAX];
  snprintf(sub, sizeof sub, KL_SA_PREFIX "%s:%s", ns, name);
  if (strcmp(ferry_kube_str(claims, "sub") ?: "", sub) != 0)
    return ferry_error_set(err, 0, "the token's subject is not %s", sub);
  json_object *pod = json_object_object_get(k, "pod"), *node = json_object_object_get(k, "node");
  if (claim_object_lives(s, "/serviceaccounts", ns, sa, err) < 0 ||
      (pod && claim_object_lives(s, "/pods", ns, pod, err) < 0) ||
      (json_object_object_get_ex(k, "secret", &ref) && claim_object_lives(s, "/secrets", ns, ref, err) < 0) ||
      (node && !pod && claim_object_lives(s, "/nodes", NULL, node, err) < 0)) /* a pod's node is only told */
    return -1;
  kl_user_service_account(u, ns, name, ferry_kube_str(sa, "uid"));
  add_extras(u, claims, pod, node);
  return 0;
}
