/* The PodMigration state machine, controller side (DESIGN.md):
 *
 *   Pending -> Scheduled -> Checkpointing -> Transferring -> Restoring -> Succeeded
 *      |           |             \______________|_______________/
 *      v           v                            v
 *    Failed      Failed                    RollingBack -> RolledBack
 *
 * The controller takes Pending to Scheduled (pod checked, limits respected,
 * target chosen, target pod made, selector-less Service endpoints drained),
 * watches every phase's deadline, and finishes: Restoring with Restored=True
 * becomes Succeeded once Services point at the target; the end states clean up
 * (target pod of a failed migration deleted, endpoints restored, the outcome
 * annotated on the pod). The agents move Scheduled through Restoring and do
 * rollbacks. Every phase change is conditional on the resourceVersion read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "base/log.h"
#include "base/hash.h"
#include "placement.h"
#include "api/podmigration.h"
#include "base/util.h"

#define WAIT_RETRY_MS 2000
#define DEFAULT_PHASE_TIMEOUT_S 300


void ctl_enqueue_pm(struct ctl *c, json_object *pm)
{
  char *key = ferry_asprintf("pm/%s/%s", ferry_kube_str(pm, "metadata.namespace") ?: "", ferry_kube_str(pm, "metadata.name") ?: "");
  queue_add(c->q, key, ferry_now_mono_ms());
  free(key);
}

static void event(struct ctl *c, json_object *obj, const char *type, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void event(struct ctl *c, json_object *obj, const char *type, const char *reason, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  ferry_error err = FERRY_ERROR_INIT;
  if (obj && ferry_record_event(c->rec, obj, type, reason, &err, "%s", msg) < 0)
    log_warn("event %s on %s: %s", reason, ferry_kube_str(obj, "metadata.name") ?: "?", ferry_error_msg(&err));
  ferry_error_clear(&err);
}

/* ---------- agents ---------- */

int ctl_agent_ready(struct ctl *c, const char *node, double *cpu)
{
  char name[300];
  snprintf(name, sizeof name, "%s%s", FERRY_AGENT_LEASE_PREFIX, node);
  json_object *lease = ferry_informer_get(c->leases, c->agent_ns, name);
  if (cpu)
    *cpu = 0;
  if (!lease)
    return 0;
  int64_t renewed = ferry_parse_time_ms(ferry_kube_str(lease, "spec.renewTime") ?: "");
  if (renewed <= 0 || ferry_now_real_ms() - renewed > (int64_t)c->agent_stale_s * 1000)
    return 0;
  json_object *ann = ferry_kube_obj(ferry_kube_obj(lease, "metadata"), "annotations");
  const char *load = ferry_kube_str(ann, FERRY_ANN_LOAD);
  if (cpu && load) {
    json_object *l = json_tokener_parse(load), *v;
    if (l && json_object_object_get_ex(l, "cpu", &v))
      *cpu = json_object_get_double(v);
    json_object_put(l);
  }
  return 1;
}

/* ---------- policies and limits ---------- */

struct policy {
  const char *name;
  int per_node, total, phase_timeout_s;
  const char *strategy;
};

struct policy_pick {
  json_object *pod;
  const char *ns;
  json_object *best;
};

static void pick_policy(void *ctx, json_object *pol)
{
  struct policy_pick *p = ctx;
  json_object *spec = ferry_kube_obj(pol, "spec"), *nss = ferry_kube_obj(spec, "namespaces");
  if (nss && json_object_array_length(nss)) {
    int in = 0;
    for (size_t i = 0; i < json_object_array_length(nss); i++)
      in |= !strcmp(json_object_get_string(json_object_array_get_idx(nss, i)), p->ns);
    if (!in)
      return;
  }
  json_object *ml = ferry_kube_obj(ferry_kube_obj(spec, "podSelector"), "matchLabels"), *labels = ferry_kube_obj(ferry_kube_obj(p->pod, "metadata"), "labels");
  if (ml) {
    json_object_object_foreach(ml, k, v)
    {
      json_object *hv = ferry_kube_obj(labels, k);
      if (!hv || strcmp(json_object_get_string(hv), json_object_get_string(v)) != 0)
        return;
    }
  }
  if (!p->best || strcmp(ferry_kube_str(pol, "metadata.name"), ferry_kube_str(p->best, "metadata.name")) < 0)
    p->best = pol;
}

static int int_or(json_object *o, const char *k, int def)
{
  json_object *v = ferry_kube_obj(o, k);
  return v ? json_object_get_int(v) : def;
}

static void policy_for(struct ctl *c, json_object *pod, const char *ns, struct policy *out)
{
  struct policy_pick p = { pod, ns, NULL };
  ferry_informer_each(c->policies, pick_policy, &p);
  json_object *spec = ferry_kube_obj(p.best, "spec");
  out->name = p.best ? ferry_kube_str(p.best, "metadata.name") : NULL;
  out->per_node = int_or(spec, "maxParallelPerNode", 1);
  out->total = int_or(spec, "maxParallel", 4);
  out->phase_timeout_s = int_or(spec, "phaseTimeoutSeconds", DEFAULT_PHASE_TIMEOUT_S);
  out->strategy = ferry_kube_str(spec, "defaultStrategy") ?: "stopAndCopy";
}

struct busy {
  const char *uid, *source, *target;
  int on_source, on_target, total;
};

static void count_busy(void *ctx, json_object *pm)
{
  struct busy *b = ctx;
  if (!strcmp(ferry_kube_str(pm, "metadata.uid") ?: "", b->uid) || !pm_phase_is_active(pm_phase(pm)))
    return;
  b->total++;
  const char *s = ferry_kube_str(pm, "status.sourceNode") ?: "", *t = ferry_kube_str(pm, "status.targetNode") ?: "";
  if (b->source && (!strcmp(s, b->source) || !strcmp(t, b->source)))
    b->on_source++;
  if (b->target && (!strcmp(s, b->target) || !strcmp(t, b->target)))
    b->on_target++;
}

/* The phase timeout of this migration: its own, else its policy's. */
static int phase_timeout_s(struct ctl *c, json_object *pm, json_object *pod)
{
  json_object *v = ferry_kube_obj(ferry_kube_obj(pm, "spec"), "phaseTimeoutSeconds");
  if (v)
    return json_object_get_int(v);
  struct policy pol;
  policy_for(c, pod, ferry_kube_str(pm, "metadata.namespace") ?: "", &pol);
  return pol.phase_timeout_s;
}

/* ---------- placement ---------- */

struct usage {
  struct {
    char node[254];
    struct node_use use;
  } *v;
  size_t n;
};

static void add_use(void *ctx, json_object *pod)
{
  struct usage *u = ctx;
  const char *node = ferry_kube_str(pod, "spec.nodeName"), *phase = ferry_kube_str(pod, "status.phase") ?: "";
  if (!node || !*node || !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"))
    return;
  size_t i = 0;
  while (i < u->n && strcmp(u->v[i].node, node) != 0)
    i++;
  if (i == u->n) {
    void *nv = realloc(u->v, (u->n + 1) * sizeof *u->v);
    if (!nv)
      return;
    u->v = nv;
    memset(&u->v[i], 0, sizeof u->v[i]);
    snprintf(u->v[i].node, sizeof u->v[i].node, "%s", node);
    u->n++;
  }
  u->v[i].use.cpu_milli += placement_pod_request(pod, "cpu");
  u->v[i].use.mem_milli += placement_pod_request(pod, "memory");
  u->v[i].use.pods++;
}

static struct node_use use_of(const struct usage *u, const char *node)
{
  for (size_t i = 0; i < u->n; i++)
    if (!strcmp(u->v[i].node, node))
      return u->v[i].use;
  struct node_use none = { 0, 0, 0 };
  return none;
}

struct choice {
  struct ctl *c;
  json_object *pod, *selector;
  struct usage *use;
  int counts[MISFIT__COUNT], nodes;
  json_object *best;
  double best_score;
};

static void consider(void *ctx, json_object *node)
{
  struct choice *ch = ctx;
  const char *name = ferry_kube_str(node, "metadata.name") ?: "";
  double cpu = 0;
  int agent = ctl_agent_ready(ch->c, name, &cpu);
  struct node_use u = use_of(ch->use, name);
  enum misfit m = placement_fit(ch->pod, node, ch->selector, &u, agent, NULL, 0);
  ch->counts[m]++;
  ch->nodes++;
  if (m != FIT)
    return;
  double score = placement_score(ch->pod, node, &u, cpu);
  if (!ch->best || score < ch->best_score ||
      (score == ch->best_score && strcmp(name, ferry_kube_str(ch->best, "metadata.name")) < 0)) {
    ch->best = node;
    ch->best_score = score;
  }
}

/* Picks the target: spec.targetNode when given (refused with the reason when it
 * does not fit), else the least loaded node that fits. NULL with why set when none. */
static json_object *choose_target(struct ctl *c, json_object *pm, json_object *pod, char *why, size_t why_len,
                                  const char **reason)
{
  struct usage use = { NULL, 0 };
  ferry_informer_each(c->pods, add_use, &use);
  json_object *selector = ferry_kube_obj(ferry_kube_obj(pm, "spec"), "nodeSelector");
  const char *want = ferry_kube_str(pm, "spec.targetNode");
  json_object *result = NULL;
  if (want && *want) {
    json_object *node = ferry_informer_get(c->nodes, NULL, want);
    if (!node) {
      *reason = "TargetNotFound";
      snprintf(why, why_len, "node %s does not exist", want);
    } else {
      struct node_use u = use_of(&use, want);
      char detail[256];
      enum misfit m = placement_fit(pod, node, selector, &u, ctl_agent_ready(c, want, NULL), detail, sizeof detail);
      if (m == FIT) {
        result = node;
      } else {
        *reason = "TargetDoesNotFit";
        snprintf(why, why_len, "node %s: %s%s%s%s", want, placement_misfit_text(m), *detail ? " (" : "", detail,
                 *detail ? ")" : "");
      }
    }
  } else {
    struct choice ch = { c, pod, selector, &use, { 0 }, 0, NULL, 0 };
    ferry_informer_each(c->nodes, consider, &ch);
    result = ch.best;
    if (!result) {
      *reason = "NoNodeFits";
      placement_summary(ch.counts, ch.nodes, why, why_len);
    }
  }
  free(use.v);
  return result;
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
  json_object *v = ferry_kube_obj(ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "annotations"), "ferry.dev/original-name");
  return v ? json_object_get_string(v) : ferry_kube_str(pod, "metadata.name");
}

static json_object *target_pod_object(json_object *pm, json_object *pod, const char *name, const char *node)
{
  json_object *tp = json_object_new_object(), *meta = json_object_new_object(), *spec = NULL, *ann = json_object_new_object();
  json_object_object_add(tp, "apiVersion", json_object_new_string("v1"));
  json_object_object_add(tp, "kind", json_object_new_string("Pod"));
  json_object_object_add(meta, "name", json_object_new_string(name));
  json_object_object_add(meta, "namespace", json_object_new_string(ferry_kube_str(pod, "metadata.namespace") ?: ""));
  json_object *labels = ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "labels"), *owners = ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "ownerReferences");
  if (labels) /* the same labels: selector Services route to the restored pod */
    json_object_object_add(meta, "labels", json_object_get(labels));
  if (owners)
    json_object_object_add(meta, "ownerReferences", json_object_get(owners));
  json_object *src_ann = ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "annotations");
  if (src_ann) {
    json_object_object_foreach(src_ann, k, v)
    {
      if (!is_ferry_annotation(k))
        json_object_object_add(ann, k, json_object_get(v));
    }
  }
  char *from = ferry_asprintf("%s/%s", ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "metadata.name"));
  json_object_object_add(ann, FERRY_ANN_RESTORE_FROM, json_object_new_string(from));
  json_object_object_add(ann, FERRY_ANN_MIGRATION, json_object_new_string(from));
  json_object_object_add(ann, "ferry.dev/original-name", json_object_new_string(base_name(pod)));
  free(from);
  json_object_object_add(meta, "annotations", ann);
  json_object_object_add(tp, "metadata", meta);
  json_object_deep_copy(ferry_kube_obj(pod, "spec"), &spec, NULL);
  if (!spec)
    spec = json_object_new_object();
  /* unbound, and no scheduler's: the target's agent binds it once the restore is admitted there */
  json_object_object_del(spec, "nodeName");
  json_object_object_add(spec, "schedulerName", json_object_new_string(FERRY_SCHEDULER_NAME));
  (void)node;
  json_object_object_add(tp, "spec", spec);
  json_object_object_add(tp, "status", json_tokener_parse("{\"phase\":\"Pending\"}"));
  return tp;
}

/* ---------- status helpers ---------- */

static int write_status(struct ctl *c, json_object *pm, json_object *patch, ferry_error *err)
{
  struct ferry_kube_status st = { 0 };
  int rc = pm_write_status(c->kube, pm, patch, 1, NULL, &st, err);
  json_object_put(patch);
  return rc;
}

static int fail_pm(struct ctl *c, json_object *pm, json_object *pod, const char *reason, const char *msg, ferry_error *err)
{
  log_info("podmigration %s/%s failed: %s: %s", ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "metadata.name"), reason, msg);
  json_object *patch = pm_status_patch(PM_FAILED, reason, "%s", msg);
  int rc = write_status(c, pm, patch, err);
  if (rc == 0) {
    event(c, pm, "Warning", reason, "%s", msg);
    if (pod)
      event(c, pod, "Warning", "MigrationFailed", "%s: %s", ferry_kube_str(pm, "metadata.name"), msg);
  }
  return rc;
}

static int has_finalizer(json_object *pm)
{
  json_object *f = ferry_kube_obj(ferry_kube_obj(pm, "metadata"), "finalizers");
  for (size_t i = 0; f && i < json_object_array_length(f); i++)
    if (!strcmp(json_object_get_string(json_object_array_get_idx(f, i)), FERRY_FINALIZER))
      return 1;
  return 0;
}

/* Adds (or removes) Ferry's finalizer: a conditional merge patch of the whole list. */
static int set_finalizer(struct ctl *c, json_object *pm, int on, ferry_error *err)
{
  json_object *list = json_object_new_array(), *f = ferry_kube_obj(ferry_kube_obj(pm, "metadata"), "finalizers");
  for (size_t i = 0; f && i < json_object_array_length(f); i++) {
    json_object *x = json_object_array_get_idx(f, i);
    if (strcmp(json_object_get_string(x), FERRY_FINALIZER) != 0)
      json_object_array_add(list, json_object_get(x));
  }
  if (on)
    json_object_array_add(list, json_object_new_string(FERRY_FINALIZER));
  json_object *patch = json_object_new_object(), *meta = json_object_new_object();
  json_object_object_add(meta, "finalizers", list);
  json_object_object_add(meta, "resourceVersion", json_object_new_string(ferry_kube_str(pm, "metadata.resourceVersion") ?: ""));
  json_object_object_add(patch, "metadata", meta);
  int rc = ferry_kube_patch(c->kube, &FERRY_KUBE_PODMIGRATIONS, ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "metadata.name"),
                            FERRY_PATCH_MERGE, json_object_to_json_string_ext(patch, JSON_C_TO_STRING_PLAIN), NULL, NULL,
                            NULL, err);
  json_object_put(patch);
  return rc;
}

/* Annotations on a pod (value NULL removes one); a missing pod is fine. */
static int annotate_pod(struct ctl *c, const char *ns, const char *name, const char *const *kv, size_t n, ferry_error *err)
{
  json_object *patch = json_object_new_object(), *meta = json_object_new_object(), *ann = json_object_new_object();
  for (size_t i = 0; i + 1 < n; i += 2)
    json_object_object_add(ann, kv[i], kv[i + 1] ? json_object_new_string(kv[i + 1]) : NULL);
  json_object_object_add(meta, "annotations", ann);
  json_object_object_add(patch, "metadata", meta);
  struct ferry_kube_status st = { 0 };
  int rc = ferry_kube_patch(c->kube, &FERRY_KUBE_PODS, ns, name, FERRY_PATCH_MERGE,
                            json_object_to_json_string_ext(patch, JSON_C_TO_STRING_PLAIN), NULL, NULL, &st, err);
  json_object_put(patch);
  if (rc < 0 && st.code == 404) {
    ferry_error_clear(err);
    return 0;
  }
  return rc;
}

/* The source pod, and only it (a StatefulSet's replacement has its name). */
static int delete_source_pod(struct ctl *c, json_object *pm, ferry_error *err)
{
  struct ferry_kube_delete_opts o = FERRY_KUBE_DELETE_OPTS_INIT;
  o.uid = ferry_kube_str(pm, "status.sourcePodUID");
  struct ferry_kube_status st = { 0 };
  int rc = ferry_kube_delete(c->kube, &FERRY_KUBE_PODS, ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "spec.pod"), &o, &st, err);
  if (rc < 0 && (st.code == 404 || st.code == 409)) { /* gone, or another pod by that name */
    ferry_error_clear(err);
    return 0;
  }
  return rc;
}

/* The target pod, and only the one Ferry restored into (by UID when known). */
static int delete_target_pod(struct ctl *c, json_object *pm, ferry_error *err)
{
  const char *tpod = ferry_kube_str(pm, "status.targetPod"), *tuid = ferry_kube_str(pm, "status.targetPodUID");
  if (!tpod || !*tpod)
    return 0;
  if (!tuid && ferry_kube_str(pm, "status.owner.uid") && !strcmp(tpod, ferry_kube_str(pm, "spec.pod") ?: ""))
    return 0; /* a StatefulSet's pod by the source's name, never confirmed as ours */
  struct ferry_kube_delete_opts o = FERRY_KUBE_DELETE_OPTS_INIT;
  o.uid = tuid;
  struct ferry_kube_status st = { 0 };
  int rc = ferry_kube_delete(c->kube, &FERRY_KUBE_PODS, ferry_kube_str(pm, "metadata.namespace"), tpod, &o, &st, err);
  if (rc < 0 && (st.code == 404 || st.code == 409)) {
    ferry_error_clear(err);
    return 0;
  }
  return rc;
}

/* The pod's Ready condition (strategic merge: conditions merge by type). Taking
 * it away before the freeze makes the endpoints controller drop the pod from
 * selector Services; a kubelet sets it again on its next status sync, by which
 * time the container is frozen or gone. */
static int set_pod_ready(struct ctl *c, const char *ns, const char *name, int ready, ferry_error *err)
{
  char now[40];
  ferry_format_time(ferry_now_real_ms(), now, sizeof now);
  char *patch = ferry_asprintf("{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\",\"reason\":\"%s\","
                               "\"message\":\"%s\",\"lastTransitionTime\":\"%s\"}]}}",
                               ready ? "True" : "False", ready ? "FerryMigrationEnded" : "FerryMigrating",
                               ready ? "the migration ended; the pod runs here" : "Ferry is moving this pod: no new traffic",
                               now);
  struct ferry_kube_status st = { 0 };
  int rc = ferry_kube_patch(c->kube, &FERRY_KUBE_PODS, ns, name, FERRY_PATCH_STRATEGIC, patch, "status", NULL, &st, err);
  free(patch);
  if (rc < 0 && st.code == 404) {
    ferry_error_clear(err);
    return 0;
  }
  return rc;
}

/* ---------- phases ---------- */

static int schedule(struct ctl *c, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *pod_name = ferry_kube_str(pm, "spec.pod") ?: "";
  json_object *pod = ferry_informer_get(c->pods, ns, pod_name);
  if (!pod)
    return fail_pm(c, pm, NULL, "PodNotFound", "pod not found", err);
  const char *source = ferry_kube_str(pod, "spec.nodeName"), *phase = ferry_kube_str(pod, "status.phase") ?: "";
  const char *ip = ferry_kube_str(pod, "status.podIP");
  if (!source || !*source || strcmp(phase, "Running") != 0 || !ip || !*ip)
    return fail_pm(c, pm, pod, "PodNotRunning", "the pod is not running on a node (phase, node or address missing)", err);
  if (ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "deletionTimestamp"))
    return fail_pm(c, pm, pod, "PodTerminating", "the pod is being deleted", err);
  json_object *statuses = ferry_kube_obj(ferry_kube_obj(pod, "status"), "containerStatuses");
  if (!statuses || json_object_array_length(statuses) != 1)
    return fail_pm(c, pm, pod, "Unsupported", "only pods with exactly one running container can move yet", err);
  if (!ctl_agent_ready(c, source, NULL))
    return fail_pm(c, pm, pod, "NoAgentOnSource", "no Ferry agent runs on the source node", err);
  json_object *owner = ferry_kube_controller_ref(pod);
  if (owner && strcmp(ferry_kube_str(owner, "kind") ?: "", "ReplicaSet") != 0 && strcmp(ferry_kube_str(owner, "kind") ?: "", "StatefulSet") != 0) {
    char msg[300];
    snprintf(msg, sizeof msg,
             "pods controlled by a %s cannot move yet (bare pods and ReplicaSet, Deployment and StatefulSet pods can)",
             ferry_kube_str(owner, "kind") ?: "?");
    return fail_pm(c, pm, pod, "UnsupportedOwner", msg, err);
  }
  if (owner && !c->webhook)
    return fail_pm(c, pm, pod, "NoWebhook",
                   "a ReplicaSet's pod moves through the controller's admission webhook, which is not running "
                   "(--webhook-listen)",
                   err);
  const char *rclass = ferry_kube_str(pod, "spec.runtimeClassName") ?: "";
  if (c->runtime_class && *c->runtime_class && strcmp(rclass, c->runtime_class) != 0) {
    char msg[512];
    snprintf(msg, sizeof msg,
             "the pod runs with RuntimeClass \"%s\", not \"%s\": only ferry-runc can restore it on the target and keep the "
             "kubelet from restarting it on the source",
             rclass, c->runtime_class);
    return fail_pm(c, pm, pod, "RuntimeClassRequired", msg, err);
  }

  struct policy pol;
  policy_for(c, pod, ns, &pol);
  const char *asked = ferry_kube_str(pm, "spec.strategy"), *strategy = asked ?: pol.strategy, *note = NULL;
  if (!strcmp(strategy, "postCopy") && owner && !strcmp(ferry_kube_str(owner, "kind") ?: "", "StatefulSet")) {
    /* the successor of a StatefulSet's pod takes its name: it can only come once
     * the source pod is gone, which would end the source serving the memory */
    static const char why[] = "postCopy cannot move a StatefulSet's pod: its successor, of the same name, is made only "
                               "after the source pod is deleted, and the source must live until its memory has moved";
    if (asked)
      return fail_pm(c, pm, pod, "StrategyNotSupported", why, err);
    strategy = "stopAndCopy";
    note = why;
  }

  char why[512];
  const char *reason = NULL;
  json_object *target = choose_target(c, pm, pod, why, sizeof why, &reason);
  if (!target)
    return fail_pm(c, pm, pod, reason, why, err);
  const char *target_name = ferry_kube_str(target, "metadata.name");

  struct busy b = { ferry_kube_str(pm, "metadata.uid") ?: "", source, target_name, 0, 0, 0 };
  ferry_informer_each(c->pms, count_busy, &b);
  char wait[256] = "";
  if (b.total >= pol.total)
    snprintf(wait, sizeof wait, "waiting: %d migrations running in the cluster (limit %d)", b.total, pol.total);
  else if (b.on_source >= pol.per_node)
    snprintf(wait, sizeof wait, "waiting: %d migrations running on %s (limit %d)", b.on_source, source, pol.per_node);
  else if (b.on_target >= pol.per_node)
    snprintf(wait, sizeof wait, "waiting: %d migrations running on %s (limit %d)", b.on_target, target_name, pol.per_node);
  if (*wait) {
    *requeue_ms = WAIT_RETRY_MS;
    if (!strcmp(ferry_kube_str(pm, "status.message") ?: "", wait) && pm_phase(pm) == PM_PENDING)
      return 0;
    return write_status(c, pm, pm_status_patch(PM_PENDING, "Waiting", "%s", wait), err);
  }

  /* the target pod: created first, so a restart finds it under the same name */
  char tname[254];
  const char *have = ferry_kube_str(pm, "status.targetPod");
  if (have && *have) {
    snprintf(tname, sizeof tname, "%s", have);
  } else {
    const char *uid = ferry_kube_str(pm, "metadata.uid") ?: "00000";
    char h[65];
    ferry_sha256_hex(uid, strlen(uid), h);
    snprintf(tname, sizeof tname, "%.*s-%.5s", 240, base_name(pod), h);
  }
  if (!owner) { /* an owned pod's target is the replacement its owner makes (owned.c) */
    json_object *tp = target_pod_object(pm, pod, tname, target_name);
    struct ferry_kube_status st = { 0 };
    int rc = ferry_kube_create(c->kube, &FERRY_KUBE_PODS, ns, tp, NULL, &st, err);
    json_object_put(tp);
    if (rc < 0 && st.code != 409)
      return -1;
    ferry_error_clear(err);
  }

  /* Services stop sending to the source before it freezes: selector ones
   * through its readiness, selector-less ones by their endpoints */
  if (set_pod_ready(c, ns, pod_name, 0, err) < 0)
    return -1;
  json_object *before = NULL;
  if (svc_drain(c, ns, ip, &before, err) < 0) {
    json_object_put(before);
    return -1;
  }
  json_object *patch = pm_status_patch(PM_SCHEDULED, "Scheduled", "moving %s from %s to %s", pod_name, source, target_name);
  pm_patch_set(patch, "sourceNode", json_object_new_string(source));
  pm_patch_set(patch, "targetNode", json_object_new_string(target_name));
  if (owner) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "kind", json_object_new_string(ferry_kube_str(owner, "kind") ?: ""));
    json_object_object_add(o, "name", json_object_new_string(ferry_kube_str(owner, "name") ?: ""));
    json_object_object_add(o, "uid", json_object_new_string(ferry_kube_str(owner, "uid") ?: ""));
    pm_patch_set(patch, "owner", o);
  } else {
    pm_patch_set(patch, "targetPod", json_object_new_string(tname));
  }
  pm_patch_set(patch, "sourcePodIP", json_object_new_string(ip));
  pm_patch_set(patch, "sourcePodUID", json_object_new_string(ferry_kube_str(pod, "metadata.uid") ?: ""));
  pm_patch_set(patch, "strategy", json_object_new_string(strategy));
  if (note)
    pm_patch_set(patch, "strategyNote", json_object_new_string(note));
  json_object *gen = ferry_kube_obj(ferry_kube_obj(pm, "metadata"), "generation");
  if (gen)
    pm_patch_set(patch, "observedGeneration", json_object_get(gen));
  if (!ferry_kube_str(pm, "status.startTime")) {
    char now[40];
    ferry_format_time(ferry_now_real_ms(), now, sizeof now);
    pm_patch_set(patch, "startTime", json_object_new_string(now));
  }
  json_object *containers = json_object_new_array();
  for (size_t i = 0; i < json_object_array_length(statuses); i++) {
    json_object *cs = json_object_array_get_idx(statuses, i), *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(ferry_kube_str(cs, "name") ?: ""));
    json_object_object_add(o, "containerID", json_object_new_string(ferry_kube_str(cs, "containerID") ?: ""));
    json_object_array_add(containers, o);
  }
  pm_patch_set(patch, "containers", containers);
  json_object *eps = json_object_new_object();
  json_object_object_add(eps, "before", before ? before : json_object_new_array());
  pm_patch_set(patch, "endpoints", eps);
  if (write_status(c, pm, patch, err) < 0)
    return -1;
  if (owner)
    event(c, pm, "Normal", "Scheduled", "moving pod %s from %s to %s (its replicaset %s makes the target pod)", pod_name,
          source, target_name, ferry_kube_str(owner, "name"));
  else
    event(c, pm, "Normal", "Scheduled", "moving pod %s from %s to %s (target pod %s)", pod_name, source, target_name, tname);
  event(c, pod, "Normal", "Migrating", "%s: moving to %s", ferry_kube_str(pm, "metadata.name"), target_name);
  return 0;
}

/* Restored: Services follow, the source pod goes, Succeeded. */
static int finish(struct ctl *c, json_object *pm, ferry_error *err)
{
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *src_ip = ferry_kube_str(pm, "status.sourcePodIP") ?: "";
  const char *to_ip = ferry_kube_str(pm, "status.targetPodIP"), *to_node = ferry_kube_str(pm, "status.targetNode");
  if (!to_ip || !*to_ip)
    return ferry_error_set(err, 0, "restored, but the target pod has no address in the status");
  json_object *after = NULL;
  if (svc_follow(c, ns, src_ip, to_ip, to_node, &after, err) < 0) {
    json_object_put(after);
    return -1;
  }
  if (delete_source_pod(c, pm, err) < 0) {
    json_object_put(after);
    return -1;
  }
  int64_t start = ferry_parse_time_ms(ferry_kube_str(pm, "status.startTime") ?: "");
  json_object *patch = pm_status_patch(PM_SUCCEEDED, "Succeeded", "running on %s as %s (%s)", to_node,
                                       ferry_kube_str(pm, "status.targetPod"), to_ip);
  json_object *eps = json_object_new_object(), *before = ferry_kube_obj(ferry_kube_obj(ferry_kube_obj(pm, "status"), "endpoints"), "before");
  json_object_object_add(eps, "before", before ? json_object_get(before) : json_object_new_array());
  json_object_object_add(eps, "after", after);
  pm_patch_set(patch, "endpoints", eps);
  if (start > 0)
    pm_patch_set(patch, "totalMillis", json_object_new_int64(ferry_now_real_ms() - start));
  if (write_status(c, pm, patch, err) < 0)
    return -1;
  event(c, pm, "Normal", "Succeeded", "pod %s now runs on %s as %s, downtime %s", ferry_kube_str(pm, "spec.pod"), to_node,
        ferry_kube_str(pm, "status.targetPod"), ferry_kube_str(pm, "status.downtime") ?: "?");
  return 0;
}

/* End states: the outcome on the pod that runs, the loser pod gone, endpoints right. Idempotent. */
static int clean_up(struct ctl *c, json_object *pm, ferry_error *err)
{
  if (pm_condition_true(pm, "CleanedUp"))
    return 0;
  const char *ns = ferry_kube_str(pm, "metadata.namespace");
  enum pm_phase phase = pm_phase(pm);
  const char *tpod = ferry_kube_str(pm, "status.targetPod"), *src_ip = ferry_kube_str(pm, "status.sourcePodIP");
  char *ref = ferry_asprintf("%s/%s", ns, ferry_kube_str(pm, "metadata.name"));
  char result[600];
  snprintf(result, sizeof result, "%s: %s", pm_phase_name(phase), ferry_kube_str(pm, "status.message") ?: "");
  int rc = 0;
  if (phase == PM_SUCCEEDED) {
    const char *kv[] = { FERRY_ANN_RESULT, result, FERRY_ANN_RESTORE_FROM, NULL };
    rc = tpod ? annotate_pod(c, ns, tpod, kv, 4, err) : 0;
  } else {
    /* an owned source pod goes back to its owner first: with the target pod
     * gone before, the owner would make a replacement nobody holds */
    if (ferry_kube_str(pm, "status.owner.uid"))
      rc = owned_release_source(c, pm, err);
    if (rc == 0 && tpod && *tpod)
      rc = delete_target_pod(c, pm, err);
    if (rc == 0 && src_ip && *src_ip)
      rc = svc_undrain(c, ns, src_ip, err);
    if (rc == 0 && ferry_kube_str(pm, "status.sourceNode")) /* it was drained: it runs there again */
      rc = set_pod_ready(c, ns, ferry_kube_str(pm, "spec.pod"), 1, err);
    const char *kv[] = { FERRY_ANN_RESULT, result, FERRY_ANN_MIGRATE_TO, NULL, FERRY_ANN_MIGRATION, ref };
    if (rc == 0)
      rc = annotate_pod(c, ns, ferry_kube_str(pm, "spec.pod"), kv, 6, err);
  }
  free(ref);
  if (rc < 0)
    return -1;
  json_object *patch = pm_status_patch(PM_NONE, NULL, NULL);
  pm_patch_condition(patch, pm, "CleanedUp", 1, pm_phase_name(phase), "");
  return write_status(c, pm, patch, err);
}

static int deadline_passed(struct ctl *c, json_object *pm, int64_t *requeue_ms)
{
  const char *ns = ferry_kube_str(pm, "metadata.namespace");
  json_object *pod = ferry_informer_get(c->pods, ns, ferry_kube_str(pm, "spec.pod") ?: "");
  int64_t since = ferry_parse_time_ms(ferry_kube_str(pm, "status.phaseTime") ?: "");
  int64_t limit = (int64_t)phase_timeout_s(c, pm, pod) * 1000, left = since + limit - ferry_now_real_ms();
  if (since <= 0 || left > 0) {
    *requeue_ms = since <= 0 ? WAIT_RETRY_MS : left + 50;
    return 0;
  }
  return 1;
}

static int roll_back(struct ctl *c, json_object *pm, const char *reason, const char *msg, ferry_error *err)
{
  json_object *patch = pm_status_patch(PM_ROLLING_BACK, reason, "%s", msg);
  pm_patch_set(patch, "rollbackFrom", json_object_new_string(pm_phase_name(pm_phase(pm))));
  if (write_status(c, pm, patch, err) < 0)
    return -1;
  event(c, pm, "Warning", reason, "%s; rolling back to %s", msg, ferry_kube_str(pm, "status.sourceNode") ?: "the source");
  return 0;
}

int ctl_reconcile_pm(struct ctl *c, const char *ns, const char *name, int64_t *requeue_ms, ferry_error *err)
{
  *requeue_ms = 0;
  json_object *pm = ferry_informer_get(c->pms, ns, name);
  if (!pm)
    return 0;
  enum pm_phase phase = pm_phase(pm);
  int deleting = ferry_kube_obj(ferry_kube_obj(pm, "metadata"), "deletionTimestamp") != NULL;
  if (deleting) {
    if (!has_finalizer(pm))
      return 0;
    if (pm_phase_is_terminal(phase)) {
      if (clean_up(c, pm, err) < 0)
        return -1;
      return set_finalizer(c, pm, 0, err);
    }
    if (phase == PM_PENDING || phase == PM_SCHEDULED)
      return fail_pm(c, pm, NULL, "Cancelled", "the PodMigration was deleted before the pod was frozen", err);
    if (phase != PM_ROLLING_BACK)
      return roll_back(c, pm, "Cancelled", "the PodMigration was deleted", err);
    return 0; /* the agents are rolling back; the end state removes the finalizer */
  }
  if (!has_finalizer(pm) && !pm_phase_is_terminal(phase))
    return set_finalizer(c, pm, 1, err);
  if (phase == PM_PENDING)
    return schedule(c, pm, requeue_ms, err);
  if (pm_phase_is_terminal(phase))
    return clean_up(c, pm, err);
  /* post-copy: the pod runs on the target once Restored, but the source is kept
   * until every page arrived and the source let go */
  if (phase == PM_RESTORING && pm_condition_true(pm, "Restored") &&
      (strcmp(ferry_kube_str(pm, "status.strategy") ?: "", "postCopy") != 0 ||
       (pm_condition_true(pm, "MemoryTransferred") && pm_condition_true(pm, "SourceReleased"))))
    return finish(c, pm, err);
  if (phase == PM_TRANSFERRING && ferry_kube_str(pm, "status.owner.uid") && !ferry_kube_str(pm, "status.targetPod") &&
      owned_transfer(c, pm, requeue_ms, err) < 0)
    return -1;
  if (!deadline_passed(c, pm, requeue_ms))
    return 0;
  char msg[256];
  snprintf(msg, sizeof msg, "%s took longer than its timeout", pm_phase_name(phase));
  if (phase == PM_SCHEDULED)
    return fail_pm(c, pm, NULL, "Timeout", msg, err);
  if (phase == PM_CHECKPOINTING || phase == PM_TRANSFERRING || phase == PM_RESTORING)
    return roll_back(c, pm, "Timeout", msg, err);
  /* RollingBack past its deadline: only the agents can finish it; say so, loudly, once a phase */
  log_error("podmigration %s/%s: rollback has not finished; the source agent on %s must restore the pod", ns, name,
            ferry_kube_str(pm, "status.sourceNode") ?: "?");
  event(c, pm, "Warning", "RollbackStuck", "the rollback has not finished within the phase timeout");
  *requeue_ms = 30000;
  return 0;
}
