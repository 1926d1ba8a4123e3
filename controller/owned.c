/* SPDX-License-Identifier: Apache-2.0 */
/* Pods a ReplicaSet controls (Deployment pods): see controller.h. The source
 * pod is quarantined once it is checkpointed: its ownerReferences and the
 * labels its ReplicaSet selects by are taken away (kept in the annotation
 * ferry.dev/quarantine), so the ReplicaSet neither counts nor adopts it and makes
 * a replacement; the webhook makes that the target pod, which this file
 * records in the status. After a rollback the source pod gets its owner and
 * labels back, and the ReplicaSet removes the replacement it no longer needs
 * (the webhook held it unbound, so it never ran). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "api/podmigration.h"
#include "base/util.h"

#define ANN_QUARANTINE "ferry.dev/quarantine"
#define REPLACEMENT_POLL_MS 200 /* the owner makes its replacement within moments */
#define CLAIM_GRACE_MS 5000     /* a replacement the webhook steered not seen this long after: its create failed */

static const struct ferry_kube_resource REPLICASETS = { "apps", "v1", "replicasets", 1 };

/* The source pod leaves its ReplicaSet: no owner, none of the selector's labels. */
static int quarantine(struct ctl *c, json_object *pm, json_object *pod, ferry_error *err)
{
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *rs_name = ferry_kube_str(pm, "status.owner.name") ?: "";
  cleanup_json json_object *rs = NULL;
  if (ferry_kube_get(c->kube, &REPLICASETS, ns, rs_name, &rs, NULL, err) < 0)
    return -1;
  json_object *sel = ferry_kube_obj(ferry_kube_obj(rs, "spec"), "selector"), *labels = json_object_new_object();
  cleanup_json json_object *saved = json_object_new_object();
  json_object *have = ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "labels");
  json_object_object_foreach(ferry_kube_obj(sel, "matchLabels"), k, v)
  {
    (void)v;
    json_object_object_add(labels, k, NULL);
  }
  json_object *me = ferry_kube_obj(sel, "matchExpressions");
  for (size_t i = 0; me && i < json_object_array_length(me); i++)
    json_object_object_add(labels, ferry_kube_str(json_object_array_get_idx(me, i), "key") ?: "", NULL);
  json_object_object_add(saved, "ownerReferences",
                         json_object_get(ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "ownerReferences")));
  json_object_object_add(saved, "labels", have ? json_object_get(have) : json_object_new_object());
  cleanup_json json_object *patch = json_object_new_object();
  json_object *meta = json_object_new_object(), *ann = json_object_new_object();
  json_object_object_add(ann, ANN_QUARANTINE,
                         json_object_new_string(json_object_to_json_string_ext(saved, JSON_C_TO_STRING_PLAIN)));
  json_object_object_add(meta, "annotations", ann);
  json_object_object_add(meta, "labels", labels);
  json_object_object_add(meta, "ownerReferences", NULL);
  json_object_object_add(patch, "metadata", meta);
  int rc = ferry_kube_patch(c->kube, &FERRY_KUBE_PODS, ns, ferry_kube_str(pod, "metadata.name"), FERRY_PATCH_MERGE,
                            json_object_to_json_string_ext(patch, JSON_C_TO_STRING_PLAIN), NULL, NULL, NULL, err);
  if (rc == 0) {
    log_info("podmigration %s/%s: pod %s quarantined from replicaset %s", ns, ferry_kube_str(pm, "metadata.name"),
             ferry_kube_str(pod, "metadata.name"), rs_name);
    ferry_event(c->rec, pm, "Normal", "Quarantined",
                "pod %s left replicaset %s (owner and selector labels kept in %s); the replicaset makes the target pod",
                ferry_kube_str(pod, "metadata.name"), rs_name, ANN_QUARANTINE);
  }
  return rc;
}

struct find {
  const char *ref, *not_uid;
  json_object *found;
};
static void find_target(void *ctx, json_object *pod)
{
  struct find *f = ctx;
  json_object *v =
      ferry_kube_key(ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "annotations"), FERRY_ANN_RESTORE_FROM);
  if (v && !strcmp(json_object_get_string(v), f->ref) &&
      strcmp(ferry_kube_str(pod, "metadata.uid") ?: "", f->not_uid) != 0 &&
      !ferry_kube_str(pod, "metadata.deletionTimestamp"))
    f->found = pod;
}

/* A StatefulSet's pod: its replacement has its name, so it must be gone first. */
static int make_way(struct ctl *c, json_object *pm, json_object *pod, ferry_error *err)
{
  if (ferry_kube_str(pod, "metadata.deletionTimestamp"))
    return 0; /* its kubelet is finishing it */
  webhook_publish(c->webhook, c->pms);
  struct ferry_kube_delete_opts o = FERRY_KUBE_DELETE_OPTS_INIT;
  o.uid = ferry_kube_str(pod, "metadata.uid");
  struct ferry_kube_status st = { 0 };
  if (ferry_kube_delete(c->kube, &FERRY_KUBE_PODS, ferry_kube_str(pm, "metadata.namespace"),
                        ferry_kube_str(pod, "metadata.name"), &o, &st, err) < 0) {
    if (st.code != 404 && st.code != 409)
      return -1;
    ferry_error_clear(err);
  }
  ferry_event(c->rec, pm, "Normal", "Replacing",
              "pod %s deleted (its container is in the image); statefulset %s makes it again, to be restored on %s",
              ferry_kube_str(pod, "metadata.name"), ferry_kube_str(pm, "status.owner.name") ?: "",
              ferry_kube_str(pm, "status.targetNode") ?: "");
  return 0;
}

/* An unsteered replacement deleted at once, by its UID (never a pod made
 * again since): 1 deleted, 0 gone or another pod by now, -1 on error. */
static int delete_now(struct ctl *c, const char *ns, json_object *pod, ferry_error *err)
{
  struct ferry_kube_delete_opts o = FERRY_KUBE_DELETE_OPTS_INIT;
  o.uid = ferry_kube_str(pod, "metadata.uid");
  o.grace_period_seconds = 0;
  struct ferry_kube_status st = { 0 };
  if (ferry_kube_delete(c->kube, &FERRY_KUBE_PODS, ns, ferry_kube_str(pod, "metadata.name"), &o, &st, err) == 0)
    return 1;
  if (st.code != 404 && st.code != 409)
    return -1;
  ferry_error_clear(err);
  return 0;
}

int owned_unsteered(struct ctl *c, json_object *pm, ferry_error *err)
{
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *name = ferry_kube_str(pm, "spec.pod") ?: "";
  json_object *pod = ferry_informer_get(c->pods, ns, name);
  if (!pod || strcmp(ferry_kube_str(pm, "status.owner.kind") ?: "", "StatefulSet") != 0 ||
      !strcmp(ferry_kube_str(pod, "metadata.uid") ?: "", ferry_kube_str(pm, "status.sourcePodUID") ?: "") ||
      ferry_kube_str(pod, "metadata.deletionTimestamp"))
    return 0;
  cleanup_free char *ref = ferry_asprintf("%s/%s", ns, ferry_kube_str(pm, "metadata.name"));
  json_object *v =
      ferry_kube_key(ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "annotations"), FERRY_ANN_RESTORE_FROM);
  if (v && !strcmp(json_object_get_string(v), ref))
    return 0;                          /* steered: the one to restore into */
  webhook_publish(c->webhook, c->pms); /* the next one is steered (a controller just started may not have said) */
  int rc = delete_now(c, ns, pod, err);
  if (rc <= 0)
    return rc;
  log_warn("podmigration %s/%s: pod %s was made without this migration's %s (the admission webhook did not answer?): "
           "deleted, its statefulset makes it again",
           ns, ferry_kube_str(pm, "metadata.name"), name, FERRY_ANN_RESTORE_FROM);
  ferry_event(c->rec, pm, "Warning", "ReplacementNotSteered",
              "pod %s was made without %s (the admission webhook did not answer?): deleted, so that statefulset %s "
              "makes it again to be restored from the image",
              name, FERRY_ANN_RESTORE_FROM, ferry_kube_str(pm, "status.owner.name") ?: "");
  return 0;
}

/* The owner's pods made since the migration began transferring without its
 * annotation: made unsteered while the steered one was lost. */
struct unsteered {
  const char *owner_uid, *source_uid, *ref;
  int64_t since_ms;
  json_object *pods; /* (borrowed) */
};
static void find_unsteered(void *ctx, json_object *pod)
{
  struct unsteered *u = ctx;
  json_object *owner = ferry_kube_controller_ref(pod),
              *v = ferry_kube_key(ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "annotations"),
                                  FERRY_ANN_RESTORE_FROM);
  if (owner && !strcmp(ferry_kube_str(owner, "uid") ?: "", u->owner_uid) &&
      strcmp(ferry_kube_str(pod, "metadata.uid") ?: "", u->source_uid) != 0 &&
      !ferry_kube_str(pod, "metadata.deletionTimestamp") && !(v && !strcmp(json_object_get_string(v), u->ref)) &&
      ferry_parse_time_ms(ferry_kube_str(pod, "metadata.creationTimestamp")) >= u->since_ms)
    json_object_array_add(u->pods, json_object_get(pod));
}

/* No pod steered to this migration is to be seen though the webhook steered
 * one CLAIM_GRACE_MS ago or more: its create failed after the webhook answered
 * (the API server ended meanwhile), and the owner's retry was not steered. The
 * claim is released and the owner's pods made unsteered since the migration
 * began transferring are deleted, so that the owner makes the replacement
 * again, steered. */
static int replacement_lost(struct ctl *c, json_object *pm, const char *ref, ferry_error *err)
{
  int64_t grace = c->claim_grace_ms > 0 ? c->claim_grace_ms : CLAIM_GRACE_MS;
  if (!webhook_release_claim(c->webhook, ref, grace))
    return 0;
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *owner = ferry_kube_str(pm, "status.owner.name") ?: "";
  log_warn("podmigration %s: the replacement pod the webhook steered %lld ms ago or more was not made; the next one is "
           "steered",
           ref, (long long)grace);
  cleanup_json json_object *pods = json_object_new_array();
  struct unsteered u = { ferry_kube_str(pm, "status.owner.uid") ?: "", ferry_kube_str(pm, "status.sourcePodUID") ?: "",
                         ref, ferry_parse_time_ms(ferry_kube_str(pm, "status.phaseTime")), pods };
  if (u.since_ms <= 0)
    return 0; /* (no phaseTime: which pods are new cannot be told) */
  ferry_informer_each(c->pods, find_unsteered, &u);
  for (size_t i = 0; i < json_object_array_length(pods); i++) {
    json_object *pod = json_object_array_get_idx(pods, i);
    const char *name = ferry_kube_str(pod, "metadata.name");
    int rc = delete_now(c, ns, pod, err);
    if (rc < 0)
      return -1;
    if (rc == 0)
      continue;
    ferry_event(c->rec, pm, "Warning", "ReplacementNotSteered",
                "pod %s was made without %s after the replacement the webhook steered was lost (its create failed "
                "after the webhook answered): deleted, so that %s makes it again to be restored from the image",
                name, FERRY_ANN_RESTORE_FROM, owner);
  }
  return 0;
}

int owned_transfer(struct ctl *c, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *owner_uid = ferry_kube_str(pm, "status.owner.uid") ?: "";
  json_object *pod = ferry_informer_get(c->pods, ns, ferry_kube_str(pm, "spec.pod") ?: ""),
              *ref = pod ? ferry_kube_controller_ref(pod) : NULL;
  *requeue_ms = REPLACEMENT_POLL_MS;
  int is_source =
      pod && !strcmp(ferry_kube_str(pod, "metadata.uid") ?: "", ferry_kube_str(pm, "status.sourcePodUID") ?: "");
  if (is_source && !strcmp(ferry_kube_str(pm, "status.owner.kind") ?: "", "StatefulSet"))
    return make_way(c, pm, pod, err);
  if (owned_unsteered(c, pm, err) < 0)
    return -1;
  if (is_source && ref && !strcmp(ferry_kube_str(ref, "uid") ?: "", owner_uid)) {
    /* the owner makes the replacement within milliseconds of the quarantine:
     * the webhook must know this migration waits for it before that */
    webhook_publish(c->webhook, c->pms);
    return quarantine(c, pm, pod, err);
  }
  cleanup_free char *want = ferry_asprintf("%s/%s", ns, ferry_kube_str(pm, "metadata.name"));
  struct find f = { want, ferry_kube_str(pm, "status.sourcePodUID") ?: "", NULL };
  ferry_informer_each(c->pods, find_target, &f);
  if (!f.found)
    return replacement_lost(c, pm, want, err);
  cleanup_json json_object *patch =
      pm_status_patch(PM_NONE, "Replaced", "%s %s made pod %s; restoring it on %s",
                      ferry_kube_str(pm, "status.owner.kind") ?: "", ferry_kube_str(pm, "status.owner.name") ?: "",
                      ferry_kube_str(f.found, "metadata.name"), ferry_kube_str(pm, "status.targetNode") ?: "");
  pm_patch_set(patch, "targetPod", json_object_new_string(ferry_kube_str(f.found, "metadata.name")));
  pm_patch_set(patch, "targetPodUID", json_object_new_string(ferry_kube_str(f.found, "metadata.uid") ?: ""));
  struct ferry_kube_status st = { 0 };
  return pm_write_status(c->kube, pm, patch, 1, NULL, &st, err);
}

/* After a rollback (or a failure after the quarantine): owner and labels back. */
int owned_release_source(struct ctl *c, json_object *pm, ferry_error *err)
{
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *name = ferry_kube_str(pm, "spec.pod") ?: "";
  json_object *pod = ferry_informer_get(c->pods, ns, name);
  json_object *q = ferry_kube_key(ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "annotations"), ANN_QUARANTINE);
  if (!q)
    return 0;
  cleanup_json json_object *saved = json_tokener_parse(json_object_get_string(q));
  if (!saved)
    return ferry_error_set(err, 0, "pod %s: annotation %s is not JSON", name, ANN_QUARANTINE);
  cleanup_json json_object *patch = json_object_new_object();
  json_object *meta = json_object_new_object(), *ann = json_object_new_object();
  json_object_object_add(ann, ANN_QUARANTINE, NULL);
  json_object_object_add(meta, "annotations", ann);
  json_object_object_add(meta, "labels", json_object_get(ferry_kube_obj(saved, "labels")));
  json_object_object_add(meta, "ownerReferences", json_object_get(ferry_kube_obj(saved, "ownerReferences")));
  json_object_object_add(patch, "metadata", meta);
  int rc = ferry_kube_patch(c->kube, &FERRY_KUBE_PODS, ns, name, FERRY_PATCH_MERGE,
                            json_object_to_json_string_ext(patch, JSON_C_TO_STRING_PLAIN), NULL, NULL, NULL, err);
  if (rc == 0)
    log_info("podmigration %s/%s: pod %s is its replicaset's again", ns, ferry_kube_str(pm, "metadata.name"), name);
  return rc;
}
