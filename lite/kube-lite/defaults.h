/* SPDX-License-Identifier: Apache-2.0 */
/* What the API server adds to a built-in object on every write: the defaults
 * of its kind (a Secret's type, a Namespace's phase and name label, a DaemonSet's update
 * strategy and pod template fields, a ValidatingAdmissionPolicy's failurePolicy
 * and match defaults) and, for a CustomResourceDefinition, the
 * status the apiextensions controllers write at once (NamesAccepted and
 * Established conditions, acceptedNames, storedVersions). */
#ifndef KL_DEFAULTS_H
#define KL_DEFAULTS_H

#include <json-c/json.h>

#include "resources.h"

#define KL_NAMESPACE_NAME_LABEL "kubernetes.io/metadata.name"

/* obj is about to be stored as r's kind; cur is the stored version (NULL on create). */
void kl_defaults(const struct kl_resource *r, json_object *obj, json_object *cur);

#endif
