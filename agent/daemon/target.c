/* SPDX-License-Identifier: Apache-2.0 */
/* The target node's part of a migration:
 *
 *   Transferring -> (image in another store: child: receive it straight from the
 *   source; post-copy: child: pages, CRIU's lazy-pages daemon) -> admit the
 *   restore, bind the target pod here -> Restoring;
 *   the kubelet runs the pod, ferry-runc restores it -> Restored=True (the controller finishes)
 *   RollingBack -> admission withdrawn, target pod deleted and gone -> TargetReleased=True */
#include "daemon.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "api/admission.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "runtime/criu.h"
#include "image/stream.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "kube/kube.h"
#include "metrics.h"

enum {
  PAGES_SOCKET_WAIT_MS = 3000, /* the lazy-pages daemon's socket comes up within this */
  PAGES_SOCKET_POLL_US = 5000,
};

/* The target pod and its one container, from this node's pod cache (NULL until bound here). */
static json_object *target_pod(struct daemon *d, json_object *pm)
{
  return ferry_informer_get(d->pods, ferry_kube_str(pm, "metadata.namespace"),
                            ferry_kube_str(pm, "status.targetPod") ?: "");
}

/* POST pods/NAME/binding to this node: the kubelet starts it, ferry-runc restores it. */
int bind_pod_here(struct daemon *d, const char *ns, const char *name, ferry_error *err)
{
  cleanup_free char *path = ferry_kube_path(&FERRY_KUBE_PODS, ns, name, "binding", NULL);
  cleanup_free char *body =
      ferry_asprintf("{\"apiVersion\":\"v1\",\"kind\":\"Binding\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\"},"
                     "\"target\":{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"name\":\"%s\"}}",
                     name, ns, d->g->node);
  struct ferry_kube_status st = { 0 };
  int rc = ferry_kube_request(d->kube, "POST", path, "application/json", body, NULL, &st, err);
  cleanup_free char *here = ferry_asprintf("\"%s\"", d->g->node);
  if (rc < 0 && st.code == 409 && strstr(st.message, here)) { /* bound here already */
    ferry_error_clear(err);
    rc = 0;
  }
  return rc;
}

static int bind_here(struct daemon *d, json_object *pm, ferry_error *err)
{
  return bind_pod_here(d, ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "status.targetPod") ?: "", err);
}

/* ---------- Transferring: the image comes, the restore is admitted ---------- */

/* The pages step ended before its socket was there: roll back. */
static int pages_failed(struct daemon *d, json_object *pm, json_object *res, ferry_error *err)
{
  const char *msg = op_message(res, "the pages step ended without an answer");
  json_object *p = pm_status_patch(PM_ROLLING_BACK, "PagesFailed", "post-copy on %s: %s", d->g->node, msg);
  rollback_from(p, PM_TRANSFERRING);
  ferry_event(d->rec, pm, "Warning", "PagesFailed", "%s: %s", d->g->node, msg);
  if (write_pm(d, pm, p, err) < 0)
    return -1;
  op_clear(d, ferry_kube_str(pm, "metadata.uid"), "pages");
  return 0;
}

/* Post-copy on the target: the `pages` step (CRIU's lazy-pages daemon) started
 * once; 1 when its socket is there (*lazy_dir: its directory), 0 while it comes
 * up, -1 on error, or when it ended before it was ready (then rolled back). */
static int pages_ready(struct daemon *d, json_object *pm, const char *image, char **lazy_dir, ferry_error *err)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid");
  cleanup_free char *dir = ferry_asprintf("%s/%s/lazy", d->g->work_dir, image);
  cleanup_free char *sock = ferry_path_join(dir, FERRY_LAZY_SOCKET);
  cleanup_json json_object *res = NULL;
  enum op_state s = op_check(d, uid, "pages", &res);
  if (s == OP_NONE) {
    char *args[16] = { "pages",      "--store", (char *)d->store, "--image",           (char *)image,
                       "--lazy-dir", dir,       "--timeout",      STEP_PAGES_TIMEOUT_S };
    int n = 9;
    add_codec(d, args, &n, 0);
    args[n] = NULL;
    if (op_start(d, pm, "pages", args, err) < 0)
      return -1;
    s = OP_RUNNING;
  }
  if (s != OP_RUNNING)
    return pages_failed(d, pm, res, err);
  /* the pod is frozen meanwhile: wait for the daemon's socket here (it takes a
   * few hundred ms) rather than a requeue later; the step's end is seen next time */
  int64_t until = ferry_now_mono_ms() + PAGES_SOCKET_WAIT_MS;
  pid_t pid = child_pid(d, pm, "pages");
  while (pid > 0 && !ferry_path_exists(sock) && ferry_now_mono_ms() < until && kill(pid, 0) == 0)
    usleep(PAGES_SOCKET_POLL_US);
  if (!ferry_path_exists(sock))
    return 0;
  *lazy_dir = ferry_steal(&dir);
  return 1;
}

/* No receive step yet: one listens on this node's migration address for the
 * source's send, which proves itself with the token both derive (transfer.c). */
static int receive_start(struct daemon *d, json_object *pm, ferry_error *err)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid");
  if (!d->migration_address || !d->transfer.set) {
    json_object *p = pm_status_patch(PM_ROLLING_BACK, !d->migration_address ? "NoMigrationAddress" : "NoTransferKey",
                                     "the image is in another store and node %s has %s", d->g->node,
                                     !d->migration_address ? "no address to receive it on (set --migration-address)"
                                                           : "no key to authenticate its sender (set "
                                                             "--transfer-key-file, the same on every node)");
    rollback_from(p, PM_TRANSFERRING);
    return write_pm(d, pm, p, err);
  }
  cleanup_free char *tf = transfer_token_file(d, pm, "receive", err);
  cleanup_free char *ready = op_path(d, uid, "receive", "ready");
  cleanup_free char *listen = migration_listen(d);
  if (!tf)
    return -1;
  unlink(ready);
  char *args[] = {
    "receive", "--store",   (char *)d->store,        "--listen", listen, "--token-file", tf, "--ready-file",
    ready,     "--timeout", STEP_TRANSFER_TIMEOUT_S, NULL
  };
  return op_start(d, pm, "receive", args, err);
}

/* The receive step listens: its address goes into status.transfer for the source. */
static int receive_publish(struct daemon *d, json_object *pm, ferry_error *err)
{
  cleanup_json json_object *ready = op_side(d, pm, "receive", "ready");
  if (!ready || ferry_kube_str(pm, "status.transfer.address"))
    return 0;
  json_object *p = pm_status_patch(PM_NONE, NULL, NULL), *t = json_object_new_object();
  json_object_object_add(t, "address", json_object_new_string(ferry_kube_str(ready, "listen") ?: ""));
  pm_patch_set(p, "transfer", t);
  return write_pm(d, pm, p, err);
}

/* The receive step's answer: the image in this node's store, or a rollback. */
static int receive_done(struct daemon *d, json_object *pm, enum op_state s, json_object *res, ferry_error *err)
{
  const char *image = ferry_kube_str(pm, "status.image") ?: "";
  const char *from = ferry_kube_str(pm, "status.sourceNode") ?: "the source";
  json_object *p;
  if (op_ok(s, res)) {
    cleanup_free char *mine = ferry_asprintf("%s/%s", d->store, image_base(image));
    p = pm_status_patch(PM_NONE, "Transferred", "image %s received from %s", mine, from);
    pm_patch_set(p, "image", json_object_new_string(mine));
    progress_received_into(d, pm, p, image_base(image));
    static const char *const keys[] = { "transferMs", "transfer" };
    timings_into(p, pm, res, keys, 2);
    ferry_event(d->rec, pm, "Normal", "Transferred", "%s: image received straight from %s in %lld ms", d->g->node, from,
                (long long)json_object_get_int64(ferry_kube_obj(ferry_kube_obj(res, "timings"), "transferMs")));
  } else {
    const char *msg = op_message(res, "the receive step ended without an answer");
    p = pm_status_patch(PM_ROLLING_BACK, "TransferFailed", "receiving the image on %s: %s", d->g->node, msg);
    rollback_from(p, PM_TRANSFERRING);
    ferry_event(d->rec, pm, "Warning", "TransferFailed", "%s: %s", d->g->node, msg);
  }
  int rc = write_pm(d, pm, p, err);
  if (rc == 0)
    op_clear(d, ferry_kube_str(pm, "metadata.uid"), "receive");
  return rc;
}

/* The image is in another node's store (no shared storage): receive it straight
 * from the source. A `receive` step listens on this node's migration address
 * for a one-time token both agents derive (transfer.c); its address goes into
 * status.transfer for the source's `send` step. 1 once the image is in this
 * node's store, 0 while it comes, -1 on error. */
static int target_receive(struct daemon *d, json_object *pm, ferry_error *err)
{
  cleanup_json json_object *res = NULL;
  enum op_state s = op_check(d, ferry_kube_str(pm, "metadata.uid"), "receive", &res);
  if (s == OP_NONE)
    return receive_start(d, pm, err);
  if (s == OP_RUNNING)
    return receive_publish(d, pm, err);
  return receive_done(d, pm, s, res, err);
}

static int target_admit(struct daemon *d, json_object *pm, ferry_error *err)
{
  if (!ferry_kube_str(pm, "status.targetPod"))
    return 0; /* an owned pod's replacement is not there yet (the controller records it) */
  const char *image = ferry_kube_str(pm, "status.image") ?: "", *cname = container_name(pm);
  size_t sl = strlen(d->store);
  if (cname && (strncmp(image, d->store, sl) != 0 || image[sl] != '/') && strrchr(image, '/') && !is_postcopy(pm))
    return target_receive(d, pm, err); /* from another node's store, straight */
  if (strncmp(image, d->store, sl) != 0 || image[sl] != '/' || !cname) {
    json_object *p =
        pm_status_patch(PM_ROLLING_BACK, "StoreMismatch", "image %s is not in this node's store %s", image, d->store);
    rollback_from(p, PM_TRANSFERRING);
    return write_pm(d, pm, p, err);
  }
  /* post-copy: CRIU's lazy-pages daemon runs first; the restore connects to it */
  cleanup_free char *lazy_dir = NULL;
  if (is_postcopy(pm)) {
    int ready = pages_ready(d, pm, image + sl + 1, &lazy_dir, err);
    if (ready <= 0)
      return ready;
  }
  /* ferry-runc restores this pod's container from this image, once, and nothing
   * else: the pod the controller made (or the owner's replacement it found), by UID */
  const char *tuid = ferry_kube_str(pm, "status.targetPodUID"), *digest = ferry_kube_str(pm, "status.imageDigest");
  if (!tuid || !*tuid || !digest) {
    json_object *p = pm_status_patch(PM_ROLLING_BACK, !digest ? "ImageDigestUnknown" : "TargetPodUnknown",
                                     "the status names no %s: no pod is admitted to restore from %s",
                                     !digest ? "image digest" : "target pod UID", image);
    rollback_from(p, PM_TRANSFERRING);
    return write_pm(d, pm, p, err);
  }
  cleanup_free char *ref = pm_ref(pm);
  struct ferry_admission a = { .pod_migration = ref,
                               .store = (char *)d->store,
                               .image = (char *)image + sl + 1,
                               .lazy_dir = lazy_dir,
                               .pod_uid = (char *)tuid,
                               .digest = (char *)digest };
  if (ferry_admission_write(d->admission_dir, ferry_kube_str(pm, "metadata.namespace"),
                            ferry_kube_str(pm, "status.targetPod") ?: "", cname, &a, err) < 0)
    return -1;
  json_object *patch = pm_status_patch(PM_RESTORING, "Restoring", "pod %s bound to %s: verifying and restoring",
                                       ferry_kube_str(pm, "status.targetPod") ?: "", d->g->node);
  if (write_pm(d, pm, patch, err) < 0)
    return -1;
  return bind_here(d, pm, err);
}

/* ---------- Restoring: the kubelet runs the pod, ferry-runc restores it ---------- */

/* ferry-runc's record of the restore, as status timings (verify, restore). */
static void restore_timings_into(json_object *patch, json_object *pm, const struct ferry_restored *r)
{
  cleanup_json json_object *res = json_object_new_object();
  json_object *t = json_object_new_object();
  json_object_object_add(t, "verifyMs", json_object_new_int64(r->verify_ms));
  json_object_object_add(t, "restoreMs", json_object_new_int64(r->rootfs_ms + r->restore_ms));
  json_object_object_add(res, "timings", t);
  static const char *const keys[] = { "verifyMs", "verify", "restoreMs", "restore" };
  timings_into(patch, pm, res, keys, 4);
}

static int target_restored(struct daemon *d, json_object *pm, json_object *pod, ferry_error *err)
{
  const char *cname = container_name(pm), *ns = ferry_kube_str(pm, "metadata.namespace"),
             *tpod = ferry_kube_str(pm, "status.targetPod");
  const char *ip = ferry_kube_str(pod, "status.podIP") ?: "";
  struct ferry_restored r;
  cleanup_error ferry_error e2 = FERRY_ERROR_INIT;
  int have = ferry_restored_read(d->admission_dir, ns, tpod, cname, &r, &e2) == 0;
  if (!have)
    log_warn("%s: no restore record from ferry-runc (%s); timing from now", tpod, ferry_error_msg(&e2));
  /* Verifying's end first, on its own: a CRD without the stage refuses only
   * it; the Restored write below is conditional on what it left */
  cleanup_json json_object *verified = have ? progress_verified(d, pm, r.copy_bytes) : NULL;
  if (verified)
    pm = verified;
  json_object *cs = ferry_kube_obj(ferry_kube_obj(pod, "status"), "containerStatuses");
  const char *cid =
      cs && json_object_array_length(cs) ? ferry_kube_str(json_object_array_get_idx(cs, 0), "containerID") : NULL;
  const char *sep = cid ? strstr(cid, "://") : NULL;
  json_object *patch = pm_status_patch(PM_NONE, "Restored", "running on %s", d->g->node);
  pm_patch_set(patch, "targetPodIP", json_object_new_string(ip));
  set_container_field(patch, pm, "restoredID", sep ? sep + 3 : have ? r.container_id : "");
  int64_t restored = have ? r.restored_at_ms : ferry_now_real_ms();
  int64_t frozen = ferry_parse_time_ms(ferry_kube_str(pm, "status.frozenAt") ?: "");
  char when[48], dt[32];
  format_ms(restored, when, sizeof when);
  pm_patch_set(patch, "restoredAt", json_object_new_string(when));
  if (frozen > 0 && restored >= frozen) {
    pm_patch_set(patch, "freezeMillis", json_object_new_int64(restored - frozen));
    pm_format_duration(restored - frozen, dt, sizeof dt);
    pm_patch_set(patch, "downtime", json_object_new_string(dt));
    metrics_observe_downtime(d->m, (double)(restored - frozen) / 1000.0);
  }
  if (have) {
    restore_timings_into(patch, pm, &r);
    ferry_restored_free(&r);
  }
  pm_patch_condition(patch, pm, "Restored", 1, "Restored", d->g->node);
  metrics_count(d->m, "target", "restored");
  ferry_event(d->rec, pm, "Normal", "Restored", "running on %s as pod %s (%s)", d->g->node, tpod, ip);
  return write_pm(d, pm, patch, err);
}

/* Why the target pod's container does not run, when the kubelet gave up on it
 * (NULL while it is still being created). */
const char *target_failure(json_object *pod)
{
  json_object *cs = ferry_kube_obj(ferry_kube_obj(pod, "status"), "containerStatuses");
  json_object *c = cs && json_object_array_length(cs) ? json_object_array_get_idx(cs, 0) : NULL;
  const char *reason = c ? ferry_kube_str(c, "state.waiting.reason") : NULL;
  static const char *const errors[] = { "CreateContainerError", "RunContainerError", "CreateContainerConfigError",
                                        "ErrImageNeverPull",    "ErrImagePull",      "ImagePullBackOff",
                                        "CrashLoopBackOff" };
  for (size_t i = 0; reason && i < sizeof errors / sizeof errors[0]; i++)
    if (!strcmp(reason, errors[i]))
      return ferry_kube_str(c, "state.waiting.message") ?: reason;
  if (c && ferry_kube_str(c, "state.terminated.reason"))
    return "the restored container exited";
  return NULL;
}

/* A pod of that name is bound to this node now (a StatefulSet's, restored here by a rollback). */
static int pod_bound_here(struct daemon *d, const char *ns, const char *name)
{
  return ferry_informer_get(d->pods, ns, name) != NULL;
}

/* Nothing of the migration may run here: the admission withdrawn (no further
 * restore), the target pod deleted and gone (its kubelet stopped what ran).
 * 1 when released, 0 while the pod is still going. */
static int target_release(struct daemon *d, json_object *pm, ferry_error *err)
{
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *tpod = ferry_kube_str(pm, "status.targetPod") ?: "",
             *cname = container_name(pm);
  if (cname && ferry_admission_remove(d->admission_dir, ns, tpod, cname, err) < 0)
    return -1;
  cleanup_json json_object *pod = NULL;
  struct ferry_kube_status st = { 0 };
  const char *tuid = ferry_kube_str(pm, "status.targetPodUID");
  if (!*tpod || (!tuid && ferry_kube_str(pm, "status.owner.uid")))
    return 1; /* an owned pod's replacement never became the target: nothing of it ran here */
  if (ferry_kube_get(d->kube, &FERRY_KUBE_PODS, ns, tpod, &pod, &st, err) < 0 ||
      (tuid &&
       strcmp(ferry_kube_str(pod, "metadata.uid") ?: "", tuid) != 0)) { /* gone (a pod by its name may be another) */
    if (!pod && st.code != 404)
      return -1;
    ferry_error_clear(err);
    if (cname && !pod_bound_here(d, ns, tpod))
      ferry_restored_remove(d->admission_dir, ns, tpod, cname, err);
    ferry_error_clear(err);
    return 1;
  }
  if (ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "deletionTimestamp"))
    return 0;
  struct ferry_kube_delete_opts o = FERRY_KUBE_DELETE_OPTS_INIT;
  o.uid = ferry_kube_str(pod, "metadata.uid");
  o.grace_period_seconds = 1; /* not 0: the pod object must stay until its kubelet has stopped it */
  if (ferry_kube_delete(d->kube, &FERRY_KUBE_PODS, ns, tpod, &o, &st, err) < 0 && st.code != 404)
    return -1;
  log_info("%s: deleting the target pod %s; released once it is gone", ferry_kube_str(pm, "metadata.name"), tpod);
  return 0;
}

/* The reason the restore failed, once recorded (condition Restored=False, RestoreFailed). */
static const char *restore_failed(json_object *pm)
{
  json_object *conds = ferry_kube_obj(ferry_kube_obj(pm, "status"), "conditions");
  for (size_t i = 0; conds && i < json_object_array_length(conds); i++) {
    json_object *c = json_object_array_get_idx(conds, i);
    if (!strcmp(ferry_kube_str(c, "type") ?: "", "Restored") && !strcmp(ferry_kube_str(c, "status") ?: "", "False") &&
        !strcmp(ferry_kube_str(c, "reason") ?: "", "RestoreFailed"))
      return ferry_kube_str(c, "message") ?: "";
  }
  return NULL;
}

/* The failure is written first (Restored=False): the release that follows may
 * take a while and survive a restart of this agent. */
static int record_restore_failure(struct daemon *d, json_object *pm, const char *why, ferry_error *err)
{
  json_object *patch = pm_status_patch(PM_NONE, NULL, NULL);
  pm_patch_condition(patch, pm, "Restored", 0, "RestoreFailed", why);
  metrics_count(d->m, "target", "failed");
  ferry_event(d->rec, pm, "Warning", "RestoreFailed", "%s: %s; rolling back to %s", d->g->node, why,
              ferry_kube_str(pm, "status.sourceNode") ?: "the source");
  return write_pm(d, pm, patch, err);
}

/* The kubelet could not run it: nothing may run here before the source takes over. */
static int restore_failed_release(struct daemon *d, json_object *pm, const char *failed, int64_t *requeue_ms,
                                  ferry_error *err)
{
  int released = target_release(d, pm, err);
  if (released <= 0) {
    *requeue_ms = REQUEUE_RESTORE_FAILED_RELEASE_MS;
    return released;
  }
  json_object *patch =
      pm_status_patch(PM_ROLLING_BACK, "RestoreFailed", "restore on %s failed: %s", d->g->node, failed);
  rollback_from(patch, PM_RESTORING);
  pm_patch_condition(patch, pm, "TargetReleased", 1, "RestoreFailed", d->g->node);
  return write_pm(d, pm, patch, err);
}

/* The target pod is not in this node's cache: not bound here yet (a restart
 * between admission and binding), gone, or the cache is behind. */
static int target_not_bound(struct daemon *d, json_object *pm, ferry_error *err)
{
  cleanup_json json_object *cur = NULL;
  struct ferry_kube_status st = { 0 };
  if (ferry_kube_get(d->kube, &FERRY_KUBE_PODS, ferry_kube_str(pm, "metadata.namespace"),
                     ferry_kube_str(pm, "status.targetPod") ?: "", &cur, &st, err) < 0) {
    if (st.code != 404)
      return -1;
    ferry_error_clear(err);
    return record_restore_failure(d, pm, "the target pod is gone", err);
  }
  const char *node = ferry_kube_str(cur, "spec.nodeName"), *tuid = ferry_kube_str(pm, "status.targetPodUID");
  if (tuid && strcmp(ferry_kube_str(cur, "metadata.uid") ?: "", tuid) != 0)
    return record_restore_failure(d, pm, "the target pod is gone (another pod has its name)", err);
  if (!node || !*node)
    return bind_here(d, pm, err);
  if (strcmp(node, d->g->node) != 0)
    return record_restore_failure(d, pm, "the target pod was bound to another node", err);
  return 0;
}

/* Restoring, not Restored yet: the pod runs (Restored), the kubelet gave up, or it is still being made. */
static int target_restoring(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  *requeue_ms = REQUEUE_RESTORE_POLL_MS;
  const char *failed = restore_failed(pm);
  if (failed)
    return restore_failed_release(d, pm, failed, requeue_ms, err);
  cleanup_json json_object *pod = json_object_get(target_pod(d, pm));
  if (!pod)
    return target_not_bound(d, pm, err);
  json_object *cs = ferry_kube_obj(ferry_kube_obj(pod, "status"), "containerStatuses");
  json_object *c = cs && json_object_array_length(cs) ? json_object_array_get_idx(cs, 0) : NULL;
  const char *why;
  if (c && ferry_kube_obj(ferry_kube_obj(c, "state"), "running"))
    return target_restored(d, pm, pod, err);
  if ((why = target_failure(pod)))
    return record_restore_failure(d, pm, why, err);
  return 0;
}

/* Post-copy: the pages step failed, the memory has holes: the container is killed
 * and never started here again (a departed record). */
static void kill_incomplete(struct daemon *d, json_object *pm)
{
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *tpod = ferry_kube_str(pm, "status.targetPod") ?: "",
             *cname = container_name(pm);
  json_object *pod = target_pod(d, pm);
  const char *tuid = pod ? ferry_kube_str(pod, "metadata.uid") : ferry_kube_str(pm, "status.targetPodUID");
  struct ferry_restored r;
  cleanup_error ferry_error e2 = FERRY_ERROR_INIT;
  cleanup_free char *ref = pm_ref(pm);
  if (tuid && cname && ferry_departed_write(d->admission_dir, tuid, cname, ref, &e2) < 0)
    log_error("%s: %s", tpod, ferry_error_msg(&e2));
  ferry_error_clear(&e2);
  if (cname && ferry_restored_read(d->admission_dir, ns, tpod, cname, &r, &e2) == 0) {
    struct ferry_runc rr = runc_for(d);
    if (ferry_runc_kill(&rr, r.container_id, "KILL", &e2) < 0)
      log_warn("killing %s (memory incomplete): %s", r.container_id, ferry_error_msg(&e2));
    else
      log_warn("%s: killed container %s: its memory did not all arrive", tpod, r.container_id);
    ferry_restored_free(&r);
  }
}

/* Post-copy, restored: the pod runs while its memory arrives. When the pages
 * step fails the pod's memory has holes: its container is killed at once and
 * never started again here (a departed record), then the migration rolls back. */
static int target_pages(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid");
  cleanup_json json_object *res = NULL;
  enum op_state s = op_check(d, uid, "pages", &res);
  if (s == OP_RUNNING) {
    *requeue_ms = REQUEUE_PAGES_POLL_MS;
    return 0;
  }
  const char *msg = op_message(res, "the pages step ended without an answer");
  json_object *patch;
  if (op_ok(s, res)) {
    patch = pm_status_patch(PM_NONE, NULL, NULL);
    pm_patch_condition(patch, pm, "MemoryTransferred", 1, "PagesArrived", msg);
    static const char *const keys[] = { "pagesMs", "pages" };
    timings_into(patch, pm, res, keys, 2);
    ferry_event(d->rec, pm, "Normal", "MemoryTransferred", "%s: %s in %lld ms", d->g->node, msg,
                (long long)json_object_get_int64(ferry_kube_obj(ferry_kube_obj(res, "timings"), "pagesMs")));
  } else {
    kill_incomplete(d, pm);
    patch = pm_status_patch(PM_ROLLING_BACK, "PagesFailed", "post-copy to %s: %s", d->g->node, msg);
    rollback_from(patch, PM_RESTORING);
    ferry_event(d->rec, pm, "Warning", "PagesFailed", "%s: %s; the restored container was stopped", d->g->node, msg);
  }
  if (write_pm(d, pm, patch, err) < 0)
    return -1;
  op_clear(d, uid, "pages");
  return 0;
}

/* ---------- RollingBack, and what is left after the end ---------- */

static int target_rolling_back(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  if (is_postcopy(pm) && !op_stop(d, pm, "pages")) { /* the lazy-pages daemon goes first */
    *requeue_ms = REQUEUE_CHILD_STOP_MS;
    return 0;
  }
  int released = target_release(d, pm, err);
  if (released <= 0) {
    *requeue_ms = REQUEUE_ROLLBACK_RELEASE_MS;
    return released;
  }
  json_object *patch = pm_status_patch(PM_NONE, NULL, NULL);
  pm_patch_condition(patch, pm, "TargetReleased", 1, "RollingBack", d->g->node);
  return write_pm(d, pm, patch, err);
}

/* Failed or RolledBack: leftovers only (the pages step, the admission). */
static int target_leftovers(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  if (is_postcopy(pm) && !op_stop(d, pm, "pages")) {
    *requeue_ms = REQUEUE_CHILD_STOP_MS;
    return 0;
  }
  const char *cname = container_name(pm), *ns = ferry_kube_str(pm, "metadata.namespace"),
             *tpod = ferry_kube_str(pm, "status.targetPod") ?: "";
  if (cname && (ferry_admission_remove(d->admission_dir, ns, tpod, cname, err) < 0 ||
                ferry_restore_failed_remove(d->admission_dir, ns, tpod, cname, err) < 0))
    log_warn("%s", ferry_error_msg(err));
  ferry_error_clear(err);
  return 0;
}

int target_step(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  enum pm_phase phase = pm_phase(pm);
  if (phase == PM_TRANSFERRING) {
    if (ferry_kube_obj(ferry_kube_obj(pm, "metadata"), "deletionTimestamp"))
      return 0;
    *requeue_ms = REQUEUE_ADMIT_POLL_MS;
    return target_admit(d, pm, err);
  }
  if (phase == PM_RESTORING && !pm_condition_true(pm, "Restored"))
    return target_restoring(d, pm, requeue_ms, err);
  if (phase == PM_RESTORING && is_postcopy(pm) && !pm_condition_true(pm, "MemoryTransferred"))
    return target_pages(d, pm, requeue_ms, err);
  if (phase == PM_ROLLING_BACK && !pm_condition_true(pm, "TargetReleased"))
    return target_rolling_back(d, pm, requeue_ms, err);
  if (phase == PM_FAILED || phase == PM_ROLLED_BACK)
    return target_leftovers(d, pm, requeue_ms, err);
  return 0;
}
