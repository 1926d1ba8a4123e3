/* SPDX-License-Identifier: Apache-2.0 */
/* What a request asks for in the authorizer's terms (the API server's
 * RequestInfo): a resource request (verb, API group, resource, subresource,
 * namespace, name) or a non-resource one (verb and path), parsed from the URL
 * and method alone, before kube-lite knows whether the resource exists. */
#ifndef KL_REQUESTINFO_H
#define KL_REQUESTINFO_H

#include "authn.h"

struct kl_attrs {
  const struct kl_user *user;
  int resource_request;
  char verb[32];
  char group[128], version[32], resource[64], subresource[128];
  char ns[KL_NAME_MAX], name[KL_NAME_MAX];
  char path[1024]; /* non-resource requests */
};

/* Fills *a (not a->user) from the path and the method; watch is the watch=
 * query parameter's value (or NULL), field_selector the fieldSelector= one (a
 * list or watch of metadata.name=X is one of X). */
void kl_request_info(const char *path, const char *method, const char *watch, const char *field_selector,
                     struct kl_attrs *a);

#endif
