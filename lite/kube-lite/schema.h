/* SPDX-License-Identifier: Apache-2.0 */
/* OpenAPI v3 validation of custom resources, as the API server does for CRDs:
 * types (x-kubernetes-int-or-string too), required fields, enums, numeric bounds,
 * string patterns (regex.h) and lengths, the uniqueness of x-kubernetes-list-type
 * map and set lists, defaults applied, unknown fields pruned unless
 * x-kubernetes-preserve-unknown-fields. */
#ifndef KL_SCHEMA_H
#define KL_SCHEMA_H

#include <json-c/json.h>

/* The CRD's openAPIV3Schema for version (borrowed), or NULL. */
json_object *kl_schema_of(json_object *crd, const char *version);

/* Validates (and defaults/prunes) obj in place against the CRD's schema for
 * version. Returns the number of problems; *causes (new array) holds them as
 * {reason, message, field}. The path of every pruned field ("spec.foo",
 * "spec.items[0].bar") is appended to pruned when it is not NULL. */
int kl_schema_validate(json_object *crd, const char *version, json_object *obj, json_object **causes,
                       json_object *pruned);

#endif
