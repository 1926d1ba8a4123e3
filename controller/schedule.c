/* SPDX-License-Identifier: Apache-2.0 */
/* Pending -> Scheduled, step by step: the pod is found and checked (running,
 * one container, an agent on its node, an owner Ferry can move, the RuntimeClass),
 * the strategy settled, the target chosen (and strategy auto's choice made,
 * strategy.c, which needs the target), the policy's limits respected (else
 * Pending "Waiting"), the target pod made (unbound, schedulerName ferry: the
 * target's agent binds it), the source drained from Services, and Scheduled
 * written with everything the agents need. Any refusal is Failed with its
 * reason, among them a container the source's CRIU cannot dump (its agent's
 * node check), before anything is frozen. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reconcile.h"
#include "strategy.h"
#include "api/podmigration.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/util.h"

#define NAME_MAX_LEN 254     /* a pod name and its NUL */
#define TARGET_NAME_BASE 240 /* the base name's share of the target pod's name */
#define REASON_MSG_LEN 512
#define NOTE_LEN 1024

/* What schedule() learns about the migration on its way to Scheduled. */
struct move {
  json_object *pm, *pod;
  const char *ns, *pod_name;
  const char *source, *ip;       /* the pod's node and address */
  json_object *statuses, *owner; /* its container statuses; its controller (NULL: a bare pod) */
  enum pm_strategy strategy;     /* asked for (auto until the target is known), then what runs */
  int fallback;                  /* note: why the strategy is not the one asked for */
  char note[NOTE_LEN];           /* that, or auto's choice and why; "" when there is nothing to say */
  const char *target;            /* the target node */
  char target_pod[NAME_MAX_LEN];
  char target_uid[64];          /* a bare pod's target: the UID of the pod this migration created */
  json_object *image_retention; /* the policy's imageRetention, for the agents (NULL: theirs) */
};

/* ---------- the pod ---------- */

static int fetch_source(struct ctl *c, const struct move *m, json_object **out, ferry_error *err);

/* reason, with msg set to text. */
static const char *refuse(char *msg, size_t len, const char *reason, const char *text)
{
  snprintf(msg, len, "%s", text);
  return reason;
}

/* Why the pod cannot move now (msg filled), or NULL. */
static const char *pod_refusal(struct ctl *c, const struct move *m, char *msg, size_t len)
{
  const char *phase = ferry_kube_str(m->pod, "status.phase") ?: "";
  if (!m->source || !*m->source || strcmp(phase, "Running") != 0 || !m->ip || !*m->ip)
    return refuse(msg, len, "PodNotRunning", "the pod is not running on a node (phase, node or address missing)");
  if (ferry_kube_obj(ferry_kube_obj(m->pod, "metadata"), "deletionTimestamp"))
    return refuse(msg, len, "PodTerminating", "the pod is being deleted");
  if (!m->statuses || json_object_array_length(m->statuses) != 1)
    return refuse(msg, len, "Unsupported", "only pods with exactly one running container can move yet");
  if (!ctl_agent_ready(c, m->source, NULL))
    return refuse(msg, len, "NoAgentOnSource", "no Ferry agent runs on the source node");
  if (ctl_store_full(c, m->source, msg, len))
    return "StoreFull"; /* refused now, not after the freeze */
  const char *kind = ferry_kube_str(m->owner, "kind") ?: "";
  if (m->owner && strcmp(kind, "ReplicaSet") != 0 && strcmp(kind, "StatefulSet") != 0) {
    snprintf(msg, len,
             "pods controlled by a %s cannot move yet (bare pods and ReplicaSet, Deployment and StatefulSet pods can)",
             ferry_kube_str(m->owner, "kind") ?: "?");
    return "UnsupportedOwner";
  }
  if (m->owner && !c->webhook)
    return refuse(msg, len, "NoWebhook",
                  "a ReplicaSet's pod moves through the controller's admission webhook, which is not running "
                  "(--webhook-listen)");
  const char *rclass = ferry_kube_str(m->pod, "spec.runtimeClassName") ?: "";
  if (c->runtime_class && *c->runtime_class && strcmp(rclass, c->runtime_class) != 0) {
    snprintf(
        msg, len,
        "the pod runs with RuntimeClass \"%s\", not \"%s\": only ferry-runc can restore it on the target and keep the "
        "kubelet from restarting it on the source",
        rclass, c->runtime_class);
    return "RuntimeClassRequired";
  }
  return NULL;
}

/* The migration's pod from the cache. NULL when it can move, else why not (msg filled). */
static const char *find_pod(struct ctl *c, struct move *m, char *msg, size_t len)
{
  m->pod = ferry_informer_get(c->pods, m->ns, m->pod_name);
  if (!m->pod)
    return refuse(msg, len, "PodNotFound", "pod not found");
  m->source = ferry_kube_str(m->pod, "spec.nodeName");
  m->ip = ferry_kube_str(m->pod, "status.podIP");
  m->statuses = ferry_kube_obj(ferry_kube_obj(m->pod, "status"), "containerStatuses");
  m->owner = ferry_kube_controller_ref(m->pod);
  return pod_refusal(c, m, msg, len);
}

/* The source's CRIU cannot dump the pod's container as it runs (its agent's
 * node check): 1, msg filled, before anything is frozen. The pod's user is
 * read from a fresh GET (the cache keeps no securityContext), and only when
 * the source cannot dump a non-root container. -1 when the pod cannot be read. */
static int cannot_checkpoint(struct ctl *c, const struct move *m, char *msg, size_t len, ferry_error *err)
{
  char reason[256], as[64];
  if (!ctl_node_check_nonroot_refused(ctl_node_check(c, m->source), reason, sizeof reason))
    return 0;
  const char *cname = ferry_kube_str(json_object_array_get_idx(m->statuses, 0), "name") ?: "";
  cleanup_json json_object *pod = NULL;
  if (fetch_source(c, m, &pod, err) < 0)
    return -1;
  if (!ctl_pod_runs_as(pod, cname, as, sizeof as))
    return 0;
  ctl_cannot_dump_message(m->source, cname, as, reason, msg, len);
  return 1;
}

/* The strategy asked for, else the policy's; a StatefulSet's pod cannot
 * postCopy. auto stays auto until the target is known (choose_auto). NULL, or
 * why the migration cannot run (msg filled). */
static const char *choose_strategy(struct move *m, const struct policy *pol, char *msg, size_t len)
{
  const char *asked = ferry_kube_str(m->pm, "spec.strategy");
  m->note[0] = '\0';
  m->fallback = 0;
  if (asked && pm_strategy_parse(asked, &m->strategy) < 0) {
    snprintf(msg, len, "unknown strategy \"%s\" (stopAndCopy, preCopy, postCopy or auto)", asked);
    return "StrategyNotSupported";
  }
  if (!asked) {
    m->strategy = pol->strategy;
    if (pol->bad_strategy) {
      m->fallback = 1;
      snprintf(m->note, sizeof m->note, "MigrationPolicy %s: defaultStrategy \"%s\" is no strategy: stopAndCopy",
               pol->name ?: "?", pol->bad_strategy);
    }
  }
  if (m->strategy == PM_STRATEGY_POST_COPY && m->owner &&
      !strcmp(ferry_kube_str(m->owner, "kind") ?: "", "StatefulSet")) {
    /* the successor of a StatefulSet's pod takes its name: it can only come once
     * the source pod is gone, which would end the source serving the memory */
    static const char why[] = "postCopy cannot move a StatefulSet's pod: its successor, of the same name, is made only "
                              "after the source pod is deleted, and the source must live until its memory has moved";
    if (asked)
      return refuse(msg, len, "StrategyNotSupported", why);
    m->strategy = PM_STRATEGY_STOP_AND_COPY;
    m->fallback = 1;
    snprintf(m->note, sizeof m->note, "%s", why);
  }
  return NULL;
}

/* postCopy asked for (or a policy's default): both agents must be able to
 * (ferry.dev/postcopy-support: "ok", else why not; auto weighed it already).
 * Asked for: refused before anything is frozen; a policy's default: stopAndCopy,
 * saying why. NULL, or the refusal's reason (msg filled). */
static const char *postcopy_unsupported(struct ctl *c, struct move *m, char *msg, size_t len)
{
  if (m->strategy != PM_STRATEGY_POST_COPY)
    return NULL;
  const char *nodes[2] = { m->source, m->target }, *roles[2] = { "serve its memory", "fetch its memory" };
  for (int i = 0; i < 2; i++) {
    const char *says = ctl_agent_annotation(c, nodes[i], FERRY_ANN_POSTCOPY_SUPPORT);
    if (!says || !strcmp(says, "ok"))
      continue; /* an agent from before the check, or one that can */
    char why[REASON_MSG_LEN];
    snprintf(why, sizeof why, "postCopy: node %s cannot %s: %s", nodes[i], roles[i], says);
    if (ferry_kube_str(m->pm, "spec.strategy"))
      return refuse(msg, len, "StrategyNotSupported", why);
    m->strategy = PM_STRATEGY_STOP_AND_COPY;
    m->fallback = 1;
    snprintf(m->note, sizeof m->note, "%s; stopAndCopy instead", why);
    return NULL;
  }
  return NULL;
}

/* auto: stopAndCopy or postCopy for this pod from source to target, with the note saying why. */
static void choose_auto(struct ctl *c, struct move *m)
{
  if (m->strategy != PM_STRATEGY_AUTO)
    return;
  struct auto_inputs in;
  struct auto_storage storage;
  auto_gather(c, m->pod, m->source, m->target, &in, &storage);
  m->strategy = auto_choose(&in, m->note, sizeof m->note);
}

/* ---------- the target pod ---------- */

static int is_ferry_annotation(const char *k)
{
  return !strcmp(k, FERRY_ANN_MIGRATE_TO) || !strcmp(k, FERRY_ANN_MIGRATION) || !strcmp(k, FERRY_ANN_RESULT) ||
         !strcmp(k, FERRY_ANN_RESTORE_FROM);
}

/* The source pod's name without an earlier migration's suffix. */
static const char *base_name(json_object *pod)
{
  json_object *v =
      ferry_kube_key(ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "annotations"), "ferry.dev/original-name");
  return v ? json_object_get_string(v) : ferry_kube_str(pod, "metadata.name");
}

/* The source pod's annotations but Ferry's, and the ones that make it this migration's target. */
static json_object *target_annotations(json_object *pm, json_object *pod)
{
  json_object *ann = json_object_new_object(),
              *src_ann = ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "annotations");
  if (src_ann) {
    json_object_object_foreach(src_ann, k, v)
    {
      if (!is_ferry_annotation(k))
        json_object_object_add(ann, k, json_object_get(v));
    }
  }
  cleanup_free char *from =
      ferry_asprintf("%s/%s", ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "metadata.name"));
  json_object_object_add(ann, FERRY_ANN_RESTORE_FROM, json_object_new_string(from));
  json_object_object_add(ann, FERRY_ANN_MIGRATION, json_object_new_string(from));
  json_object_object_add(ann, "ferry.dev/original-name", json_object_new_string(base_name(pod)));
  return ann;
}

static json_object *target_pod_object(json_object *pm, json_object *pod, const char *name)
{
  json_object *tp = json_object_new_object(), *meta = json_object_new_object(), *spec = NULL;
  json_object_object_add(tp, "apiVersion", json_object_new_string("v1"));
  json_object_object_add(tp, "kind", json_object_new_string("Pod"));
  json_object_object_add(meta, "name", json_object_new_string(name));
  json_object_object_add(meta, "namespace", json_object_new_string(ferry_kube_str(pod, "metadata.namespace") ?: ""));
  json_object *labels = ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "labels"),
              *owners = ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "ownerReferences");
  if (labels) /* the same labels: selector Services route to the restored pod */
    json_object_object_add(meta, "labels", json_object_get(labels));
  if (owners)
    json_object_object_add(meta, "ownerReferences", json_object_get(owners));
  json_object_object_add(meta, "annotations", target_annotations(pm, pod));
  json_object_object_add(tp, "metadata", meta);
  json_object_deep_copy(ferry_kube_obj(pod, "spec"), &spec, NULL);
  if (!spec)
    spec = json_object_new_object();
  /* unbound, and no scheduler's: the target's agent binds it once the restore is admitted there */
  json_object_object_del(spec, "nodeName");
  json_object_object_add(spec, "schedulerName", json_object_new_string(FERRY_SCHEDULER_NAME));
  json_object_object_add(tp, "spec", spec);
  json_object_object_add(tp, "status", json_tokener_parse("{\"phase\":\"Pending\"}"));
  return tp;
}

/* The source pod as the API server has it: the cache keeps only what the
 * controller reads (keep.c), and the target pod is a copy of its spec. */
static int fetch_source(struct ctl *c, const struct move *m, json_object **out, ferry_error *err)
{
  if (ferry_kube_get(c->kube, &FERRY_KUBE_PODS, m->ns, m->pod_name, out, NULL, err) < 0)
    return ferry_error_prefix(err, "pod %s/%s", m->ns, m->pod_name);
  if (strcmp(ferry_kube_str(*out, "metadata.uid") ?: "", ferry_kube_str(m->pod, "metadata.uid") ?: "") != 0) {
    json_object_put(*out);
    *out = NULL;
    return ferry_error_set(err, 0, "pod %s/%s was replaced meanwhile", m->ns, m->pod_name);
  }
  return 0;
}

/* The target pod's name is taken: by the pod this migration made (its UID in
 * the migration's status, read afresh: the cache may not have seen the
 * Scheduled write yet), or by one nobody can vouch for (the controller stopped
 * between its create and its status write, or someone made a pod of that name
 * to be restored into): that one is deleted and the move tried again. Only the
 * pod whose UID the status holds is ever restored into (ferry-runc checks). */
static int target_pod_taken(struct ctl *c, struct move *m, ferry_error *err)
{
  ferry_error_clear(err);
  cleanup_json json_object *there = NULL, *pm = NULL;
  struct ferry_kube_status st = { 0 };
  if (ferry_kube_get(c->kube, &FERRY_KUBE_PODS, m->ns, m->target_pod, &there, &st, err) < 0 ||
      ferry_kube_get(c->kube, &FERRY_KUBE_PODMIGRATIONS, m->ns, ferry_kube_str(m->pm, "metadata.name"), &pm, &st, err) <
          0)
    return -1;
  if (pm_phase(pm) != PM_PENDING)
    return ferry_error_set(err, EAGAIN, "podmigration %s/%s is %s already: this pass saw it Pending", m->ns,
                           ferry_kube_str(pm, "metadata.name"), pm_phase_name(pm_phase(pm)));
  const char *uid = ferry_kube_str(there, "metadata.uid") ?: "", *mine = ferry_kube_str(pm, "status.targetPodUID");
  if (mine && !strcmp(mine, uid)) {
    snprintf(m->target_uid, sizeof m->target_uid, "%s", uid);
    return 0;
  }
  struct ferry_kube_delete_opts del = { .uid = uid };
  if (ferry_kube_delete(c->kube, &FERRY_KUBE_PODS, m->ns, m->target_pod, &del, &st, err) < 0 && st.code != 404)
    return -1;
  ferry_error_clear(err);
  return ferry_error_set(err, EAGAIN,
                         "pod %s/%s was there and not known to be this migration's (uid %s): deleted, "
                         "the target pod is made again",
                         m->ns, m->target_pod, uid);
}

/* The target pod: its name (the status's, else the base name and a hash of the
 * migration's UID), and for a bare pod the pod itself, created first, so a
 * restart finds it under the same name. An owned pod's target is the
 * replacement its owner makes (owned.c). */
static int create_target_pod(struct ctl *c, struct move *m, ferry_error *err)
{
  const char *have = ferry_kube_str(m->pm, "status.targetPod");
  if (have && *have) {
    snprintf(m->target_pod, sizeof m->target_pod, "%s", have);
  } else {
    const char *uid = ferry_kube_str(m->pm, "metadata.uid") ?: "00000";
    char h[65];
    ferry_sha256_hex(uid, strlen(uid), h);
    snprintf(m->target_pod, sizeof m->target_pod, "%.*s-%.5s", TARGET_NAME_BASE, base_name(m->pod), h);
  }
  if (m->owner)
    return 0;
  cleanup_json json_object *src = NULL;
  if (fetch_source(c, m, &src, err) < 0)
    return -1;
  cleanup_json json_object *tp = target_pod_object(m->pm, src, m->target_pod);
  cleanup_json json_object *made = NULL;
  struct ferry_kube_status st = { 0 };
  if (ferry_kube_create(c->kube, &FERRY_KUBE_PODS, m->ns, tp, &made, &st, err) == 0) {
    snprintf(m->target_uid, sizeof m->target_uid, "%s", ferry_kube_str(made, "metadata.uid") ?: "");
    return 0;
  }
  return st.code == 409 ? target_pod_taken(c, m, err) : -1;
}

/* ---------- the source drained ---------- */

/* The pod's Ready condition (strategic merge: conditions merge by type). Taking
 * it away before the freeze makes the endpoints controller drop the pod from
 * selector Services; a kubelet sets it again on its next status sync, by which
 * time the container is frozen or gone. */
int ctl_set_pod_ready(struct ctl *c, const char *ns, const char *name, int ready, ferry_error *err)
{
  char now[40];
  ferry_format_time(ferry_now_real_ms(), now, sizeof now);
  cleanup_free char *patch = ferry_asprintf(
      "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\",\"reason\":\"%s\","
      "\"message\":\"%s\",\"lastTransitionTime\":\"%s\"}]}}",
      ready ? "True" : "False", ready ? "FerryMigrationEnded" : "FerryMigrating",
      ready ? "the migration ended; the pod runs here" : "Ferry is moving this pod: no new traffic", now);
  struct ferry_kube_status st = { 0 };
  int rc =
      ferry_kube_patch(c->kube, &FERRY_KUBE_PODS, ns, name, FERRY_PATCH_STRATEGIC, patch, "status", NULL, &st, err);
  if (rc < 0 && st.code == 404) {
    ferry_error_clear(err);
    return 0;
  }
  return rc;
}

/* Services stop sending to the source before it freezes: selector ones through
 * its readiness, selector-less ones by their endpoints (*before: what was changed). */
static int drain_source(struct ctl *c, struct move *m, json_object **before, ferry_error *err)
{
  if (ctl_set_pod_ready(c, m->ns, m->pod_name, 0, err) < 0)
    return -1;
  return svc_drain(c, m->ns, m->ip, before, err);
}

/* ---------- Scheduled ---------- */

static json_object *owner_ref(json_object *owner)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "kind", json_object_new_string(ferry_kube_str(owner, "kind") ?: ""));
  json_object_object_add(o, "name", json_object_new_string(ferry_kube_str(owner, "name") ?: ""));
  json_object_object_add(o, "uid", json_object_new_string(ferry_kube_str(owner, "uid") ?: ""));
  return o;
}

static json_object *container_ids(json_object *statuses)
{
  json_object *containers = json_object_new_array();
  for (size_t i = 0; i < json_object_array_length(statuses); i++) {
    json_object *cs = json_object_array_get_idx(statuses, i), *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(ferry_kube_str(cs, "name") ?: ""));
    json_object_object_add(o, "containerID", json_object_new_string(ferry_kube_str(cs, "containerID") ?: ""));
    json_object_array_add(containers, o);
  }
  return containers;
}

/* The Scheduled status: where from and to, the source pod as it was, the endpoints drained (before, taken). */
static json_object *scheduled_patch(const struct move *m, json_object *before)
{
  json_object *patch =
      pm_status_patch(PM_SCHEDULED, "Scheduled", "moving %s from %s to %s", m->pod_name, m->source, m->target);
  pm_patch_set(patch, "sourceNode", json_object_new_string(m->source));
  pm_patch_set(patch, "targetNode", json_object_new_string(m->target));
  if (m->owner)
    pm_patch_set(patch, "owner", owner_ref(m->owner));
  else {
    pm_patch_set(patch, "targetPod", json_object_new_string(m->target_pod));
    pm_patch_set(patch, "targetPodUID", json_object_new_string(m->target_uid));
  }
  pm_patch_set(patch, "sourcePodIP", json_object_new_string(m->ip));
  pm_patch_set(patch, "sourcePodUID", json_object_new_string(ferry_kube_str(m->pod, "metadata.uid") ?: ""));
  pm_patch_set(patch, "strategy", json_object_new_string(pm_strategy_name(m->strategy)));
  if (*m->note)
    pm_patch_set(patch, "strategyNote", json_object_new_string(m->note));
  json_object *gen = ferry_kube_obj(ferry_kube_obj(m->pm, "metadata"), "generation");
  if (gen)
    pm_patch_set(patch, "observedGeneration", json_object_get(gen));
  if (!ferry_kube_str(m->pm, "status.startTime")) {
    char now[40];
    ferry_format_time(ferry_now_real_ms(), now, sizeof now);
    pm_patch_set(patch, "startTime", json_object_new_string(now));
  }
  pm_patch_set(patch, "containers", container_ids(m->statuses));
  if (m->image_retention) /* the agents keep the images by it (lib/api/retention.h) */
    pm_patch_set(patch, "imageRetention", json_object_get(m->image_retention));
  json_object *eps = json_object_new_object();
  json_object_object_add(eps, "before", before ? before : json_object_new_array());
  pm_patch_set(patch, "endpoints", eps);
  return patch;
}

static int write_scheduled(struct ctl *c, const struct move *m, json_object *before, ferry_error *err)
{
  if (ctl_write_status(c, m->pm, scheduled_patch(m, before), err) < 0)
    return -1;
  if (m->owner)
    ferry_event(c->rec, m->pm, "Normal", "Scheduled",
                "moving pod %s from %s to %s (its replicaset %s makes the target pod)", m->pod_name, m->source,
                m->target, ferry_kube_str(m->owner, "name"));
  else
    ferry_event(c->rec, m->pm, "Normal", "Scheduled", "moving pod %s from %s to %s (target pod %s)", m->pod_name,
                m->source, m->target, m->target_pod);
  ferry_event(c->rec, m->pod, "Normal", "Migrating", "%s: moving to %s", ferry_kube_str(m->pm, "metadata.name"),
              m->target);
  if (*m->note)
    ferry_event(c->rec, m->pm, m->fallback ? "Warning" : "Normal", m->fallback ? "StrategyFallback" : "StrategyChosen",
                "%s", m->note);
  return 0;
}

/* Pending "Waiting" while the limits hold the migration back (written once per message). 1: it waits. */
static int wait_for_room(struct ctl *c, struct move *m, const struct policy *pol, int64_t *requeue_ms, int *rc,
                         ferry_error *err)
{
  char wait[256];
  ctl_limits_wait(c, m->pm, pol, m->source, m->target, wait, sizeof wait);
  if (!*wait)
    return 0;
  *requeue_ms = WAIT_RETRY_MS;
  if (!strcmp(ferry_kube_str(m->pm, "status.message") ?: "", wait) && pm_phase(m->pm) == PM_PENDING)
    *rc = 0;
  else
    *rc = ctl_write_status(c, m->pm, pm_status_patch(PM_PENDING, "Waiting", "%s", wait), err);
  return 1;
}

int ctl_schedule(struct ctl *c, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  struct move m = { .pm = pm,
                    .ns = ferry_kube_str(pm, "metadata.namespace"),
                    .pod_name = ferry_kube_str(pm, "spec.pod") ?: "" };
  char why[REASON_MSG_LEN];
  const char *refusal = find_pod(c, &m, why, sizeof why);
  if (refusal)
    return ctl_fail(c, pm, m.pod, refusal, why, err);
  int undumpable = cannot_checkpoint(c, &m, why, sizeof why, err);
  if (undumpable)
    return undumpable < 0 ? -1 : ctl_fail(c, pm, m.pod, "CannotCheckpoint", why, err);

  struct policy pol;
  ctl_policy_for(c, m.pod, m.ns, &pol);
  m.image_retention = pol.image_retention;
  if ((refusal = choose_strategy(&m, &pol, why, sizeof why)))
    return ctl_fail(c, pm, m.pod, refusal, why, err);

  json_object *target = ctl_choose_target(c, pm, m.pod, why, sizeof why, &refusal);
  if (!target)
    return ctl_fail(c, pm, m.pod, refusal, why, err);
  m.target = ferry_kube_str(target, "metadata.name");
  if ((refusal = postcopy_unsupported(c, &m, why, sizeof why)))
    return ctl_fail(c, pm, m.pod, refusal, why, err);
  choose_auto(c, &m);

  int rc;
  if (wait_for_room(c, &m, &pol, requeue_ms, &rc, err))
    return rc;
  ctl_inflight_add(c, pm, m.source, m.target);
  if (create_target_pod(c, &m, err) < 0)
    return -1;
  cleanup_json json_object *before = NULL;
  if (drain_source(c, &m, &before, err) < 0)
    return -1;
  return write_scheduled(c, &m, ferry_steal(&before), err);
}
