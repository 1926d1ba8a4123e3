/* OpenAPI v3 validation of custom resources, as the API server does for CRDs:
 * types, required fields, enums, numeric bounds, defaults applied, unknown fields
 * pruned unless x-kubernetes-preserve-unknown-fields. */
#ifndef KL_SCHEMA_H
#define KL_SCHEMA_H

#include <json-c/json.h>

/* Validates (and defaults/prunes) obj in place against the CRD's schema for
 * version. Returns the number of problems; *causes (new array) holds them as
 * {reason, message, field}. */
int kl_schema_validate(json_object *crd, const char *version, json_object *obj, json_object **causes);

#endif
