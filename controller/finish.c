/* SPDX-License-Identifier: Apache-2.0 */
/* The end of a PodMigration: Restoring with Restored=True becomes Succeeded once
 * Services point at the target and the source pod is gone; every end state is
 * then cleaned up (the target pod of a failed migration deleted, an owned source
 * pod given back to its owner, endpoints restored, the outcome annotated on the
 * pod that runs) and marked CleanedUp. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reconcile.h"
#include "api/podmigration.h"
#include "base/cleanup.h"
#include "base/util.h"

#define RESULT_LEN 600

/* ---------- pod writes ---------- */

/* Annotations on a pod (value NULL removes one); a missing pod is fine. */
static int annotate_pod(struct ctl *c, const char *ns, const char *name, const char *const *kv, size_t n,
                        ferry_error *err)
{
  cleanup_json json_object *patch = json_object_new_object();
  json_object *meta = json_object_new_object(), *ann = json_object_new_object();
  for (size_t i = 0; i + 1 < n; i += 2)
    json_object_object_add(ann, kv[i], kv[i + 1] ? json_object_new_string(kv[i + 1]) : NULL);
  json_object_object_add(meta, "annotations", ann);
  json_object_object_add(patch, "metadata", meta);
  struct ferry_kube_status st = { 0 };
  int rc = ferry_kube_patch(c->kube, &FERRY_KUBE_PODS, ns, name, FERRY_PATCH_MERGE,
                            json_object_to_json_string_ext(patch, JSON_C_TO_STRING_PLAIN), NULL, NULL, &st, err);
  if (rc < 0 && st.code == 404) {
    ferry_error_clear(err);
    return 0;
  }
  return rc;
}

/* A pod by name, only if it still has uid (NULL: any); gone already, or another pod by that name, is fine. */
static int delete_pod(struct ctl *c, const char *ns, const char *name, const char *uid, ferry_error *err)
{
  struct ferry_kube_delete_opts o = FERRY_KUBE_DELETE_OPTS_INIT;
  o.uid = uid;
  struct ferry_kube_status st = { 0 };
  int rc = ferry_kube_delete(c->kube, &FERRY_KUBE_PODS, ns, name, &o, &st, err);
  if (rc < 0 && (st.code == 404 || st.code == 409)) {
    ferry_error_clear(err);
    return 0;
  }
  return rc;
}

/* The source pod, and only it (a StatefulSet's replacement has its name). */
static int delete_source_pod(struct ctl *c, json_object *pm, ferry_error *err)
{
  return delete_pod(c, ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "spec.pod"),
                    ferry_kube_str(pm, "status.sourcePodUID"), err);
}

/* The target pod, and only the one Ferry restored into (by UID when known). */
static int delete_target_pod(struct ctl *c, json_object *pm, ferry_error *err)
{
  const char *tpod = ferry_kube_str(pm, "status.targetPod"), *tuid = ferry_kube_str(pm, "status.targetPodUID");
  if (!tpod || !*tpod)
    return 0;
  if (!tuid && ferry_kube_str(pm, "status.owner.uid") && !strcmp(tpod, ferry_kube_str(pm, "spec.pod") ?: ""))
    return 0; /* a StatefulSet's pod by the source's name, never confirmed as ours */
  return delete_pod(c, ferry_kube_str(pm, "metadata.namespace"), tpod, tuid, err);
}

/* ---------- Succeeded ---------- */

/* The Succeeded status: the endpoints before (from Scheduled) and after (taken), the total time. */
static json_object *succeeded_patch(json_object *pm, const char *to_node, const char *to_ip, json_object *after)
{
  int64_t start = ferry_parse_time_ms(ferry_kube_str(pm, "status.startTime") ?: "");
  json_object *patch = pm_status_patch(PM_SUCCEEDED, "Succeeded", "running on %s as %s (%s)", to_node,
                                       ferry_kube_str(pm, "status.targetPod"), to_ip);
  json_object *eps = json_object_new_object(),
              *before = ferry_kube_obj(ferry_kube_obj(ferry_kube_obj(pm, "status"), "endpoints"), "before");
  json_object_object_add(eps, "before", before ? json_object_get(before) : json_object_new_array());
  json_object_object_add(eps, "after", after);
  pm_patch_set(patch, "endpoints", eps);
  if (start > 0)
    pm_patch_set(patch, "totalMillis", json_object_new_int64(ferry_now_real_ms() - start));
  return patch;
}

/* Restored: Services follow, the source pod goes, Succeeded. */
int ctl_finish(struct ctl *c, json_object *pm, ferry_error *err)
{
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *src_ip = ferry_kube_str(pm, "status.sourcePodIP") ?: "";
  const char *to_ip = ferry_kube_str(pm, "status.targetPodIP"), *to_node = ferry_kube_str(pm, "status.targetNode");
  if (!to_ip || !*to_ip)
    return ferry_error_set(err, 0, "restored, but the target pod has no address in the status");
  cleanup_json json_object *after = NULL;
  if (svc_follow(c, ns, src_ip, to_ip, to_node, &after, err) < 0 || delete_source_pod(c, pm, err) < 0)
    return -1;
  if (ctl_write_status(c, pm, succeeded_patch(pm, to_node, to_ip, ferry_steal(&after)), err) < 0)
    return -1;
  ferry_event(c->rec, pm, "Normal", "Succeeded", "pod %s now runs on %s as %s, downtime %s",
              ferry_kube_str(pm, "spec.pod"), to_node, ferry_kube_str(pm, "status.targetPod"),
              ferry_kube_str(pm, "status.downtime") ?: "?");
  return 0;
}

/* ---------- clean-up ---------- */

/* A StatefulSet's pod whose image could not be restored, not even back on its
 * source (WorkloadLost): the pod made to restore into waits for a restore that
 * never comes. Once the webhook no longer steers the StatefulSet's pods to this
 * migration, that very pod (by UID) is deleted: the StatefulSet makes it
 * afresh, a plain pod (its state in memory is lost; the event says so). */
static int restart_lost_pod(struct ctl *c, json_object *pm, ferry_error *err)
{
  if (strcmp(ferry_kube_str(pm, "status.owner.kind") ?: "", "StatefulSet") != 0 ||
      strcmp(ferry_kube_str(pm, "status.reason") ?: "", "WorkloadLost") != 0)
    return 0;
  webhook_publish(c->webhook, c->pms);
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *name = ferry_kube_str(pm, "spec.pod");
  cleanup_json json_object *pod = NULL;
  struct ferry_kube_status st = { 0 };
  if (ferry_kube_get(c->kube, &FERRY_KUBE_PODS, ns, name, &pod, &st, err) < 0) {
    if (st.code != 404)
      return -1;
    ferry_error_clear(err);
    return 0;
  }
  json_object *ann =
      ferry_kube_key(ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "annotations"), FERRY_ANN_RESTORE_FROM);
  cleanup_free char *ref = ferry_asprintf("%s/%s", ns, ferry_kube_str(pm, "metadata.name"));
  if (!ann || strcmp(json_object_get_string(ann), ref) != 0)
    return 0;
  ferry_event(c->rec, pm, "Warning", "PodRestarted",
              "pod %s waited for a restore that cannot come: deleted, the StatefulSet makes it afresh (its state in "
              "memory is lost)",
              name);
  return delete_pod(c, ns, name, ferry_kube_str(pod, "metadata.uid"), err);
}

/* Failed or rolled back: the pod runs on the source as before. An owned source
 * pod goes back to its owner first: with the target pod gone before, the owner
 * would make a replacement nobody holds. */
static int undo(struct ctl *c, json_object *pm, const char *result, ferry_error *err)
{
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *tpod = ferry_kube_str(pm, "status.targetPod");
  const char *src_ip = ferry_kube_str(pm, "status.sourcePodIP");
  if (ferry_kube_str(pm, "status.owner.uid") && owned_release_source(c, pm, err) < 0)
    return -1;
  if (tpod && *tpod && delete_target_pod(c, pm, err) < 0)
    return -1;
  if (restart_lost_pod(c, pm, err) < 0)
    return -1;
  if (src_ip && *src_ip && svc_undrain(c, ns, src_ip, err) < 0)
    return -1;
  if (ferry_kube_str(pm, "status.sourceNode") && /* it was drained: it runs there again */
      ctl_set_pod_ready(c, ns, ferry_kube_str(pm, "spec.pod"), 1, err) < 0)
    return -1;
  cleanup_free char *ref = ferry_asprintf("%s/%s", ns, ferry_kube_str(pm, "metadata.name"));
  const char *kv[] = { FERRY_ANN_RESULT, result, FERRY_ANN_MIGRATE_TO, NULL, FERRY_ANN_MIGRATION, ref };
  return annotate_pod(c, ns, ferry_kube_str(pm, "spec.pod"), kv, 6, err);
}

/* End states: the outcome on the pod that runs, the loser pod gone, endpoints right. Idempotent. */
int ctl_clean_up(struct ctl *c, json_object *pm, ferry_error *err)
{
  if (pm_condition_true(pm, "CleanedUp"))
    return 0;
  enum pm_phase phase = pm_phase(pm);
  const char *tpod = ferry_kube_str(pm, "status.targetPod");
  char result[RESULT_LEN];
  snprintf(result, sizeof result, "%s: %s", pm_phase_name(phase), ferry_kube_str(pm, "status.message") ?: "");
  if (phase == PM_SUCCEEDED) {
    const char *kv[] = { FERRY_ANN_RESULT, result, FERRY_ANN_RESTORE_FROM, NULL };
    if (tpod && annotate_pod(c, ferry_kube_str(pm, "metadata.namespace"), tpod, kv, 4, err) < 0)
      return -1;
  } else if (undo(c, pm, result, err) < 0) {
    return -1;
  }
  json_object *patch = pm_status_patch(PM_NONE, NULL, NULL);
  pm_patch_condition(patch, pm, "CleanedUp", 1, pm_phase_name(phase), "");
  return ctl_write_status(c, pm, patch, err);
}
