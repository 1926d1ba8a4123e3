/* SPDX-License-Identifier: Apache-2.0 */
/* One pod on this node, as a kubelet keeps it: its sandbox, its containers
 * created and started through the runtime (pod.h: the OCI runtime the pod's
 * RuntimeClass names, called as containerd's shim calls runc, or a CRI runtime),
 * restarts with back-off by restartPolicy, graceful stop when the pod is
 * deleted, and the pod's status written back when it changes. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pod.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 10000

static struct pod_state *state_of(struct kubelet *k, json_object *pod, int create)
{
  const char *uid = ferry_kube_str(pod, "metadata.uid") ?: "";
  for (struct pod_state *s = k->local; s; s = s->next)
    if (!strcmp(s->uid, uid))
      return s;
  if (!create)
    return NULL;
  struct pod_state *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  snprintf(s->uid, sizeof s->uid, "%s", uid);
  snprintf(s->ns, sizeof s->ns, "%s", ferry_kube_str(pod, "metadata.namespace") ?: "default");
  snprintf(s->name, sizeof s->name, "%s", ferry_kube_str(pod, "metadata.name") ?: "");
  s->start_ms = ferry_now_real_ms();
  json_object *spec, *ctrs;
  if (json_object_object_get_ex(pod, "spec", &spec) && json_object_object_get_ex(spec, "containers", &ctrs))
    for (size_t i = 0; i < json_object_array_length(ctrs) && s->nctr < KL_MAX_CTRS; i++) {
      json_object *c = json_object_array_get_idx(ctrs, i);
      struct ctr *ct = &s->c[s->nctr++];
      snprintf(ct->name, sizeof ct->name, "%s", ferry_kube_str(c, "name") ?: "c");
      snprintf(ct->image, sizeof ct->image, "%s", ferry_kube_str(c, "image") ?: "");
      /* an ID per pod and container, stable across this runner's restarts */
      char *id = ferry_asprintf("%.60s-%.40s-%.8s", s->name, ct->name, s->uid);
      snprintf(ct->id, sizeof ct->id, "%s", id);
      free(id);
    }
  if (k->rt->adopt) {
    cleanup_error ferry_error err = FERRY_ERROR_INIT;
    int found = k->rt->adopt(k, s, &err);
    if (found < 0)
      log_warn("pod %s/%s: what the runtime has of it: %s", s->ns, s->name, ferry_error_msg(&err));
    s->adopted = found > 0;
  }
  s->next = k->local;
  k->local = s;
  return s;
}

static void state_free(struct pod_state *s)
{
  for (int i = 0; i < s->nctr; i++)
    free(s->c[i].message);
  free(s->last_status);
  free(s);
}

void pod_state_free_all(struct kubelet *k)
{
  while (k->local) {
    struct pod_state *n = k->local->next;
    state_free(k->local);
    k->local = n;
  }
}

static void set_waiting(struct ctr *c, const char *reason, const char *msg)
{
  snprintf(c->reason, sizeof c->reason, "%s", reason);
  free(c->message);
  c->message = msg ? ferry_strdup(msg) : NULL;
}

/* ---------- starting ---------- */

static json_object *container_spec(json_object *pod, const char *name)
{
  json_object *spec, *ctrs;
  if (json_object_object_get_ex(pod, "spec", &spec) && json_object_object_get_ex(spec, "containers", &ctrs))
    for (size_t i = 0; i < json_object_array_length(ctrs); i++)
      if (!strcmp(ferry_kube_str(json_object_array_get_idx(ctrs, i), "name") ?: "", name))
        return json_object_array_get_idx(ctrs, i);
  return NULL;
}

static void backoff(struct ctr *c)
{
  c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_FIRST_MS;
  if (c->backoff_ms > BACKOFF_MAX_MS)
    c->backoff_ms = BACKOFF_MAX_MS;
  c->next_try_ms = ferry_now_mono_ms() + c->backoff_ms;
}

static void start_container(struct kubelet *k, struct pod_state *s, struct ctr *c, json_object *pod)
{
  ferry_error err = FERRY_ERROR_INIT;
  const char *reason = "CreateContainerError";
  if (k->rt->start(k, s, c, pod, container_spec(pod, c->name), &reason, &err) < 0) {
    set_waiting(c, reason, ferry_error_msg(&err));
    log_warn("pod %s/%s: container %s: %s", s->ns, s->name, c->name, c->message ?: "");
    ferry_error_clear(&err);
    ferry_record_event(k->rec, pod, "Warning", "Failed", &err, "Error: %s", c->message ?: "");
    ferry_error_clear(&err);
    backoff(c);
    return;
  }
  c->reaped = 0;
  c->running = c->ever_started = 1;
  c->terminated = 0;
  c->started_ms = ferry_now_real_ms();
  c->backoff_ms = 0;
  set_waiting(c, "", NULL);
  log_info("pod %s/%s: container %s started (%s, pid %d)", s->ns, s->name, c->name, c->id, (int)c->pid);
  ferry_record_event(k->rec, pod, "Normal", "Started", &err, "Started container %s", c->name);
  ferry_error_clear(&err);
}

void pod_reap(struct kubelet *k, pid_t pid, int status)
{
  for (struct pod_state *s = k->local; s; s = s->next)
    for (int i = 0; i < s->nctr; i++)
      if (s->c[i].pid == pid) {
        s->c[i].reaped = 1;
        s->c[i].status = status;
      }
}

/* ---------- the loop's look at one container ---------- */

static const char *restart_policy(json_object *pod) { return ferry_kube_str(pod, "spec.restartPolicy") ?: "Always"; }

static int stays_ended(json_object *pod, int exit_code)
{
  const char *policy = restart_policy(pod);
  return !strcmp(policy, "Never") || (!strcmp(policy, "OnFailure") && exit_code == 0);
}

/* c's runtime says it ended: exited, killed, or taken away by a checkpoint. */
static void container_ended(struct kubelet *k, struct pod_state *s, struct ctr *c, json_object *pod,
                            const struct kl_ctr_status *st)
{
  c->running = 0;
  c->terminated = 1;
  c->finished_ms = ferry_now_real_ms();
  c->exit_code = st->exit_known ? st->exit_code : 137;
  snprintf(c->reason, sizeof c->reason, "%s", c->exit_code == 0 ? "Completed" : "Error");
  log_info("pod %s/%s: container %s ended (exit %d%s)", s->ns, s->name, c->name, c->exit_code,
           st->exit_known ? "" : ", not seen exiting: assumed killed");
  if (st->state != KL_CTR_ABSENT && !k->rt->keeps_ended) {
    cleanup_error ferry_error err = FERRY_ERROR_INIT;
    if (k->rt->remove(k, s, c, &err) < 0)
      log_warn("pod %s/%s: %s", s->ns, s->name, ferry_error_msg(&err));
  }
  if (stays_ended(pod, c->exit_code))
    return;
  c->restarts++;
  backoff(c);
}

static void check_container(struct kubelet *k, struct pod_state *s, struct ctr *c, json_object *pod)
{
  struct kl_ctr_status st;
  k->rt->status(k, s, c, &st);
  if (st.state == KL_CTR_RUNNING || st.state == KL_CTR_PAUSED) {
    if (!c->running) { /* started by someone else: Ferry's agent restoring it after a rollback */
      c->running = c->ever_started = 1;
      c->terminated = 0;
      c->pid = st.pid;
      c->started_ms = ferry_now_real_ms();
      set_waiting(c, "", NULL);
      log_info("pod %s/%s: container %s is running (pid %d)", s->ns, s->name, c->name, (int)st.pid);
    }
    return;
  }
  if (c->running) {
    container_ended(k, s, c, pod, &st);
    return;
  }
  if (c->terminated && stays_ended(pod, c->exit_code))
    return;
  if (ferry_now_mono_ms() >= c->next_try_ms)
    start_container(k, s, c, pod);
}

/* ---------- status ---------- */

static json_object *cond(const char *type, int ok, const char *reason)
{
  json_object *c = json_object_new_object();
  json_object_object_add(c, "type", json_object_new_string(type));
  json_object_object_add(c, "status", json_object_new_string(ok ? "True" : "False"));
  if (reason && !ok)
    json_object_object_add(c, "reason", json_object_new_string(reason));
  return c;
}

static void stamp(json_object *o, const char *key, int64_t ms)
{
  char t[40];
  ferry_format_time(ms, t, sizeof t);
  json_object_object_add(o, key, json_object_new_string(t));
}

static void report(struct kubelet *k, struct pod_state *s, json_object *pod)
{
  json_object *status = json_object_new_object(), *cs = json_object_new_array();
  int ready = s->nctr > 0, running = 0, done = 0, failed = 0;
  for (int i = 0; i < s->nctr; i++) {
    struct ctr *c = &s->c[i];
    json_object *o = json_object_new_object(), *state = json_object_new_object(), *inner = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(c->name));
    json_object_object_add(o, "image", json_object_new_string(c->image));
    json_object_object_add(o, "imageID", json_object_new_string(c->image));
    if (c->ever_started) {
      char *id = ferry_asprintf("%s://%s", k->rt->id_scheme, c->id);
      json_object_object_add(o, "containerID", json_object_new_string(id));
      free(id);
    }
    json_object_object_add(o, "ready", json_object_new_boolean(c->running));
    json_object_object_add(o, "started", json_object_new_boolean(c->running));
    json_object_object_add(o, "restartCount", json_object_new_int(c->restarts));
    if (c->running) {
      stamp(inner, "startedAt", c->started_ms);
      json_object_object_add(state, "running", inner);
      running++;
    } else if (c->terminated && !c->reason[0]) {
      json_object_put(inner);
    } else if (c->terminated && (!strcmp(c->reason, "Completed") || !strcmp(c->reason, "Error"))) {
      json_object_object_add(inner, "exitCode", json_object_new_int(c->exit_code));
      json_object_object_add(inner, "reason", json_object_new_string(c->reason));
      stamp(inner, "finishedAt", c->finished_ms);
      json_object_object_add(state, "terminated", inner);
      if (c->exit_code == 0)
        done++;
      else
        failed++;
    } else {
      json_object_object_add(inner, "reason", json_object_new_string(c->reason[0] ? c->reason : "ContainerCreating"));
      if (c->message)
        json_object_object_add(inner, "message", json_object_new_string(c->message));
      json_object_object_add(state, "waiting", inner);
    }
    json_object_object_add(o, "state", state);
    json_object_array_add(cs, o);
    ready = ready && c->running;
  }
  const char *policy = restart_policy(pod);
  const char *phase = running || !strcmp(policy, "Always") ? (running ? "Running" : "Pending")
                      : done + failed == s->nctr           ? (failed ? "Failed" : "Succeeded")
                                                           : "Pending";
  if (!running && !strcmp(policy, "Always") && s->nctr && s->c[0].ever_started)
    phase = "Running"; /* restarting: a pod that ran stays Running */
  json_object_object_add(status, "phase", json_object_new_string(phase));
  json_object *conds = json_object_new_array();
  json_object_array_add(conds, cond("PodReadyToStartContainers", s->ip[0] != 0, NULL));
  json_object_array_add(conds, cond("Initialized", 1, NULL));
  json_object_array_add(conds, cond("ContainersReady", ready, "ContainersNotReady"));
  json_object_array_add(conds, cond("Ready", ready, "ContainersNotReady"));
  json_object_array_add(conds, cond("PodScheduled", 1, NULL));
  json_object_object_add(status, "conditions", conds);
  if (s->ip[0]) {
    json_object_object_add(status, "podIP", json_object_new_string(s->ip));
    json_object *ips = json_object_new_array(), *one = json_object_new_object();
    json_object_object_add(one, "ip", json_object_new_string(s->ip));
    json_object_array_add(ips, one);
    json_object_object_add(status, "podIPs", ips);
  }
  if (k->cfg.host_ip)
    json_object_object_add(status, "hostIP", json_object_new_string(k->cfg.host_ip));
  stamp(status, "startTime", s->start_ms);
  json_object_object_add(status, "containerStatuses", cs);
  const char *text = json_object_to_json_string(status);
  if (!s->last_status || strcmp(s->last_status, text) != 0) {
    json_object *patch = json_object_new_object();
    json_object_object_add(patch, "status", json_object_get(status));
    ferry_error err = FERRY_ERROR_INIT;
    if (ferry_kube_patch(k->kube, &FERRY_KUBE_PODS, s->ns, s->name, FERRY_PATCH_MERGE,
                         json_object_to_json_string(patch), "status", NULL, NULL, &err) == 0) {
      free(s->last_status);
      s->last_status = ferry_strdup(text);
    } else {
      log_warn("pod %s/%s: status: %s", s->ns, s->name, ferry_error_msg(&err));
    }
    ferry_error_clear(&err);
    json_object_put(patch);
  }
  json_object_put(status);
}

/* ---------- stopping ---------- */

static void forget(struct kubelet *k, struct pod_state *s)
{
  for (struct pod_state **p = &k->local; *p; p = &(*p)->next)
    if (*p == s) {
      *p = s->next;
      state_free(s);
      return;
    }
}

/* TERM, then KILL at the end of the grace period; once nothing runs: the
 * containers deleted, the bundle and network gone. Returns 1 when done. */
static int stop_pod(struct kubelet *k, struct pod_state *s, int64_t grace_s)
{
  int64_t now = ferry_now_mono_ms();
  if (!s->stopping) {
    s->stopping = 1;
    s->kill_at_ms = now + grace_s * 1000;
    log_info("pod %s/%s: stopping (grace period %llds)", s->ns, s->name, (long long)grace_s);
  }
  int alive = 0;
  for (int i = 0; i < s->nctr; i++) {
    struct ctr *c = &s->c[i];
    struct kl_ctr_status st;
    k->rt->status(k, s, c, &st);
    if (st.state == KL_CTR_ABSENT)
      continue;
    if (st.state == KL_CTR_RUNNING || st.state == KL_CTR_PAUSED || st.state == KL_CTR_CREATED) {
      alive++;
      int kill_now = now >= s->kill_at_ms;
      if (kill_now || !c->term_sent) {
        k->rt->stop(k, s, c, st.state, kill_now ? 0 : (s->kill_at_ms - now + 999) / 1000);
        c->term_sent = 1;
      }
    } else {
      cleanup_error ferry_error err = FERRY_ERROR_INIT;
      if (k->rt->remove(k, s, c, &err) < 0)
        log_warn("pod %s/%s: %s", s->ns, s->name, ferry_error_msg(&err));
    }
  }
  if (alive)
    return 0;
  k->rt->sandbox_down(k, s);
  return 1;
}

static int bound_here(struct kubelet *k, json_object *pod)
{
  return !strcmp(ferry_kube_str(pod, "spec.nodeName") ?: "", k->cfg.node);
}

static int deleting_or_ended(json_object *pod)
{
  const char *phase = ferry_kube_str(pod, "status.phase") ?: "";
  return ferry_kube_str(pod, "metadata.deletionTimestamp") || !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed");
}

/* A pod bound here: its state made, taking back what the runtime has of it; a
 * pod being deleted or ended that the runtime has nothing of is not kept (its
 * sync confirms the delete, or leaves it be). */
static void adopt_pod(void *ctx, json_object *pod)
{
  struct kubelet *k = ctx;
  if (!bound_here(k, pod) || state_of(k, pod, 0))
    return;
  struct pod_state *s = state_of(k, pod, 1);
  if (!s)
    return;
  if (s->adopted)
    log_info("pod %s/%s: taken back from the runtime", s->ns, s->name);
  else if (deleting_or_ended(pod))
    forget(k, s);
}

void pod_adopt_all(struct kubelet *k)
{
  if (k->rt->adopt)
    ferry_informer_each(k->pods, adopt_pod, k);
  if (k->rt->sweep)
    k->rt->sweep(k);
  k->adopted = 1;
}

void pod_sync(struct kubelet *k, json_object *pod)
{
  if (!k->adopted || !bound_here(k, pod)) /* (until the runtime's pods were taken back) */
    return;
  struct pod_state *s = state_of(k, pod, 0);
  int deleting = ferry_kube_str(pod, "metadata.deletionTimestamp") != NULL;
  if (!s && deleting_or_ended(pod)) {
    if (deleting) { /* not ours any more (or never started): confirm the delete */
      struct ferry_kube_delete_opts d = FERRY_KUBE_DELETE_OPTS_INIT;
      d.grace_period_seconds = 0;
      d.uid = ferry_kube_str(pod, "metadata.uid");
      ferry_error err = FERRY_ERROR_INIT;
      if (ferry_kube_delete(k->kube, &FERRY_KUBE_PODS, ferry_kube_str(pod, "metadata.namespace"),
                            ferry_kube_str(pod, "metadata.name"), &d, NULL, &err) < 0)
        log_debug("%s", ferry_error_msg(&err));
      ferry_error_clear(&err);
    }
    return;
  }
  if (!s && !(s = state_of(k, pod, 1)))
    return;
  s->seen = 1;
  if (deleting) {
    json_object *g;
    json_object *meta;
    int64_t grace = json_object_object_get_ex(pod, "metadata", &meta) &&
                            json_object_object_get_ex(meta, "deletionGracePeriodSeconds", &g)
                        ? json_object_get_int64(g)
                        : 30;
    if (stop_pod(k, s, grace)) {
      struct ferry_kube_delete_opts d = FERRY_KUBE_DELETE_OPTS_INIT;
      d.grace_period_seconds = 0;
      d.uid = s->uid;
      ferry_error err = FERRY_ERROR_INIT;
      if (ferry_kube_delete(k->kube, &FERRY_KUBE_PODS, s->ns, s->name, &d, NULL, &err) < 0)
        log_warn("pod %s/%s: %s", s->ns, s->name, ferry_error_msg(&err));
      else
        log_info("pod %s/%s: stopped and deleted", s->ns, s->name);
      ferry_error_clear(&err);
      forget(k, s);
    }
    return;
  }
  /* the runtime the pod's RuntimeClass names */
  const char *rc_name = ferry_kube_str(pod, "spec.runtimeClassName"), *handler = "runc";
  if (rc_name && *rc_name) {
    json_object *cls = ferry_informer_get(k->rclasses, NULL, rc_name);
    handler = cls ? ferry_kube_str(cls, "handler") : NULL;
    if (!handler) {
      for (int i = 0; i < s->nctr; i++)
        set_waiting(&s->c[i], "ContainerCreating", NULL);
      log_warn("pod %s/%s: RuntimeClass \"%s\" not found", s->ns, s->name, rc_name);
      report(k, s, pod);
      return;
    }
  }
  snprintf(s->handler, sizeof s->handler, "%s", handler);
  s->runtime = NULL;
  for (int i = 0; i < k->cfg.nhandlers; i++)
    if (!strcmp(k->cfg.handlers[i][0], handler))
      s->runtime = k->cfg.handlers[i][1];
  if (!s->runtime && !k->rt->any_handler) {
    for (int i = 0; i < s->nctr; i++)
      set_waiting(&s->c[i], "CreateContainerConfigError", NULL);
    log_warn("pod %s/%s: no runtime handler \"%s\" on this node", s->ns, s->name, handler);
    report(k, s, pod);
    return;
  }
  if (!s->ip[0] && ferry_now_mono_ms() >= s->next_sandbox_ms) {
    ferry_error err = FERRY_ERROR_INIT;
    if (k->rt->sandbox_up(k, s, pod, &err) < 0) {
      s->ip[0] = '\0';
      s->next_sandbox_ms = ferry_now_mono_ms() + 2000;
      log_warn("pod %s/%s: sandbox: %s", s->ns, s->name, ferry_error_msg(&err));
      ferry_error_clear(&err);
      ferry_record_event(k->rec, pod, "Warning", "FailedCreatePodSandBox", &err, "Failed to create pod sandbox: %s",
                         "network");
      ferry_error_clear(&err);
    }
  }
  if (s->ip[0])
    for (int i = 0; i < s->nctr; i++)
      check_container(k, s, &s->c[i], pod);
  report(k, s, pod);
}

struct orphan_ctx {
  struct kubelet *k;
};
static void mark_seen(void *ctx, json_object *pod)
{
  struct kubelet *k = ((struct orphan_ctx *)ctx)->k;
  struct pod_state *s = state_of(k, pod, 0);
  if (s)
    s->seen = 1;
}

void pod_sync_orphans(struct kubelet *k)
{
  for (struct pod_state *s = k->local; s; s = s->next)
    s->seen = 0;
  struct orphan_ctx ctx = { k };
  ferry_informer_each(k->pods, mark_seen, &ctx);
  for (struct pod_state *s = k->local, *next; s; s = next) {
    next = s->next;
    if (!s->seen && stop_pod(k, s, 0)) { /* deleted outright (grace 0 or forced): stop at once */
      log_info("pod %s/%s: gone from the API; stopped", s->ns, s->name);
      forget(k, s);
    }
  }
}

int64_t pod_run_as(json_object *pod, json_object *cspec, const char *field)
{
  json_object *v = ferry_kube_key(ferry_kube_obj(cspec, "securityContext"), field);
  if (!v)
    v = ferry_kube_key(ferry_kube_obj(pod, "spec.securityContext"), field);
  return v && json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
}
