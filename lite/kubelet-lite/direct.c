/* SPDX-License-Identifier: Apache-2.0 */
/* The direct runtime of kubelet-lite (the default): the pod's network namespace
 * made here (net.c), and its containers run by the OCI runtime the pod's
 * RuntimeClass names, called exactly as containerd's shim calls runc: a bundle
 * (an overlay of the image directory and the container's own layer, config.json
 * from `runc spec`), create, start, state, kill, delete. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pod.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/proc.h"
#include "runtime/runc.h"
#include "base/util.h"

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

/* ---------- the container's user ---------- */

/* uid's primary group in the container's /etc/passwd (NAME:PASSWORD:UID:GID:...),
 * 0 when it has none or no such user: containerd's WithUserID. */
static int64_t passwd_gid(const char *rootfs, int64_t uid)
{
  cleanup_free char *path = ferry_path_join(rootfs, "etc/passwd");
  cleanup_free char *text = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_read_file(path, &text, NULL, &err) < 0)
    return 0;
  for (char *line = text, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next)
      *next++ = '\0';
    char *f = line;
    for (int i = 0; i < 2 && f; i++) /* past the name and the password */
      f = strchr(f, ':') ? strchr(f, ':') + 1 : NULL;
    char *end;
    if (!f || strtoll(f, &end, 10) != uid || *end != ':')
      continue;
    return strtoll(end + 1, NULL, 10);
  }
  return 0;
}

/* process.user from the securityContext, as the kubelet asks containerd:
 * runAsUser (its primary group from the container's /etc/passwd, else 0),
 * runAsGroup over that; neither: root, the image's default here (kubelet-lite's
 * images name no USER). */
static int set_user(json_object *process, json_object *pod, json_object *cspec, const char *rootfs, ferry_error *err)
{
  int64_t uid = pod_run_as(pod, cspec, "runAsUser"), gid = pod_run_as(pod, cspec, "runAsGroup");
  if (uid < 0 && gid >= 0)
    return ferry_error_set(err, EINVAL, "user group \"%lld\" is specified without user", (long long)gid);
  if (uid < 0)
    return 0;
  if (gid < 0)
    gid = passwd_gid(rootfs, uid);
  json_object *user = json_object_new_object();
  json_object_object_add(user, "uid", json_object_new_int64(uid));
  json_object_object_add(user, "gid", json_object_new_int64(gid));
  json_object_object_add(process, "user", user);
  return 0;
}

/* config.json: `runc spec`'s defaults, the container's command, environment and
 * working directory, its user, the pod's network namespace, and the annotations containerd
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
  cleanup_free char *rootfs = ferry_path_join(bundle, "rootfs");
  if (set_user(process, pod, cspec, rootfs, err) < 0) {
    json_object_put(cfg);
    return ferry_error_prefix(err, "container %s", ferry_kube_str(cspec, "name") ?: "");
  }
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

/* `runc spec`: the defaults every container's config starts from. */
int direct_load_template(struct kubelet *k, ferry_error *err)
{
  char *dir = ferry_asprintf("%s/template", k->cfg.state_dir), *path = ferry_path_join(dir, "config.json"),
       *text = NULL;
  size_t len;
  int rc = ferry_mkdir_p(dir, 0700, err);
  if (rc == 0) {
    unlink(path);
    const char *argv[] = { k->cfg.handlers[0][1], "spec", "--bundle", dir, NULL };
    struct ferry_proc_opts o = FERRY_PROC_OPTS_INIT;
    struct ferry_proc_result r;
    o.argv = argv;
    o.timeout_ms = 10000;
    rc = ferry_proc_run(&o, &r, err);
    if (rc == 0) {
      if (!ferry_proc_ok(&r))
        rc = ferry_error_set(err, EIO, "%s spec: %s", argv[0], r.errout);
      ferry_proc_result_free(&r);
    }
  }
  if (rc == 0 && ferry_read_file(path, &text, &len, err) == 0 && !(k->tmpl = json_tokener_parse(text)))
    rc = ferry_error_set(err, EINVAL, "%s: not JSON", path);
  else if (!text)
    rc = -1;
  free(text);
  free(path);
  free(dir);
  return rc;
}

/* ---------- the runtime interface ---------- */

static int direct_sandbox_up(struct kubelet *k, struct pod_state *s, json_object *pod, ferry_error *err)
{
  (void)pod;
  return net_setup(&k->cfg, s->uid, s->ip, sizeof s->ip, err);
}

static void delete_quietly(struct kubelet *k, struct pod_state *s, struct ctr *c)
{
  const char *del[] = { "delete", "--force", c->id, NULL };
  cleanup_error ferry_error e2 = FERRY_ERROR_INIT;
  runtime(k, s, c, del, -1, -1, &e2);
}

/* create (its stdio relayed to the container's log) and start. */
static int direct_start(struct kubelet *k, struct pod_state *s, struct ctr *c, json_object *pod, json_object *cspec,
                        const char **reason, ferry_error *err)
{
  cleanup_free char *bundle = make_bundle(k, s, c, pod, cspec, err);
  if (!bundle) {
    *reason = strstr(ferry_error_msg(err), "image") ? "ErrImageNeverPull" : "CreateContainerConfigError";
    return -1;
  }
  cleanup_free char *dir = pod_dir(k, s);
  cleanup_free char *logp = ferry_asprintf("%s/%s.log", dir, c->name);
  cleanup_free char *pidf = ferry_asprintf("%s/%s.pid", dir, c->name);
  int in_fd = -1, out_fd = -1;
  unlink(pidf);
  *reason = "CreateContainerError";
  if (ferry_stdio_relay(logp, &in_fd, &out_fd, err) < 0)
    return -1;
  const char *create[] = { "create", "--bundle", bundle, "--pid-file", pidf, c->id, NULL };
  int rc = runtime(k, s, c, create, in_fd, out_fd, err);
  close(in_fd);
  close(out_fd);
  if (rc < 0)
    return -1;
  const char *start[] = { "start", c->id, NULL };
  if (runtime(k, s, c, start, -1, -1, err) < 0) {
    delete_quietly(k, s, c);
    *reason = "RunContainerError";
    return -1;
  }
  cleanup_free char *text = NULL;
  size_t len;
  c->pid = ferry_read_file(pidf, &text, &len, err) == 0 ? (pid_t)atoi(text) : 0;
  ferry_error_clear(err);
  return 0;
}

static const struct {
  const char *name;
  enum kl_ctr_state state;
} RUNC_STATES[] = {
  { "created", KL_CTR_CREATED },
  { "running", KL_CTR_RUNNING },
  { "paused", KL_CTR_PAUSED },
  { "stopped", KL_CTR_EXITED },
};

/* `runtime state`; the exit code is this process's to read (a subreaper's) when it saw the end. */
static void direct_status(struct kubelet *k, struct pod_state *s, struct ctr *c, struct kl_ctr_status *st)
{
  memset(st, 0, sizeof *st);
  cleanup_free char *name = runtime_status(k, s, c, &st->pid);
  st->state = KL_CTR_ABSENT;
  for (size_t i = 0; name && i < sizeof RUNC_STATES / sizeof RUNC_STATES[0]; i++)
    if (!strcmp(name, RUNC_STATES[i].name))
      st->state = RUNC_STATES[i].state;
  if (name && st->state == KL_CTR_ABSENT)
    st->state = KL_CTR_EXITED; /* a state runc may add: not running at least */
  st->exit_known = c->reaped;
  if (c->reaped)
    st->exit_code = WIFEXITED(c->status) ? WEXITSTATUS(c->status) : 128 + WTERMSIG(c->status);
}

static void direct_stop(struct kubelet *k, struct pod_state *s, struct ctr *c, enum kl_ctr_state state, int64_t grace_s)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (state == KL_CTR_PAUSED) { /* a paused container cannot take TERM: resume it first, as kubelet's runtime does */
    const char *resume[] = { "resume", c->id, NULL };
    runtime(k, s, c, resume, -1, -1, &err);
    ferry_error_clear(&err);
  }
  const char *kill[] = { "kill", c->id, grace_s > 0 ? "TERM" : "KILL", NULL };
  if (runtime(k, s, c, kill, -1, -1, &err) < 0)
    log_debug("pod %s/%s: %s", s->ns, s->name, ferry_error_msg(&err));
}

static int direct_remove(struct kubelet *k, struct pod_state *s, struct ctr *c, ferry_error *err)
{
  const char *del[] = { "delete", "--force", c->id, NULL };
  return runtime(k, s, c, del, -1, -1, err);
}

static void direct_sandbox_down(struct kubelet *k, struct pod_state *s)
{
  remove_pod_dir(k, s);
  net_teardown(&k->cfg, s->uid);
}

const struct kl_runtime kl_direct_runtime = {
  .id_scheme = "runc",
  .any_handler = 0,
  .sandbox_up = direct_sandbox_up,
  .start = direct_start,
  .status = direct_status,
  .stop = direct_stop,
  .remove = direct_remove,
  .sandbox_down = direct_sandbox_down,
};
