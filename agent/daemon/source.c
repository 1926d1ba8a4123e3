/* SPDX-License-Identifier: Apache-2.0 */
/* The source node's part of a migration:
 *
 *   Scheduled -> Checkpointing (child: checkpoint) -> Transferring
 *   (direct transfer: child: send, once the target listens; post-copy: the
 *   checkpoint step serves the memory until the target has every page)
 *   RollingBack -> (container running? unlock; else child: restore here) -> RolledBack
 *
 * Before the freeze the container is recorded as departed, so ferry-runc
 * refuses the kubelet's restart of it; a rollback removes that. */
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
static int departed(struct daemon *d, json_object *pm, int on, ferry_error *err)
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

static int source_checkpoint(struct daemon *d, json_object *pm, ferry_error *err)
{
  const char *id = container_id(pm);
  if (!id || !*id) {
    json_object *p = pm_status_patch(PM_FAILED, "NoContainer", "the pod's container ID is unknown");
    return write_pm(d, pm, p, err);
  }
  json_object *patch =
      pm_status_patch(PM_CHECKPOINTING, "Checkpointing", "checkpointing container %s on %s", id, d->g->node);
  if (write_pm(d, pm, patch, err) < 0)
    return -1;
  if (departed(d, pm, 1, err) < 0) /* before the freeze: the kubelet must not restart it here */
    return -1;
  if (is_postcopy(pm) && !d->migration_address) {
    json_object *p = pm_status_patch(PM_FAILED, "NoMigrationAddress",
                                     "postCopy: node %s has no address to serve "
                                     "memory on (no InternalIP; set the agent's --migration-address)",
                                     d->g->node);
    departed(d, pm, 0, err);
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
  /* the checkpoint died with no answer (or never started): make sure the pod runs here */
  json_object *patch = pm_status_patch(PM_ROLLING_BACK, "CheckpointInterrupted",
                                       "the checkpoint on %s ended without an answer", d->g->node);
  rollback_from(patch, PM_CHECKPOINTING);
  ferry_event(d->rec, pm, "Warning", "CheckpointInterrupted",
              "the checkpoint on %s ended without an answer; rolling back", d->g->node);
  if (write_pm(d, pm, patch, err) < 0)
    return -1;
  op_clear(d, uid, "checkpoint");
  return 0;
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

/* The source's half of a direct transfer, once the target listens. */
static int source_send(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid"), *image = ferry_kube_str(pm, "status.image") ?: "";
  const char *to = ferry_kube_str(pm, "status.transfer.address"), *token = ferry_kube_str(pm, "status.transfer.token");
  cleanup_json json_object *res = NULL;
  enum op_state s = op_check(d, uid, "send", &res);
  int rc = 0;
  *requeue_ms = REQUEUE_CHILD_POLL_MS;
  if (s == OP_NONE && to && token && !strncmp(image, d->store, strlen(d->store))) {
    cleanup_free char *tf = op_path(d, uid, "send", "token");
    rc = ferry_write_file(tf, token, strlen(token), err);
    if (rc == 0) {
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

/* ---------- the rollback ---------- */

/* The source container's state: 1 running (or paused, resumed now), 0 gone, -1 error. */
/* The source container: 1 running (a pause resumed, CRIU's network lock
 * removed), 2 running but held stopped (release.c released what it could:
 * look again), 0 gone, -1 error. A rollback is true only at 1. */
static int source_running(struct daemon *d, json_object *pm, const char *id, ferry_error *err)
{
  struct ferry_runc r = runc_for(d);
  struct ferry_runc_state st;
  memset(&st, 0, sizeof st);
  if (ferry_runc_state(&r, id, &st, err) < 0) {
    if (err->errnum == ENOENT) {
      ferry_error_clear(err);
      return 0;
    }
    return -1;
  }
  int running = st.status && (!strcmp(st.status, "running") || !strcmp(st.status, "paused"));
  if (running && !strcmp(st.status, "paused") && ferry_runc_resume(&r, id, err) < 0) {
    ferry_runc_state_free(&st);
    return -1;
  }
  char why[256];
  if (running && release_container(d, pm, id, st.pid, why, sizeof why) != 0) {
    log_info("%s: container %s is not released yet: %s", ferry_kube_str(pm, "metadata.name"), id, why);
    running = 2;
  }
  if (running == 1) { /* a dump cut short leaves CRIU's network lock behind */
    cleanup_free char *netns = ferry_asprintf("/proc/%d/ns/net", (int)st.pid);
    int was = 0;
    if (ferry_criu_netns_unlock(netns, &was, err) < 0)
      log_warn("unlocking %s: %s", netns, ferry_error_msg(err));
    else if (was)
      log_info("removed CRIU's network lock from container %s", id);
    ferry_error_clear(err);
  }
  ferry_runc_state_free(&st);
  return running;
}

/* The StatefulSet's new pod has no node yet: admitted for ferry-runc, bound here. */
static int admit_new_pod(struct daemon *d, json_object *pm, const char *ref, ferry_error *err)
{
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *name = ferry_kube_str(pm, "spec.pod") ?: "";
  const char *cname = container_name(pm), *image = ferry_kube_str(pm, "status.image") ?: "";
  size_t sl = strlen(d->store);
  struct ferry_admission a = { .pod_migration = (char *)ref,
                               .store = (char *)d->store,
                               .image = (char *)image + (strncmp(image, d->store, sl) ? 0 : sl + 1) };
  if (!cname || ferry_admission_write(d->admission_dir, ns, name, cname, &a, err) < 0 ||
      bind_pod_here(d, ns, name, err) < 0)
    return -1;
  log_info("%s: restoring into the statefulset's new pod %s here", ferry_kube_str(pm, "metadata.name"), name);
  return 0;
}

/* The StatefulSet's new pod is bound here: it runs (rolled back) or the kubelet gave up (lost). */
static int new_pod_outcome(struct daemon *d, json_object *pm, json_object *pod, ferry_error *err)
{
  const char *name = ferry_kube_str(pm, "spec.pod") ?: "";
  json_object *pcs = ferry_kube_obj(ferry_kube_obj(pod, "status"), "containerStatuses");
  json_object *c0 = pcs && json_object_array_length(pcs) ? json_object_array_get_idx(pcs, 0) : NULL;
  const char *why = target_failure(pod);
  if (c0 && ferry_kube_obj(ferry_kube_obj(c0, "state"), "running")) {
    metrics_count(d->m, "source", "rolled_back");
    ferry_event(d->rec, pm, "Normal", "RolledBack", "restored on %s into the statefulset's pod %s", d->g->node, name);
    return write_pm(
        d, pm, pm_status_patch(PM_ROLLED_BACK, "RolledBack", "running again on %s as a new pod %s", d->g->node, name),
        err);
  }
  if (why) {
    metrics_count(d->m, "source", "lost");
    ferry_event(d->rec, pm, "Warning", "WorkloadLost", "the rollback into %s on %s failed: %s", name, d->g->node, why);
    return write_pm(d, pm, pm_status_patch(PM_FAILED, "WorkloadLost", "rollback on %s failed: %s", d->g->node, why),
                    err);
  }
  return 0;
}

/* A StatefulSet's source pod was deleted to make way for its replacement: the
 * rollback restores the image into the pod the StatefulSet makes again, here
 * (admitted for ferry-runc, bound to this node). Returns 2 when the original
 * pod is still there (the rollback is in place, as for any pod). */
static int rollback_into_new_pod(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *name = ferry_kube_str(pm, "spec.pod") ?: "";
  cleanup_json json_object *pod = NULL;
  struct ferry_kube_status st = { 0 };
  *requeue_ms = REQUEUE_NEW_POD_MS;
  if (ferry_kube_get(d->kube, &FERRY_KUBE_PODS, ns, name, &pod, &st, err) < 0) {
    if (st.code != 404)
      return -1;
    ferry_error_clear(err);
    return 0; /* the StatefulSet makes it again */
  }
  const char *uid = ferry_kube_str(pod, "metadata.uid") ?: "", *node = ferry_kube_str(pod, "spec.nodeName");
  json_object *ann =
      ferry_kube_key(ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "annotations"), FERRY_ANN_RESTORE_FROM);
  cleanup_free char *ref = pm_ref(pm);
  if (!strcmp(uid, ferry_kube_str(pm, "status.sourcePodUID") ?: ""))
    return ferry_kube_str(pod, "metadata.deletionTimestamp") ? 0 : 2; /* being deleted: wait; still there: in place */
  if (!ann || strcmp(json_object_get_string(ann), ref) != 0 || ferry_kube_str(pod, "metadata.deletionTimestamp"))
    return 0; /* not (yet) the pod to restore into */
  if (!node || !*node)
    return admit_new_pod(d, pm, ref, err);
  if (!strcmp(node, d->g->node))
    return new_pod_outcome(d, pm, pod, err);
  return 0;
}

/* The step that restores the container here from the published image. */
static int restore_here(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  const char *id = container_id(pm), *image = ferry_kube_str(pm, "status.image"), *bundle = NULL;
  json_object *cs = ferry_kube_obj(ferry_kube_obj(pm, "status"), "containers");
  if (cs && json_object_array_length(cs))
    bundle = ferry_kube_str(json_object_array_get_idx(cs, 0), "bundle");
  if (!image || !bundle || !id) {
    ferry_event(d->rec, pm, "Warning", "WorkloadLost", "the container is gone from %s and no image was published",
                d->g->node);
    metrics_count(d->m, "source", "lost");
    return write_pm(d, pm,
                    pm_status_patch(PM_FAILED, "WorkloadLost",
                                    "the container is gone from %s and no image was published", d->g->node),
                    err);
  }
  char *args[24];
  int n = 0;
  args[n++] = "restore";
  args[n++] = "--root";
  args[n++] = (char *)d->runc_root;
  args[n++] = "--store";
  args[n++] = (char *)d->store;
  args[n++] = "--image";
  args[n++] = (char *)image_base(image);
  args[n++] = "--bundle";
  args[n++] = (char *)bundle;
  args[n++] = "--id";
  args[n++] = (char *)id;
  add_flags(pm, args, &n);
  add_codec(d, args, &n, 0);
  args[n] = NULL;
  *requeue_ms = REQUEUE_CHILD_POLL_MS;
  return op_start(d, pm, "rollback", args, err);
}

/* The rollback step's answer: running again here, or the workload lost. */
static int rollback_done(struct daemon *d, json_object *pm, enum op_state s, json_object *res, ferry_error *err)
{
  int ok = op_ok(s, res);
  const char *msg = op_message(res, "the restore process ended without an answer");
  json_object *patch = ok ? pm_status_patch(PM_ROLLED_BACK, "RolledBack", "running again on %s", d->g->node)
                          : pm_status_patch(PM_FAILED, "WorkloadLost", "rollback on %s failed: %s", d->g->node, msg);
  metrics_count(d->m, "source", ok ? "rolled_back" : "lost");
  if (ok)
    ferry_event(d->rec, pm, "Normal", "RolledBack", "restored on %s from %s", d->g->node,
                ferry_kube_str(pm, "status.image") ?: "the image");
  else
    ferry_event(d->rec, pm, "Warning", "WorkloadLost",
                "the rollback on %s failed: %s; the pod's container is not running", d->g->node, msg);
  if (write_pm(d, pm, patch, err) < 0)
    return -1;
  op_clear(d, ferry_kube_str(pm, "metadata.uid"), "rollback");
  return 0;
}

static int source_rollback(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid"), *id = container_id(pm),
             *from = ferry_kube_str(pm, "status.rollbackFrom") ?: "";
  if (pm_phase_parse(from) == PM_RESTORING && !pm_condition_true(pm, "TargetReleased")) {
    *requeue_ms = REQUEUE_TARGET_RELEASE_MS; /* the target may still hold a copy: never two */
    return 0;
  }
  cleanup_json json_object *res = NULL;
  enum op_state s = op_check(d, uid, "rollback", &res);
  if (s == OP_RUNNING) {
    *requeue_ms = REQUEUE_CHILD_POLL_MS;
    return 0;
  }
  if (s == OP_DONE || s == OP_DIED)
    return rollback_done(d, pm, s, res, err);
  if (!strcmp(ferry_kube_str(pm, "status.owner.kind") ?: "", "StatefulSet")) {
    int done = rollback_into_new_pod(d, pm, requeue_ms, err);
    if (done != 2)
      return done;
  }
  int running = id ? source_running(d, pm, id, err) : -1;
  if (running < 0 && id)
    return -1;
  if (running == 2) { /* never RolledBack while it cannot run */
    *requeue_ms = REQUEUE_RELEASE_POLL_MS;
    return 0;
  }
  if (running == 1) {
    metrics_count(d->m, "source", "rolled_back");
    ferry_event(d->rec, pm, "Normal", "RolledBack", "the container never stopped on %s; it runs there", d->g->node);
    return write_pm(
        d, pm, pm_status_patch(PM_ROLLED_BACK, "RolledBack", "running on %s (it was never stopped)", d->g->node), err);
  }
  return restore_here(d, pm, requeue_ms, err);
}

/* RollingBack: post-copy's CRIU may still hold the frozen container; once the
 * target holds no copy, stop it (the step thaws the container and answers). */
static int source_rolling_back(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid");
  cleanup_json json_object *res = NULL;
  if (is_postcopy(pm) && op_check(d, uid, "checkpoint", &res) != OP_NONE) {
    const char *from = ferry_kube_str(pm, "status.rollbackFrom") ?: "";
    if (pm_phase_parse(from) == PM_RESTORING && !pm_condition_true(pm, "TargetReleased")) {
      *requeue_ms = REQUEUE_POSTCOPY_RELEASE_MS;
      return 0;
    }
    if (!op_stop(d, pm, "checkpoint")) {
      *requeue_ms = REQUEUE_CHILD_STOP_MS;
      return 0;
    }
    op_clear(d, uid, "checkpoint");
  }
  return source_rollback(d, pm, requeue_ms, err);
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
  if ((phase == PM_TRANSFERRING || phase == PM_RESTORING) && !is_postcopy(pm) &&
      ferry_kube_str(pm, "status.transfer.address"))
    return source_send(d, pm, requeue_ms, err);
  if ((phase == PM_TRANSFERRING || phase == PM_RESTORING) && is_postcopy(pm) &&
      !pm_condition_true(pm, "SourceReleased"))
    return source_serving(d, pm, requeue_ms, err);
  if (phase == PM_ROLLING_BACK)
    return source_rolling_back(d, pm, requeue_ms, err);
  if (phase == PM_ROLLED_BACK || phase == PM_FAILED)
    return departed(d, pm, 0, err); /* it runs here again (or is lost: then the kubelet may start it afresh) */
  return 0;
}
