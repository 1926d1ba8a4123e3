/* SPDX-License-Identifier: Apache-2.0 */
/* The source node's rollback of a migration (RollingBack -> RolledBack, or
 * Failed with WorkloadLost when the workload cannot run again):
 *
 *   the container never stopped (a rollback before the freeze, post-copy's
 *   CRIU stopped, a held source): released (resumed, CRIU's network lock
 *   removed), it runs on;
 *   gone into a checkpoint, the kubelet calling runc itself (runc://): the
 *   rollback step restores it in place from the published image;
 *   gone, a CRI runtime's container (containerd://): the runtime restores it
 *   in the pod's next container (the pod annotated ferry.dev/restore-from,
 *   admitted for ferry-runc, its departed record removed);
 *   a StatefulSet's pod deleted for its replacement: restored into the pod
 *   the StatefulSet makes again, bound here. */
#include "daemon.h"

#include <errno.h>
#include <string.h>

#include "api/admission.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "kube/kube.h"
#include "metrics.h"
#include "runtime/criu.h"

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

/* This node admits the restore of pod NAME's container (that pod, by UID) from the published image, for ferry-runc. */
static int admit_here(struct daemon *d, json_object *pm, json_object *pod, const char *ref, ferry_error *err)
{
  const char *name = ferry_kube_str(pod, "metadata.name") ?: "";
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *cname = container_name(pm);
  const char *image = ferry_kube_str(pm, "status.image") ?: "";
  size_t sl = strlen(d->store);
  struct ferry_admission a = { .pod_migration = (char *)ref,
                               .store = (char *)d->store,
                               .image = (char *)image + (strncmp(image, d->store, sl) ? 0 : sl + 1),
                               .pod_uid = (char *)ferry_kube_str(pod, "metadata.uid"),
                               .digest = (char *)ferry_kube_str(pm, "status.imageDigest") };
  if (!cname)
    return ferry_error_set(err, ENOENT, "the migration names no container");
  return ferry_admission_write(d->admission_dir, ns, name, cname, &a, err);
}

/* The StatefulSet's new pod has no node yet: admitted for ferry-runc, bound here. */
static int admit_new_pod(struct daemon *d, json_object *pm, json_object *pod, const char *ref, ferry_error *err)
{
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *name = ferry_kube_str(pm, "spec.pod") ?: "";
  if (admit_here(d, pm, pod, ref, err) < 0 || bind_pod_here(d, ns, name, err) < 0)
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
    return admit_new_pod(d, pm, pod, ref, err);
  if (!strcmp(node, d->g->node))
    return new_pod_outcome(d, pm, pod, err);
  return 0;
}

/* ---------- the outcomes: running again here, or lost ---------- */

static int rolled_back(struct daemon *d, json_object *pm, const char *how, ferry_error *err)
{
  metrics_count(d->m, "source", "rolled_back");
  ferry_event(d->rec, pm, "Normal", "RolledBack", "restored on %s %s", d->g->node, how);
  return write_pm(d, pm, pm_status_patch(PM_ROLLED_BACK, "RolledBack", "running again on %s", d->g->node), err);
}

static int workload_lost(struct daemon *d, json_object *pm, const char *why, ferry_error *err)
{
  metrics_count(d->m, "source", "lost");
  ferry_event(d->rec, pm, "Warning", "WorkloadLost",
              "the rollback on %s failed: %s; the pod's container is not running", d->g->node, why);
  return write_pm(d, pm, pm_status_patch(PM_FAILED, "WorkloadLost", "rollback on %s failed: %s", d->g->node, why), err);
}

/* ---------- through the container runtime ---------- */

/* The source pod, while it is the migration's (not a new pod of its name). */
static json_object *source_pod_now(struct daemon *d, json_object *pm)
{
  json_object *pod =
      ferry_informer_get(d->pods, ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "spec.pod") ?: "");
  const char *uid = pod ? ferry_kube_str(pod, "metadata.uid") : NULL;
  return uid && !strcmp(uid, ferry_kube_str(pm, "status.sourcePodUID") ?: "") ? pod : NULL;
}

/* The pod's first container runs as the runtime's container id. */
static int pod_runs(json_object *pod, const char *id)
{
  json_object *cs = ferry_kube_obj(ferry_kube_obj(pod, "status"), "containerStatuses");
  json_object *c = cs && json_object_array_length(cs) ? json_object_array_get_idx(cs, 0) : NULL;
  const char *cid = c ? ferry_kube_str(c, "containerID") : NULL, *sep = cid ? strstr(cid, "://") : NULL;
  return sep && !strcmp(sep + 3, id) && ferry_kube_obj(ferry_kube_obj(c, "state"), "running");
}

/* ferry-runc's outcome for this migration's restore into the pod here: 1
 * restored and running as the pod says, 2 restored (the kubelet has not said
 * so yet), -1 failed (*why set), 0 none yet. */
static int runtime_outcome(struct daemon *d, json_object *pm, json_object *pod, const char *ref, char **why)
{
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *name = ferry_kube_str(pod, "metadata.name"),
             *cname = container_name(pm);
  cleanup_error ferry_error e = FERRY_ERROR_INIT;
  cleanup_free char *failed_pm = NULL;
  if (ferry_restore_failed_read(d->admission_dir, ns, name, cname, &failed_pm, why, &e) == 1) {
    if (!strcmp(failed_pm, ref))
      return -1;
    free(*why);
    *why = NULL;
  }
  struct ferry_restored done;
  if (ferry_restored_read(d->admission_dir, ns, name, cname, &done, &e) < 0)
    return 0;
  int outcome = strcmp(done.pod_migration, ref) ? 0 : pod_runs(pod, done.container_id) ? 1 : 2;
  ferry_restored_free(&done);
  return outcome;
}

/* Asks for the restore: the pod annotated (the kubelet passes it to the
 * runtime with the next container), the restore admitted here, then the
 * departed record removed, which lets the kubelet's next attempt through. */
static int ask_runtime(struct daemon *d, json_object *pm, json_object *pod, const char *ref, ferry_error *err)
{
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *name = ferry_kube_str(pod, "metadata.name");
  json_object *ann = ferry_kube_key(ferry_kube_obj(pod, "metadata.annotations"), FERRY_ANN_RESTORE_FROM);
  if (!ann || strcmp(json_object_get_string(ann), ref) != 0) {
    cleanup_json json_object *p = json_object_new_object();
    json_object *meta = json_object_new_object(), *anns = json_object_new_object();
    json_object_object_add(anns, FERRY_ANN_RESTORE_FROM, json_object_new_string(ref));
    json_object_object_add(meta, "annotations", anns);
    json_object_object_add(p, "metadata", meta);
    struct ferry_kube_status st = { 0 };
    log_info("%s: the runtime restores pod %s's container here: annotating it", ferry_kube_str(pm, "metadata.name"),
             name);
    return ferry_kube_patch(d->kube, &FERRY_KUBE_PODS, ns, name, FERRY_PATCH_MERGE, json_object_to_json_string(p), NULL,
                            NULL, &st, err);
  }
  if (admit_here(d, pm, pod, ref, err) < 0)
    return -1;
  return source_departed(d, pm, 0, err);
}

/* A CRI runtime's container went into the checkpoint: the runtime restores
 * it into the pod's next container (the kubelet restarts it with back-off). */
static int rollback_through_runtime(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  if (!ferry_kube_str(pm, "status.image"))
    return workload_lost(d, pm, "the container is gone and no image was published", err);
  json_object *pod = source_pod_now(d, pm);
  if (!pod)
    return workload_lost(d, pm, "the source pod is gone: there is no pod to restore into", err);
  cleanup_free char *ref = pm_ref(pm), *why = NULL;
  int outcome = runtime_outcome(d, pm, pod, ref, &why);
  if (outcome < 0)
    return workload_lost(d, pm, why, err);
  if (outcome == 1)
    return rolled_back(d, pm, "by its container runtime, into its pod", err);
  *requeue_ms = REQUEUE_RUNTIME_ROLLBACK_MS;
  return outcome == 2 ? 0 : ask_runtime(d, pm, pod, ref, err);
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
  cleanup_free char *how = ferry_asprintf("from %s", ferry_kube_str(pm, "status.image") ?: "the image");
  int rc = op_ok(s, res) ? rolled_back(d, pm, how, err)
                         : workload_lost(d, pm, op_message(res, "the restore process ended without an answer"), err);
  if (rc < 0)
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
  if (running == 1 && pm_condition_true(pm, "SourceHeld")) {
    metrics_count(d->m, "source", "rolled_back");
    ferry_event(d->rec, pm, "Normal", "RolledBack", "the held source container was resumed on %s", d->g->node);
    return write_pm(
        d, pm, pm_status_patch(PM_ROLLED_BACK, "RolledBack", "running on %s (held paused, resumed)", d->g->node), err);
  }
  if (running == 1) {
    metrics_count(d->m, "source", "rolled_back");
    ferry_event(d->rec, pm, "Normal", "RolledBack", "the container never stopped on %s; it runs there", d->g->node);
    return write_pm(
        d, pm, pm_status_patch(PM_ROLLED_BACK, "RolledBack", "running on %s (it was never stopped)", d->g->node), err);
  }
  if (container_runtime_owned(pm))
    return rollback_through_runtime(d, pm, requeue_ms, err);
  return restore_here(d, pm, requeue_ms, err);
}

/* RollingBack: post-copy's CRIU may still hold the frozen container; once the
 * target holds no copy, stop it (the step thaws the container and answers). */
int source_rolling_back(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
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
