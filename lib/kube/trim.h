/* SPDX-License-Identifier: Apache-2.0 */
/* What an informer keeps of each object it caches, as client-go's
 * SetTransform does: everything no reader uses is dropped on list and on watch,
 * before the object enters the cache. A keep spec is JSON text naming fields:
 *
 *   {"metadata": {"name": true, "labels": "shared", "annotations": {"ferry.dev*": true}},
 *    "spec": {"containers": {"resources": "shared"}}}
 *
 * true keeps a field whole; an object keeps only the fields it names, and is
 * applied to each element when the field is an array (elements are never
 * dropped: an array keeps its length and order); a name ending in '*' keeps
 * every field with that prefix. An object that trimming left empty is dropped.
 *
 * "shared" keeps a field whole and shares it: objects whose field is equal
 * (the same JSON) hold one copy of it, as pods of one ReplicaSet share their
 * labels, owner and resources; "(shared)": true in an object rule shares what
 * the rule kept. Cached objects are read-only: a shared value changed in
 * place would change every object that holds it.
 *
 * Kept objects use the keep spec's own key strings (json-c's constant keys), so
 * they must be released before the trim is freed. */
#ifndef FERRY_TRIM_H
#define FERRY_TRIM_H

#include <json-c/json.h>

#include "base/error.h"

struct ferry_trim;

/* Parses and checks spec (every value true, "shared" or an object). */
int ferry_trim_new(const char *spec, struct ferry_trim **out, ferry_error *err);
void ferry_trim_free(struct ferry_trim *t);
/* The kept part of obj: a new reference (obj is not changed; kept values are
 * obj's own, or an equal one kept earlier when shared). */
json_object *ferry_trim_apply(struct ferry_trim *t, json_object *obj);
/* How many distinct shared values t holds now. */
size_t ferry_trim_shared(const struct ferry_trim *t);

#endif
