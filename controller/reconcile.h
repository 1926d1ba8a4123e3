/* SPDX-License-Identifier: Apache-2.0 */
/* The steps of the PodMigration state machine (reconcile.c) that live in their
 * own files: Pending -> Scheduled (schedule.c), the policies and limits
 * (policy.c), the target's choice (target.c), the end (finish.c). */
#ifndef FERRY_CTL_RECONCILE_H
#define FERRY_CTL_RECONCILE_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "controller.h"

/* How soon a migration waiting for room, or for its phase's start time, is looked at again. */
#define WAIT_RETRY_MS 2000

/* reconcile.c: the status write every step ends with (patch taken), conditional
 * on the resourceVersion read; Failed with its reason (events on the migration and, when given, the pod). */
int ctl_write_status(struct ctl *c, json_object *pm, json_object *patch, ferry_error *err);
int ctl_fail(struct ctl *c, json_object *pm, json_object *pod, const char *reason, const char *msg, ferry_error *err);

/* schedule.c: Pending -> Scheduled (or Failed, or Pending "Waiting" with *requeue_ms). */
int ctl_schedule(struct ctl *c, json_object *pm, int64_t *requeue_ms, ferry_error *err);
/* The pod's Ready condition (a missing pod is fine). */
int ctl_set_pod_ready(struct ctl *c, const char *ns, const char *name, int ready, ferry_error *err);

/* policy.c: the MigrationPolicy that applies to a pod (the first by name that selects it), with defaults. */
struct policy {
  const char *name;
  int per_node, total, phase_timeout_s;
  enum pm_strategy strategy;    /* its defaultStrategy (stopAndCopy without one) */
  const char *bad_strategy;     /* a defaultStrategy that is no strategy (then stopAndCopy), else NULL */
  json_object *image_retention; /* its imageRetention ({count, ttlSeconds}), stamped on the migration; NULL: none */
};
void ctl_policy_for(struct ctl *c, json_object *pod, const char *ns, struct policy *out);
/* The limits and default strategy of one MigrationPolicy object (NULL: the defaults). */
void ctl_policy_read(json_object *policy, struct policy *out);
/* Whether a MigrationPolicy selects pod in ns: spec.namespaces (none: every one) and spec.podSelector.matchLabels. */
int ctl_policy_selects(json_object *policy, json_object *pod, const char *ns);
/* That policy's object (the informer's), or NULL when none selects the pod. */
json_object *ctl_policy_object(struct ctl *c, json_object *pod, const char *ns);
/* The phase timeout of this migration: its own, else its policy's. */
int ctl_phase_timeout_s(struct ctl *c, json_object *pm, json_object *pod);
/* Fills wait (empty: there is room) when the policy's limits hold pm back from source -> target. */
void ctl_limits_wait(struct ctl *c, json_object *pm, const struct policy *pol, const char *source, const char *target,
                     char *wait, size_t wait_len);

/* target.c: spec.targetNode when given (refused with the reason when it does
 * not fit), else the least loaded node that fits. NULL with why and *reason set when none. */
json_object *ctl_choose_target(struct ctl *c, json_object *pm, json_object *pod, char *why, size_t why_len,
                               const char **reason);

/* finish.c: Restoring with Restored=True -> Succeeded; the end states' clean-up (idempotent). */
int ctl_finish(struct ctl *c, json_object *pm, ferry_error *err);
int ctl_clean_up(struct ctl *c, json_object *pm, ferry_error *err);

#endif
