/* SPDX-License-Identifier: Apache-2.0 */
/* The CRI runtime of kubelet-lite (--container-runtime-endpoint): each pod is a
 * pod sandbox of the runtime (containerd), as the real kubelet runs it:
 * RunPodSandbox with the pod's metadata, labels, annotations (containerd passes
 * the ferry.dev/ ones on by its handler's pod_annotations) and RuntimeClass handler, its
 * network from the runtime's CNI; CreateContainer and StartContainer; state from
 * ContainerStatus; StopContainer with the grace period; StopPodSandbox and
 * RemovePodSandbox once nothing runs. Logs go to STATE/pods/UID/NAME_ATTEMPT.log.
 * Restarted, it finds its pods again as the kubelet does: their sandboxes by the
 * label io.kubernetes.pod.uid (ListPodSandbox), their containers by name and
 * attempt (ListContainers); what no pod of the node keeps is stopped and removed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pod.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "cri/cri.h"

#define KV_MAX 64
#define ARGV_MAX 64
#define NS_PER_MS 1000000
#define LABEL_POD_UID "io.kubernetes.pod.uid"

/* Key-value pairs borrowed from the pod's JSON, which outlives the call they are for. */
struct kv_set {
  struct ferry_cri_kv kv[KV_MAX];
  size_t n;
};

static void kv_add(struct kv_set *set, const char *key, const char *value)
{
  if (set->n < KV_MAX)
    set->kv[set->n++] = (struct ferry_cri_kv){ key, value ?: "" };
}

/* The string members of JSON object o. */
static void kv_add_object(struct kv_set *set, json_object *o)
{
  if (!o || !json_object_is_type(o, json_type_object))
    return;
  json_object_object_foreach(o, key, val)
  {
    if (json_object_is_type(val, json_type_string))
      kv_add(set, key, json_object_get_string(val));
  }
}

/* A sandbox's configuration for pod (RunPodSandbox, and CreateContainer again). */
struct sandbox_cfg {
  struct ferry_cri_sandbox_config cfg;
  struct kv_set labels, annotations;
  char *log_dir;
};

static void sandbox_cfg_free(struct sandbox_cfg *sc) { free(sc->log_dir); }

static void sandbox_cfg_make(struct kubelet *k, struct pod_state *s, json_object *pod, struct sandbox_cfg *sc)
{
  memset(sc, 0, sizeof *sc);
  kv_add_object(&sc->labels, ferry_kube_obj(pod, "metadata.labels"));
  kv_add(&sc->labels, "io.kubernetes.pod.name", s->name);
  kv_add(&sc->labels, "io.kubernetes.pod.namespace", s->ns);
  kv_add(&sc->labels, LABEL_POD_UID, s->uid);
  kv_add_object(&sc->annotations, ferry_kube_obj(pod, "metadata.annotations"));
  sc->log_dir = ferry_asprintf("%s/pods/%s", k->cfg.state_dir, s->uid);
  struct ferry_cri_sandbox_config *c = &sc->cfg;
  c->name = s->name;
  c->uid = s->uid;
  c->namespace = s->ns;
  c->attempt = s->sandbox_attempt;
  c->hostname = s->name;
  c->log_directory = sc->log_dir;
  c->labels = sc->labels.kv;
  c->n_labels = sc->labels.n;
  c->annotations = sc->annotations.kv;
  c->n_annotations = sc->annotations.n;
  c->runtime_handler = s->handler[0] ? s->handler : NULL;
}

int cri_connect(struct kubelet *k, ferry_error *err)
{
  if (!(k->cri = ferry_cri_open(k->cfg.cri_endpoint, 0, err)))
    return -1;
  struct ferry_cri_version v;
  if (ferry_cri_version(k->cri, &v, err) < 0)
    return ferry_error_prefix(err, "%s", k->cfg.cri_endpoint);
  k->runtime_version = ferry_asprintf("%s://%s", v.runtime_name, v.runtime_version);
  ferry_cri_version_free(&v);
  k->rt = &kl_cri_runtime;
  return 0;
}

/* RunPodSandbox (once), then its address from PodSandboxStatus. */
static int cri_sandbox_up(struct kubelet *k, struct pod_state *s, json_object *pod, ferry_error *err)
{
  if (!s->sandbox[0]) {
    struct sandbox_cfg sc;
    sandbox_cfg_make(k, s, pod, &sc);
    cleanup_free char *id = NULL;
    int rc = ferry_mkdir_p(sc.log_dir, 0755, err) < 0 ? -1 : ferry_cri_run_pod_sandbox(k->cri, &sc.cfg, &id, err);
    sandbox_cfg_free(&sc);
    if (rc < 0)
      return -1;
    snprintf(s->sandbox, sizeof s->sandbox, "%s", id);
    log_info("pod %s/%s: sandbox %s (handler %s)", s->ns, s->name, s->sandbox, s->handler);
  }
  struct ferry_cri_sandbox_status st;
  if (ferry_cri_pod_sandbox_status(k->cri, s->sandbox, &st, err) < 0)
    return -1;
  int rc = 0;
  if (st.state != FERRY_CRI_SANDBOX_READY || !st.ip || !st.ip[0])
    rc = ferry_error_set(err, EAGAIN, "sandbox %s is %s, address \"%s\"", s->sandbox,
                         ferry_cri_sandbox_state_name(st.state), st.ip ?: "");
  else
    snprintf(s->ip, sizeof s->ip, "%s", st.ip);
  ferry_cri_sandbox_status_free(&st);
  return rc;
}

/* NULL-terminated strings of a JSON array (borrowed), NULL when there is none. */
static const char *const *strings_of(json_object *arr, const char **out)
{
  if (!arr || !json_object_is_type(arr, json_type_array) || json_object_array_length(arr) == 0)
    return NULL;
  size_t n = 0;
  for (size_t i = 0; i < json_object_array_length(arr) && n < ARGV_MAX - 1; i++)
    out[n++] = json_object_get_string(json_object_array_get_idx(arr, i));
  out[n] = NULL;
  return out;
}

/* hostPath volumes, bind-mounted where the container's volumeMounts say. */
static int mounts_of(json_object *pod, json_object *cspec, struct ferry_cri_mount *out, size_t *n, ferry_error *err)
{
  json_object *vms = ferry_kube_obj(cspec, "volumeMounts"), *vols = ferry_kube_obj(pod, "spec.volumes");
  *n = 0;
  for (size_t i = 0; vms && i < json_object_array_length(vms) && *n < KV_MAX; i++) {
    json_object *vm = json_object_array_get_idx(vms, i), *src = NULL;
    for (size_t j = 0; vols && j < json_object_array_length(vols) && !src; j++)
      if (!strcmp(ferry_kube_str(json_object_array_get_idx(vols, j), "name") ?: "", ferry_kube_str(vm, "name") ?: ""))
        src = json_object_array_get_idx(vols, j);
    const char *host = src ? ferry_kube_str(src, "hostPath.path") : NULL, *dest = ferry_kube_str(vm, "mountPath");
    if (!host || !dest)
      return ferry_error_set(err, EINVAL, "volumeMount %s: kubelet-lite mounts hostPath volumes only",
                             ferry_kube_str(vm, "name") ?: "");
    json_object *ro = ferry_kube_obj(vm, "readOnly");
    out[(*n)++] = (struct ferry_cri_mount){ dest, host, ro && json_object_get_boolean(ro) };
  }
  return 0;
}

/* The container's configuration from its spec; strings borrowed from the pod's JSON. */
struct container_cfg {
  struct ferry_cri_container_config cfg;
  struct kv_set envs, labels;
  const char *command[ARGV_MAX], *args[ARGV_MAX];
  struct ferry_cri_mount mounts[KV_MAX];
  char *log_path;
  int64_t user, group; /* the securityContext's runAsUser, runAsGroup; -1: unset */
};

static int container_cfg_make(struct pod_state *s, struct ctr *c, json_object *pod, json_object *cspec,
                              struct container_cfg *cc, ferry_error *err)
{
  memset(cc, 0, sizeof *cc);
  json_object *env = ferry_kube_obj(cspec, "env");
  for (size_t i = 0; env && i < json_object_array_length(env); i++)
    kv_add(&cc->envs, ferry_kube_str(json_object_array_get_idx(env, i), "name"),
           ferry_kube_str(json_object_array_get_idx(env, i), "value"));
  kv_add(&cc->labels, "io.kubernetes.container.name", c->name);
  kv_add(&cc->labels, "io.kubernetes.pod.name", s->name);
  kv_add(&cc->labels, "io.kubernetes.pod.namespace", s->ns);
  kv_add(&cc->labels, LABEL_POD_UID, s->uid);
  struct ferry_cri_container_config *f = &cc->cfg;
  if (mounts_of(pod, cspec, cc->mounts, &f->n_mounts, err) < 0)
    return -1;
  cc->log_path = ferry_asprintf("%s_%d.log", c->name, c->restarts);
  f->name = c->name;
  f->attempt = (uint32_t)c->restarts;
  f->image = c->image;
  f->command = strings_of(ferry_kube_obj(cspec, "command"), cc->command);
  f->args = strings_of(ferry_kube_obj(cspec, "args"), cc->args);
  f->working_dir = ferry_kube_str(cspec, "workingDir");
  f->envs = cc->envs.kv;
  f->n_envs = cc->envs.n;
  f->labels = cc->labels.kv;
  f->n_labels = cc->labels.n;
  f->log_path = cc->log_path;
  f->mounts = cc->mounts;
  cc->user = pod_run_as(pod, cspec, "runAsUser");
  cc->group = pod_run_as(pod, cspec, "runAsGroup");
  f->run_as_user = cc->user >= 0 ? &cc->user : NULL;
  f->run_as_group = cc->group >= 0 ? &cc->group : NULL;
  return 0;
}

static void container_pid(struct kubelet *k, struct ctr *c)
{
  struct ferry_cri_container_status st;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  c->pid = 0;
  if (ferry_cri_container_status(k->cri, c->id, &st, &err) == 0) {
    c->pid = st.pid;
    ferry_cri_container_status_free(&st);
  }
}

/* The previous attempt's dead container goes before the next is made (the
 * real kubelet's garbage collection keeps one dead container per container). */
static int remove_previous(struct kubelet *k, struct pod_state *s, struct ctr *c, ferry_error *err)
{
  if (!c->id[0])
    return 0;
  if (ferry_cri_remove_container(k->cri, c->id, err) < 0 && ferry_cri_last_code(k->cri) != FERRY_GRPC_NOT_FOUND)
    return ferry_error_prefix(err, "pod %s/%s: removing the ended container %s", s->ns, s->name, c->id);
  ferry_error_clear(err);
  c->id[0] = '\0';
  return 0;
}

/* CreateContainer, StartContainer. */
static int cri_start(struct kubelet *k, struct pod_state *s, struct ctr *c, json_object *pod, json_object *cspec,
                     const char **reason, ferry_error *err)
{
  if (!cspec) {
    *reason = "CreateContainerConfigError";
    return ferry_error_set(err, ENOENT, "container %s is not in the pod's spec", c->name);
  }
  if (remove_previous(k, s, c, err) < 0)
    return -1;
  struct container_cfg cc;
  struct sandbox_cfg sc;
  sandbox_cfg_make(k, s, pod, &sc);
  cleanup_free char *id = NULL;
  int rc = container_cfg_make(s, c, pod, cspec, &cc, err);
  *reason = rc < 0 ? "CreateContainerConfigError" : "CreateContainerError";
  if (rc == 0)
    rc = ferry_cri_create_container(k->cri, s->sandbox, &cc.cfg, &sc.cfg, &id, err);
  free(cc.log_path);
  sandbox_cfg_free(&sc);
  if (rc < 0)
    return -1;
  snprintf(c->id, sizeof c->id, "%s", id);
  if (ferry_cri_start_container(k->cri, c->id, err) < 0) {
    *reason = "RunContainerError"; /* the container stays, exited, until the next attempt (as the kubelet's) */
    return -1;
  }
  container_pid(k, c);
  return 0;
}

static const enum kl_ctr_state CRI_STATES[] = {
  [FERRY_CRI_CONTAINER_CREATED] = KL_CTR_CREATED,
  [FERRY_CRI_CONTAINER_RUNNING] = KL_CTR_RUNNING,
  [FERRY_CRI_CONTAINER_EXITED] = KL_CTR_EXITED,
  [FERRY_CRI_CONTAINER_UNKNOWN] = KL_CTR_EXITED,
};

static void cri_status(struct kubelet *k, struct pod_state *s, struct ctr *c, struct kl_ctr_status *st)
{
  memset(st, 0, sizeof *st);
  st->state = KL_CTR_ABSENT;
  if (!c->ever_started && !c->id[0])
    return;
  struct ferry_cri_container_status cs;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_cri_container_status(k->cri, c->id, &cs, &err) < 0) {
    if (ferry_cri_last_code(k->cri) != FERRY_GRPC_NOT_FOUND)
      log_debug("pod %s/%s: %s", s->ns, s->name, ferry_error_msg(&err));
    return;
  }
  st->state = CRI_STATES[cs.state];
  st->pid = cs.pid;
  st->exit_known = cs.state == FERRY_CRI_CONTAINER_EXITED;
  st->exit_code = cs.exit_code;
  ferry_cri_container_status_free(&cs);
}

/* StopContainer: TERM, KILL after grace_s; the call returns when the container ended. */
static void cri_stop(struct kubelet *k, struct pod_state *s, struct ctr *c, enum kl_ctr_state state, int64_t grace_s)
{
  (void)state;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_cri_stop_container(k->cri, c->id, grace_s, &err) < 0)
    log_warn("pod %s/%s: %s", s->ns, s->name, ferry_error_msg(&err));
}

static int cri_remove(struct kubelet *k, struct pod_state *s, struct ctr *c, ferry_error *err)
{
  (void)s;
  return ferry_cri_remove_container(k->cri, c->id, err);
}

/* StopPodSandbox and RemovePodSandbox (its network and containers go with it). */
static void remove_sandbox(struct kubelet *k, const char *ns, const char *name, const char *id)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_cri_stop_pod_sandbox(k->cri, id, &err) < 0 || ferry_cri_remove_pod_sandbox(k->cri, id, &err) < 0)
    log_warn("pod %s/%s: %s", ns, name, ferry_error_msg(&err));
}

static void remove_logs(struct kubelet *k, const char *ns, const char *name, const char *uid)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  cleanup_free char *dir = ferry_asprintf("%s/pods/%s", k->cfg.state_dir, uid);
  if (ferry_rm_rf(dir, &err) < 0)
    log_warn("pod %s/%s: %s", ns, name, ferry_error_msg(&err));
}

/* The sandbox and the logs go. */
static void cri_sandbox_down(struct kubelet *k, struct pod_state *s)
{
  if (s->sandbox[0])
    remove_sandbox(k, s->ns, s->name, s->sandbox);
  remove_logs(k, s->ns, s->name, s->uid);
}

/* ---------- a restart: the pods found again ---------- */

/* The latest attempt of container c among the sandbox's containers (by name, as the kubelet's label says). */
static const struct ferry_cri_container *latest_of(const struct ctr *c, const struct ferry_cri_container *list,
                                                   size_t n)
{
  const struct ferry_cri_container *latest = NULL;
  for (size_t i = 0; i < n; i++)
    if (!strcmp(list[i].name, c->name) &&
        (!latest || list[i].attempt > latest->attempt ||
         (list[i].attempt == latest->attempt && list[i].created_at > latest->created_at)))
      latest = &list[i];
  return latest;
}

/* c is the runtime's container x again: its ID, its attempt as the restart count;
 * one that ran is taken as running (pod.c's next look sees whether it ended since,
 * and restarts it by restartPolicy); one that never started (created, or its start
 * failed) is replaced by the next attempt, as before the restart. */
static void take_container(struct kubelet *k, struct pod_state *s, struct ctr *c, const struct ferry_cri_container *x)
{
  snprintf(c->id, sizeof c->id, "%s", x->id);
  c->restarts = (int)x->attempt;
  int ran = x->state != FERRY_CRI_CONTAINER_CREATED;
  int64_t started_ms = ferry_now_real_ms();
  struct ferry_cri_container_status st;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_cri_container_status(k->cri, c->id, &st, &err) == 0) {
    c->pid = st.pid;
    ran = ran && st.started_at > 0;
    if (st.started_at > 0)
      started_ms = st.started_at / NS_PER_MS;
    ferry_cri_container_status_free(&st);
  }
  log_info("pod %s/%s: container %s is %s (attempt %u, %s%s)", s->ns, s->name, c->name, c->id, x->attempt,
           ferry_cri_container_state_name(x->state), ran ? "" : ", never started");
  if (!ran)
    return;
  c->running = c->ever_started = 1;
  c->started_ms = started_ms;
}

static int taken(const struct pod_state *s, const char *id)
{
  for (int i = 0; i < s->nctr; i++)
    if (!strcmp(s->c[i].id, id))
      return 1;
  return 0;
}

/* The sandbox's containers: each container's latest attempt taken, the others (older
 * attempts, names the pod does not have) stopped and removed. */
static int adopt_containers(struct kubelet *k, struct pod_state *s, ferry_error *err)
{
  struct ferry_cri_container *list;
  size_t n;
  if (ferry_cri_list_containers(k->cri, s->sandbox, &list, &n, err) < 0)
    return -1;
  for (int i = 0; i < s->nctr; i++) {
    const struct ferry_cri_container *x = latest_of(&s->c[i], list, n);
    if (x)
      take_container(k, s, &s->c[i], x);
  }
  for (size_t i = 0; i < n; i++) {
    if (taken(s, list[i].id))
      continue;
    log_info("pod %s/%s: container %s (%s, attempt %u) is not the pod's latest: removed", s->ns, s->name, list[i].id,
             list[i].name, list[i].attempt);
    cleanup_error ferry_error e2 = FERRY_ERROR_INIT;
    if (ferry_cri_stop_container(k->cri, list[i].id, 0, &e2) < 0 ||
        ferry_cri_remove_container(k->cri, list[i].id, &e2) < 0)
      log_warn("pod %s/%s: %s", s->ns, s->name, ferry_error_msg(&e2));
  }
  ferry_cri_containers_free(list, n);
  return 0;
}

/* The pod's sandboxes (by its uid label): the newest ready one is the pod's again,
 * with its containers; the others go in the sweep, and a new one has the next attempt. */
static int cri_adopt(struct kubelet *k, struct pod_state *s, ferry_error *err)
{
  const struct ferry_cri_kv label = { LABEL_POD_UID, s->uid };
  const struct ferry_cri_sandbox_filter f = { .labels = &label, .n_labels = 1 };
  struct ferry_cri_sandbox *list;
  size_t n;
  if (ferry_cri_list_pod_sandboxes(k->cri, &f, &list, &n, err) < 0)
    return -1;
  const struct ferry_cri_sandbox *keep = NULL;
  for (size_t i = 0; i < n; i++) {
    if (list[i].attempt >= s->sandbox_attempt)
      s->sandbox_attempt = list[i].attempt + 1;
    if (list[i].state == FERRY_CRI_SANDBOX_READY && (!keep || list[i].created_at > keep->created_at))
      keep = &list[i];
  }
  if (keep) {
    snprintf(s->sandbox, sizeof s->sandbox, "%s", keep->id);
    s->sandbox_attempt = keep->attempt;
    log_info("pod %s/%s: sandbox %s found again (attempt %u)", s->ns, s->name, s->sandbox, keep->attempt);
  }
  ferry_cri_sandboxes_free(list, n);
  if (keep && adopt_containers(k, s, err) < 0)
    return -1;
  return keep != NULL;
}

static const struct pod_state *pod_of_sandbox(struct kubelet *k, const char *id)
{
  for (const struct pod_state *s = k->local; s; s = s->next)
    if (!strcmp(s->sandbox, id))
      return s;
  return NULL;
}

static int has_pod(struct kubelet *k, const char *uid)
{
  for (const struct pod_state *s = k->local; s; s = s->next)
    if (!strcmp(s->uid, uid))
      return 1;
  return 0;
}

/* The kubelet's sandboxes (those with its uid label) no pod here has: stopped and
 * removed with their containers, and the logs of pods no longer here. */
static void cri_sweep(struct kubelet *k)
{
  struct ferry_cri_sandbox *list;
  size_t n;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_cri_list_pod_sandboxes(k->cri, NULL, &list, &n, &err) < 0) {
    log_warn("sandboxes left by an earlier run: %s", ferry_error_msg(&err));
    return;
  }
  for (size_t i = 0; i < n; i++) {
    const struct ferry_cri_sandbox *x = &list[i];
    if (!x->pod_uid || pod_of_sandbox(k, x->id))
      continue;
    int here = has_pod(k, x->pod_uid);
    remove_sandbox(k, x->namespace, x->name, x->id);
    if (!here)
      remove_logs(k, x->namespace, x->name, x->pod_uid);
    log_info("pod %s/%s: sandbox %s (%s)%s: stopped and removed", x->namespace, x->name, x->id,
             ferry_cri_sandbox_state_name(x->state), here ? "" : ", not a pod of this node any more");
  }
  ferry_cri_sandboxes_free(list, n);
}

const struct kl_runtime kl_cri_runtime = {
  .id_scheme = "containerd",
  .any_handler = 1,
  .keeps_ended = 1,
  .sandbox_up = cri_sandbox_up,
  .start = cri_start,
  .status = cri_status,
  .stop = cri_stop,
  .remove = cri_remove,
  .sandbox_down = cri_sandbox_down,
  .adopt = cri_adopt,
  .sweep = cri_sweep,
};
