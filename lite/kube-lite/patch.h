/* SPDX-License-Identifier: Apache-2.0 */
/* Patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902), and strategic
 * merge patch for built-in kinds. */
#ifndef KL_PATCH_H
#define KL_PATCH_H

#include <json-c/json.h>
#include <stddef.h>

/* Applies patch to *doc in place (merge) or returns a new document (json).
 * Returns 0, or -1 with why filled. */
int kl_merge_patch(json_object **doc, json_object *patch);
int kl_json_patch(json_object **doc, json_object *ops, char *why, size_t why_len);
/* Strategic merge patch for built-in kinds: as a merge patch, except that the
 * lists Kubernetes merges by key are merged element by element (containers,
 * volumes, env by name; volumeMounts by mountPath; ports by containerPort or
 * port; conditions by type; ownerReferences by uid), "$patch: delete" removes an
 * element, "$patch: replace" replaces a map, and "$setElementOrder" directives
 * are dropped. */
int kl_strategic_patch(json_object **doc, json_object *patch);

#endif
