/* SPDX-License-Identifier: Apache-2.0 */
/* Strategy auto: post-copy when the pod's memory is above the source node's
 * post-copy threshold (what its agent measured, else its configured default)
 * and the pod and both nodes can post-copy, stop-and-copy otherwise, with the
 * sentence that says which and why (status.strategyNote). strategy.c is the
 * choice, a pure function; strategy_inputs.c gathers its inputs from the
 * controller's caches (the agents' Leases, the pod). */
#ifndef FERRY_CTL_STRATEGY_H
#define FERRY_CTL_STRATEGY_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "controller.h"
#include "api/podmigration.h"
#include "api/threshold.h"

/* Where the pod's memory figure came from. */
enum auto_memory_from {
  AUTO_MEMORY_UNKNOWN,
  AUTO_MEMORY_USAGE,   /* the source agent's report of its cgroup */
  AUTO_MEMORY_REQUEST, /* the container's memory request (no report) */
  AUTO_MEMORY_LIMIT,   /* the container's memory limit (no report, no request) */
};

struct auto_inputs {
  const char *source, *target; /* node names */
  int64_t memory;              /* bytes */
  enum auto_memory_from memory_from;
  /* the source's threshold; threshold_error: why there is none usable (NULL: it is there) */
  struct ferry_postcopy_threshold threshold;
  const char *threshold_error;
  int statefulset; /* the pod's owner is a StatefulSet: never post-copy */
  /* what each agent says of post-copy: "ok", else why not; NULL when it does not say */
  const char *source_postcopy, *target_postcopy;
};

/* stopAndCopy or postCopy, and why (a sentence starting "auto: "). */
enum pm_strategy auto_choose(const struct auto_inputs *in, char *why, size_t len);

/* strategy_inputs.c: the inputs for moving pod from source to target. Strings
 * point into the caches, or into storage (which must outlive *in). */
struct auto_storage {
  char threshold_error[256];
};
void auto_gather(struct ctl *c, json_object *pod, const char *source, const char *target, struct auto_inputs *in,
                 struct auto_storage *storage);

#endif
