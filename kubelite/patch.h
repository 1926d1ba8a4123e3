/* Patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902), and strategic
 * merge patch for built-in kinds (here: merge semantics for objects; lists are
 * replaced, where the real server merges some of them by key: see docs). */
#ifndef KL_PATCH_H
#define KL_PATCH_H

#include <json-c/json.h>
#include <stddef.h>

/* Applies patch to *doc in place (merge) or returns a new document (json).
 * Returns 0, or -1 with why filled. */
int kl_merge_patch(json_object **doc, json_object *patch);
int kl_json_patch(json_object **doc, json_object *ops, char *why, size_t why_len);

#endif
