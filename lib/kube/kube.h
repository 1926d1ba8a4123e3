/* SPDX-License-Identifier: Apache-2.0 */
/* The Kubernetes REST client every Ferry binary uses: libcurl (TLS with CA
 * verification, bearer token, client certificates, timeouts, one connection
 * reused) and json-c. Errors from the API come back as the Kubernetes Status
 * (code, reason, message). One struct ferry_kube is used by one thread. */
#ifndef FERRY_KUBE_H
#define FERRY_KUBE_H

#include <json-c/json.h>

#include "base/error.h"
#include "kube/kubeconfig.h"

struct ferry_kube;

/* What a failed call got back: the HTTP code and the Status's reason/message. */
struct ferry_kube_status {
  long code;
  char reason[64];
  char message[512];
};

/* A resource type: group ("" for core), version, plural, namespaced. */
struct ferry_kube_resource {
  const char *group, *version, *plural;
  int namespaced;
};

extern const struct ferry_kube_resource FERRY_KUBE_PODS, FERRY_KUBE_NODES, FERRY_KUBE_NAMESPACES, FERRY_KUBE_SERVICES,
    FERRY_KUBE_ENDPOINTS, FERRY_KUBE_EVENTS, FERRY_KUBE_ENDPOINTSLICES, FERRY_KUBE_LEASES, FERRY_KUBE_CRDS,
    FERRY_KUBE_PODMIGRATIONS, FERRY_KUBE_MIGRATIONPOLICIES;

enum ferry_kube_patch { FERRY_PATCH_MERGE, FERRY_PATCH_JSON, FERRY_PATCH_STRATEGIC };

struct ferry_kube_delete_opts {
  const char *uid;              /* precondition, or NULL */
  const char *resource_version; /* precondition, or NULL */
  long grace_period_seconds;    /* -1: the object's default */
  const char *propagation;      /* Foreground, Background, Orphan, or NULL */
};
#define FERRY_KUBE_DELETE_OPTS_INIT                                                                                    \
  {                                                                                                                    \
    NULL, NULL, -1, NULL                                                                                               \
  }

int ferry_kube_open(const struct ferry_kube_config *cfg, struct ferry_kube **out, ferry_error *err);
/* How a request reaches the API server: one exchange, the answer's HTTP code in
 * *code and its body in *answer (heap, may be NULL); -1 when nothing came back. */
typedef int (*ferry_kube_exchange_fn)(void *ctx, const char *method, const char *path, const char *content_type,
                                      const char *body, long *code, char **answer, ferry_error *err);
/* A client whose requests go to exchange instead of over HTTP: the unit tests'
 * fake API server (tests/unit/fake_api.h), as client-go's fake clientset. */
struct ferry_kube *ferry_kube_open_fake(ferry_kube_exchange_fn exchange, void *ctx);
void ferry_kube_close(struct ferry_kube *k);
const struct ferry_kube_config *ferry_kube_get_config(const struct ferry_kube *k);
/* Per-request deadline (default 30 s). */
void ferry_kube_set_timeout_ms(struct ferry_kube *k, long ms);

/* /api/v1/namespaces/NS/pods/NAME/SUB?QUERY (parts may be NULL). Caller frees. */
char *ferry_kube_path(const struct ferry_kube_resource *r, const char *ns, const char *name, const char *sub,
                      const char *query);
/* Escapes a query value (label selectors hold '=', ',', '!'). Caller frees. */
char *ferry_kube_escape(const char *s);

/* One request. 2xx: 0 and *resp the parsed body (NULL when empty). Otherwise -1,
 * *st (when given) filled and err "METHOD PATH: CODE Reason: message". */
int ferry_kube_request(struct ferry_kube *k, const char *method, const char *path, const char *content_type,
                       const char *body, json_object **resp, struct ferry_kube_status *st, ferry_error *err);

int ferry_kube_get(struct ferry_kube *k, const struct ferry_kube_resource *r, const char *ns, const char *name,
                   json_object **obj, struct ferry_kube_status *st, ferry_error *err);
/* Lists all pages (limit per page, 0: no paging). *items is a new array; *rv the list's resourceVersion. */
int ferry_kube_list(struct ferry_kube *k, const struct ferry_kube_resource *r, const char *ns,
                    const char *label_selector, const char *field_selector, int limit, json_object **items, char **rv,
                    ferry_error *err);
/* The same, each item passed through map (which gives back a new reference) as
 * its page arrives, so no more than one page is held whole. map NULL: as they are. */
typedef json_object *(*ferry_kube_map_fn)(void *ctx, json_object *item);
int ferry_kube_list_map(struct ferry_kube *k, const struct ferry_kube_resource *r, const char *ns,
                        const char *label_selector, const char *field_selector, int limit, ferry_kube_map_fn map,
                        void *map_ctx, json_object **items, char **rv, ferry_error *err);
int ferry_kube_create(struct ferry_kube *k, const struct ferry_kube_resource *r, const char *ns, json_object *obj,
                      json_object **out, struct ferry_kube_status *st, ferry_error *err);
/* PUT: obj's metadata.resourceVersion makes it conditional (409 when stale). sub: NULL or "status". */
int ferry_kube_update(struct ferry_kube *k, const struct ferry_kube_resource *r, const char *ns, json_object *obj,
                      const char *sub, json_object **out, struct ferry_kube_status *st, ferry_error *err);
int ferry_kube_patch(struct ferry_kube *k, const struct ferry_kube_resource *r, const char *ns, const char *name,
                     enum ferry_kube_patch type, const char *patch, const char *sub, json_object **out,
                     struct ferry_kube_status *st, ferry_error *err);
int ferry_kube_delete(struct ferry_kube *k, const struct ferry_kube_resource *r, const char *ns, const char *name,
                      const struct ferry_kube_delete_opts *opts, struct ferry_kube_status *st, ferry_error *err);
/* The eviction subresource (honours PodDisruptionBudgets on a real server). */
int ferry_kube_evict(struct ferry_kube *k, const char *ns, const char *name, struct ferry_kube_status *st,
                     ferry_error *err);

/* Read-modify-write with optimistic concurrency: GET, mutate(obj) (return <0 to
 * give up, with err set), PUT; on 409 Conflict read again and retry (at most
 * `attempts` times). *out (optional) receives the stored object. */
typedef int (*ferry_kube_mutate_fn)(json_object *obj, void *ctx, ferry_error *err);
int ferry_kube_update_retry(struct ferry_kube *k, const struct ferry_kube_resource *r, const char *ns, const char *name,
                            const char *sub, ferry_kube_mutate_fn mutate, void *ctx, int attempts, json_object **out,
                            ferry_error *err);

/* For other users of libcurl (watches): TLS, CA, client certificate and
 * timeouts of cfg on a CURL easy handle; the Authorization header line (NULL
 * without a token; caller frees); a deep copy of a configuration. */
void ferry_kube_global_init(void);
int ferry_kube_curl_setup(const struct ferry_kube_config *cfg, void *curl_easy, ferry_error *err);
char *ferry_kube_auth_header(const struct ferry_kube_config *cfg);
void ferry_kube_config_copy(struct ferry_kube_config *dst, const struct ferry_kube_config *src);

/* Small accessors for objects. */
/* The value at a dotted path ("metadata.name", "status"), NULL when absent or obj is NULL. */
json_object *ferry_kube_obj(json_object *obj, const char *dotted_path);
/* The value of one member, whose name may hold dots ("ferry.dev/migrate-to",
 * "nvidia.com/gpu"): for annotation, label and resource names. */
json_object *ferry_kube_key(json_object *obj, const char *key);
/* The same when it is a string. */
const char *ferry_kube_str(json_object *obj, const char *dotted_path);
/* The object's controller: the ownerReferences entry with controller: true (borrowed), or NULL. */
json_object *ferry_kube_controller_ref(json_object *obj);

#endif
