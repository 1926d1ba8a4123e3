/* SPDX-License-Identifier: Apache-2.0 */
/* Informers, as client-go has them: list a resource, then watch it from the
 * list's resourceVersion; keep a cache indexed by namespace/name; call add /
 * update / delete handlers. Bookmarks advance the resourceVersion; a 410 Gone
 * (history too old) relists and reconciles the cache; a dropped stream
 * reconnects with exponential backoff. Several informers share one thread and
 * one libcurl multi handle (no thread per watch). */
#ifndef FERRY_INFORMER_H
#define FERRY_INFORMER_H

#include <json-c/json.h>
#include <stddef.h>

#include "base/error.h"
#include "kube/kube.h"

struct ferry_informers;
struct ferry_informer;

struct ferry_informer_handlers {
  /* Objects are borrowed: valid during the call (json_object_get to keep one). */
  void (*on_add)(void *ctx, json_object *obj);
  void (*on_update)(void *ctx, json_object *old_obj, json_object *new_obj);
  void (*on_delete)(void *ctx, json_object *obj);
  void *ctx;
};

struct ferry_informer_stats {
  unsigned long lists, watches, events, bookmarks, relists_410, reconnects;
};

int ferry_informers_new(const struct ferry_kube_config *cfg, struct ferry_informers **out, ferry_error *err);
void ferry_informers_free(struct ferry_informers *g);
/* Informers whose lists go to a fake API server (tests/unit/fake_api.h): they
 * are filled by ferry_informers_relist, never by a watch. */
struct ferry_informers *ferry_informers_open_fake(ferry_kube_exchange_fn exchange, void *ctx);
/* Lists every informer now and reconciles its cache (adds, updates, deletes
 * with their handlers), as after a 410 Gone. */
int ferry_informers_relist(struct ferry_informers *g, ferry_error *err);

/* ns NULL: all namespaces. Selectors may be NULL. */
int ferry_informer_add(struct ferry_informers *g, const struct ferry_kube_resource *r, const char *ns,
                       const char *label_selector, const char *field_selector, const struct ferry_informer_handlers *h,
                       struct ferry_informer **out, ferry_error *err);

/* What the informer keeps of each object (kube/trim.h), set before it first
 * lists: the rest is dropped on list and on watch, before the object is cached
 * and before the handlers see it. It must keep metadata.name, namespace and
 * resourceVersion (the cache's key, updates told from resyncs). Without it
 * objects are cached whole. */
int ferry_informer_keep(struct ferry_informer *inf, const char *spec, ferry_error *err);

/* Drives every informer for up to timeout_ms: lists what needs listing, keeps
 * the watches going, dispatches events. Returns as soon as a pass changed a
 * cache, so the caller acts on the change without waiting out the timeout. Returns -1 only on a local failure
 * (out of memory, libcurl); API errors are retried with backoff and logged. */
int ferry_informers_run(struct ferry_informers *g, long timeout_ms, ferry_error *err);

/* 1 once the informer's first list has been applied. */
int ferry_informer_synced(const struct ferry_informer *inf);
/* The cached object (borrowed) or NULL. */
json_object *ferry_informer_get(const struct ferry_informer *inf, const char *ns, const char *name);
size_t ferry_informer_len(const struct ferry_informer *inf);
/* Calls fn for every cached object. */
void ferry_informer_each(const struct ferry_informer *inf, void (*fn)(void *ctx, json_object *obj), void *ctx);
const char *ferry_informer_resource_version(const struct ferry_informer *inf);
void ferry_informer_stats(const struct ferry_informer *inf, struct ferry_informer_stats *out);

/* Parses one watch event line; exposed for tests. *type is ADDED, MODIFIED,
 * DELETED, BOOKMARK or ERROR; *obj is a new reference. */
int ferry_watch_event_parse(const char *line, char *type, size_t type_len, json_object **obj, ferry_error *err);

#endif
