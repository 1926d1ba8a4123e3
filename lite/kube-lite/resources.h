/* SPDX-License-Identifier: Apache-2.0 */
/* The resource types kube-lite serves: built-in ones and those CRDs define. */
#ifndef KL_RESOURCES_H
#define KL_RESOURCES_H

#include <json-c/json.h>

#include "store.h"

struct kl_resource {
  char group[128], version[32], plural[64], singular[64], kind[64], short_names[64];
  int namespaced, has_status;
  int custom; /* defined by a CRD */
};

/* Finds group/version/plural (built-in, then the stored CRDs; s->mu held). */
int kl_resource_find(struct kl_store *s, const char *group, const char *version, const char *plural,
                     struct kl_resource *out);
/* Every resource served now: the built-in ones, then each served version of
 * each CRD (s->mu held). A new array of *n (free it), NULL when out of memory. */
struct kl_resource *kl_resources_all(struct kl_store *s, size_t *n);
/* "group/plural", the key of the resource's objects in the store. */
void kl_resource_key(const struct kl_resource *r, char *buf, size_t len);
/* The apiVersion string: "v1" or "group/version". */
void kl_resource_api_version(const struct kl_resource *r, char *buf, size_t len);

/* Discovery documents (s->mu held): /api, /apis, /api/v1 and /apis/G/V. NULL for an unknown group/version. */
json_object *kl_discovery_api(void);
json_object *kl_discovery_groups(struct kl_store *s);
json_object *kl_discovery_resources(struct kl_store *s, const char *group, const char *version);

#endif
