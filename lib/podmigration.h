/* The PodMigration resource as the controller and the agents share it: its
 * phases, annotations and labels, and status writes. The status is the only
 * record of where a migration stands; every phase change is a conditional
 * write (on the resourceVersion read), so two actors never both move it on. */
#ifndef FERRY_PODMIGRATION_H
#define FERRY_PODMIGRATION_H

#include <json-c/json.h>
#include <stdint.h>

#include "error.h"
#include "kube.h"

#define PM_PENDING "Pending"
#define PM_SCHEDULED "Scheduled"         /* target chosen, target pod made; the source agent acts */
#define PM_CHECKPOINTING "Checkpointing" /* the source agent dumps */
#define PM_TRANSFERRING "Transferring"   /* the image is published; the target agent verifies it */
#define PM_RESTORING "Restoring"         /* the target agent restores; Restored=True when done */
#define PM_SUCCEEDED "Succeeded"
#define PM_FAILED "Failed"               /* nothing was frozen: the pod runs on the source as before */
#define PM_ROLLING_BACK "RollingBack"    /* after the freeze: the source agent restores it there */
#define PM_ROLLED_BACK "RolledBack"

#define FERRY_ANN_MIGRATE_TO "ferry.dev/migrate-to"
#define FERRY_ANN_MIGRATION "ferry.dev/migration"   /* on pods: NS/NAME of the PodMigration, then its outcome */
#define FERRY_ANN_RESULT "ferry.dev/migration-result"
#define FERRY_ANN_MIGRATABLE "ferry.dev/migratable" /* on pods: "true": a drain (cordon) migrates it instead of evicting it */
#define FERRY_ANN_RESTORE_FROM "ferry.dev/restore-from" /* on target pods: NS/NAME of the PodMigration */
#define FERRY_SCHEDULER_NAME "ferry" /* target pods: no scheduler binds them; the target's agent does */
#define FERRY_LABEL_POD "ferry.dev/pod"              /* on PodMigrations: the pod's name */
#define FERRY_FINALIZER "ferry.dev/migration"
#define FERRY_AGENT_LEASE_PREFIX "ferry-agent-"
#define FERRY_ANN_LOAD "ferry.dev/load"              /* on agent Leases: the node's load, JSON */

/* "Pending" when the status has no phase yet. */
const char *pm_phase(json_object *pm);
int pm_phase_is_terminal(const char *phase);
/* Scheduled through RollingBack: a migration that holds its nodes. */
int pm_phase_is_active(const char *phase);
/* The condition's status is "True". */
int pm_condition_true(json_object *pm, const char *type);

/* Builds status changes: { "status": { ... } } to fill and send with pm_write_status. */
json_object *pm_status_patch(const char *phase, const char *reason, const char *fmt, ...)
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
