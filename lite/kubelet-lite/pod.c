/* SPDX-License-Identifier: Apache-2.0 */
/* One pod on this node, as a kubelet keeps it: sandbox (network namespace and
 * address), containers created and started through the runtime the pod's
 * RuntimeClass names (called as containerd's shim calls runc), restarts with
 * back-off by restartPolicy, graceful stop when the pod is deleted, and the
 * pod's status written back when it changes. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "kubelet.h"
#include "base/log.h"
#include "base/proc.h"
#include "runtime/runc.h"
#include "base/util.h"

#define MAX_CTRS 8
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 10000

struct ctr {
  char name[64], id[160], image[256];
  pid_t pid;          /* the container's init, when this process saw it start */
  int reaped, status; /* waitpid's answer for pid */
  int running, ever_started, terminated, exit_code, restarts, term_sent;
  char reason[64];
  char *message;
  int64_t started_ms, finished_ms, next_try_ms, backoff_ms;
};

struct pod_state {
  struct pod_state *next;
  char uid[64], ns[254], name[254], ip[INET_ADDRSTRLEN];
  const char *runtime; /* borrowed from cfg */
  int nctr;
  struct ctr c[MAX_CTRS];
  char *last_status;
  int64_t start_ms, kill_at_ms, next_sandbox_ms;
  int stopping, seen;
};

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
    for (size_t i = 0; i < json_object_array_length(ctrs) && s->nctr < MAX_CTRS; i++) {
      json_object *c = json_object_array_get_idx(ctrs, i);
      struct ctr *ct = &s->c[s->nctr++];
      snprintf(ct->name, sizeof ct->name, "%s", ferry_kube_str(c, "name") ?: "c");
      snprintf(ct->image, sizeof ct->image, "%s", ferry_kube_str(c, "image") ?: "");
      /* an ID per pod and container, stable across this runner's restarts */
      char *id = ferry_asprintf("%.60s-%.40s-%.8s", s->name, ct->name, s->uid);
      snprintf(ct->id, sizeof ct->id, "%s", id);
      free(id);
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

static char *pod_dir(struct kubelet *k, struct pod_state *s)
{
  return ferry_asprintf("%s/pods/%s", k->cfg.state_dir, s->uid);
}

/* ---------- the runtime, as the shim calls it ---------- */

struct rt_call {
  struct ferry_proc_result res;
  char *log;
};

/* RUNTIME --root R --log L --log-format json ARGS...; 0 when it exited 0, else
 * -1 with the runtime's own error (its --log) in err. */
static int runtime(struct kubelet *k, struct pod_state *s, struct ctr *c, const char *const *args, int in_fd,
                   int out_fd, ferry_error *err)
{
  char *dir = pod_dir(k, s), *log = ferry_asprintf("%s/%s.runtime.log", dir, c->name);
  const char *argv[32];
  int n = 0;
  argv[n++] = s->runtime;
  argv[n++] = "--root";
  argv[n++] = k->cfg.runc_root;
  argv[n++] = "--log";
  argv[n++] = log;
  argv[n++] = "--log-format";
  argv[n++] = "json";
  for (int i = 0; args[i] && n < 31; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  long before = 0;
  char *old = NULL;
  size_t len = 0;
  ferry_error ignore = FERRY_ERROR_INIT;
  if (ferry_read_file(log, &old, &len, &ignore) == 0)
    before = (long)len;
  ferry_error_clear(&ignore);
  free(old);
  struct ferry_proc_opts o = FERRY_PROC_OPTS_INIT;
  struct ferry_proc_result r;
  o.argv = argv;
  o.stdin_fd = in_fd;
  o.stdout_fd = out_fd;
  o.stderr_fd = out_fd;
  o.timeout_ms = 120000;
  int rc = ferry_proc_run(&o, &r, err), ran = rc == 0;
  if (rc == 0 && !ferry_proc_ok(&r)) {
    char *text = NULL, why[64];
    char *msg = NULL;
    if (ferry_read_file(log, &text, &len, &ignore) == 0 && (long)len >= before)
      msg = ferry_runc_log_errors(text + before);
    ferry_error_clear(&ignore);
    rc = ferry_error_set(err, EIO, "%s %s: %s", s->runtime, args[0],
                         msg                     ? msg
                         : r.errout && *r.errout ? r.errout
                                                 : ferry_proc_describe(&r, &o, why, sizeof why));
    free(msg);
    free(text);
  }
  if (ran)
    ferry_proc_result_free(&r);
  free(log);
  free(dir);
  return rc;
}

/* The runtime's view of a container: "running", "stopped", "created", "paused", or NULL when it has none. */
static char *runtime_status(struct kubelet *k, struct pod_state *s, struct ctr *c, pid_t *pid)
{
  const char *argv[] = { s->runtime, "--root", k->cfg.runc_root, "state", c->id, NULL };
  struct ferry_proc_opts o = FERRY_PROC_OPTS_INIT;
  struct ferry_proc_result r;
  ferry_error err = FERRY_ERROR_INIT;
  o.argv = argv;
  o.timeout_ms = 10000;
  char *status = NULL;
  if (ferry_proc_run(&o, &r, &err) == 0) {
    struct ferry_runc_state st;
    if (ferry_proc_ok(&r) && ferry_runc_parse_state(r.out, &st, &err) == 0) {
      status = ferry_strdup(st.status);
      *pid = st.pid;
      ferry_runc_state_free(&st);
    }
    ferry_proc_result_free(&r);
  }
  ferry_error_clear(&err);
  return status;
}

/* ---------- the container's bundle ---------- */

static const char *image_dir(struct kubelet *k, const char *image)
{
  for (int i = 0; i < k->cfg.nimages; i++)
    if (!strcmp(k->cfg.images[i][0], image))
      return k->cfg.images[i][1];
  return NULL;
}

static void add_ann(json_object *ann, const char *key, const char *v)
{
  json_object_object_add(ann, key, json_object_new_string(v ?: ""));
}

/* config.json: `runc spec`'s defaults, the container's command, environment and
 * working directory, the pod's network namespace, and the annotations containerd
 * passes (io.kubernetes.cri.*, plus the pod's annotations it is configured to pass). */
static int write_config(struct kubelet *k, struct pod_state *s, json_object *pod, json_object *cspec,
                        const char *bundle, ferry_error *err)
{
  json_object *cfg = NULL, *process, *args = json_object_new_array(), *v;
  json_object_deep_copy(k->tmpl, &cfg, NULL);
  json_object_object_get_ex(cfg, "process", &process);
  for (const char *key = "command";; key = "args") {
    if (json_object_object_get_ex(cspec, key, &v) && json_object_is_type(v, json_type_array))
      for (size_t i = 0; i < json_object_array_length(v); i++)
        json_object_array_add(args, json_object_get(json_object_array_get_idx(v, i)));
    if (!strcmp(key, "args"))
      break;
  }
  if (json_object_array_length(args) == 0) {
    json_object_put(args);
    json_object_put(cfg);
    return ferry_error_set(err, EINVAL, "container %s has no command: kubelet-lite's images have no entrypoint",
                           ferry_kube_str(cspec, "name") ?: "");
  }
  json_object_object_add(process, "args", args);
  json_object_object_add(process, "terminal", json_object_new_boolean(0));
  json_object_object_add(process, "cwd", json_object_new_string(ferry_kube_str(cspec, "workingDir") ?: "/"));
  json_object *env = json_object_new_array();
  json_object_array_add(env,
                        json_object_new_string("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
  char *h = ferry_asprintf("HOSTNAME=%s", s->name);
  json_object_array_add(env, json_object_new_string(h));
  free(h);
  if (json_object_object_get_ex(cspec, "env", &v) && json_object_is_type(v, json_type_array))
    for (size_t i = 0; i < json_object_array_length(v); i++) {
      json_object *e = json_object_array_get_idx(v, i);
      char *kv = ferry_asprintf("%s=%s", ferry_kube_str(e, "name") ?: "", ferry_kube_str(e, "value") ?: "");
      json_object_array_add(env, json_object_new_string(kv));
      free(kv);
    }
  json_object_object_add(process, "env", env);
  json_object_object_add(process, "rlimits",
                         json_tokener_parse("[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1024,\"soft\":1024}]"));
  json_object *root;
  if (json_object_object_get_ex(cfg, "root", &root))
    json_object_object_add(root, "readonly", json_object_new_boolean(0));
  /* volumes: hostPath only, bind-mounted where the container's volumeMounts say */
  json_object *mounts, *vms, *vols = NULL, *pspec;
  if (json_object_object_get_ex(pod, "spec", &pspec))
    json_object_object_get_ex(pspec, "volumes", &vols);
  if (json_object_object_get_ex(cfg, "mounts", &mounts) && json_object_object_get_ex(cspec, "volumeMounts", &vms)) {
    for (size_t i = 0; i < json_object_array_length(vms); i++) {
      json_object *vm = json_object_array_get_idx(vms, i), *src = NULL;
      for (size_t j = 0; vols && j < json_object_array_length(vols) && !src; j++) {
        json_object *vol = json_object_array_get_idx(vols, j);
        if (!strcmp(ferry_kube_str(vol, "name") ?: "", ferry_kube_str(vm, "name") ?: ""))
          src = vol;
      }
      const char *host = src ? ferry_kube_str(src, "hostPath.path") : NULL, *dest = ferry_kube_str(vm, "mountPath");
      if (!host || !dest) {
        json_object_put(cfg);
        return ferry_error_set(err, EINVAL, "volumeMount %s: kubelet-lite mounts hostPath volumes only",
                               ferry_kube_str(vm, "name") ?: "");
      }
      json_object *ro = NULL, *m = json_object_new_object();
      json_object_object_get_ex(vm, "readOnly", &ro);
      json_object_object_add(m, "destination", json_object_new_string(dest));
      json_object_object_add(m, "type", json_object_new_string("bind"));
      json_object_object_add(m, "source", json_object_new_string(host));
      json_object_object_add(
          m, "options",
          json_tokener_parse(ro && json_object_get_boolean(ro) ? "[\"rbind\",\"ro\"]" : "[\"rbind\",\"rw\"]"));
      json_object_array_add(mounts, m);
    }
  }
  json_object_object_add(cfg, "hostname", json_object_new_string(s->name));
  json_object *linux_, *nss;
  char *ns = net_ns_name(s->uid), *nspath = ferry_asprintf("/var/run/netns/%s", ns);
  if (json_object_object_get_ex(cfg, "linux", &linux_) && json_object_object_get_ex(linux_, "namespaces", &nss))
    for (size_t i = 0; i < json_object_array_length(nss); i++) {
      json_object *n = json_object_array_get_idx(nss, i);
      if (!strcmp(ferry_kube_str(n, "type") ?: "", "network"))
        json_object_object_add(n, "path", json_object_new_string(nspath));
    }
  free(ns);
  free(nspath);
  json_object *ann = json_object_new_object();
  add_ann(ann, "io.kubernetes.cri.container-type", "container");
  add_ann(ann, "io.kubernetes.cri.container-name", ferry_kube_str(cspec, "name"));
  add_ann(ann, "io.kubernetes.cri.image-name", ferry_kube_str(cspec, "image"));
  add_ann(ann, "io.kubernetes.cri.sandbox-id", s->uid);
  add_ann(ann, "io.kubernetes.cri.sandbox-name", s->name);
  add_ann(ann, "io.kubernetes.cri.sandbox-namespace", s->ns);
  add_ann(ann, "io.kubernetes.cri.sandbox-uid", s->uid);
  json_object *meta, *pann;
  if (json_object_object_get_ex(pod, "metadata", &meta) && json_object_object_get_ex(meta, "annotations", &pann)) {
    json_object_object_foreach(pann, key, val)
    {
      for (int i = 0; i < k->cfg.nprefixes; i++)
        if (!strncmp(key, k->cfg.pod_annotations[i], strlen(k->cfg.pod_annotations[i])))
          json_object_object_add(ann, key, json_object_get(val));
    }
  }
  json_object_object_add(cfg, "annotations", ann);
  char *path = ferry_path_join(bundle, "config.json");
  const char *text = json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PRETTY);
  int rc = ferry_write_file_atomic(path, text, strlen(text), err);
  free(path);
  json_object_put(cfg);
  return rc;
}

/* The bundle: its root an overlay of the image (lower) and the container's own
 * layer, kept across the container's restarts. */
static char *make_bundle(struct kubelet *k, struct pod_state *s, struct ctr *c, json_object *pod, json_object *cspec,
                         ferry_error *err)
{
  const char *lower = image_dir(k, c->image);
  if (!lower) {
    ferry_error_set(err, ENOENT, "image \"%s\" is not one this node has (kubelet-lite --image)", c->image);
    return NULL;
  }
  char *dir = pod_dir(k, s), *base = ferry_asprintf("%s/%s", dir, c->name);
  char *bundle = ferry_path_join(base, "bundle"), *rootfs = ferry_path_join(bundle, "rootfs");
  char *upper = ferry_path_join(base, "upper"), *work = ferry_path_join(base, "work");
  int rc = 0;
  if (ferry_mkdir_p(rootfs, 0755, err) < 0 || ferry_mkdir_p(upper, 0755, err) < 0 || ferry_mkdir_p(work, 0755, err) < 0)
    rc = -1;
  char *mi = NULL;
  size_t len;
  ferry_error e2 = FERRY_ERROR_INIT;
  int mounted = 0;
  if (rc == 0 && ferry_read_file("/proc/self/mountinfo", &mi, &len, &e2) == 0) {
    char *needle = ferry_asprintf(" %s ", rootfs);
    mounted = strstr(mi, needle) != NULL;
    free(needle);
  }
  ferry_error_clear(&e2);
  free(mi);
  if (rc == 0 && !mounted) {
    char *opts = ferry_asprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
    if (mount("overlay", rootfs, "overlay", 0, opts) < 0)
      rc = ferry_error_set(err, errno, "mount overlay on %s", rootfs);
    free(opts);
  }
  if (rc == 0)
    rc = write_config(k, s, pod, cspec, bundle, err);
  free(dir);
  free(base);
  free(rootfs);
  free(upper);
  free(work);
  if (rc < 0) {
    free(bundle);
    return NULL;
  }
  return bundle;
}

static void remove_pod_dir(struct kubelet *k, struct pod_state *s)
{
  for (int i = 0; i < s->nctr; i++) {
    char *rootfs = ferry_asprintf("%s/pods/%s/%s/bundle/rootfs", k->cfg.state_dir, s->uid, s->c[i].name);
    if (umount2(rootfs, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
      log_warn("pod %s/%s: unmount %s: %s", s->ns, s->name, rootfs, strerror(errno));
    free(rootfs);
  }
  char *dir = pod_dir(k, s);
  ferry_error err = FERRY_ERROR_INIT;
  if (ferry_rm_rf(dir, &err) < 0)
    log_warn("pod %s/%s: %s", s->ns, s->name, ferry_error_msg(&err));
  ferry_error_clear(&err);
  free(dir);
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
  char *bundle = make_bundle(k, s, c, pod, container_spec(pod, c->name), &err);
  if (!bundle) {
    set_waiting(c, strstr(ferry_error_msg(&err), "image") ? "ErrImageNeverPull" : "CreateContainerConfigError",
                ferry_error_msg(&err));
    goto failed;
  }
  char *dir = pod_dir(k, s), *logp = ferry_asprintf("%s/%s.log", dir, c->name),
       *pidf = ferry_asprintf("%s/%s.pid", dir, c->name);
  int in_fd = -1, out_fd = -1;
  unlink(pidf);
  int rc = ferry_stdio_relay(logp, &in_fd, &out_fd, &err);
  if (rc == 0) {
    const char *create[] = { "create", "--bundle", bundle, "--pid-file", pidf, c->id, NULL };
    rc = runtime(k, s, c, create, in_fd, out_fd, &err);
    close(in_fd);
    close(out_fd);
  }
  if (rc == 0) {
    const char *start[] = { "start", c->id, NULL };
    if ((rc = runtime(k, s, c, start, -1, -1, &err)) < 0) {
      const char *del[] = { "delete", "--force", c->id, NULL };
      ferry_error e2 = FERRY_ERROR_INIT;
      runtime(k, s, c, del, -1, -1, &e2);
      ferry_error_clear(&e2);
      set_waiting(c, "RunContainerError", ferry_error_msg(&err));
    }
  } else {
    set_waiting(c, "CreateContainerError", ferry_error_msg(&err));
  }
  if (rc == 0) {
    char *text = NULL;
    size_t len;
    c->pid = ferry_read_file(pidf, &text, &len, &err) == 0 ? (pid_t)atoi(text) : 0;
    free(text);
    c->reaped = 0;
    c->running = c->ever_started = 1;
    c->terminated = 0;
    c->started_ms = ferry_now_real_ms();
    c->backoff_ms = 0;
    set_waiting(c, "", NULL);
    log_info("pod %s/%s: container %s started (%s, pid %d)", s->ns, s->name, c->name, c->id, (int)c->pid);
    ferry_record_event(k->rec, pod, "Normal", "Started", &err, "Started container %s", c->name);
  }
  free(dir);
  free(logp);
  free(pidf);
  free(bundle);
  if (rc == 0) {
    ferry_error_clear(&err);
    return;
  }
failed:
  log_warn("pod %s/%s: container %s: %s", s->ns, s->name, c->name, c->message ?: "");
  ferry_error_clear(&err);
  ferry_record_event(k->rec, pod, "Warning", "Failed", &err, "Error: %s", c->message ?: "");
  ferry_error_clear(&err);
  backoff(c);
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

static void check_container(struct kubelet *k, struct pod_state *s, struct ctr *c, json_object *pod)
{
  pid_t pid = 0;
  char *st = runtime_status(k, s, c, &pid);
  if (st && (!strcmp(st, "running") || !strcmp(st, "paused"))) {
    if (!c->running) { /* started by someone else: Ferry's agent restoring it after a rollback */
      c->running = c->ever_started = 1;
      c->terminated = 0;
      c->pid = pid;
      c->started_ms = ferry_now_real_ms();
      set_waiting(c, "", NULL);
      log_info("pod %s/%s: container %s is running (pid %d)", s->ns, s->name, c->name, (int)pid);
    }
    free(st);
    return;
  }
  if (c->running) { /* it ended: exited, killed, or taken away by a checkpoint */
    c->running = 0;
    c->terminated = 1;
    c->finished_ms = ferry_now_real_ms();
    c->exit_code = c->reaped ? (WIFEXITED(c->status) ? WEXITSTATUS(c->status) : 128 + WTERMSIG(c->status)) : 137;
    snprintf(c->reason, sizeof c->reason, "%s", c->exit_code == 0 ? "Completed" : "Error");
    log_info("pod %s/%s: container %s ended (exit %d%s)", s->ns, s->name, c->name, c->exit_code,
             c->reaped ? "" : ", not seen exiting: assumed killed");
    if (st) {
      const char *del[] = { "delete", "--force", c->id, NULL };
      ferry_error err = FERRY_ERROR_INIT;
      if (runtime(k, s, c, del, -1, -1, &err) < 0)
        log_warn("pod %s/%s: %s", s->ns, s->name, ferry_error_msg(&err));
      ferry_error_clear(&err);
    }
    const char *policy = restart_policy(pod);
    if (!strcmp(policy, "Never") || (!strcmp(policy, "OnFailure") && c->exit_code == 0)) {
      free(st);
      return;
    }
    c->restarts++;
    backoff(c);
    free(st);
    return;
  }
  free(st);
  if (c->terminated &&
      (!strcmp(restart_policy(pod), "Never") || (!strcmp(restart_policy(pod), "OnFailure") && c->exit_code == 0)))
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
      char *id = ferry_asprintf("runc://%s", c->id);
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
    pid_t pid = 0;
    char *st = runtime_status(k, s, c, &pid);
    if (!st)
      continue;
    ferry_error err = FERRY_ERROR_INIT;
    if (!strcmp(st, "running") || !strcmp(st, "paused") || !strcmp(st, "created")) {
      alive++;
      int kill_now = now >= s->kill_at_ms;
      if (!strcmp(st, "paused")) { /* a paused container cannot take TERM: resume it first, as kubelet's runtime does */
        const char *resume[] = { "resume", c->id, NULL };
        runtime(k, s, c, resume, -1, -1, &err);
        ferry_error_clear(&err);
      }
      const char *kill[] = { "kill", c->id, kill_now ? "KILL" : "TERM", NULL };
      if (kill_now || !c->term_sent) {
        if (runtime(k, s, c, kill, -1, -1, &err) < 0)
          log_debug("pod %s/%s: %s", s->ns, s->name, ferry_error_msg(&err));
        c->term_sent = 1;
      }
    } else {
      const char *del[] = { "delete", "--force", c->id, NULL };
      if (runtime(k, s, c, del, -1, -1, &err) < 0)
        log_warn("pod %s/%s: %s", s->ns, s->name, ferry_error_msg(&err));
    }
    ferry_error_clear(&err);
    free(st);
  }
  if (alive)
    return 0;
  remove_pod_dir(k, s);
  net_teardown(&k->cfg, s->uid);
  return 1;
}

void pod_sync(struct kubelet *k, json_object *pod)
{
  if (strcmp(ferry_kube_str(pod, "spec.nodeName") ?: "", k->cfg.node) != 0)
    return;
  const char *phase = ferry_kube_str(pod, "status.phase") ?: "";
  struct pod_state *s = state_of(k, pod, 0);
  int deleting = ferry_kube_str(pod, "metadata.deletionTimestamp") != NULL;
  if (!s && (deleting || !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"))) {
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
  s->runtime = NULL;
  for (int i = 0; i < k->cfg.nhandlers; i++)
    if (!strcmp(k->cfg.handlers[i][0], handler))
      s->runtime = k->cfg.handlers[i][1];
  if (!s->runtime) {
    for (int i = 0; i < s->nctr; i++)
      set_waiting(&s->c[i], "CreateContainerConfigError", NULL);
    log_warn("pod %s/%s: no runtime handler \"%s\" on this node", s->ns, s->name, handler);
    report(k, s, pod);
    return;
  }
  if (!s->ip[0] && ferry_now_mono_ms() >= s->next_sandbox_ms) {
    ferry_error err = FERRY_ERROR_INIT;
    if (net_setup(&k->cfg, s->uid, s->ip, sizeof s->ip, &err) < 0) {
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
