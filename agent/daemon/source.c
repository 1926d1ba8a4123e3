/* SPDX-License-Identifier: Apache-2.0 */
/* The source node's part of a migration:
 *
 *   Scheduled -> Checkpointing (child: checkpoint) -> Transferring
 *   (direct transfer: child: send, once the target listens; post-copy: the
 *   checkpoint step serves the memory until the target has every page)
 *   RollingBack -> rollback.c
 *
 * Before the freeze the container is recorded as departed, so ferry-runc
 * refuses the kubelet's restart of it; a rollback removes that.
 *
 * A whole image's source is held when it can be (SourceHeld): paused and
 * whole, not killed by the dump, so that a rollback resumes it instead of
 * restoring it from the image (which may be damaged or gone by then). It is
 * killed once the target runs (SourceReleased), before the move ends. A
 * StatefulSet's pod is not held: it is deleted for its replacement. */
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "api/admission.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "kube/kube.h"
#include "metrics.h"
#include "runtime/criu.h"

/* The source pod's UID and container name, for the departed record. */
static int source_pod(struct daemon *d, json_object *pm, const char **uid, const char **cname, ferry_error *err)
{
  json_object *pod =
      ferry_informer_get(d->pods, ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "spec.pod") ?: "");
  *cname = container_name(pm);
  *uid = pod ? ferry_kube_str(pod, "metadata.uid") : NULL;
  if (!*uid || !*cname)
    return ferry_error_set(err, ENOENT, "the source pod %s (or its container) is not among this node's pods",
                           ferry_kube_str(pm, "spec.pod") ?: "");
  return 0;
}

/* on: the source container went into a checkpoint; off: it is to run here again. */
int source_departed(struct daemon *d, json_object *pm, int on, ferry_error *err)
{
  const char *uid, *cname;
  if (source_pod(d, pm, &uid, &cname, err) < 0) {
    if (!on) { /* the pod is gone: so is any restart of it */
      ferry_error_clear(err);
      return 0;
    }
    return -1;
  }
  cleanup_free char *ref = pm_ref(pm);
  return on ? ferry_departed_write(d->admission_dir, uid, cname, ref, err)
            : ferry_departed_remove(d->admission_dir, uid, cname, err);
}

/* Ended: the container runs here again (or is lost: then the kubelet may start
 * it afresh); a failed restore through the runtime is forgotten. */
static int source_leftovers(struct daemon *d, json_object *pm, ferry_error *err)
{
  const char *cname = container_name(pm);
  if (cname && ferry_restore_failed_remove(d->admission_dir, ferry_kube_str(pm, "metadata.namespace"),
                                           ferry_kube_str(pm, "spec.pod") ?: "", cname, err) < 0)
    log_warn("%s", ferry_error_msg(err));
  ferry_error_clear(err);
  return source_departed(d, pm, 0, err);
}

/* ---------- the checkpoint ---------- */

/* Post-copy: the step serves the memory on listen once frozen, and says so in ready. */
static void add_postcopy(struct daemon *d, char **args, int *n, char *listen, char *ready)
{
  args[(*n)++] = "--strategy";
  args[(*n)++] = "postCopy";
  args[(*n)++] = "--page-server";
  args[(*n)++] = listen;
  args[(*n)++] = "--ready-file";
  args[(*n)++] = ready;
  args[(*n)++] = "--timeout";
  args[(*n)++] = STEP_PAGES_TIMEOUT_S;
  if (d->bandwidth) {
    args[(*n)++] = "--bandwidth";
    args[(*n)++] = (char *)d->bandwidth;
  }
}

/* Whether the source container can stay paused and whole until the target
 * runs: a whole image (post-copy's CRIU holds it anyway) whose pod stays until
 * the move ends (a StatefulSet's pod is deleted for its replacement, and the
 * kubelet would resume it to stop it). The checkpoint step has the last word. */
static int holds_source(json_object *pm)
{
  return !is_postcopy(pm) && strcmp(ferry_kube_str(pm, "status.owner.kind") ?: "", "StatefulSet") != 0;
}

/* The container's bundle in the status before the freeze: should the checkpoint
 * step die after the dump, which ends the container and has runc remove it,
 * the step that finishes the image reads the container there. */
static void record_bundle(struct daemon *d, json_object *pm, const char *id, json_object *patch)
{
  struct ferry_runc r = runc_for(d);
  struct ferry_runc_state st;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_runc_state(&r, id, &st, &err) < 0) {
    log_warn("%s: %s", ferry_kube_str(pm, "metadata.name"), ferry_error_msg(&err)); /* the step says more */
    return;
  }
  if (st.bundle)
    set_container_field(patch, pm, "bundle", st.bundle);
  ferry_runc_state_free(&st);
}

/* The store has too little room for the image: refused before anything is
 * frozen (Failed: the pod runs on as it was). */
static int store_full(struct daemon *d, json_object *pm, const char *why, ferry_error *err)
{
  log_warn("%s: not checkpointed: %s", ferry_kube_str(pm, "metadata.name"), why);
  metrics_count(d->m, "source", "refused");
  ferry_event(d->rec, pm, "Warning", "StoreFull", "%s (the pod keeps running there)", why);
  return write_pm(d, pm, pm_status_patch(PM_FAILED, "StoreFull", "%s", why), err);
}

/* The node's CRIU cannot dump the container (dumpable.c): refused before
 * anything is frozen (Failed: the pod runs on as it was). */
static int cannot_checkpoint(struct daemon *d, json_object *pm, const char *why, ferry_error *err)
{
  log_warn("%s: not checkpointed: %s", ferry_kube_str(pm, "metadata.name"), why);
  metrics_count(d->m, "source", "refused");
  ferry_event(d->rec, pm, "Warning", "CannotCheckpoint", "%s (the pod keeps running there)", why);
  return write_pm(d, pm, pm_status_patch(PM_FAILED, "CannotCheckpoint", "%s", why), err);
}

static int source_checkpoint(struct daemon *d, json_object *pm, ferry_error *err)
{
  const char *id = container_id(pm);
  if (!id || !*id) {
    json_object *p = pm_status_patch(PM_FAILED, "NoContainer", "the pod's container ID is unknown");
    return write_pm(d, pm, p, err);
  }
  int64_t memory = moves_container_memory(d, id); /* what this move learns the downtime of, and the image's size */
  char full[400];
  if (store_refuses(d, memory, full, sizeof full))
    return store_full(d, pm, full, err);
  char undumpable[512];
  if (container_undumpable(d, id, container_name(pm), undumpable, sizeof undumpable))
    return cannot_checkpoint(d, pm, undumpable, err);
  json_object *patch =
      pm_status_patch(PM_CHECKPOINTING, "Checkpointing", "checkpointing container %s on %s", id, d->g->node);
  if (memory > 0)
    pm_patch_set(patch, "memoryBytes", json_object_new_int64(memory));
  record_bundle(d, pm, id, patch);
  if (write_pm(d, pm, patch, err) < 0)
    return -1;
  if (source_departed(d, pm, 1, err) < 0) /* before the freeze: the kubelet must not restart it here */
    return -1;
  if (is_postcopy(pm) && !d->migration_address) {
    json_object *p = pm_status_patch(PM_FAILED, "NoMigrationAddress",
                                     "postCopy: node %s has no address to serve "
                                     "memory on (no InternalIP; set the agent's --migration-address)",
                                     d->g->node);
    source_departed(d, pm, 0, err);
    return write_pm(d, pm, p, err);
  }
  cleanup_free char *name = image_name(pm);
  cleanup_free char *listen = NULL;
  cleanup_free char *ready = NULL;
  char *args[40];
  int n = 0;
  args[n++] = "checkpoint";
  args[n++] = "--root";
  args[n++] = (char *)d->runc_root;
  args[n++] = "--store";
  args[n++] = (char *)d->store;
  args[n++] = "--image";
  args[n++] = name;
  add_flags(pm, args, &n);
  add_codec(d, args, &n, 1);
  if (holds_source(pm))
    args[n++] = "--hold";
  if (is_precopy(pm)) {
    args[n++] = "--strategy";
    args[n++] = "preCopy";
  } else if (is_postcopy(pm)) {
    listen = migration_listen(d);
    ready = op_path(d, ferry_kube_str(pm, "metadata.uid"), "checkpoint", "ready");
    unlink(ready);
    add_postcopy(d, args, &n, listen, ready);
  }
  args[n++] = (char *)id;
  args[n] = NULL;
  return op_start(d, pm, "checkpoint", args, err);
}

/* The checkpoint step's answer, when it succeeded: the image published, Transferring. */
static json_object *checkpointed_patch(struct daemon *d, json_object *pm, json_object *res)
{
  cleanup_free char *image = ferry_asprintf(
      "%s/%s", d->store, ferry_kube_str(res, "image") ? strrchr(ferry_kube_str(res, "image"), '/') + 1 : "");
  char when[48];
  format_ms(json_object_get_int64(ferry_kube_obj(res, "frozenAtMs")), when, sizeof when);
  json_object *patch = pm_status_patch(PM_TRANSFERRING, "Checkpointed", "image %s published", image);
  pm_patch_set(patch, "image", json_object_new_string(image));
  if (ferry_kube_str(res, "imageDigest"))
    pm_patch_set(patch, "imageDigest", json_object_new_string(ferry_kube_str(res, "imageDigest")));
  pm_patch_set(patch, "bytes", json_object_new_int64(json_object_get_int64(ferry_kube_obj(res, "bytes"))));
  pm_patch_set(patch, "frozenAt", json_object_new_string(when));
  static const char *const keys[] = { "dumpMs", "dump", "rootfsMs", "rootfs", "writeMs", "write" };
  timings_into(patch, pm, res, keys, 6);
  if (ferry_kube_str(res, "bundle"))
    set_container_field(patch, pm, "bundle", ferry_kube_str(res, "bundle"));
  set_container_field(patch, pm, "runtimeRoot", d->runc_root);
  if (ferry_kube_str(res, "strategy"))
    pm_patch_set(patch, "strategy", json_object_new_string(ferry_kube_str(res, "strategy")));
  if (ferry_kube_str(res, "strategyNote")) {
    pm_patch_set(patch, "strategyNote", json_object_new_string(ferry_kube_str(res, "strategyNote")));
    ferry_event(d->rec, pm, "Warning", "StrategyFallback", "%s", ferry_kube_str(res, "strategyNote"));
  }
  if (ferry_kube_str(res, "pageServer"))
    pm_patch_set(patch, "pageServer", json_object_new_string(ferry_kube_str(res, "pageServer")));
  json_object *bm = ferry_kube_obj(res, "bytesMoved");
  if (bm)
    pm_patch_set(patch, "bytesMoved", json_object_get(bm));
  if (json_object_get_boolean(ferry_kube_obj(res, "held")))
    pm_patch_condition(patch, pm, "SourceHeld", 1, "Paused",
                       "the source container stays paused and whole until the target runs; a rollback resumes it");
  metrics_count(d->m, "source", "checkpointed");
  metrics_observe_bytes(d->m, (double)json_object_get_int64(ferry_kube_obj(res, "bytes")));
  ferry_event(d->rec, pm, "Normal", "Checkpointed", "%s: frozen and saved, %lld bytes (dump %lld ms)", d->g->node,
              (long long)json_object_get_int64(ferry_kube_obj(res, "bytes")),
              (long long)json_object_get_int64(ferry_kube_obj(ferry_kube_obj(res, "timings"), "dumpMs")));
  return patch;
}

/* res: the checkpoint step's answer; ready: it is post-copy's first answer (the
 * step goes on serving memory, so it is not cleared). */
static int source_checkpoint_done(struct daemon *d, json_object *pm, json_object *res, int ready, ferry_error *err)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid");
  int code = json_object_get_int(ferry_kube_obj(res, "exitCode"));
  const char *msg = ferry_kube_str(res, "message") ?: "";
  json_object *patch;
  if (code == 0) {
    patch = checkpointed_patch(d, pm, res);
  } else if (code == 1) { /* the engine's promise: nothing changed, the container runs */
    patch = pm_status_patch(PM_FAILED, "CheckpointFailed", "%s", msg);
    metrics_count(d->m, "source", "failed");
    ferry_event(d->rec, pm, "Warning", "CheckpointFailed", "%s: %s (the pod keeps running there)", d->g->node, msg);
  } else {
    patch = pm_status_patch(PM_ROLLING_BACK, "CheckpointFailed", "%s", msg);
    rollback_from(patch, PM_CHECKPOINTING);
    ferry_event(d->rec, pm, "Warning", "CheckpointFailed", "%s: %s", d->g->node, msg);
  }
  if (write_pm(d, pm, patch, err) < 0)
    return -1;
  if (!ready)
    op_clear(d, uid, "checkpoint");
  return 0;
}

/* The bundle the status recorded before the freeze (NULL: none). */
static const char *recorded_bundle(json_object *pm)
{
  json_object *cs = ferry_kube_obj(ferry_kube_obj(pm, "status"), "containers");
  return cs && json_object_array_length(cs) ? ferry_kube_str(json_object_array_get_idx(cs, 0), "bundle") : NULL;
}

/* The source container as runc sees it (CONTAINER_UNKNOWN: runc could not say, err set). */
enum container_state { CONTAINER_GONE, CONTAINER_STOPPED, CONTAINER_ALIVE /* running or paused */, CONTAINER_UNKNOWN };
static enum container_state container_state(struct daemon *d, const char *id, ferry_error *err)
{
  struct ferry_runc r = runc_for(d);
  struct ferry_runc_state st;
  if (ferry_runc_state(&r, id, &st, err) < 0) {
    if (err->errnum != ENOENT)
      return CONTAINER_UNKNOWN;
    ferry_error_clear(err);
    return CONTAINER_GONE;
  }
  enum container_state s = st.status && (!strcmp(st.status, "running") || !strcmp(st.status, "paused"))
                               ? CONTAINER_ALIVE
                               : CONTAINER_STOPPED;
  ferry_runc_state_free(&st);
  return s;
}

/* 1 when the source container is stopped (a whole dump ends it) or gone (runc
 * removes it after the dump, the bundle recorded), 0 when not or when runc cannot say. */
static int source_stopped(struct daemon *d, json_object *pm)
{
  const char *id = container_id(pm);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  enum container_state s = id ? container_state(d, id, &err) : CONTAINER_UNKNOWN;
  return s == CONTAINER_STOPPED || (s == CONTAINER_GONE && recorded_bundle(pm));
}

/* The step that finishes the image of the dead step's dump. */
static int start_finish(struct daemon *d, json_object *pm, ferry_error *err)
{
  cleanup_free char *name = image_name(pm);
  char *args[24] = { "checkpoint", "--finish",       "--root",  (char *)d->runc_root,
                     "--store",    (char *)d->store, "--image", name };
  int n = 8;
  if (recorded_bundle(pm)) {
    args[n++] = "--bundle";
    args[n++] = (char *)recorded_bundle(pm);
  }
  add_codec(d, args, &n, 1);
  args[n++] = (char *)container_id(pm);
  args[n] = NULL;
  log_warn("%s: the checkpoint step on %s ended without an answer after its dump stopped the container: finishing "
           "the image",
           ferry_kube_str(pm, "metadata.name"), d->g->node);
  ferry_event(d->rec, pm, "Warning", "CheckpointInterrupted",
              "the checkpoint step on %s ended after its dump stopped the container; finishing the image from the dump",
              d->g->node);
  return op_start(d, pm, "finish", args, err);
}

/* The checkpoint step died with no answer. After a whole dump (the container
 * stopped), the dump is the workload: a step finishes its image and the move
 * goes on (its answer is the checkpoint's). Else, or when that fails too, the
 * rollback makes sure the pod runs here. */
static int source_checkpoint_died(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid");
  cleanup_json json_object *res = NULL;
  enum op_state f = op_check(d, uid, "finish", &res);
  if (f == OP_RUNNING) {
    *requeue_ms = REQUEUE_CHILD_POLL_MS;
    return 0;
  }
  if (f == OP_DONE) {
    if (source_checkpoint_done(d, pm, res, 0, err) < 0)
      return -1;
    op_clear(d, uid, "finish");
    return 0;
  }
  if (f == OP_NONE && !is_postcopy(pm) && source_stopped(d, pm)) {
    *requeue_ms = REQUEUE_CHILD_POLL_MS;
    return start_finish(d, pm, err);
  }
  json_object *patch = pm_status_patch(PM_ROLLING_BACK, "CheckpointInterrupted",
                                       "the checkpoint on %s ended without an answer", d->g->node);
  rollback_from(patch, PM_CHECKPOINTING);
  ferry_event(d->rec, pm, "Warning", "CheckpointInterrupted",
              "the checkpoint on %s ended without an answer; rolling back", d->g->node);
  if (write_pm(d, pm, patch, err) < 0)
    return -1;
  op_clear(d, uid, "checkpoint");
  op_clear(d, uid, "finish");
  return 0;
}

/* Checkpointing: the step runs (post-copy: frozen and serving once its first
 * answer is there), answered, or died. */
static int source_checkpointing(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid");
  cleanup_json json_object *res = NULL;
  enum op_state s = op_check(d, uid, "checkpoint", &res);
  if (s == OP_RUNNING && is_postcopy(pm)) {
    cleanup_json json_object *r = op_side(d, pm, "checkpoint", "ready");
    int rc = 0;
    if (r)
      rc = source_checkpoint_done(d, pm, r, 1, err);
    *requeue_ms = REQUEUE_CHILD_POLL_MS;
    return rc;
  }
  if (s == OP_RUNNING) {
    *requeue_ms = REQUEUE_CHILD_POLL_MS;
    return 0;
  }
  if (s == OP_DONE)
    return source_checkpoint_done(d, pm, res, 0, err);
  return source_checkpoint_died(d, pm, requeue_ms, err); /* (or never started) */
}

/* ---------- after the freeze: the image or the memory leaves ---------- */

/* Post-copy: the checkpoint step died (with its agent) after the target had
 * every page. The target's copy is the workload now; the source's (its CRIU
 * gone, so maybe running again from the freeze) is stale: killed, and never
 * started again here (its departed record stays). */
static int source_stale(struct daemon *d, json_object *pm, ferry_error *err)
{
  const char *id = container_id(pm), *uid = ferry_kube_str(pm, "metadata.uid");
  struct ferry_runc r = runc_for(d);
  struct ferry_runc_state st;
  if (id && ferry_runc_kill(&r, id, "KILL", err) < 0) {
    if (ferry_runc_state(&r, id, &st, err) == 0) { /* still there: it could not be killed */
      ferry_runc_state_free(&st);
      return ferry_error_prefix(err, "stopping the stale source container %s", id);
    }
    ferry_error_clear(err);
  }
  json_object *patch = pm_status_patch(PM_NONE, NULL, NULL);
  pm_patch_condition(patch, pm, "SourceReleased", 1, "PagesSent",
                     "every page had arrived when the checkpoint step ended without an answer; the source copy was "
                     "stopped");
  ferry_event(d->rec, pm, "Normal", "SourceReleased",
              "%s: every page had arrived at the target; the source copy was stopped", d->g->node);
  if (write_pm(d, pm, patch, err) < 0)
    return -1;
  op_clear(d, uid, "checkpoint");
  return 0;
}

/* Post-copy after the freeze: the checkpoint step serves the memory until the
 * last page went. Its end: every page sent (the container is gone from here), or
 * the transfer failed (CRIU thawed the container: roll back). */
static int source_serving(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid");
  cleanup_json json_object *res = NULL;
  enum op_state s = op_check(d, uid, "checkpoint", &res);
  if (s == OP_RUNNING && pm_condition_true(pm, "MemoryTransferred")) {
    /* the target has every page: the step lets CRIU release the source */
    pid_t pid = child_pid(d, pm, "checkpoint");
    if (pid > 0 && kill(pid, SIGUSR1) < 0)
      log_warn("%s: telling the checkpoint step that every page arrived: %m", ferry_kube_str(pm, "metadata.name"));
  }
  if (s == OP_RUNNING || s == OP_NONE) {
    *requeue_ms = s == OP_RUNNING ? REQUEUE_CHILD_POLL_MS : 0;
    return 0;
  }
  if (s == OP_DIED && pm_condition_true(pm, "MemoryTransferred"))
    return source_stale(d, pm, err);
  int code = s == OP_DONE ? json_object_get_int(ferry_kube_obj(res, "exitCode")) : -1;
  const char *msg = op_message(res, "the checkpoint step ended without an answer");
  json_object *patch;
  if (code == 0) {
    patch = pm_status_patch(PM_NONE, NULL, NULL);
    json_object *bm = NULL, *old = ferry_kube_obj(ferry_kube_obj(pm, "status"), "bytesMoved");
    if (old)
      json_object_deep_copy(old, &bm, NULL);
    else
      bm = json_object_new_object();
    json_object_object_add(bm, "afterRestore",
                           json_object_new_int64(json_object_get_int64(
                               ferry_kube_obj(ferry_kube_obj(res, "bytesMoved"), "afterRestore"))));
    pm_patch_set(patch, "bytesMoved", bm);
    pm_patch_condition(patch, pm, "SourceReleased", 1, "PagesSent", msg);
    ferry_event(d->rec, pm, "Normal", "SourceReleased", "%s: %s", d->g->node, msg);
  } else {
    patch = pm_status_patch(PM_ROLLING_BACK, "PagesFailed", "post-copy: %s", msg);
    rollback_from(patch, pm_phase(pm));
    ferry_event(d->rec, pm, "Warning", "PagesFailed", "%s: %s", d->g->node, msg);
  }
  if (write_pm(d, pm, patch, err) < 0)
    return -1;
  op_clear(d, uid, "checkpoint");
  return 0;
}

/* A held source once the target runs (Restored): killed, then SourceReleased,
 * which the controller waits for before the move ends (and the kubelet,
 * stopping the pod, would resume it first). */
#define HELD_KILL_WAIT_MS 1000 /* how long a killed held source is waited for before the next pass */
#define HELD_KILL_POLL_MS 20

/* The held source container: 1 running or paused, 0 stopped or gone, -1 error. */
static int held_alive(struct daemon *d, const char *id, ferry_error *err)
{
  enum container_state s = container_state(d, id, err);
  if (s == CONTAINER_UNKNOWN)
    return ferry_error_prefix(err, "the held source container %s", id);
  return s == CONTAINER_ALIVE;
}

/* SIGKILL to the held (frozen) container, which ends it at once: 1 once runc
 * says it stopped (looked at for up to HELD_KILL_WAIT_MS), 0 when not yet. */
static int kill_held(struct daemon *d, const char *id, ferry_error *err)
{
  struct ferry_runc r = runc_for(d);
  if (ferry_runc_kill(&r, id, "KILL", err) < 0)
    return ferry_error_prefix(err, "stopping the held source container %s", id);
  for (int waited = 0; waited < HELD_KILL_WAIT_MS; waited += HELD_KILL_POLL_MS) {
    int alive = held_alive(d, id, err);
    if (alive <= 0)
      return alive < 0 ? -1 : 1;
    usleep(HELD_KILL_POLL_MS * 1000);
  }
  return 0;
}

static int source_release_held(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  if (!pm_condition_true(pm, "SourceHeld") || pm_condition_true(pm, "SourceReleased") ||
      !pm_condition_true(pm, "Restored"))
    return 0;
  const char *id = container_id(pm);
  int alive = id ? held_alive(d, id, err) : 0;
  if (alive > 0) {
    int stopped = kill_held(d, id, err);
    if (stopped < 0)
      return -1;
    alive = !stopped;
  }
  if (alive < 0)
    return -1;
  if (alive) {
    *requeue_ms = REQUEUE_CHILD_POLL_MS; /* released once runc says it stopped */
    return 0;
  }
  json_object *patch = pm_status_patch(PM_NONE, NULL, NULL);
  pm_patch_condition(patch, pm, "SourceReleased", 1, "Stopped",
                     "the held source container was stopped: the target runs");
  ferry_event(d->rec, pm, "Normal", "SourceReleased", "%s: the held source container was stopped: the target runs",
              d->g->node);
  log_info("%s: the held source container %s is stopped: the target runs", ferry_kube_str(pm, "metadata.name"),
           id ? id : "?");
  return write_pm(d, pm, patch, err);
}

/* The source's half of a direct transfer, once the target listens. */
static int source_send(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid"), *image = ferry_kube_str(pm, "status.image") ?: "";
  const char *to = ferry_kube_str(pm, "status.transfer.address");
  cleanup_json json_object *res = NULL;
  enum op_state s = op_check(d, uid, "send", &res);
  int rc = 0;
  *requeue_ms = REQUEUE_CHILD_POLL_MS;
  if (s == OP_NONE && to && !strncmp(image, d->store, strlen(d->store))) {
    cleanup_error ferry_error e2 = FERRY_ERROR_INIT;
    cleanup_free char *tf = transfer_token_file(d, pm, "send", &e2);
    if (!tf && pm_phase(pm) == PM_TRANSFERRING) {
      json_object *p = pm_status_patch(PM_ROLLING_BACK, "NoTransferKey", "sending the image: %s", ferry_error_msg(&e2));
      rollback_from(p, PM_TRANSFERRING);
      return write_pm(d, pm, p, err);
    }
    if (tf) {
      char *args[16] = { "send",
                         "--store",
                         (char *)d->store,
                         "--image",
                         (char *)image_base(image),
                         "--to",
                         (char *)to,
                         "--token-file",
                         tf,
                         "--timeout",
                         STEP_TRANSFER_TIMEOUT_S };
      int n = 11;
      if (d->bandwidth) {
        args[n++] = "--bandwidth";
        args[n++] = (char *)d->bandwidth;
      }
      args[n] = NULL;
      rc = op_start(d, pm, "send", args, err);
    }
  } else if (s == OP_DONE || s == OP_DIED) {
    const char *msg = op_message(res, "the send step ended without an answer");
    if (op_ok(s, res)) {
      ferry_event(d->rec, pm, "Normal", "Sent", "%s: %s", d->g->node, msg);
    } else if (pm_phase(pm) == PM_TRANSFERRING) {
      json_object *p =
          pm_status_patch(PM_ROLLING_BACK, "TransferFailed", "sending the image from %s: %s", d->g->node, msg);
      rollback_from(p, PM_TRANSFERRING);
      ferry_event(d->rec, pm, "Warning", "TransferFailed", "%s: %s", d->g->node, msg);
      rc = write_pm(d, pm, p, err);
    }
    if (rc == 0)
      op_clear(d, uid, "send");
  }
  return rc;
}

int source_step(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  enum pm_phase phase = pm_phase(pm);
  if (phase == PM_SCHEDULED) {
    if (ferry_kube_obj(ferry_kube_obj(pm, "metadata"), "deletionTimestamp"))
      return 0; /* cancelled: the controller ends it */
    *requeue_ms = REQUEUE_CHILD_POLL_MS;
    return source_checkpoint(d, pm, err);
  }
  if (phase == PM_CHECKPOINTING)
    return source_checkpointing(d, pm, requeue_ms, err);
  if (phase == PM_RESTORING && pm_condition_true(pm, "SourceHeld") && source_release_held(d, pm, requeue_ms, err) < 0)
    return -1;
  if ((phase == PM_TRANSFERRING || phase == PM_RESTORING) && !is_postcopy(pm) &&
      ferry_kube_str(pm, "status.transfer.address"))
    return source_send(d, pm, requeue_ms, err);
  if ((phase == PM_TRANSFERRING || phase == PM_RESTORING) && is_postcopy(pm) &&
      !pm_condition_true(pm, "SourceReleased"))
    return source_serving(d, pm, requeue_ms, err);
  if (phase == PM_ROLLING_BACK)
    return source_rolling_back(d, pm, requeue_ms, err);
  if (phase == PM_ROLLED_BACK || phase == PM_FAILED)
    return source_leftovers(d, pm, err);
  if (phase == PM_SUCCEEDED)
    moves_learn(d, pm);
  return 0;
}
