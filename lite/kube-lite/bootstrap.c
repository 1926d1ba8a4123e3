/* SPDX-License-Identifier: Apache-2.0 */
/* The bootstrap ClusterRoles and ClusterRoleBindings, as the API server's RBAC post-start hook makes them. */
#include "bootstrap.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "rbac.h"

#define META_DEFAULTS                                                                                                  \
  "\"labels\":{\"kubernetes.io/bootstrapping\":\"rbac-defaults\"},"                                                    \
  "\"annotations\":{\"rbac.authorization.kubernetes.io/autoupdate\":\"true\"}"
#define SUBJECT_GROUP(g) "{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"Group\",\"name\":\"" g "\"}"

struct boot {
  const char *name, *rules_or_subjects;
};

static const struct boot ROLES[] = {
  { "cluster-admin", "[{\"apiGroups\":[\"*\"],\"resources\":[\"*\"],\"verbs\":[\"*\"]},"
                     "{\"nonResourceURLs\":[\"*\"],\"verbs\":[\"*\"]}]" },
  { "system:discovery", "[{\"nonResourceURLs\":[\"/api\",\"/api/*\",\"/apis\",\"/apis/*\",\"/healthz\",\"/livez\","
                        "\"/openapi\",\"/openapi/*\",\"/readyz\",\"/version\",\"/version/\"],\"verbs\":[\"get\"]}]" },
  { "system:basic-user",
    "[{\"apiGroups\":[\"authorization.k8s.io\"],\"resources\":[\"selfsubjectaccessreviews\","
    "\"selfsubjectrulesreviews\"],\"verbs\":[\"create\"]},{\"apiGroups\":[\"authentication.k8s.io\"],"
    "\"resources\":[\"selfsubjectreviews\"],\"verbs\":[\"create\"]}]" },
  { "system:public-info-viewer", "[{\"nonResourceURLs\":[\"/healthz\",\"/livez\",\"/readyz\",\"/version\","
                                 "\"/version/\"],\"verbs\":[\"get\"]}]" },
};

static const struct boot BINDINGS[] = {
  { "cluster-admin", "[" SUBJECT_GROUP("system:masters") "]" },
  { "system:discovery", "[" SUBJECT_GROUP("system:authenticated") "]" },
  { "system:basic-user", "[" SUBJECT_GROUP("system:authenticated") "]" },
  { "system:public-info-viewer",
    "[" SUBJECT_GROUP("system:authenticated") "," SUBJECT_GROUP("system:unauthenticated") "]" },
};

void kl_random_uid(char *buf, size_t len)
{
  unsigned char b[16];
  char hex[33];
  if (RAND_bytes(b, sizeof b) != 1)
    abort(); /* OpenSSL's generator cannot fail once seeded from the kernel */
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  ferry_hex(b, sizeof b, hex);
  snprintf(buf, len, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

/* Stores the object whose JSON is text under name in kind_key's map (when missing). */
static void store_missing(struct kl_store *s, const char *kind_key, const char *name, const char *text)
{
  json_object *map = kl_store_kind(s, kind_key);
  if (json_object_object_get_ex(map, name, NULL))
    return;
  json_object *o = json_tokener_parse(text), *m;
  if (!o || !json_object_object_get_ex(o, "metadata", &m)) {
    log_error("kube-lite: the bootstrap object %s is not JSON", name);
    json_object_put(o);
    return;
  }
  char uid[40], now[32], rv[32];
  kl_random_uid(uid, sizeof uid);
  ferry_format_time(ferry_now_real_ms(), now, sizeof now);
  snprintf(rv, sizeof rv, "%lld", (long long)++s->rv);
  json_object_object_add(m, "uid", json_object_new_string(uid));
  json_object_object_add(m, "creationTimestamp", json_object_new_string(now));
  json_object_object_add(m, "resourceVersion", json_object_new_string(rv));
  json_object_object_add(map, name, o);
}

void kl_rbac_bootstrap(struct kl_store *s)
{
  pthread_mutex_lock(&s->mu);
  for (size_t i = 0; i < sizeof ROLES / sizeof ROLES[0]; i++) {
    char *t = ferry_asprintf("{\"apiVersion\":\"" KL_RBAC_GROUP "/v1\",\"kind\":\"ClusterRole\",\"metadata\":"
                             "{\"name\":\"%s\"," META_DEFAULTS "},\"rules\":%s}",
                             ROLES[i].name, ROLES[i].rules_or_subjects);
    store_missing(s, KL_RBAC_GROUP "/clusterroles", ROLES[i].name, t);
    free(t);
  }
  for (size_t i = 0; i < sizeof BINDINGS / sizeof BINDINGS[0]; i++) {
    char *t = ferry_asprintf("{\"apiVersion\":\"" KL_RBAC_GROUP "/v1\",\"kind\":\"ClusterRoleBinding\",\"metadata\":"
                             "{\"name\":\"%s\"," META_DEFAULTS "},\"roleRef\":{\"apiGroup\":\"" KL_RBAC_GROUP "\","
                             "\"kind\":\"ClusterRole\",\"name\":\"%s\"},\"subjects\":%s}",
                             BINDINGS[i].name, BINDINGS[i].name, BINDINGS[i].rules_or_subjects);
    store_missing(s, KL_RBAC_GROUP "/clusterrolebindings", BINDINGS[i].name, t);
    free(t);
  }
  s->oldest_rv = s->rv;
  pthread_mutex_unlock(&s->mu);
}
