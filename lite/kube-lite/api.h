/* SPDX-License-Identifier: Apache-2.0 */
/* kube-lite's HTTP side: routing, verbs, watches, errors as Kubernetes Status. */
#ifndef KL_API_H
#define KL_API_H

#include <microhttpd.h>

#include "authn.h"
#include "cel.h"
#include "store.h"

struct kl_server {
  struct kl_store store;
  const char *token;         /* the admin's bearer token, or NULL */
  struct kl_auth *auth;      /* authentication and authorization (access.h), or NULL: none */
  struct kl_cel *cel;        /* the CEL helper ValidatingAdmissionPolicies need (vap.h), or NULL: none */
  const char *data_file;     /* persistence, or NULL */
  int faults;                /* POST /kube-lite/faults allowed */
  int fail_writes;           /* fault: the next N writes fail ... */
  unsigned fail_code;        /* ... with this code */
  int fail_admitted;         /* fault: the next N creates of fail_admitted_of fail after mutating admission ... */
  char fail_admitted_of[64]; /* ... (a resource's plural), as if the storage had failed them */
  volatile int stopping;
};

enum MHD_Result kl_handle(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
                          const char *data, size_t *size, void **con_cls);
void kl_request_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe);

/* A Status object, and a JSON answer (for access.c, tokens.c, reviews.c). */
json_object *kl_status(unsigned code, const char *reason, const char *kind, const char *name, const char *msg);
enum MHD_Result kl_send_json(struct MHD_Connection *c, unsigned code, json_object *o);

/* Creates the namespaces every cluster has; loads data_file when it exists. */
int kl_server_start(struct kl_server *srv, char *why, size_t why_len);

#endif
