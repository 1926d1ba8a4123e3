/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry-agent daemon`: the node side of PodMigrations. Watches the ones whose
 * source or target is this node and does this node's part with the engine,
 * each step in a child process (`ferry-agent --json checkpoint|restore`) whose
 * answer is kept in STATE_DIR/ops, so a restarted daemon finds out how a step
 * it started ended. Renews the node's agent Lease with its load, and serves
 * /healthz, /readyz and /metrics.
 *
 * This node's part of each PodMigration (see lib/api/podmigration.h for the phases):
 *
 *   source (source.c): Scheduled -> Checkpointing (child: checkpoint) -> Transferring
 *           RollingBack -> (container running? unlock; else child: restore here) -> RolledBack
 *   target (target.c): Transferring -> admit the restore, bind the target pod here -> Restoring;
 *           the kubelet runs the pod, ferry-runc restores it -> Restored=True (the controller finishes)
 *           RollingBack -> admission withdrawn, target pod deleted and gone -> TargetReleased=True
 * Before the freeze the source records the container as departed, so
 * ferry-runc refuses the kubelet's restart of it; a rollback removes that.
 *
 * A phase change is written (conditionally) before the step starts, so a
 * second agent or a restarted one never starts it twice; a step whose child
 * died without an answer is treated as interrupted: the workload is made to
 * run on the source again.
 *
 * The files: loop.c (options, start-up, the loop, the work queue), ops.c (steps
 * as child processes), source.c, target.c, status.c (reading a migration and
 * writing its status), node.c (the node's Lease and load), gc.c (what ended
 * migrations leave behind), space.c (the store's free space), metrics.c. */
#ifndef FERRY_AGENT_DAEMON_H
#define FERRY_AGENT_DAEMON_H

#include <json-c/json.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "api/podmigration.h"
#include "api/retention.h"
#include "base/cmdline.h"
#include "base/error.h"
#include "daemon/crossover.h"
#include "image/store.h"
#include "runtime/runc.h"

struct daemon_globals {
  const char *criu, *runc, *work_dir, *node;
};

/* The `daemon` command (agent/main.c): argv after the global options. */
int agent_daemon(const struct daemon_globals *g, int argc, char **argv);
/* Its command line: options, help page (loop.c). */
extern const struct ferry_cmd daemon_cmd;

/* How long a step waits before its migration is looked at again (ms). */
enum {
  REQUEUE_CHILD_POLL_MS = 300,             /* a step's child process runs: look for its answer */
  REQUEUE_CHILD_STOP_MS = 300,             /* a child was asked to stop (SIGTERM): look whether it has */
  REQUEUE_ADMIT_POLL_MS = 300,             /* Transferring on the target: the image, the pages daemon, the bind */
  REQUEUE_NEW_POD_MS = 300,                /* a StatefulSet's rollback: its new pod to come, be bound, run */
  REQUEUE_TARGET_RELEASE_MS = 1000,        /* a source rollback from Restoring: the target to hold no copy */
  REQUEUE_POSTCOPY_RELEASE_MS = 500,       /* the same, before the post-copy checkpoint step is stopped */
  REQUEUE_RESTORE_POLL_MS = 500,           /* Restoring: the kubelet to run the target pod */
  REQUEUE_RESTORE_FAILED_RELEASE_MS = 200, /* a failed restore: the target pod to be gone */
  REQUEUE_ROLLBACK_RELEASE_MS = 300,       /* a rollback: the target pod to be gone */
  REQUEUE_PAGES_POLL_MS = 500,             /* post-copy, restored: the last page to arrive */
  REQUEUE_RELEASE_POLL_MS = 200,
  REQUEUE_RUNTIME_ROLLBACK_MS = 500,
  /* a rollback through the runtime: the kubelet's next attempt restores */ /* a rollback: the source container to be released (frozen, CRIU) */
};

enum {
  DAEMON_MAX_CHILDREN = 16, /* steps whose exit the daemon watches for at once */
  RUNC_TIMEOUT_MS = 30000,  /* the daemon's own runc calls (state, resume, kill) */
};
/* --timeout of the steps (seconds): a post-copy source serves its memory, and
 * the target's pages step fetches it, for up to a day; a direct transfer of
 * the image gets ten minutes. */
#define STEP_PAGES_TIMEOUT_S "86400"
#define STEP_TRANSFER_TIMEOUT_S "600"

/* dumpable.c: what this node's CRIU can dump, found once (no dump). */
struct node_check {
  int probed;
  char *criu, *runc;         /* their versions, NULL when they could not tell ... */
  char *criu_why, *runc_why; /* ... and why */
  int sys_resource;          /* the agent, and so the CRIU it runs, has CAP_SYS_RESOURCE (effective) */
};

struct daemon {
  const struct daemon_globals *g;
  const char *kubeconfig, *store, *runc_root, *state_dir, *admission_dir, *ns, *metrics_listen;
  const char *bandwidth;   /* post-copy pages from this node: bytes/s quantity, NULL for no limit */
  const char *compress;    /* images written compressed: zstd, lz4 (NULL: not) */
  const char *key_file;    /* images encrypted with this key (a mounted Secret; NULL: not) */
  char *migration_address; /* where this node serves post-copy pages (its InternalIP by default) */
  struct {
    int set;
    unsigned char key[32];
  } transfer; /* --transfer-key-file: direct transfers' tokens derive from it (transfer.c) */
  int lease_seconds;
  int64_t postcopy_threshold;   /* --postcopy-threshold: published until the node has measured its own (bytes) */
  struct crossover_moves moves; /* this node's moves as the source, for the measured threshold (moves.c) */
  struct ferry_retention
      retention;           /* --image-retention-count, --image-ttl (a policy's, stamped on the migration, wins) */
  int64_t orphan_grace_ms; /* --image-orphan-grace */
  struct {
    uint64_t bytes; /* --store-min-free in bytes ... */
    int percent;    /* ... or, when >= 0, in percent of the store's size */
  } min_free;
  struct {
    uint64_t free, total;
    int known; /* measured at the last look */
  } space;
  struct ferry_store local; /* the store (s3://: the local copies), parsed; path NULL when it could not be */
  int gc_soon;              /* a migration of this node ended: collect on the next pass */
  char self[PATH_MAX];
  struct ferry_kube *kube;
  struct ferry_informers *inf;
  struct ferry_informer *pms, *pods; /* every PodMigration; the pods bound to this node */
  struct queue *q;
  struct ferry_recorder *rec;
  struct metrics *m;
  unsigned long long cpu_busy, cpu_total; /* /proc/stat at the last report */
  json_object *usage_prev;                /* container id: [cpu_usec, at_ms] at the last report (usage.c) */
  int ops;                                /* steps started and not yet answered */
  size_t held;                            /* containers the watchdog found held on its last pass */
  char held_why[320];                     /* what held the last of them */
  struct {
    pid_t pid;
    char *key;
  } children[DAEMON_MAX_CHILDREN]; /* our running steps: their exit wakes their migration at once */
};

/* ---------- the two sides: one pass over a migration of this node ---------- */

/* Each does what the migration's phase asks of this node and returns; *requeue_ms
 * (set when there is more to do): when to look again. -1 on error (retried). */
int source_step(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err);
int target_step(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err);

/* source.c: on, the source container went into a checkpoint (ferry-runc refuses
 * its restart here); off, it is to run here again. */
int source_departed(struct daemon *d, json_object *pm, int on, ferry_error *err);
/* rollback.c: RollingBack on the source. */
int source_rolling_back(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err);

/* target.c, for the source's rollback into a StatefulSet's new pod. */
int bind_pod_here(struct daemon *d, const char *ns, const char *name, ferry_error *err);
const char *target_failure(json_object *pod);

/* ---------- ops.c: steps as child processes ---------- */

enum op_state { OP_NONE, OP_RUNNING, OP_DONE, OP_DIED };

/* STATE_DIR/ops/UID.STEP.EXT (caller frees). */
char *op_path(struct daemon *d, const char *uid, const char *step, const char *ext);

/* transfer.c: --transfer-key-file read into d->transfer; the key cleansed at
 * exit; the migration's token for STEP (send, receive) written to a root-only
 * file, its path returned (caller frees; NULL and err without the key). */
int transfer_key_load(struct daemon *d, const char *path, ferry_error *err);
void transfer_key_forget(struct daemon *d);
char *transfer_token_file(struct daemon *d, json_object *pm, const char *step, ferry_error *err);
/* How the step stands; *result: its answer when OP_DONE (caller puts). */
enum op_state op_check(struct daemon *d, const char *uid, const char *step, json_object **result);
/* The step's answer is taken: its files go. */
void op_clear(struct daemon *d, const char *uid, const char *step);
int op_start(struct daemon *d, json_object *pm, const char *step, char *const *args, ferry_error *err);
int op_stop(struct daemon *d, json_object *pm, const char *step);
/* An op's small JSON side file (ready); NULL when not there. */
json_object *op_side(struct daemon *d, json_object *pm, const char *step, const char *ext);
pid_t child_pid(struct daemon *d, json_object *pm, const char *step);
/* The answer's exit code is 0. */
int op_ok(enum op_state s, json_object *res);
/* The answer's message, or fallback when the step ended without one. */
const char *op_message(json_object *res, const char *fallback);
void reap(struct daemon *d);
int children_running(const struct daemon *d);
void children_free(struct daemon *d);

/* A step's arguments: how this node stores images, the PodMigration's CRIU options. */
void add_codec(struct daemon *d, char **args, int *n, int writing);
void add_flags(json_object *pm, char **args, int *n);
struct ferry_runc runc_for(struct daemon *d);
/* watchdog.c: the pod of this node whose status names container id, NULL when none. */
json_object *pod_of_container(struct daemon *d, const char *id);
/* usage.c: what each pod of this node uses, from its containers' cgroups:
 * {"NS/NAME": {"cpu": CORES, "memory": BYTES}}, CPU averaged since the last
 * call (absent on a container's first); the sums in *cpu_cores, *memory_bytes. */
json_object *pods_usage(struct daemon *d, double *cpu_cores, double *memory_bytes);

/* ---------- status.c: this node's view of a migration ---------- */

const char *container_id(json_object *pm);
const char *container_name(json_object *pm);
/* The kubelet runs the pod's container through a CRI runtime (containerd://,
 * cri-o://): the runtime owns it; only a runc:// container is the node's runc's alone. */
int container_runtime_owned(json_object *pm);
char *image_name(json_object *pm);
/* The part of an image reference after its last '/'. */
const char *image_base(const char *image);
/* "NAMESPACE/NAME" of the migration (caller frees). */
char *pm_ref(json_object *pm);
int is_postcopy(json_object *pm);
int is_precopy(json_object *pm);
/* "ADDR:0" or "[ADDR]:0": a port of this node's migration address (caller frees). */
char *migration_listen(struct daemon *d);
/* Writes the patch (taken) conditionally. */
/* Live progress of this node's long steps into their migrations' status (progress.c). */
void progress_pass(struct daemon *d);
/* A stage's last progress, as the target's step sees it ended. Transferring:
 * the image received into this node's store (its name there), into the patch
 * that says so (a stage every version of the CRD knows). Verifying:
 * ferry-runc's private copy of the image whole (copy_bytes, from its restore
 * record), written on its own, best effort (nothing when 0 or post-copy);
 * the stored object after it (caller puts), NULL when not written. */
void progress_received_into(struct daemon *d, json_object *pm, json_object *patch, const char *image);
json_object *progress_verified(struct daemon *d, json_object *pm, int64_t copy_bytes);
int write_pm(struct daemon *d, json_object *pm, json_object *patch, ferry_error *err);
void rollback_from(json_object *patch, enum pm_phase from);
void set_container_field(json_object *patch, json_object *pm, const char *key, const char *value);
/* keys: pairs of (the answer's timings key, the status timings key). */
void timings_into(json_object *patch, json_object *pm, json_object *result, const char *const *keys, size_t n);
void format_ms(int64_t ms, char *buf, size_t len);

/* ---------- release.c, watchdog.c: nothing Ferry stopped stays stopped ---------- */

/* Releases the container id (init pid) if a frozen cgroup or a CRIU holds it
 * (an event on involved, a metric). 0: nothing holds it; 1: something did or
 * does (look again on the next pass); -1: it could not be looked at. *why says
 * what held it ("running" when nothing). */
int release_container(struct daemon *d, json_object *involved, const char *id, pid_t pid, char *why, size_t len);
/* Every container of this node that no migration in progress here owns is
 * released; readiness says so while one stays held. */
void watchdog_pass(struct daemon *d);

/* ---------- moves.c: the post-copy threshold from this node's moves ---------- */

/* The kept moves read from the state directory (a bad file is logged, and replaced at the next move). */
void moves_start(struct daemon *d);
/* The memory container id uses now (bytes), 0 when it cannot be read (logged). */
int64_t moves_container_memory(struct daemon *d, const char *id);
/* A migration of this source that Succeeded: its move is kept (once). */
void moves_learn(struct daemon *d, json_object *pm);
/* The Lease annotations' values (caller frees): the threshold, and "ok" or why
 * this node cannot post-copy. */
char *moves_threshold_annotation(struct daemon *d);
char *moves_postcopy_support(void);

/* ---------- gc.c, space.c: the store and the admission directory kept tidy ---------- */

int gc_start(struct daemon *d, ferry_error *err);
void gc_stop(struct daemon *d);
/* Removes the images and records nothing needs any more (logged, counted, evented). */
void gc_pass(struct daemon *d);
/* --store-min-free: bytes (a quantity) or N% of the store's size. */
int store_min_free_option(struct daemon *d, const char *arg, ferry_error *err);
/* Measures the store's free space (d->space, the metric); -1 when it cannot. */
int store_space_refresh(struct daemon *d);
/* 1 (why filled) when a checkpoint of need bytes would leave the store below --store-min-free. */
int store_refuses(struct daemon *d, int64_t need, char *why, size_t len);
/* The Lease's ferry.dev/store annotation (caller frees), NULL when the store cannot be measured. */
char *store_annotation(struct daemon *d);

/* ---------- dumpable.c: what this node's CRIU can dump ---------- */

/* The versions and the capability, found once per process (logged) by the
 * first of these to need them. */
/* The Lease's ferry.dev/node-check annotation (caller frees), post-copy's
 * verdict from its ferry.dev/postcopy-support value ("ok" or why not):
 * {"criu":V,"runc":V,"strategies":{"stopAndCopy":{"ok":B},"postCopy":{"ok":B,"reason":R}},
 *  "nonRootContainers":{"ok":B,"reason":R}}, a reason only where ok is false. */
char *node_check_annotation(struct daemon *d, const char *postcopy_support);
/* The same from a check and post-copy's finding (NULL: it works). */
char *node_check_json(const struct node_check *nc, const char *postcopy_why);

/* A process's name and real, effective and saved uids and gids. */
struct proc_creds {
  char name[64];
  uid_t uid[3];
  gid_t gid[3];
};
/* From a /proc/PID/status text; -1 when it has no Uid or Gid line. */
int proc_creds_parse(const char *status, struct proc_creds *c);
/* 1 (what: "uid N" or "gid N") when CRIU, run with real uid ruid and gid rgid,
 * needs CAP_SYS_RESOURCE to read the process's rlimits (prlimit(2)). */
int creds_need_sys_resource(const struct proc_creds *c, uid_t ruid, gid_t rgid, char *what, size_t len);
/* 1 (why filled, for the user) when this node's CRIU cannot dump a process of
 * container id (cname: its name in the pod): every process of its cgroup, else
 * its init process; 0 when it can, or when it cannot be told (the dump will say). */
int container_undumpable(struct daemon *d, const char *id, const char *cname, char *why, size_t len);

/* ---------- node.c: the node ---------- */

int renew_lease(struct daemon *d, ferry_error *err);
char *node_internal_ip(struct daemon *d);

#endif
