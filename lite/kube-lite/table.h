/* SPDX-License-Identifier: Apache-2.0 */
/* Server-side printing for kubectl: a meta.k8s.io/v1 Table built from a CRD's
 * additionalPrinterColumns (kubectl asks with Accept: ...;as=Table). */
#ifndef KL_TABLE_H
#define KL_TABLE_H

#include <json-c/json.h>

/* NULL when the CRD has no printer columns for version (the caller answers the
 * plain object or list, and kubectl prints NAME and AGE itself). items is an
 * array of objects; rv the list's resourceVersion. */
json_object *kl_table(json_object *crd, const char *version, json_object *items, const char *rv);

/* Pods and Nodes as the API server prints them (kubectl get pods / nodes);
 * NULL for other built-in kinds. */
json_object *kl_table_builtin(const char *group, const char *plural, json_object *items, const char *rv);

#endif
