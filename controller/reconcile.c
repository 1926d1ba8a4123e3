/* SPDX-License-Identifier: Apache-2.0 */
/* The PodMigration state machine, controller side (docs/architecture.md):
 *
 *   Pending -> Scheduled -> Checkpointing -> Transferring -> Restoring -> Succeeded
 *      |           |             \______________|_______________/
 *      v           v                            v
 *    Failed      Failed                    RollingBack -> RolledBack
 *
 * The controller takes Pending to Scheduled (pod checked, limits respected,
 * target chosen, target pod made, selector-less Service endpoints drained),
 * watches every phase's deadline, and finishes: Restoring with Restored=True
 * becomes Succeeded once Services point at the target; the end states clean up
 * (target pod of a failed migration deleted, endpoints restored, the outcome
 * annotated on the pod). The agents move Scheduled through Restoring and do
 * rollbacks. Every phase change is conditional on the resourceVersion read.
 *
 * This file is the dispatch: ctl_reconcile_pm() calls one function per phase.
 * Pending is schedule.c, the end is finish.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reconcile.h"
#include "api/podmigration.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#define DEADLINE_SLACK_MS 50           /* look again just after the deadline, not just before */
#define ROLLBACK_STUCK_REPEAT_MS 30000 /* how often a stuck rollback is reported */
#define UNSTEERED_POLL_MS 1000         /* a rolling-back StatefulSet pod: its replacement looked at */
#define TIMEOUT_MSG_LEN 256

void ctl_enqueue_pm(struct ctl *c, json_object *pm)
{
  cleanup_free char *key = ferry_asprintf("pm/%s/%s", ferry_kube_str(pm, "metadata.namespace") ?: "",
                                          ferry_kube_str(pm, "metadata.name") ?: "");
  queue_add(c->q, key, ferry_now_mono_ms());
}

/* ---------- status writes ---------- */

int ctl_write_status(struct ctl *c, json_object *pm, json_object *patch, ferry_error *err)
{
  struct ferry_kube_status st = { 0 };
  int rc = pm_write_status(c->kube, pm, patch, 1, NULL, &st, err);
  json_object_put(patch);
  return rc;
}

int ctl_fail(struct ctl *c, json_object *pm, json_object *pod, const char *reason, const char *msg, ferry_error *err)
{
  log_info("podmigration %s/%s failed: %s: %s", ferry_kube_str(pm, "metadata.namespace"),
           ferry_kube_str(pm, "metadata.name"), reason, msg);
  json_object *patch = pm_status_patch(PM_FAILED, reason, "%s", msg);
  int rc = ctl_write_status(c, pm, patch, err);
  if (rc == 0) {
    ferry_event(c->rec, pm, "Warning", reason, "%s", msg);
    if (pod)
      ferry_event(c->rec, pod, "Warning", "MigrationFailed", "%s: %s", ferry_kube_str(pm, "metadata.name"), msg);
  }
  return rc;
}

static int roll_back(struct ctl *c, json_object *pm, const char *reason, const char *msg, ferry_error *err)
{
  json_object *patch = pm_status_patch(PM_ROLLING_BACK, reason, "%s", msg);
  pm_patch_set(patch, "rollbackFrom", json_object_new_string(pm_phase_name(pm_phase(pm))));
  if (ctl_write_status(c, pm, patch, err) < 0)
    return -1;
  ferry_event(c->rec, pm, "Warning", reason, "%s; rolling back to %s", msg,
              ferry_kube_str(pm, "status.sourceNode") ?: "the source");
  return 0;
}

/* ---------- the finalizer ---------- */

static int has_finalizer(json_object *pm)
{
  json_object *f = ferry_kube_obj(ferry_kube_obj(pm, "metadata"), "finalizers");
  for (size_t i = 0; f && i < json_object_array_length(f); i++)
    if (!strcmp(json_object_get_string(json_object_array_get_idx(f, i)), FERRY_FINALIZER))
      return 1;
  return 0;
}

/* Adds (or removes) Ferry's finalizer: a conditional merge patch of the whole list. */
static int set_finalizer(struct ctl *c, json_object *pm, int on, ferry_error *err)
{
  json_object *list = json_object_new_array(), *f = ferry_kube_obj(ferry_kube_obj(pm, "metadata"), "finalizers");
  for (size_t i = 0; f && i < json_object_array_length(f); i++) {
    json_object *x = json_object_array_get_idx(f, i);
    if (strcmp(json_object_get_string(x), FERRY_FINALIZER) != 0)
      json_object_array_add(list, json_object_get(x));
  }
  if (on)
    json_object_array_add(list, json_object_new_string(FERRY_FINALIZER));
  cleanup_json json_object *patch = json_object_new_object();
  json_object *meta = json_object_new_object();
  json_object_object_add(meta, "finalizers", list);
  json_object_object_add(meta, "resourceVersion",
                         json_object_new_string(ferry_kube_str(pm, "metadata.resourceVersion") ?: ""));
  json_object_object_add(patch, "metadata", meta);
  return ferry_kube_patch(c->kube, &FERRY_KUBE_PODMIGRATIONS, ferry_kube_str(pm, "metadata.namespace"),
                          ferry_kube_str(pm, "metadata.name"), FERRY_PATCH_MERGE,
                          json_object_to_json_string_ext(patch, JSON_C_TO_STRING_PLAIN), NULL, NULL, NULL, err);
}

/* ---------- deadlines ---------- */

/* Has the current phase outlived its timeout? 1 with msg set; 0 with *requeue_ms for the next look. */
static int timed_out(struct ctl *c, json_object *pm, int64_t *requeue_ms, char *msg, size_t len)
{
  const char *ns = ferry_kube_str(pm, "metadata.namespace");
  json_object *pod = ferry_informer_get(c->pods, ns, ferry_kube_str(pm, "spec.pod") ?: "");
  int64_t since = ferry_parse_time_ms(ferry_kube_str(pm, "status.phaseTime") ?: "");
  int64_t limit = (int64_t)ctl_phase_timeout_s(c, pm, pod) * 1000, left = since + limit - ferry_now_real_ms();
  if (since <= 0 || left > 0) {
    *requeue_ms = since <= 0 ? WAIT_RETRY_MS : left + DEADLINE_SLACK_MS;
    return 0;
  }
  snprintf(msg, len, "%s took longer than its timeout", pm_phase_name(pm_phase(pm)));
  return 1;
}

/* ---------- one function per phase ---------- */

/* Scheduled: the source agent acts; nothing is frozen yet, so a timeout fails it. */
static int scheduled(struct ctl *c, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  char msg[TIMEOUT_MSG_LEN];
  if (!timed_out(c, pm, requeue_ms, msg, sizeof msg))
    return 0;
  return ctl_fail(c, pm, NULL, "Timeout", msg, err);
}

/* After the freeze a phase past its deadline rolls back: the source agent restores the pod there. */
static int roll_back_if_late(struct ctl *c, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  char msg[TIMEOUT_MSG_LEN];
  if (!timed_out(c, pm, requeue_ms, msg, sizeof msg))
    return 0;
  return roll_back(c, pm, "Timeout", msg, err);
}

/* Checkpointing: the source agent dumps. */
static int checkpointing(struct ctl *c, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  return roll_back_if_late(c, pm, requeue_ms, err);
}

/* Transferring: an owned pod's target is the replacement its owner makes (owned.c). */
static int transferring(struct ctl *c, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  int64_t owned_ms = 0; /* the replacement is looked for sooner than the deadline */
  if (ferry_kube_str(pm, "status.owner.uid") && !ferry_kube_str(pm, "status.targetPod") &&
      owned_transfer(c, pm, &owned_ms, err) < 0)
    return -1;
  int rc = roll_back_if_late(c, pm, requeue_ms, err);
  if (owned_ms > 0 && (*requeue_ms == 0 || owned_ms < *requeue_ms))
    *requeue_ms = owned_ms;
  return rc;
}

/* Restoring: Restored=True finishes it. Post-copy: the pod runs on the target
 * once Restored, but the source is kept until every page arrived and the source let go.
 * A held source (SourceHeld) is killed by its agent first (SourceReleased). */
static int restoring(struct ctl *c, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  enum pm_strategy ran = PM_STRATEGY_STOP_AND_COPY;
  if (pm_strategy_parse(ferry_kube_str(pm, "status.strategy"), &ran) < 0)
    ran = PM_STRATEGY_STOP_AND_COPY;
  int released = pm_condition_true(pm, "SourceReleased");
  if (pm_condition_true(pm, "Restored") &&
      (ran != PM_STRATEGY_POST_COPY || (pm_condition_true(pm, "MemoryTransferred") && released)) &&
      (!pm_condition_true(pm, "SourceHeld") || released))
    return ctl_finish(c, pm, err);
  return roll_back_if_late(c, pm, requeue_ms, err);
}

/* RollingBack: a StatefulSet's pod made again without the webhook is made
 * once more (owned_unsteered). Past its deadline: only the agents can finish
 * it; say so, loudly, once a phase. */
static int rolling_back(struct ctl *c, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  char msg[TIMEOUT_MSG_LEN];
  int sts = !strcmp(ferry_kube_str(pm, "status.owner.kind") ?: "", "StatefulSet");
  if (sts && owned_unsteered(c, pm, err) < 0)
    return -1;
  if (!timed_out(c, pm, requeue_ms, msg, sizeof msg)) {
    if (sts && (*requeue_ms == 0 || *requeue_ms > UNSTEERED_POLL_MS))
      *requeue_ms = UNSTEERED_POLL_MS;
    return 0;
  }
  log_error("podmigration %s/%s: rollback has not finished; the source agent on %s must restore the pod",
            ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "metadata.name"),
            ferry_kube_str(pm, "status.sourceNode") ?: "?");
  ferry_event(c->rec, pm, "Warning", "RollbackStuck", "the rollback has not finished within the phase timeout");
  *requeue_ms = ROLLBACK_STUCK_REPEAT_MS;
  return 0;
}

/* Deleted (deletionTimestamp set): an end state is cleaned up and lets go of its
 * finalizer; before the freeze it fails, after it rolls back. */
static int deleted(struct ctl *c, json_object *pm, ferry_error *err)
{
  enum pm_phase phase = pm_phase(pm);
  if (!has_finalizer(pm))
    return 0;
  if (pm_phase_is_terminal(phase)) {
    if (ctl_clean_up(c, pm, err) < 0)
      return -1;
    return set_finalizer(c, pm, 0, err);
  }
  if (phase == PM_PENDING || phase == PM_SCHEDULED)
    return ctl_fail(c, pm, NULL, "Cancelled", "the PodMigration was deleted before the pod was frozen", err);
  if (phase != PM_ROLLING_BACK)
    return roll_back(c, pm, "Cancelled", "the PodMigration was deleted", err);
  return 0; /* the agents are rolling back; the end state removes the finalizer */
}

int ctl_reconcile_pm(struct ctl *c, const char *ns, const char *name, int64_t *requeue_ms, ferry_error *err)
{
  *requeue_ms = 0;
  json_object *pm = ferry_informer_get(c->pms, ns, name);
  if (!pm)
    return 0;
  enum pm_phase phase = pm_phase(pm);
  if (ferry_kube_obj(ferry_kube_obj(pm, "metadata"), "deletionTimestamp"))
    return deleted(c, pm, err);
  if (!has_finalizer(pm) && !pm_phase_is_terminal(phase))
    return set_finalizer(c, pm, 1, err);
  switch (phase) {
  case PM_PENDING:
    return ctl_schedule(c, pm, requeue_ms, err);
  case PM_SCHEDULED:
    return scheduled(c, pm, requeue_ms, err);
  case PM_CHECKPOINTING:
    return checkpointing(c, pm, requeue_ms, err);
  case PM_TRANSFERRING:
    return transferring(c, pm, requeue_ms, err);
  case PM_RESTORING:
    return restoring(c, pm, requeue_ms, err);
  case PM_SUCCEEDED:
  case PM_FAILED:
  case PM_ROLLED_BACK:
    return ctl_clean_up(c, pm, err);
  case PM_ROLLING_BACK:
  case PM_NONE:
  case PM_UNKNOWN:
    break; /* a phase no Ferry writes is watched as a rollback is: only its agents know it */
  }
  return rolling_back(c, pm, requeue_ms, err);
}
