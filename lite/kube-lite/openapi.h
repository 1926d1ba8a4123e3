/* SPDX-License-Identifier: Apache-2.0 */
/* OpenAPI v3 documents, as the API server serves them under /openapi/v3:
 * kubectl reads them to learn that the server validates fields itself
 * (fieldValidation on PATCH) and for `kubectl explain`. Custom resources carry
 * their CRD's schema; built-in kinds a schema of any fields (kube-lite keeps
 * none for them). */
#ifndef KL_OPENAPI_H
#define KL_OPENAPI_H

#include <json-c/json.h>

#include "store.h"

/* /openapi/v3: {"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=..."}, ...}} (s->mu held). */
json_object *kl_openapi_index(struct kl_store *s);
/* /openapi/v3/api/v1, /openapi/v3/apis/G/V: gv is "api/v1" or "apis/G/V". NULL when nothing is served there. */
json_object *kl_openapi_gv(struct kl_store *s, const char *gv);

#endif
