/* SPDX-License-Identifier: Apache-2.0 */
/* The PodMigration resource as the controller and the agents share it: its
 * phases, annotations and labels, and status writes. The status is the only
 * record of where a migration stands; every phase change is a conditional
 * write (on the resourceVersion read), so two actors never both move it on. */
#ifndef FERRY_PODMIGRATION_H
#define FERRY_PODMIGRATION_H

#include <json-c/json.h>
#include <stdint.h>

#include "base/error.h"
#include "kube/kube.h"

/* A PodMigration's status.phase. pm_phase_name() gives the string the API uses. */
enum pm_phase {
  PM_NONE = -1, /* pm_status_patch: leave the phase as it is */
  PM_PENDING,
  PM_SCHEDULED,     /* target chosen, target pod made; the source agent acts */
  PM_CHECKPOINTING, /* the source agent dumps */
  PM_TRANSFERRING,  /* the image is published; the target agent verifies it */
  PM_RESTORING,     /* the target agent restores; Restored=True when done */
  PM_SUCCEEDED,
  PM_FAILED,       /* nothing was frozen: the pod runs on the source as before */
  PM_ROLLING_BACK, /* after the freeze: the source agent restores it there */
  PM_ROLLED_BACK,
  PM_UNKNOWN, /* a phase no version of Ferry writes */
};

/* spec.reason: why the pod moves (one string table, podmigration.c). */
enum pm_reason {
  PM_REASON_MANUAL, /* a PodMigration made by hand; the default */
  PM_REASON_ANNOTATION,
  PM_REASON_DRAIN,
  PM_REASON_LOAD_BALANCE,
  PM_REASON_AFFINITY,
  PM_REASON_HARDWARE,
  PM_REASON_SELF_REQUESTED,
  PM_REASON_COUNT
};

/* spec.strategy, a MigrationPolicy's defaultStrategy, status.strategy (auto is
 * only asked for: the controller writes what it chose). */
enum pm_strategy {
  PM_STRATEGY_STOP_AND_COPY,
  PM_STRATEGY_PRE_COPY,
  PM_STRATEGY_POST_COPY,
  PM_STRATEGY_AUTO,
  PM_STRATEGY_COUNT
};

#define FERRY_ANN_MIGRATE_TO "ferry.dev/migrate-to"
#define FERRY_ANN_MIGRATION "ferry.dev/migration" /* on pods: NS/NAME of the PodMigration, then its outcome */
#define FERRY_ANN_RESULT "ferry.dev/migration-result"
#define FERRY_ANN_MIGRATABLE                                                                                           \
  "ferry.dev/migratable" /* on pods: "true": a drain (cordon) migrates it instead of evicting it */
#define FERRY_ANN_RESTORE_FROM "ferry.dev/restore-from" /* on target pods: NS/NAME of the PodMigration */
#define FERRY_SCHEDULER_NAME "ferry"          /* target pods: no scheduler binds them; the target's agent does */
#define FERRY_LABEL_POD "ferry.dev/pod"       /* on PodMigrations: the pod's name */
#define FERRY_LABEL_POLICY "ferry.dev/policy" /* on PodMigrations the rebalancer made: the MigrationPolicy */
#define FERRY_FINALIZER "ferry.dev/migration"
#define FERRY_AGENT_LEASE_PREFIX "ferry-agent-"
#define FERRY_ANN_LOAD "ferry.dev/load" /* on agent Leases: the node's load, JSON */
/* on agent Leases: the pod memory above which post-copy's downtime is the
 * shorter on this node, and where the number comes from, JSON (docs/strategies.md) */
#define FERRY_ANN_POSTCOPY_THRESHOLD "ferry.dev/postcopy-threshold"
/* on agent Leases: "ok" when the node can post-copy, else why not */
#define FERRY_ANN_POSTCOPY_SUPPORT "ferry.dev/postcopy-support"
/* on agent Leases: the image store's space, JSON {"freeBytes", "totalBytes",
 * "minFreeBytes", "full"}: full, the node refuses checkpoints (StoreFull) */
#define FERRY_ANN_STORE "ferry.dev/store"
/* on agent Leases: what the node's CRIU can dump, JSON {"criu": VERSION, "runc": VERSION,
 * "strategies": {"stopAndCopy": {"ok": B}, "postCopy": {"ok": B, "reason": R}},
 * "nonRootContainers": {"ok": B, "reason": R}}, a reason where ok is false:
 * the controller refuses what the node cannot dump (CannotCheckpoint) */
#define FERRY_ANN_NODE_CHECK "ferry.dev/node-check"
/* the node check's nonRootContainers reason when the agent, and so its CRIU,
 * lacks CAP_SYS_RESOURCE (CRIU cannot read a non-root process's rlimits) */
#define FERRY_NODE_CHECK_LACKS_SYS_RESOURCE "this node's CRIU lacks CAP_SYS_RESOURCE"

/* PM_PENDING when the status has no phase yet. */
enum pm_phase pm_phase(json_object *pm);
/* "Pending", ...; NULL for PM_NONE and PM_UNKNOWN. */
const char *pm_phase_name(enum pm_phase phase);
/* PM_PENDING for NULL or "", PM_UNKNOWN for a string that is no phase. */
enum pm_phase pm_phase_parse(const char *name);
int pm_phase_is_terminal(enum pm_phase phase);
/* "LoadBalance", ...; NULL past the last. */
const char *pm_reason_name(enum pm_reason reason);
/* PM_REASON_MANUAL for NULL or ""; -1 for a string that is no reason. */
int pm_reason_parse(const char *name, enum pm_reason *out);
/* The PodMigration's spec.reason (PM_REASON_MANUAL when absent or unknown). */
enum pm_reason pm_reason(json_object *pm);
/* "stopAndCopy", "auto", ...; NULL past the last. */
const char *pm_strategy_name(enum pm_strategy s);
/* -1 for NULL, "" or a string that is no strategy. */
int pm_strategy_parse(const char *name, enum pm_strategy *out);
/* Scheduled through RollingBack: a migration that holds its nodes. */
int pm_phase_is_active(enum pm_phase phase);
/* The condition's status is "True". */
int pm_condition_true(json_object *pm, const char *type);

/* A new PodMigration object NS/PM_NAME for pod POD (labelled ferry.dev/pod),
 * to node target (NULL: the controller picks), by strategy (NULL: as its
 * policy says), for reason. Caller puts it. */
json_object *pm_object_new(const char *ns, const char *pod, const char *pm_name, const char *target,
                           const char *strategy, enum pm_reason reason);

/* Builds status changes (phase PM_NONE: the phase stays as it is): { "status": { ... } } to fill and send with pm_write_status. */
json_object *pm_status_patch(enum pm_phase phase, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds or replaces a condition in a status patch (the whole list is written:
 * merge patches replace lists), keeping pm's other conditions. */
void pm_patch_condition(json_object *patch, json_object *pm, const char *type, int status, const char *reason,
                        const char *message);
/* A status field of the patch: status[key] = value (taken). */
void pm_patch_set(json_object *patch, const char *key, json_object *value);

/* Writes the patch to pm's status subresource (merge patch). conditional: only
 * if pm is still at the resourceVersion it was read at (409 otherwise, st->code).
 * *out (optional): the stored object. */
int pm_write_status(struct ferry_kube *k, json_object *pm, json_object *patch, int conditional, json_object **out,
                    struct ferry_kube_status *st, ferry_error *err);

/* "312ms", "4.1s" for printer columns. */
void pm_format_duration(int64_t ms, char *buf, size_t len);

#endif
