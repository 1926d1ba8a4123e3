/* SPDX-License-Identifier: Apache-2.0 */
/* Events for users, as client-go's recorder makes them: a core/v1 Event about an
 * object (shown by kubectl describe), repeated ones aggregated (count and
 * lastTimestamp patched) instead of piling up. */
#ifndef FERRY_EVENTS_H
#define FERRY_EVENTS_H

#include <json-c/json.h>

#include "base/error.h"
#include "kube/kube.h"

struct ferry_recorder;

/* component: "ferry-controller", "ferry-agent"; host: the node (may be NULL). */
struct ferry_recorder *ferry_recorder_new(struct ferry_kube *kube, const char *component, const char *host);
void ferry_recorder_free(struct ferry_recorder *r);
/* type: "Normal" or "Warning"; reason: CamelCase (e.g. "Checkpointed"). */
int ferry_record_event(struct ferry_recorder *r, json_object *involved, const char *type, const char *reason,
                       ferry_error *err, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* The same for callers with nothing to do on failure but say so: a failed
 * write is logged as a warning, naming the reason and the object. */
void ferry_event(struct ferry_recorder *r, json_object *involved, const char *type, const char *reason, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));

#endif
