/* SPDX-License-Identifier: Apache-2.0 */
/* ferry-controller's state: informers, the work queue, the event recorder.
 * Reconcilers read only the informers' caches and write through the API; the
 * PodMigration status is the one record of progress. */
#ifndef FERRY_CONTROLLER_H
#define FERRY_CONTROLLER_H

#include <json-c/json.h>
#include <stdint.h>

#include "api/podmigration.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "kube/kube.h"
#include "kube/queue.h"

/* inflight.c: migrations let past the limits that the cache may not show yet. */
struct ctl_inflight {
  struct ctl_inflight_entry *v;
  size_t n;
};

struct ctl {
  struct ferry_kube *kube;
  struct ferry_informers *inf;
  struct ferry_informer *pods, *nodes, *pms, *policies, *services, *slices, *endpoints, *leases;
  struct queue *q;
  struct ferry_recorder *rec;
  const char *agent_ns;          /* where agents keep their Leases */
  int agent_stale_s;             /* an agent whose Lease is older is gone */
  const char *runtime_class;     /* pods must run with it to move ("" : no check) */
  struct webhook *webhook;       /* the pod admission webhook, or NULL (owned pods cannot move) */
  int64_t claim_grace_ms;        /* a steered replacement not seen this long after is lost (0: owned.c's default) */
  struct ctl_metrics *metrics;   /* /healthz, /readyz, /metrics, or NULL (not served) */
  struct rebalancer *rebalancer; /* the MigrationPolicies' load and locality rounds (rebalancer.h) */
  struct ctl_inflight inflight;  /* scheduled, perhaps not in the cache yet (inflight.c) */
};

/* Migrations running in the cluster and on the two nodes of a move. */
struct ctl_busy {
  int total, on_source, on_target;
};
/* The migration pm now takes room on source and target: counted by the limits
 * until the cache shows it there. */
void ctl_inflight_add(struct ctl *c, json_object *pm, const char *source, const char *target);
/* Adds to *b the migrations taken past the limits (but self_uid) that the cache
 * does not count yet; forgets those it now counts, the ended and the deleted. */
void ctl_inflight_count(struct ctl *c, const char *self_uid, const char *source, const char *target,
                        struct ctl_busy *b);
void ctl_inflight_free(struct ctl *c);

/* watch.c: the informers (c->inf set), their changes queued as keys:
 * "pm/NS/NAME" for PodMigrations, "pod/NS/NAME" for annotated pods. Leases are
 * watched in lease_ns. ctl_synced: every informer has listed. */
int ctl_watch(struct ctl *c, const char *lease_ns, ferry_error *err);
int ctl_synced(struct ctl *c);
/* keep.c: what each informer keeps of the objects it caches (kube/trim.h). */
int ctl_keep(struct ctl *c, ferry_error *err);
void ctl_enqueue_pm(struct ctl *c, json_object *pm);
void ctl_enqueue_all_pms(struct ctl *c); /* a resync */

/* One PodMigration: moves it along its state machine as far as it can now.
 * Returns 0 (done, or *requeue_ms > 0 to look again), -1 to retry with
 * backoff (err set: an API call failed). */
int ctl_reconcile_pm(struct ctl *c, const char *ns, const char *name, int64_t *requeue_ms, ferry_error *err);
/* One pod: the ferry.dev/migrate-to annotation becomes a PodMigration. */
int ctl_reconcile_pod(struct ctl *c, const char *ns, const char *name, int64_t *requeue_ms, ferry_error *err);

/* owned.c: pods a ReplicaSet controls. The source pod is quarantined from its
 * owner once it is checkpointed (ownerReferences and selector labels taken
 * away, kept in an annotation), so the owner makes a replacement, which the
 * webhook turns into the target pod; a rollback gives the source pod back. */
int owned_transfer(struct ctl *c, json_object *pm, int64_t *requeue_ms, ferry_error *err);
/* A StatefulSet's pod made while the migration needs its replacement steered
 * (Transferring, RollingBack) but without its ferry.dev/restore-from (the
 * admission webhook did not answer, failurePolicy Ignore): it would start
 * afresh, so it is deleted (by UID, no grace) for the StatefulSet to make it
 * again; a ReplacementNotSteered event says so. */
int owned_unsteered(struct ctl *c, json_object *pm, ferry_error *err);
int owned_release_source(struct ctl *c, json_object *pm, ferry_error *err);

/* webhook.c: POST /mutate-pods over TLS. The owner's replacement pod for a
 * PodMigration in Transferring gets ferry.dev/restore-from and schedulerName
 * ferry (its target's agent binds it); during a rollback it gets only
 * schedulerName ferry, so it never runs. The main loop publishes what the
 * webhook needs (webhook_publish): it answers from that copy, not the API. */
struct webhook;
int webhook_start(const char *listen, const char *cert_file, const char *key_file, struct webhook **out, int *port,
                  ferry_error *err);
void webhook_publish(struct webhook *w, struct ferry_informer *pms);
/* Migration pm's steered replacement forgotten when the webhook steered it
 * grace_ms ago or more (its create failed after the answer): the owner's next
 * pod is steered. 1 when it was released. */
int webhook_release_claim(struct webhook *w, const char *pm, int64_t grace_ms);
/* The same from a JSON array of PodMigrations (the fuzz harness's). */
void webhook_publish_list(struct webhook *w, json_object *pms);
void webhook_stop(struct webhook *w);
/* A webhook's table without its server (webhook_start serves one; webhook_stop frees either). */
struct webhook *webhook_new(void);
/* The answer to a POST /mutate-pods body (NULL: none, or too big): the
 * AdmissionReview answer with *code 200, else *code 400 and why. Caller frees. */
char *webhook_answer(struct webhook *w, const char *body, unsigned *code);

/* metrics.c: --metrics-listen (see there). ctl_metrics_loop: once per pass of
 * the main loop (the heartbeat, readiness, the gauges); ctl_metrics_reconciled:
 * once per reconcile (kind "podmigration" or "pod"); ctl_metrics_pm_changed: a
 * PodMigration's update as the watch delivered it (watch.c), which counts a
 * rollback begun or a migration ended while this replica leads. All do nothing
 * when not served. ctl_metrics_text: what /metrics serves (malloc'd; NULL: not served). */
int ctl_metrics_start(struct ctl *c, const char *listen, const char *identity, int *port, ferry_error *err);
void ctl_metrics_stop(struct ctl *c);
void ctl_metrics_loop(struct ctl *c, int leading, int synced);
void ctl_metrics_reconciled(struct ctl *c, const char *kind, int ok, double seconds);
void ctl_metrics_pm_changed(struct ctl *c, json_object *old, json_object *pm);
char *ctl_metrics_text(struct ctl *c);
/* A rebalancer round that planned nothing: its policy refused, or the core failed. */
enum ctl_round_result { CTL_ROUND_PLANNED, CTL_ROUND_INVALID_POLICY, CTL_ROUND_FAILED, CTL_ROUND_SETTLING };
void ctl_metrics_rebalance_unplanned(struct ctl *c, enum ctl_round_result result);
/* One planned rebalancer round: how long it took and what it found (nodes overloaded,
 * free to shed, free to receive, left stuck); one planned move by reason. */
void ctl_metrics_rebalance_round(struct ctl *c, double seconds, int overloaded, int sources, int targets, int stuck);
void ctl_metrics_rebalance_move(struct ctl *c, const char *reason, int dry_run);

/* Is a Ferry agent running on node (its Lease renewed lately)? *cpu: its reported CPU use (0..1, 0 unknown). */
int ctl_agent_ready(struct ctl *c, const char *node, double *cpu);
/* 1 (why filled) when node's agent says its image store is below its
 * --store-min-free (the Lease's ferry.dev/store): it would refuse the checkpoint. */
int ctl_store_full(struct ctl *c, const char *node, char *why, size_t len);
/* An annotation KEY of node's agent Lease (borrowed), NULL when there is none. */
const char *ctl_agent_annotation(struct ctl *c, const char *node, const char *key);
/* node's agent's node check (the Lease's ferry.dev/node-check, borrowed), NULL when it publishes none. */
const char *ctl_node_check(struct ctl *c, const char *node);
/* 1 (reason filled) when a node check says the node cannot dump a container
 * that runs as a non-root user; 0 when it can, or the check does not say. */
int ctl_node_check_nonroot_refused(const char *check, char *reason, size_t len);
/* 1 (as: "uid N", or "gid N" when only the group is not root) when the pod's
 * container cname runs as a non-root user by its securityContext (runAsUser,
 * runAsGroup; the container's over the pod's). */
int ctl_pod_runs_as(json_object *pod, const char *cname, char *as, size_t len);
/* The CannotCheckpoint message: container cname runs as `as` and node cannot dump it (reason: its check's). */
void ctl_cannot_dump_message(const char *node, const char *cname, const char *as, const char *reason, char *msg,
                             size_t len);

/* services.c: Services without a selector follow the pod. drain marks the source
 * address not ready; follow points it at the target; undrain makes it ready again.
 * *touched (new array, may be NULL) lists "NS/KIND/NAME IP:PORT" entries changed. */
int svc_drain(struct ctl *c, const char *ns, const char *ip, json_object **touched, ferry_error *err);
int svc_follow(struct ctl *c, const char *ns, const char *from_ip, const char *to_ip, const char *to_node,
               json_object **touched, ferry_error *err);
int svc_undrain(struct ctl *c, const char *ns, const char *ip, ferry_error *err);

#endif
