/* The agent daemon: this node's part of each PodMigration (see daemon.h and
 * lib/api/podmigration.h for the phases).
 *
 *   source: Scheduled -> Checkpointing (child: checkpoint) -> Transferring
 *           RollingBack -> (container running? unlock; else child: restore here) -> RolledBack
 *   target: Transferring -> admit the restore, bind the target pod here -> Restoring;
 *           the kubelet runs the pod, ferry-runc restores it -> Restored=True (the controller finishes)
 *           RollingBack -> admission withdrawn, target pod deleted and gone -> TargetReleased=True
 * Before the freeze the source records the container as departed, so
 * ferry-runc refuses the kubelet's restart of it; a rollback removes that. 
 *
 * A phase change is written (conditionally) before the step starts, so a
 * second agent or a restarted one never starts it twice; a step whose child
 * died without an answer is treated as interrupted: the workload is made to
 * run on the source again. */
#include "daemon.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/admission.h"
#include "runtime/relay.h"
#include "image/stream.h"
#include "image/codec.h"
#include <openssl/crypto.h>
#include "runtime/criu.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "kube/kube.h"
#include "base/log.h"
#include "metrics.h"
#include "api/podmigration.h"
#include "kube/queue.h"
#include "runtime/runc.h"
#include "base/util.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

struct daemon {
  const struct daemon_globals *g;
  const char *kubeconfig, *store, *runc_root, *state_dir, *admission_dir, *ns, *metrics_listen;
  const char *bandwidth;   /* post-copy pages from this node: bytes/s quantity, NULL for no limit */
  const char *compress;    /* images written compressed: zstd, lz4 (NULL: not) */
  const char *key_file;    /* images encrypted with this key (a mounted Secret; NULL: not) */
  char *migration_address; /* where this node serves post-copy pages (its InternalIP by default) */
  int lease_seconds;
  char self[PATH_MAX];
  struct ferry_kube *kube;
  struct ferry_informers *inf;
  struct ferry_informer *pms, *pods; /* every PodMigration; the pods bound to this node */
  struct queue *q;
  struct ferry_recorder *rec;
  struct metrics *m;
  unsigned long long cpu_busy, cpu_total; /* /proc/stat at the last report */
  int ops;                                 /* steps started and not yet answered */
  struct {
    pid_t pid;
    char *key;
  } children[16]; /* our running steps: their exit wakes their migration at once */
};


static void event(struct daemon *d, json_object *obj, const char *type, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void event(struct daemon *d, json_object *obj, const char *type, const char *reason, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  ferry_error err = FERRY_ERROR_INIT;
  if (ferry_record_event(d->rec, obj, type, reason, &err, "%s", msg) < 0)
    log_warn("event %s: %s", reason, ferry_error_msg(&err));
  ferry_error_clear(&err);
}

/* ---------- steps as child processes ---------- */

enum op_state { OP_NONE, OP_RUNNING, OP_DONE, OP_DIED };

static char *op_path(struct daemon *d, const char *uid, const char *step, const char *ext)
{
  return ferry_asprintf("%s/ops/%s.%s.%s", d->state_dir, uid, step, ext);
}

/* Field 22 of /proc/PID/stat: when the process started (tells a reused PID apart). */
static unsigned long long start_time(pid_t pid, char *state)
{
  char path[64], *text = NULL;
  size_t len;
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  ferry_error err = FERRY_ERROR_INIT;
  unsigned long long t = 0;
  if (ferry_read_file(path, &text, &len, &err) == 0) {
    const char *p = strrchr(text, ')'); /* the command may hold spaces */
    if (p) {
      char st = 0;
      int field = 2;
      for (p++; *p && field < 22; p++)
        if (*p == ' ') {
          field++;
          if (field == 3)
            st = p[1];
        }
      t = strtoull(p, NULL, 10);
      if (state)
        *state = st;
    }
  }
  ferry_error_clear(&err);
  free(text);
  return t;
}

static enum op_state op_check(struct daemon *d, const char *uid, const char *step, json_object **result)
{
  *result = NULL;
  char *pidf = op_path(d, uid, step, "pid"), *outf = op_path(d, uid, step, "json"), *text = NULL;
  size_t len;
  ferry_error err = FERRY_ERROR_INIT;
  enum op_state s = OP_NONE;
  if (ferry_read_file(pidf, &text, &len, &err) == 0) {
    long long pid = 0;
    unsigned long long started = 0;
    char st = 0;
    if (sscanf(text, "%lld %llu", &pid, &started) == 2 && pid > 0 && kill((pid_t)pid, 0) == 0 &&
        start_time((pid_t)pid, &st) == started && st != 'Z') {
      s = OP_RUNNING;
    } else {
      free(text);
      text = NULL;
      ferry_error_clear(&err);
      s = OP_DIED;
      if (ferry_read_file(outf, &text, &len, &err) == 0 && (*result = json_tokener_parse(text)) != NULL)
        s = OP_DONE;
    }
  }
  ferry_error_clear(&err);
  free(text);
  free(pidf);
  free(outf);
  return s;
}

static void op_clear(struct daemon *d, const char *uid, const char *step)
{
  if (d->ops > 0)
    d->ops--;
  metrics_ops(d->m, d->ops);
  static const char *const exts[] = { "pid", "json", "ready", "token" };
  for (size_t i = 0; i < 4; i++) {
    char *p = op_path(d, uid, step, exts[i]);
    if (unlink(p) < 0 && errno != ENOENT)
      log_warn("removing %s: %m", p);
    free(p);
  }
}

/* Starts `ferry-agent --json ARGS...` with its answer going to the .json file
 * and its log to the .log file; records PID and start time in the .pid file. */
static void remember_child(struct daemon *d, pid_t pid, json_object *pm)
{
  for (size_t i = 0; i < sizeof d->children / sizeof d->children[0]; i++)
    if (!d->children[i].pid) {
      d->children[i].pid = pid;
      d->children[i].key = ferry_asprintf("%s/%s", ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "metadata.name"));
      return;
    }
}

static int op_start(struct daemon *d, json_object *pm, const char *step, char *const *args, ferry_error *err)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid");
  char *pidf = op_path(d, uid, step, "pid"), *outf = op_path(d, uid, step, "json"), *logf = op_path(d, uid, step, "log");
  char *argv[64];
  int n = 0;
  argv[n++] = d->self;
  argv[n++] = "--json";
  argv[n++] = "--criu";
  argv[n++] = (char *)d->g->criu;
  argv[n++] = "--runc";
  argv[n++] = (char *)d->g->runc;
  argv[n++] = "--work-dir";
  argv[n++] = (char *)d->g->work_dir;
  argv[n++] = "--node";
  argv[n++] = (char *)d->g->node;
  for (int i = 0; args[i] && n < 63; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  int rc = -1;
  int out = open(outf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int logfd = out >= 0 ? open(logf, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : -1;
  if (out < 0 || logfd < 0) {
    ferry_error_set(err, errno, "opening %s", out < 0 ? outf : logf);
    goto done;
  }
  pid_t pid = fork();
  if (pid < 0) {
    ferry_error_set(err, errno, "fork");
    goto done;
  }
  if (pid == 0) {
    int null = open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(logfd, 2) < 0)
      _exit(127);
    execv(d->self, argv);
    _exit(127);
  }
  char line[64];
  snprintf(line, sizeof line, "%d %llu\n", (int)pid, start_time(pid, NULL));
  if (ferry_write_file_atomic(pidf, line, strlen(line), err) < 0) {
    kill(pid, SIGKILL); /* without its record no one could tell how it ended */
    goto done;
  }
  log_info("started %s for %s (pid %d, log %s)", step, uid, (int)pid, logf);
  remember_child(d, pid, pm);
  metrics_ops(d->m, ++d->ops);
  rc = 0;
done:
  if (out >= 0)
    close(out);
  if (logfd >= 0)
    close(logfd);
  free(pidf);
  free(outf);
  free(logf);
  return rc;
}

/* ---------- this node's view of a migration ---------- */

static const char *container_id(json_object *pm)
{
  json_object *cs = ferry_kube_obj(ferry_kube_obj(pm, "status"), "containers");
  const char *id = cs && json_object_array_length(cs) ? ferry_kube_str(json_object_array_get_idx(cs, 0), "containerID") : NULL;
  const char *sep = id ? strstr(id, "://") : NULL;
  return sep ? sep + 3 : id;
}

static char *image_name(json_object *pm)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid") ?: "0";
  return ferry_asprintf("%s.%s.%.8s", ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "metadata.name"), uid);
}

static int is_postcopy(json_object *pm) { return !strcmp(ferry_kube_str(pm, "status.strategy") ?: "", "postCopy"); }
static pid_t child_pid(struct daemon *d, json_object *pm, const char *step);

/* Asks a step to stop (SIGTERM: it ends what it runs and answers). 1 when it is
 * not running (any more), 0 while it still does. */
static int op_stop(struct daemon *d, json_object *pm, const char *step)
{
  json_object *res = NULL;
  enum op_state s = op_check(d, ferry_kube_str(pm, "metadata.uid"), step, &res);
  json_object_put(res);
  if (s != OP_RUNNING)
    return 1;
  pid_t pid = child_pid(d, pm, step);
  if (pid > 0 && kill(pid, SIGTERM) == 0)
    log_info("%s: asked the %s step (pid %d) to stop", ferry_kube_str(pm, "metadata.name"), step, (int)pid);
  return 0;
}

/* How this node stores images (checkpoint) and reads them (restore, pages). */
static void add_codec(struct daemon *d, char **args, int *n, int writing)
{
  if (writing && d->compress) {
    args[(*n)++] = "--compress";
    args[(*n)++] = (char *)d->compress;
  }
  if (d->key_file) {
    args[(*n)++] = "--encryption-key-file";
    args[(*n)++] = (char *)d->key_file;
  }
}

static void add_flags(json_object *pm, char **args, int *n)
{
  static const struct {
    const char *field, *flag;
  } map[] = { { "tcpEstablished", "--tcp-established" }, { "tcpClose", "--tcp-close" },
              { "fileLocks", "--file-locks" },           { "extUnixSockets", "--ext-unix-sk" },
              { "shellJob", "--shell-job" } };
  json_object *o = ferry_kube_obj(ferry_kube_obj(pm, "spec"), "options");
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
    json_object *v = ferry_kube_obj(o, map[i].field);
    if (v && json_object_get_boolean(v))
      args[(*n)++] = (char *)map[i].flag;
  }
}

static int write_pm(struct daemon *d, json_object *pm, json_object *patch, ferry_error *err)
{
  struct ferry_kube_status st = { 0 };
  int rc = pm_write_status(d->kube, pm, patch, 1, NULL, &st, err);
  json_object_put(patch);
  return rc;
}

static struct ferry_runc runc_for(struct daemon *d)
{
  struct ferry_runc r = { .runc = d->g->runc, .criu = d->g->criu, .root = d->runc_root, .log = NULL, .timeout_ms = 30000 };
  return r;
}

/* ---------- source ---------- */

/* The source pod's UID and container name, for the departed record. */
static int source_pod(struct daemon *d, json_object *pm, const char **uid, const char **cname, ferry_error *err)
{
  json_object *pod = ferry_informer_get(d->pods, ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "spec.pod") ?: "");
  json_object *cs = ferry_kube_obj(ferry_kube_obj(pm, "status"), "containers");
  *cname = cs && json_object_array_length(cs) ? ferry_kube_str(json_object_array_get_idx(cs, 0), "name") : NULL;
  *uid = pod ? ferry_kube_str(pod, "metadata.uid") : NULL;
  if (!*uid || !*cname)
    return ferry_error_set(err, ENOENT, "the source pod %s (or its container) is not among this node's pods",
                           ferry_kube_str(pm, "spec.pod") ?: "");
  return 0;
}

/* on: the source container went into a checkpoint; off: it is to run here again. */
static int departed(struct daemon *d, json_object *pm, int on, ferry_error *err)
{
  const char *uid, *cname;
  if (source_pod(d, pm, &uid, &cname, err) < 0) {
    if (!on) { /* the pod is gone: so is any restart of it */
      ferry_error_clear(err);
      return 0;
    }
    return -1;
  }
  char *ref = ferry_asprintf("%s/%s", ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "metadata.name"));
  int rc = on ? ferry_departed_write(d->admission_dir, uid, cname, ref, err)
              : ferry_departed_remove(d->admission_dir, uid, cname, err);
  free(ref);
  return rc;
}

static int source_checkpoint(struct daemon *d, json_object *pm, ferry_error *err)
{
  const char *id = container_id(pm);
  if (!id || !*id) {
    json_object *p = pm_status_patch(PM_FAILED, "NoContainer", "the pod's container ID is unknown");
    return write_pm(d, pm, p, err);
  }
  json_object *patch = pm_status_patch(PM_CHECKPOINTING, "Checkpointing", "checkpointing container %s on %s", id, d->g->node);
  if (write_pm(d, pm, patch, err) < 0)
    return -1;
  if (departed(d, pm, 1, err) < 0) /* before the freeze: the kubelet must not restart it here */
    return -1;
  char *name = image_name(pm);
  char *args[40];
  int n = 0;
  args[n++] = "checkpoint";
  args[n++] = "--root";
  args[n++] = (char *)d->runc_root;
  args[n++] = "--store";
  args[n++] = (char *)d->store;
  args[n++] = "--image";
  args[n++] = name;
  add_flags(pm, args, &n);
  add_codec(d, args, &n, 1);
  char *listen = NULL, *ready = NULL;
  const char *strategy = ferry_kube_str(pm, "status.strategy");
  if (strategy && !strcmp(strategy, "preCopy")) {
    args[n++] = "--strategy";
    args[n++] = "preCopy";
  } else if (is_postcopy(pm)) {
    if (!d->migration_address) {
      free(name);
      json_object *p = pm_status_patch(PM_FAILED, "NoMigrationAddress", "postCopy: node %s has no address to serve "
                                       "memory on (no InternalIP; set the agent's --migration-address)", d->g->node);
      departed(d, pm, 0, err);
      return write_pm(d, pm, p, err);
    }
    listen = strchr(d->migration_address, ':') ? ferry_asprintf("[%s]:0", d->migration_address)
                                                : ferry_asprintf("%s:0", d->migration_address);
    ready = op_path(d, ferry_kube_str(pm, "metadata.uid"), "checkpoint", "ready");
    unlink(ready);
    args[n++] = "--strategy";
    args[n++] = "postCopy";
    args[n++] = "--page-server";
    args[n++] = listen;
    args[n++] = "--ready-file";
    args[n++] = ready;
    args[n++] = "--timeout";
    args[n++] = "86400";
    if (d->bandwidth) {
      args[n++] = "--bandwidth";
      args[n++] = (char *)d->bandwidth;
    }
  }
  args[n++] = (char *)id;
  args[n] = NULL;
  int rc = op_start(d, pm, "checkpoint", args, err);
  free(name);
  free(listen);
  free(ready);
  return rc;
}

static void set_container_field(json_object *patch, json_object *pm, const char *key, const char *value)
{
  json_object *cs = ferry_kube_obj(ferry_kube_obj(pm, "status"), "containers"), *copy = NULL;
  json_object_deep_copy(cs, &copy, NULL);
  if (!copy || !json_object_array_length(copy)) {
    json_object_put(copy);
    return;
  }
  json_object_object_add(json_object_array_get_idx(copy, 0), key, json_object_new_string(value));
  json_object *st;
  if (json_object_object_get_ex(patch, "status", &st) && json_object_object_get_ex(st, "containers", NULL)) {
    json_object *have = ferry_kube_obj(st, "containers");
    json_object_object_add(json_object_array_get_idx(have, 0), key, json_object_new_string(value));
    json_object_put(copy);
    return;
  }
  pm_patch_set(patch, "containers", copy);
}

static void timings_into(json_object *patch, json_object *pm, json_object *result, const char *const *keys, size_t n)
{
  json_object *t = NULL, *old = ferry_kube_obj(ferry_kube_obj(pm, "status"), "timings");
  if (old)
    json_object_deep_copy(old, &t, NULL);
  else
    t = json_object_new_object();
  json_object *rt = ferry_kube_obj(result, "timings");
  for (size_t i = 0; i < n; i += 2) {
    json_object *v = ferry_kube_obj(rt, keys[i]);
    if (v)
      json_object_object_add(t, keys[i + 1], json_object_new_int64(json_object_get_int64(v)));
  }
  pm_patch_set(patch, "timings", t);
}

static void format_ms(int64_t ms, char *buf, size_t len)
{
  char t[40];
  ferry_format_time(ms, t, sizeof t);
  /* 2026-11-25T04:01:48Z -> 2026-11-25T04:01:48.123Z */
  size_t l = strlen(t);
  if (l && t[l - 1] == 'Z')
    t[l - 1] = '\0';
  snprintf(buf, len, "%s.%03dZ", t, (int)(ms % 1000));
}

/* res: the checkpoint step's answer; ready: it is post-copy's first answer (the
 * step goes on serving memory, so it is not cleared). */
static int source_checkpoint_done(struct daemon *d, json_object *pm, json_object *res, int ready, ferry_error *err)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid");
  int code = json_object_get_int(ferry_kube_obj(res, "exitCode"));
  const char *msg = ferry_kube_str(res, "message") ?: "";
  json_object *patch;
  if (code == 0) {
    char *image = ferry_asprintf("%s/%s", d->store, ferry_kube_str(res, "image") ? strrchr(ferry_kube_str(res, "image"), '/') + 1 : "");
    char when[48];
    format_ms(json_object_get_int64(ferry_kube_obj(res, "frozenAtMs")), when, sizeof when);
    patch = pm_status_patch(PM_TRANSFERRING, "Checkpointed", "image %s published", image);
    pm_patch_set(patch, "image", json_object_new_string(image));
    pm_patch_set(patch, "bytes", json_object_new_int64(json_object_get_int64(ferry_kube_obj(res, "bytes"))));
    pm_patch_set(patch, "frozenAt", json_object_new_string(when));
    static const char *const keys[] = { "dumpMs", "dump", "rootfsMs", "rootfs", "writeMs", "write" };
    timings_into(patch, pm, res, keys, 6);
    if (ferry_kube_str(res, "bundle"))
      set_container_field(patch, pm, "bundle", ferry_kube_str(res, "bundle"));
    set_container_field(patch, pm, "runtimeRoot", d->runc_root);
    if (ferry_kube_str(res, "strategy"))
      pm_patch_set(patch, "strategy", json_object_new_string(ferry_kube_str(res, "strategy")));
    if (ferry_kube_str(res, "strategyNote")) {
      pm_patch_set(patch, "strategyNote", json_object_new_string(ferry_kube_str(res, "strategyNote")));
      event(d, pm, "Warning", "StrategyFallback", "%s", ferry_kube_str(res, "strategyNote"));
    }
    if (ferry_kube_str(res, "pageServer"))
      pm_patch_set(patch, "pageServer", json_object_new_string(ferry_kube_str(res, "pageServer")));
    json_object *bm = ferry_kube_obj(res, "bytesMoved");
    if (bm)
      pm_patch_set(patch, "bytesMoved", json_object_get(bm));
    metrics_count(d->m, "source", "checkpointed");
    metrics_observe_bytes(d->m, (double)json_object_get_int64(ferry_kube_obj(res, "bytes")));
    event(d, pm, "Normal", "Checkpointed", "%s: frozen and saved, %lld bytes (dump %lld ms)", d->g->node,
          (long long)json_object_get_int64(ferry_kube_obj(res, "bytes")),
          (long long)json_object_get_int64(ferry_kube_obj(ferry_kube_obj(res, "timings"), "dumpMs")));
    free(image);
  } else if (code == 1) { /* the engine's promise: nothing changed, the container runs */
    patch = pm_status_patch(PM_FAILED, "CheckpointFailed", "%s", msg);
    metrics_count(d->m, "source", "failed");
    event(d, pm, "Warning", "CheckpointFailed", "%s: %s (the pod keeps running there)", d->g->node, msg);
  } else {
    patch = pm_status_patch(PM_ROLLING_BACK, "CheckpointFailed", "%s", msg);
    pm_patch_set(patch, "rollbackFrom", json_object_new_string(pm_phase_name(PM_CHECKPOINTING)));
    event(d, pm, "Warning", "CheckpointFailed", "%s: %s", d->g->node, msg);
  }
  if (write_pm(d, pm, patch, err) < 0)
    return -1;
  if (!ready)
    op_clear(d, uid, "checkpoint");
  return 0;
}

/* Post-copy after the freeze: the checkpoint step serves the memory until the
 * last page went. Its end: every page sent (the container is gone from here), or
 * the transfer failed (CRIU thawed the container: roll back). */
static int source_serving(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid");
  json_object *res = NULL;
  enum op_state s = op_check(d, uid, "checkpoint", &res);
  if (s == OP_RUNNING && pm_condition_true(pm, "MemoryTransferred")) {
    /* the target has every page: the step lets CRIU release the source */
    pid_t pid = child_pid(d, pm, "checkpoint");
    if (pid > 0 && kill(pid, SIGUSR1) < 0)
      log_warn("%s: telling the checkpoint step that every page arrived: %m", ferry_kube_str(pm, "metadata.name"));
  }
  if (s == OP_RUNNING || s == OP_NONE) {
    *requeue_ms = s == OP_RUNNING ? 300 : 0;
    return 0;
  }
  int code = s == OP_DONE ? json_object_get_int(ferry_kube_obj(res, "exitCode")) : -1;
  const char *msg = res ? ferry_kube_str(res, "message") ?: "" : "the checkpoint step ended without an answer";
  json_object *patch;
  if (code == 0) {
    patch = pm_status_patch(PM_NONE, NULL, NULL);
    json_object *bm = NULL, *old = ferry_kube_obj(ferry_kube_obj(pm, "status"), "bytesMoved");
    if (old)
      json_object_deep_copy(old, &bm, NULL);
    else
      bm = json_object_new_object();
    json_object_object_add(bm, "afterRestore",
                           json_object_new_int64(json_object_get_int64(ferry_kube_obj(ferry_kube_obj(res, "bytesMoved"), "afterRestore"))));
    pm_patch_set(patch, "bytesMoved", bm);
    pm_patch_condition(patch, pm, "SourceReleased", 1, "PagesSent", msg);
    event(d, pm, "Normal", "SourceReleased", "%s: %s", d->g->node, msg);
  } else {
    patch = pm_status_patch(PM_ROLLING_BACK, "PagesFailed", "post-copy: %s", msg);
    pm_patch_set(patch, "rollbackFrom", json_object_new_string(pm_phase_name(pm_phase(pm))));
    event(d, pm, "Warning", "PagesFailed", "%s: %s", d->g->node, msg);
  }
  json_object_put(res);
  if (write_pm(d, pm, patch, err) < 0)
    return -1;
  op_clear(d, uid, "checkpoint");
  return 0;
}

/* The source container's state: 1 running (or paused, resumed now), 0 gone, -1 error. */
static int source_running(struct daemon *d, const char *id, ferry_error *err)
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
  if (running) { /* a dump cut short leaves CRIU's network lock behind */
    char *netns = ferry_asprintf("/proc/%d/ns/net", (int)st.pid);
    int was = 0;
    if (ferry_criu_netns_unlock(netns, &was, err) < 0)
      log_warn("unlocking %s: %s", netns, ferry_error_msg(err));
    else if (was)
      log_info("removed CRIU's network lock from container %s", id);
    ferry_error_clear(err);
    free(netns);
  }
  ferry_runc_state_free(&st);
  return running;
}

static int bind_pod_here(struct daemon *d, const char *ns, const char *name, ferry_error *err);
static int source_send(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err);
static const char *target_failure(json_object *pod);

/* A StatefulSet's source pod was deleted to make way for its replacement: the
 * rollback restores the image into the pod the StatefulSet makes again, here
 * (admitted for ferry-runc, bound to this node). Returns 2 when the original
 * pod is still there (the rollback is in place, as for any pod). */
static int rollback_into_new_pod(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *name = ferry_kube_str(pm, "spec.pod") ?: "";
  json_object *cs = ferry_kube_obj(ferry_kube_obj(pm, "status"), "containers");
  const char *cname = cs && json_object_array_length(cs) ? ferry_kube_str(json_object_array_get_idx(cs, 0), "name") : NULL;
  json_object *pod = NULL;
  struct ferry_kube_status st = { 0 };
  *requeue_ms = 300;
  if (ferry_kube_get(d->kube, &FERRY_KUBE_PODS, ns, name, &pod, &st, err) < 0) {
    if (st.code != 404)
      return -1;
    ferry_error_clear(err);
    return 0; /* the StatefulSet makes it again */
  }
  int rc = 0;
  const char *uid = ferry_kube_str(pod, "metadata.uid") ?: "", *node = ferry_kube_str(pod, "spec.nodeName");
  json_object *ann = ferry_kube_obj(ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "annotations"), FERRY_ANN_RESTORE_FROM);
  char *ref = ferry_asprintf("%s/%s", ns, ferry_kube_str(pm, "metadata.name"));
  if (!strcmp(uid, ferry_kube_str(pm, "status.sourcePodUID") ?: "")) {
    rc = ferry_kube_str(pod, "metadata.deletionTimestamp") ? 0 : 2; /* being deleted: wait; still there: in place */
  } else if (!ann || strcmp(json_object_get_string(ann), ref) != 0 || ferry_kube_str(pod, "metadata.deletionTimestamp")) {
    rc = 0; /* not (yet) the pod to restore into */
  } else if (!node || !*node) {
    const char *image = ferry_kube_str(pm, "status.image") ?: "";
    size_t sl = strlen(d->store);
    struct ferry_admission a = { .pod_migration = ref, .store = (char *)d->store,
                                 .image = (char *)image + (strncmp(image, d->store, sl) ? 0 : sl + 1) };
    if (!cname || ferry_admission_write(d->admission_dir, ns, name, cname, &a, err) < 0 ||
        bind_pod_here(d, ns, name, err) < 0)
      rc = -1;
    else
      log_info("%s: restoring into the statefulset's new pod %s here", ferry_kube_str(pm, "metadata.name"), name);
  } else if (!strcmp(node, d->g->node)) {
    json_object *pcs = ferry_kube_obj(ferry_kube_obj(pod, "status"), "containerStatuses");
    json_object *c0 = pcs && json_object_array_length(pcs) ? json_object_array_get_idx(pcs, 0) : NULL;
    const char *why = target_failure(pod);
    if (c0 && ferry_kube_obj(ferry_kube_obj(c0, "state"), "running")) {
      metrics_count(d->m, "source", "rolled_back");
      event(d, pm, "Normal", "RolledBack", "restored on %s into the statefulset's pod %s", d->g->node, name);
      rc = write_pm(d, pm, pm_status_patch(PM_ROLLED_BACK, "RolledBack", "running again on %s as a new pod %s", d->g->node, name),
                    err);
    } else if (why) {
      metrics_count(d->m, "source", "lost");
      event(d, pm, "Warning", "WorkloadLost", "the rollback into %s on %s failed: %s", name, d->g->node, why);
      rc = write_pm(d, pm, pm_status_patch(PM_FAILED, "WorkloadLost", "rollback on %s failed: %s", d->g->node, why), err);
    }
  }
  free(ref);
  json_object_put(pod);
  return rc;
}

static int source_rollback(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid"), *id = container_id(pm), *from = ferry_kube_str(pm, "status.rollbackFrom") ?: "";
  if (pm_phase_parse(from) == PM_RESTORING && !pm_condition_true(pm, "TargetReleased")) {
    *requeue_ms = 1000; /* the target may still hold a copy: never two */
    return 0;
  }
  json_object *res = NULL;
  enum op_state s = op_check(d, uid, "rollback", &res);
  if (s == OP_RUNNING) {
    *requeue_ms = 300;
    return 0;
  }
  if (s == OP_DONE || s == OP_DIED) {
    int ok = s == OP_DONE && json_object_get_int(ferry_kube_obj(res, "exitCode")) == 0;
    const char *msg = res ? ferry_kube_str(res, "message") ?: "" : "the restore process ended without an answer";
    json_object *patch = ok ? pm_status_patch(PM_ROLLED_BACK, "RolledBack", "running again on %s", d->g->node)
                            : pm_status_patch(PM_FAILED, "WorkloadLost", "rollback on %s failed: %s", d->g->node, msg);
    metrics_count(d->m, "source", ok ? "rolled_back" : "lost");
    if (ok)
      event(d, pm, "Normal", "RolledBack", "restored on %s from %s", d->g->node, ferry_kube_str(pm, "status.image") ?: "the image");
    else
      event(d, pm, "Warning", "WorkloadLost", "the rollback on %s failed: %s; the pod's container is not running", d->g->node, msg);
    json_object_put(res);
    if (write_pm(d, pm, patch, err) < 0)
      return -1;
    op_clear(d, uid, "rollback");
    return 0;
  }
  if (!strcmp(ferry_kube_str(pm, "status.owner.kind") ?: "", "StatefulSet")) {
    int done = rollback_into_new_pod(d, pm, requeue_ms, err);
    if (done != 2)
      return done;
  }
  int running = id ? source_running(d, id, err) : -1;
  if (running < 0 && id)
    return -1;
  if (running == 1) {
    metrics_count(d->m, "source", "rolled_back");
    event(d, pm, "Normal", "RolledBack", "the container never stopped on %s; it runs there", d->g->node);
    return write_pm(d, pm, pm_status_patch(PM_ROLLED_BACK, "RolledBack", "running on %s (it was never stopped)", d->g->node), err);
  }
  const char *image = ferry_kube_str(pm, "status.image"), *bundle = NULL;
  json_object *cs = ferry_kube_obj(ferry_kube_obj(pm, "status"), "containers");
  if (cs && json_object_array_length(cs))
    bundle = ferry_kube_str(json_object_array_get_idx(cs, 0), "bundle");
  if (!image || !bundle || !id) {
    event(d, pm, "Warning", "WorkloadLost", "the container is gone from %s and no image was published", d->g->node);
    metrics_count(d->m, "source", "lost");
    return write_pm(d, pm, pm_status_patch(PM_FAILED, "WorkloadLost", "the container is gone from %s and no image was published", d->g->node), err);
  }
  const char *name = strrchr(image, '/') ? strrchr(image, '/') + 1 : image;
  char *args[24];
  int n = 0;
  args[n++] = "restore";
  args[n++] = "--root";
  args[n++] = (char *)d->runc_root;
  args[n++] = "--store";
  args[n++] = (char *)d->store;
  args[n++] = "--image";
  args[n++] = (char *)name;
  args[n++] = "--bundle";
  args[n++] = (char *)bundle;
  args[n++] = "--id";
  args[n++] = (char *)id;
  add_flags(pm, args, &n);
  add_codec(d, args, &n, 0);
  args[n] = NULL;
  *requeue_ms = 300;
  return op_start(d, pm, "rollback", args, err);
}

static int source_step(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  enum pm_phase phase = pm_phase(pm);
  const char *uid = ferry_kube_str(pm, "metadata.uid");
  if (phase == PM_SCHEDULED) {
    if (ferry_kube_obj(ferry_kube_obj(pm, "metadata"), "deletionTimestamp"))
      return 0; /* cancelled: the controller ends it */
    *requeue_ms = 300;
    return source_checkpoint(d, pm, err);
  }
  if (phase == PM_CHECKPOINTING) {
    json_object *res = NULL;
    enum op_state s = op_check(d, uid, "checkpoint", &res);
    if (s == OP_RUNNING && is_postcopy(pm)) { /* frozen and serving once its first answer is there */
      char *ready = op_path(d, uid, "checkpoint", "ready"), *text = NULL;
      ferry_error e2 = FERRY_ERROR_INIT;
      json_object *r = ferry_read_file(ready, &text, NULL, &e2) == 0 ? json_tokener_parse(text) : NULL;
      ferry_error_clear(&e2);
      free(text);
      free(ready);
      int rc = 0;
      if (r)
        rc = source_checkpoint_done(d, pm, r, 1, err);
      *requeue_ms = 300;
      json_object_put(r);
      return rc;
    }
    if (s == OP_RUNNING) {
      *requeue_ms = 300;
      return 0;
    }
    if (s == OP_DONE) {
      int rc = source_checkpoint_done(d, pm, res, 0, err);
      json_object_put(res);
      return rc;
    }
    /* the checkpoint died with no answer (or never started): make sure the pod runs here */
    json_object *patch = pm_status_patch(PM_ROLLING_BACK, "CheckpointInterrupted",
                                         "the checkpoint on %s ended without an answer", d->g->node);
    pm_patch_set(patch, "rollbackFrom", json_object_new_string(pm_phase_name(PM_CHECKPOINTING)));
    event(d, pm, "Warning", "CheckpointInterrupted", "the checkpoint on %s ended without an answer; rolling back", d->g->node);
    if (write_pm(d, pm, patch, err) < 0)
      return -1;
    op_clear(d, uid, "checkpoint");
    return 0;
  }
  if ((phase == PM_TRANSFERRING || phase == PM_RESTORING) && !is_postcopy(pm) &&
      ferry_kube_str(pm, "status.transfer.address"))
    return source_send(d, pm, requeue_ms, err);
  if ((phase == PM_TRANSFERRING || phase == PM_RESTORING) && is_postcopy(pm) && !pm_condition_true(pm, "SourceReleased"))
    return source_serving(d, pm, requeue_ms, err);
  if (phase == PM_ROLLING_BACK) {
    /* post-copy: CRIU may still hold the frozen container; once the target holds
     * no copy, stop it (the step thaws the container and answers) */
    json_object *res = NULL;
    if (is_postcopy(pm) && op_check(d, uid, "checkpoint", &res) != OP_NONE) {
      json_object_put(res);
      const char *from = ferry_kube_str(pm, "status.rollbackFrom") ?: "";
      if (pm_phase_parse(from) == PM_RESTORING && !pm_condition_true(pm, "TargetReleased")) {
        *requeue_ms = 500;
        return 0;
      }
      if (!op_stop(d, pm, "checkpoint")) {
        *requeue_ms = 300;
        return 0;
      }
      op_clear(d, uid, "checkpoint");
    } else {
      json_object_put(res);
    }
    return source_rollback(d, pm, requeue_ms, err);
  }
  if (phase == PM_ROLLED_BACK || phase == PM_FAILED)
    return departed(d, pm, 0, err); /* it runs here again (or is lost: then the kubelet may start it afresh) */
  return 0;
}

/* ---------- target ---------- */

/* The target pod and its one container, from this node's pod cache (NULL until bound here). */
static json_object *target_pod(struct daemon *d, json_object *pm)
{
  return ferry_informer_get(d->pods, ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "status.targetPod") ?: "");
}

static const char *container_name(json_object *pm)
{
  json_object *cs = ferry_kube_obj(ferry_kube_obj(pm, "status"), "containers");
  return cs && json_object_array_length(cs) ? ferry_kube_str(json_object_array_get_idx(cs, 0), "name") : NULL;
}

static int bind_here(struct daemon *d, json_object *pm, ferry_error *err)
{
  return bind_pod_here(d, ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "status.targetPod") ?: "", err);
}

/* POST pods/NAME/binding to this node: the kubelet starts it, ferry-runc restores it. */
static int bind_pod_here(struct daemon *d, const char *ns, const char *name, ferry_error *err)
{
  char *path = ferry_kube_path(&FERRY_KUBE_PODS, ns, name, "binding", NULL);
  char *body = ferry_asprintf("{\"apiVersion\":\"v1\",\"kind\":\"Binding\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\"},"
                              "\"target\":{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"name\":\"%s\"}}",
                              name, ns, d->g->node);
  struct ferry_kube_status st = { 0 };
  int rc = ferry_kube_request(d->kube, "POST", path, "application/json", body, NULL, &st, err);
  char *here = ferry_asprintf("\"%s\"", d->g->node);
  if (rc < 0 && st.code == 409 && strstr(st.message, here)) { /* bound here already */
    ferry_error_clear(err);
    rc = 0;
  }
  free(here);
  free(path);
  free(body);
  return rc;
}

/* The PID a running step recorded (-1 when none). */
static pid_t child_pid(struct daemon *d, json_object *pm, const char *step)
{
  char *pidf = op_path(d, ferry_kube_str(pm, "metadata.uid"), step, "pid"), *text = NULL;
  ferry_error err = FERRY_ERROR_INIT;
  long long pid = -1;
  if (ferry_read_file(pidf, &text, NULL, &err) < 0 || sscanf(text, "%lld", &pid) != 1 || pid <= 0)
    pid = -1;
  ferry_error_clear(&err);
  free(text);
  free(pidf);
  return (pid_t)pid;
}

/* Post-copy on the target: the `pages` step (CRIU's lazy-pages daemon) started
 * once; 1 when its socket is there (*lazy_dir: its directory), 0 while it comes
 * up, -1 on error, or when it ended before it was ready (then rolled back). */
static int pages_ready(struct daemon *d, json_object *pm, const char *image, char **lazy_dir, ferry_error *err)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid");
  char *dir = ferry_asprintf("%s/%s/lazy", d->g->work_dir, image);
  char *sock = ferry_path_join(dir, "lazy-pages.socket");
  json_object *res = NULL;
  enum op_state s = op_check(d, uid, "pages", &res);
  int rc = 0;
  if (s == OP_NONE) {
    char *args[16] = { "pages", "--store", (char *)d->store, "--image", (char *)image, "--lazy-dir", dir, "--timeout",
                       "86400" };
    int n = 9;
    add_codec(d, args, &n, 0);
    args[n] = NULL;
    rc = op_start(d, pm, "pages", args, err);
    if (rc == 0)
      s = OP_RUNNING;
  }
  if (s == OP_RUNNING) {
    /* the pod is frozen meanwhile: wait for the daemon's socket here (it takes a
     * few hundred ms) rather than a requeue later; the step's end is seen next time */
    int64_t until = ferry_now_mono_ms() + 3000;
    pid_t pid = child_pid(d, pm, "pages");
    while (pid > 0 && !ferry_path_exists(sock) && ferry_now_mono_ms() < until && kill(pid, 0) == 0)
      usleep(5000);
    rc = ferry_path_exists(sock) ? 1 : 0;
  } else if (s != OP_NONE) {
    const char *msg = res ? ferry_kube_str(res, "message") ?: "" : "the pages step ended without an answer";
    json_object *p = pm_status_patch(PM_ROLLING_BACK, "PagesFailed", "post-copy on %s: %s", d->g->node, msg);
    pm_patch_set(p, "rollbackFrom", json_object_new_string(pm_phase_name(PM_TRANSFERRING)));
    event(d, pm, "Warning", "PagesFailed", "%s: %s", d->g->node, msg);
    rc = write_pm(d, pm, p, err) < 0 ? -1 : 0;
    if (rc == 0)
      op_clear(d, uid, "pages");
  }
  json_object_put(res);
  free(sock);
  if (rc == 1)
    *lazy_dir = dir;
  else
    free(dir);
  return rc;
}

/* Reads an op's small JSON side file (ready); NULL when not there. */
static json_object *op_side(struct daemon *d, json_object *pm, const char *step, const char *ext)
{
  char *p = op_path(d, ferry_kube_str(pm, "metadata.uid"), step, ext), *text = NULL;
  ferry_error err = FERRY_ERROR_INIT;
  json_object *o = ferry_read_file(p, &text, NULL, &err) == 0 ? json_tokener_parse(text) : NULL;
  ferry_error_clear(&err);
  free(text);
  free(p);
  return o;
}

/* The image is in another node's store (no shared storage): receive it straight
 * from the source. A `receive` step listens on this node's migration address
 * with a one-time token; both go into status.transfer for the source's `send`
 * step. 1 once the image is in this node's store, 0 while it comes, -1 on error. */
static int target_receive(struct daemon *d, json_object *pm, ferry_error *err)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid"), *image = ferry_kube_str(pm, "status.image") ?: "";
  const char *name = strrchr(image, '/') ? strrchr(image, '/') + 1 : image;
  json_object *res = NULL;
  enum op_state s = op_check(d, uid, "receive", &res);
  int rc = 0;
  if (s == OP_NONE) {
    if (!d->migration_address) {
      json_object *p = pm_status_patch(PM_ROLLING_BACK, "NoMigrationAddress", "the image is in another store and "
                                       "node %s has no address to receive it on (set --migration-address)", d->g->node);
      pm_patch_set(p, "rollbackFrom", json_object_new_string(pm_phase_name(PM_TRANSFERRING)));
      return write_pm(d, pm, p, err);
    }
    char token[65];
    char *tf = op_path(d, uid, "receive", "token"), *ready = op_path(d, uid, "receive", "ready");
    char *listen = strchr(d->migration_address, ':') ? ferry_asprintf("[%s]:0", d->migration_address)
                                                     : ferry_asprintf("%s:0", d->migration_address);
    unlink(ready);
    rc = ferry_stream_token(token, err);
    if (rc == 0)
      rc = ferry_write_file(tf, token, 64, err);
    if (rc == 0) {
      char *args[] = { "receive", "--store", (char *)d->store, "--listen", listen, "--token-file", tf, "--ready-file",
                       ready, "--timeout", "600", NULL };
      rc = op_start(d, pm, "receive", args, err);
    }
    OPENSSL_cleanse(token, sizeof token);
    free(tf);
    free(ready);
    free(listen);
    return rc;
  }
  if (s == OP_RUNNING) {
    json_object *ready = op_side(d, pm, "receive", "ready");
    if (ready && !ferry_kube_str(pm, "status.transfer.address")) {
      char *tf = op_path(d, uid, "receive", "token"), *token = NULL;
      if (ferry_read_file(tf, &token, NULL, err) == 0) {
        json_object *p = pm_status_patch(PM_NONE, NULL, NULL), *t = json_object_new_object();
        json_object_object_add(t, "address", json_object_new_string(ferry_kube_str(ready, "listen") ?: ""));
        json_object_object_add(t, "token", json_object_new_string(token));
        pm_patch_set(p, "transfer", t);
        rc = write_pm(d, pm, p, err);
        OPENSSL_cleanse(token, strlen(token));
      } else {
        rc = -1;
      }
      free(token);
      free(tf);
    }
    json_object_put(ready);
    return rc;
  }
  int ok = s == OP_DONE && json_object_get_int(ferry_kube_obj(res, "exitCode")) == 0;
  json_object *p;
  if (ok) {
    char *mine = ferry_asprintf("%s/%s", d->store, name);
    p = pm_status_patch(PM_NONE, "Transferred", "image %s received from %s", mine, ferry_kube_str(pm, "status.sourceNode") ?: "the source");
    pm_patch_set(p, "image", json_object_new_string(mine));
    static const char *const keys[] = { "transferMs", "transfer" };
    timings_into(p, pm, res, keys, 2);
    event(d, pm, "Normal", "Transferred", "%s: image received straight from %s in %lld ms", d->g->node,
          ferry_kube_str(pm, "status.sourceNode") ?: "the source", (long long)json_object_get_int64(ferry_kube_obj(ferry_kube_obj(res, "timings"), "transferMs")));
    free(mine);
  } else {
    const char *msg = res ? ferry_kube_str(res, "message") ?: "" : "the receive step ended without an answer";
    p = pm_status_patch(PM_ROLLING_BACK, "TransferFailed", "receiving the image on %s: %s", d->g->node, msg);
    pm_patch_set(p, "rollbackFrom", json_object_new_string(pm_phase_name(PM_TRANSFERRING)));
    event(d, pm, "Warning", "TransferFailed", "%s: %s", d->g->node, msg);
  }
  json_object_put(res);
  rc = write_pm(d, pm, p, err);
  if (rc == 0)
    op_clear(d, uid, "receive");
  return rc;
}

/* The source's half of a direct transfer, once the target listens. */
static int source_send(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid"), *image = ferry_kube_str(pm, "status.image") ?: "";
  const char *to = ferry_kube_str(pm, "status.transfer.address"), *token = ferry_kube_str(pm, "status.transfer.token");
  json_object *res = NULL;
  enum op_state s = op_check(d, uid, "send", &res);
  int rc = 0;
  *requeue_ms = 300;
  if (s == OP_NONE && to && token && !strncmp(image, d->store, strlen(d->store))) {
    char *tf = op_path(d, uid, "send", "token");
    const char *name = strrchr(image, '/') ? strrchr(image, '/') + 1 : image;
    rc = ferry_write_file(tf, token, strlen(token), err);
    if (rc == 0) {
      char *args[16] = { "send", "--store", (char *)d->store, "--image", (char *)name, "--to", (char *)to,
                         "--token-file", tf, "--timeout", "600" };
      int n = 11;
      if (d->bandwidth) {
        args[n++] = "--bandwidth";
        args[n++] = (char *)d->bandwidth;
      }
      args[n] = NULL;
      rc = op_start(d, pm, "send", args, err);
    }
    free(tf);
  } else if (s == OP_DONE || s == OP_DIED) {
    int ok = s == OP_DONE && json_object_get_int(ferry_kube_obj(res, "exitCode")) == 0;
    const char *msg = res ? ferry_kube_str(res, "message") ?: "" : "the send step ended without an answer";
    if (ok) {
      event(d, pm, "Normal", "Sent", "%s: %s", d->g->node, msg);
    } else if (pm_phase(pm) == PM_TRANSFERRING) {
      json_object *p = pm_status_patch(PM_ROLLING_BACK, "TransferFailed", "sending the image from %s: %s", d->g->node, msg);
      pm_patch_set(p, "rollbackFrom", json_object_new_string(pm_phase_name(PM_TRANSFERRING)));
      event(d, pm, "Warning", "TransferFailed", "%s: %s", d->g->node, msg);
      rc = write_pm(d, pm, p, err);
    }
    if (rc == 0)
      op_clear(d, uid, "send");
  }
  json_object_put(res);
  return rc;
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
    json_object *p = pm_status_patch(PM_ROLLING_BACK, "StoreMismatch", "image %s is not in this node's store %s", image, d->store);
    pm_patch_set(p, "rollbackFrom", json_object_new_string(pm_phase_name(PM_TRANSFERRING)));
    return write_pm(d, pm, p, err);
  }
  /* post-copy: CRIU's lazy-pages daemon runs first; the restore connects to it */
  char *lazy_dir = NULL;
  if (is_postcopy(pm)) {
    int ready = pages_ready(d, pm, image + sl + 1, &lazy_dir, err);
    if (ready <= 0)
      return ready;
  }
  /* ferry-runc restores this pod's container from this image, once, and nothing else */
  char *ref = ferry_asprintf("%s/%s", ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "metadata.name"));
  struct ferry_admission a = { .pod_migration = ref, .store = (char *)d->store, .image = (char *)image + sl + 1,
                               .lazy_dir = lazy_dir };
  int rc = ferry_admission_write(d->admission_dir, ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "status.targetPod") ?: "", cname,
                                 &a, err);
  free(ref);
  free(lazy_dir);
  if (rc < 0)
    return -1;
  json_object *patch = pm_status_patch(PM_RESTORING, "Restoring", "pod %s bound to %s: verifying and restoring",
                                       ferry_kube_str(pm, "status.targetPod") ?: "", d->g->node);
  if (write_pm(d, pm, patch, err) < 0)
    return -1;
  return bind_here(d, pm, err);
}

static int target_restored(struct daemon *d, json_object *pm, json_object *pod, ferry_error *err)
{
  const char *cname = container_name(pm), *ns = ferry_kube_str(pm, "metadata.namespace"), *tpod = ferry_kube_str(pm, "status.targetPod");
  const char *ip = ferry_kube_str(pod, "status.podIP") ?: "";
  struct ferry_restored r;
  ferry_error e2 = FERRY_ERROR_INIT;
  int have = ferry_restored_read(d->admission_dir, ns, tpod, cname, &r, &e2) == 0;
  if (!have)
    log_warn("%s: no restore record from ferry-runc (%s); timing from now", tpod, ferry_error_msg(&e2));
  ferry_error_clear(&e2);
  json_object *cs = ferry_kube_obj(ferry_kube_obj(pod, "status"), "containerStatuses");
  const char *cid = cs && json_object_array_length(cs) ? ferry_kube_str(json_object_array_get_idx(cs, 0), "containerID") : NULL;
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
    json_object *res = json_object_new_object(), *t = json_object_new_object();
    json_object_object_add(t, "verifyMs", json_object_new_int64(r.verify_ms));
    json_object_object_add(t, "restoreMs", json_object_new_int64(r.rootfs_ms + r.restore_ms));
    json_object_object_add(res, "timings", t);
    static const char *const keys[] = { "verifyMs", "verify", "restoreMs", "restore" };
    timings_into(patch, pm, res, keys, 4);
    json_object_put(res);
    ferry_restored_free(&r);
  }
  pm_patch_condition(patch, pm, "Restored", 1, "Restored", d->g->node);
  metrics_count(d->m, "target", "restored");
  event(d, pm, "Normal", "Restored", "running on %s as pod %s (%s)", d->g->node, tpod, ip);
  return write_pm(d, pm, patch, err);
}

/* Why the target pod's container does not run, when the kubelet gave up on it
 * (NULL while it is still being created). */
static const char *target_failure(json_object *pod)
{
  json_object *cs = ferry_kube_obj(ferry_kube_obj(pod, "status"), "containerStatuses");
  json_object *c = cs && json_object_array_length(cs) ? json_object_array_get_idx(cs, 0) : NULL;
  const char *reason = c ? ferry_kube_str(c, "state.waiting.reason") : NULL;
  static const char *const errors[] = { "CreateContainerError", "RunContainerError", "CreateContainerConfigError",
                                        "ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff" };
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
  const char *ns = ferry_kube_str(pm, "metadata.namespace"), *tpod = ferry_kube_str(pm, "status.targetPod") ?: "", *cname = container_name(pm);
  if (cname && ferry_admission_remove(d->admission_dir, ns, tpod, cname, err) < 0)
    return -1;
  json_object *pod = NULL;
  struct ferry_kube_status st = { 0 };
  const char *tuid = ferry_kube_str(pm, "status.targetPodUID");
  if (!*tpod || (!tuid && ferry_kube_str(pm, "status.owner.uid")))
    return 1; /* an owned pod's replacement never became the target: nothing of it ran here */
  if (ferry_kube_get(d->kube, &FERRY_KUBE_PODS, ns, tpod, &pod, &st, err) < 0 ||
      (tuid && strcmp(ferry_kube_str(pod, "metadata.uid") ?: "", tuid) != 0)) { /* gone (a pod by its name may be another) */
    if (!pod && st.code != 404)
      return -1;
    json_object_put(pod);
    ferry_error_clear(err);
    if (cname && !pod_bound_here(d, ns, tpod))
      ferry_restored_remove(d->admission_dir, ns, tpod, cname, err);
    ferry_error_clear(err);
    return 1;
  }
  int rc = 0;
  if (!ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "deletionTimestamp")) {
    struct ferry_kube_delete_opts o = FERRY_KUBE_DELETE_OPTS_INIT;
    o.uid = ferry_kube_str(pod, "metadata.uid");
    o.grace_period_seconds = 1; /* not 0: the pod object must stay until its kubelet has stopped it */
    if (ferry_kube_delete(d->kube, &FERRY_KUBE_PODS, ns, tpod, &o, &st, err) < 0 && st.code != 404)
      rc = -1;
    else
      log_info("%s: deleting the target pod %s; released once it is gone", ferry_kube_str(pm, "metadata.name"), tpod);
  }
  json_object_put(pod);
  return rc;
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
  event(d, pm, "Warning", "RestoreFailed", "%s: %s; rolling back to %s", d->g->node, why,
        ferry_kube_str(pm, "status.sourceNode") ?: "the source");
  return write_pm(d, pm, patch, err);
}

/* Post-copy, restored: the pod runs while its memory arrives. When the pages
 * step fails the pod's memory has holes: its container is killed at once and
 * never started again here (a departed record), then the migration rolls back. */
static int target_pages(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid");
  json_object *res = NULL;
  enum op_state s = op_check(d, uid, "pages", &res);
  if (s == OP_RUNNING) {
    *requeue_ms = 500;
    return 0;
  }
  int ok = s == OP_DONE && json_object_get_int(ferry_kube_obj(res, "exitCode")) == 0;
  const char *msg = res ? ferry_kube_str(res, "message") ?: "" : "the pages step ended without an answer";
  json_object *patch;
  if (ok) {
    patch = pm_status_patch(PM_NONE, NULL, NULL);
    pm_patch_condition(patch, pm, "MemoryTransferred", 1, "PagesArrived", msg);
    static const char *const keys[] = { "pagesMs", "pages" };
    timings_into(patch, pm, res, keys, 2);
    event(d, pm, "Normal", "MemoryTransferred", "%s: %s in %lld ms", d->g->node, msg,
          (long long)json_object_get_int64(ferry_kube_obj(ferry_kube_obj(res, "timings"), "pagesMs")));
  } else {
    const char *ns = ferry_kube_str(pm, "metadata.namespace"), *tpod = ferry_kube_str(pm, "status.targetPod") ?: "", *cname = container_name(pm);
    json_object *pod = target_pod(d, pm);
    const char *tuid = pod ? ferry_kube_str(pod, "metadata.uid") : ferry_kube_str(pm, "status.targetPodUID");
    struct ferry_restored r;
    ferry_error e2 = FERRY_ERROR_INIT;
    char *ref = ferry_asprintf("%s/%s", ns, ferry_kube_str(pm, "metadata.name"));
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
    ferry_error_clear(&e2);
    free(ref);
    patch = pm_status_patch(PM_ROLLING_BACK, "PagesFailed", "post-copy to %s: %s", d->g->node, msg);
    pm_patch_set(patch, "rollbackFrom", json_object_new_string(pm_phase_name(PM_RESTORING)));
    event(d, pm, "Warning", "PagesFailed", "%s: %s; the restored container was stopped", d->g->node, msg);
  }
  json_object_put(res);
  if (write_pm(d, pm, patch, err) < 0)
    return -1;
  op_clear(d, uid, "pages");
  return 0;
}

static int target_step(struct daemon *d, json_object *pm, int64_t *requeue_ms, ferry_error *err)
{
  enum pm_phase phase = pm_phase(pm);
  if (phase == PM_TRANSFERRING) {
    if (ferry_kube_obj(ferry_kube_obj(pm, "metadata"), "deletionTimestamp"))
      return 0;
    *requeue_ms = 300;
    return target_admit(d, pm, err);
  }
  if (phase == PM_RESTORING && !pm_condition_true(pm, "Restored")) {
    *requeue_ms = 500;
    const char *failed = restore_failed(pm);
    if (failed) { /* the kubelet could not run it: nothing may run here before the source takes over */
      int released = target_release(d, pm, err);
      if (released <= 0) {
        *requeue_ms = 200;
        return released;
      }
      json_object *patch = pm_status_patch(PM_ROLLING_BACK, "RestoreFailed", "restore on %s failed: %s", d->g->node, failed);
      pm_patch_set(patch, "rollbackFrom", json_object_new_string(pm_phase_name(PM_RESTORING)));
      pm_patch_condition(patch, pm, "TargetReleased", 1, "RestoreFailed", d->g->node);
      return write_pm(d, pm, patch, err);
    }
    json_object *pod = target_pod(d, pm);
    if (!pod) { /* not bound here yet (a restart between admission and binding), gone, or the cache is behind */
      json_object *cur = NULL;
      struct ferry_kube_status st = { 0 };
      if (ferry_kube_get(d->kube, &FERRY_KUBE_PODS, ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "status.targetPod") ?: "", &cur,
                         &st, err) < 0) {
        if (st.code != 404)
          return -1;
        ferry_error_clear(err);
        return record_restore_failure(d, pm, "the target pod is gone", err);
      }
      const char *node = ferry_kube_str(cur, "spec.nodeName"), *tuid = ferry_kube_str(pm, "status.targetPodUID");
      int rc = 0;
      if (tuid && strcmp(ferry_kube_str(cur, "metadata.uid") ?: "", tuid) != 0)
        rc = record_restore_failure(d, pm, "the target pod is gone (another pod has its name)", err);
      else if (!node || !*node)
        rc = bind_here(d, pm, err);
      else if (strcmp(node, d->g->node) != 0)
        rc = record_restore_failure(d, pm, "the target pod was bound to another node", err);
      json_object_put(cur);
      return rc;
    }
    json_object_get(pod);
    json_object *cs = ferry_kube_obj(ferry_kube_obj(pod, "status"), "containerStatuses");
    json_object *c = cs && json_object_array_length(cs) ? json_object_array_get_idx(cs, 0) : NULL;
    int rc = 0;
    const char *why;
    if (c && ferry_kube_obj(ferry_kube_obj(c, "state"), "running"))
      rc = target_restored(d, pm, pod, err);
    else if ((why = target_failure(pod)))
      rc = record_restore_failure(d, pm, why, err);
    json_object_put(pod);
    return rc;
  }
  if (phase == PM_RESTORING && is_postcopy(pm) && !pm_condition_true(pm, "MemoryTransferred"))
    return target_pages(d, pm, requeue_ms, err);
  if (phase == PM_ROLLING_BACK && !pm_condition_true(pm, "TargetReleased")) {
    if (is_postcopy(pm) && !op_stop(d, pm, "pages")) { /* the lazy-pages daemon goes first */
      *requeue_ms = 300;
      return 0;
    }
    int released = target_release(d, pm, err);
    if (released <= 0) {
      *requeue_ms = 300;
      return released;
    }
    json_object *patch = pm_status_patch(PM_NONE, NULL, NULL);
    pm_patch_condition(patch, pm, "TargetReleased", 1, "RollingBack", d->g->node);
    return write_pm(d, pm, patch, err);
  }
  if (phase == PM_FAILED || phase == PM_ROLLED_BACK) { /* leftovers only */
    if (is_postcopy(pm) && !op_stop(d, pm, "pages")) {
      *requeue_ms = 300;
      return 0;
    }
    const char *cname = container_name(pm);
    if (cname && ferry_admission_remove(d->admission_dir, ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "status.targetPod") ?: "",
                                        cname, err) < 0)
      log_warn("%s", ferry_error_msg(err));
    ferry_error_clear(err);
  }
  return 0;
}

/* A pod of this node changed: the migration it is the target of looks again. */
static void pod_changed(void *ctx, json_object *pod)
{
  struct daemon *d = ctx;
  json_object *v = ferry_kube_obj(ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "annotations"), FERRY_ANN_RESTORE_FROM);
  const char *ref = v ? json_object_get_string(v) : NULL;
  if (ref && strchr(ref, '/'))
    queue_add(d->q, ref, ferry_now_mono_ms());
}
static void pod_updated(void *ctx, json_object *old, json_object *pod) { (void)old; pod_changed(ctx, pod); }

/* ---------- the loop ---------- */

static void enqueue(void *ctx, json_object *pm)
{
  struct daemon *d = ctx;
  const char *s = ferry_kube_str(pm, "status.sourceNode") ?: "", *t = ferry_kube_str(pm, "status.targetNode") ?: "";
  if (strcmp(s, d->g->node) != 0 && strcmp(t, d->g->node) != 0)
    return;
  char *key = ferry_asprintf("%s/%s", ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "metadata.name"));
  queue_add(d->q, key, ferry_now_mono_ms());
  free(key);
}
static void enqueue_upd(void *ctx, json_object *old, json_object *pm) { (void)old; enqueue(ctx, pm); }

static int step(struct daemon *d, const char *key, int64_t *requeue_ms, ferry_error *err)
{
  char ns[256];
  const char *slash = strchr(key, '/');
  if (!slash || (size_t)(slash - key) >= sizeof ns)
    return 0;
  memcpy(ns, key, (size_t)(slash - key));
  ns[slash - key] = '\0';
  json_object *pm = ferry_informer_get(d->pms, ns, slash + 1);
  if (!pm)
    return 0;
  json_object_get(pm); /* the cache may change under a long step */
  int rc = 0;
  if (!strcmp(ferry_kube_str(pm, "status.sourceNode") ?: "", d->g->node))
    rc = source_step(d, pm, requeue_ms, err);
  if (rc == 0 && !strcmp(ferry_kube_str(pm, "status.targetNode") ?: "", d->g->node)) {
    int64_t again = 0;
    rc = target_step(d, pm, &again, err);
    if (again && (!*requeue_ms || again < *requeue_ms))
      *requeue_ms = again;
  }
  json_object_put(pm);
  return rc;
}

/* CPU use since the last call (0..1) from /proc/stat. */
static double cpu_use(struct daemon *d)
{
  char *text = NULL;
  size_t len;
  ferry_error err = FERRY_ERROR_INIT;
  double use = 0;
  unsigned long long v[8] = { 0 };
  if (ferry_read_file("/proc/stat", &text, &len, &err) == 0 &&
      sscanf(text, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
             &v[7]) == 8) {
    unsigned long long total = 0, idle = v[3] + v[4];
    for (int i = 0; i < 8; i++)
      total += v[i];
    unsigned long long busy = total - idle;
    if (d->cpu_total && total > d->cpu_total)
      use = (double)(busy - d->cpu_busy) / (double)(total - d->cpu_total);
    d->cpu_busy = busy;
    d->cpu_total = total;
  }
  ferry_error_clear(&err);
  free(text);
  return use;
}

static double meminfo(const char *text, const char *key)
{
  const char *p = strstr(text, key);
  return p ? strtod(p + strlen(key), NULL) : 0;
}

/* The node's load for the controller: CPU and memory use, load average, and
 * CPU pressure (PSI) where the kernel has it. */
static char *load_report(struct daemon *d)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "cpu", json_object_new_double(cpu_use(d)));
  json_object_object_add(o, "cpus", json_object_new_int((int)sysconf(_SC_NPROCESSORS_ONLN)));
  char *text = NULL;
  size_t len;
  ferry_error err = FERRY_ERROR_INIT;
  if (ferry_read_file("/proc/loadavg", &text, &len, &err) == 0)
    json_object_object_add(o, "load1", json_object_new_double(strtod(text, NULL)));
  ferry_error_clear(&err);
  free(text);
  text = NULL;
  if (ferry_read_file("/proc/meminfo", &text, &len, &err) == 0) {
    double total = meminfo(text, "MemTotal:"), avail = meminfo(text, "MemAvailable:");
    if (total > 0)
      json_object_object_add(o, "memory", json_object_new_double(1.0 - avail / total));
  }
  ferry_error_clear(&err);
  free(text);
  text = NULL;
  if (ferry_read_file("/proc/pressure/cpu", &text, &len, &err) == 0) {
    const char *p = strstr(text, "avg10=");
    if (p)
      json_object_object_add(o, "psiCpuSome10", json_object_new_double(strtod(p + 6, NULL)));
  }
  ferry_error_clear(&err);
  free(text);
  char *out = ferry_strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
  json_object_put(o);
  return out;
}

/* The node's agent Lease: renewTime now, the load in an annotation. */
static int renew_lease(struct daemon *d, ferry_error *err)
{
  char now[48], *load = load_report(d);
  format_ms(ferry_now_real_ms(), now, sizeof now);
  /* MicroTime: six fractional digits */
  char micro[48];
  snprintf(micro, sizeof micro, "%.*s000Z", (int)strlen(now) - 1, now);
  char name[300];
  snprintf(name, sizeof name, "%s%s", FERRY_AGENT_LEASE_PREFIX, d->g->node);
  json_object *lease = json_object_new_object(), *meta = json_object_new_object(), *spec = json_object_new_object(),
              *ann = json_object_new_object(), *labels = json_object_new_object();
  json_object_object_add(lease, "apiVersion", json_object_new_string("coordination.k8s.io/v1"));
  json_object_object_add(lease, "kind", json_object_new_string("Lease"));
  json_object_object_add(meta, "name", json_object_new_string(name));
  json_object_object_add(meta, "namespace", json_object_new_string(d->ns));
  json_object_object_add(labels, "app.kubernetes.io/name", json_object_new_string("ferry"));
  json_object_object_add(labels, "app.kubernetes.io/component", json_object_new_string("agent"));
  json_object_object_add(meta, "labels", labels);
  json_object_object_add(ann, FERRY_ANN_LOAD, json_object_new_string(load));
  json_object_object_add(meta, "annotations", ann);
  json_object_object_add(lease, "metadata", meta);
  json_object_object_add(spec, "holderIdentity", json_object_new_string(d->g->node));
  json_object_object_add(spec, "leaseDurationSeconds", json_object_new_int(d->lease_seconds));
  json_object_object_add(spec, "renewTime", json_object_new_string(micro));
  json_object_object_add(lease, "spec", spec);
  free(load);
  const char *patch = json_object_to_json_string_ext(lease, JSON_C_TO_STRING_PLAIN);
  struct ferry_kube_status st = { 0 };
  int rc = ferry_kube_patch(d->kube, &FERRY_KUBE_LEASES, d->ns, name, FERRY_PATCH_MERGE, patch, NULL, NULL, &st, err);
  if (rc < 0 && st.code == 404) {
    ferry_error_clear(err);
    rc = ferry_kube_create(d->kube, &FERRY_KUBE_LEASES, d->ns, lease, NULL, NULL, err);
  }
  json_object_put(lease);
  return rc;
}

/* Collects ended children; a step's end puts its migration on the queue now. */
static void reap(struct daemon *d)
{
  pid_t pid;
  while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
    for (size_t i = 0; i < sizeof d->children / sizeof d->children[0]; i++)
      if (d->children[i].pid == pid) {
        queue_add(d->q, d->children[i].key, ferry_now_mono_ms());
        free(d->children[i].key);
        d->children[i].key = NULL;
        d->children[i].pid = 0;
      }
}

static int children_running(const struct daemon *d)
{
  for (size_t i = 0; i < sizeof d->children / sizeof d->children[0]; i++)
    if (d->children[i].pid)
      return 1;
  return 0;
}

/* The Node's first InternalIP (where other nodes reach this one), or NULL. */
static char *node_internal_ip(struct daemon *d)
{
  json_object *node = NULL;
  struct ferry_kube_status st = { 0 };
  ferry_error err = FERRY_ERROR_INIT;
  char *ip = NULL;
  if (ferry_kube_get(d->kube, &FERRY_KUBE_NODES, NULL, d->g->node, &node, &st, &err) == 0) {
    json_object *addrs = ferry_kube_obj(ferry_kube_obj(node, "status"), "addresses");
    for (size_t i = 0; addrs && !ip && i < json_object_array_length(addrs); i++) {
      json_object *a = json_object_array_get_idx(addrs, i);
      if (!strcmp(ferry_kube_str(a, "type") ?: "", "InternalIP") && ferry_kube_str(a, "address"))
        ip = ferry_strdup(ferry_kube_str(a, "address"));
    }
  } else {
    log_warn("node %s: %s", d->g->node, ferry_error_msg(&err));
  }
  ferry_error_clear(&err);
  json_object_put(node);
  return ip;
}

static void usage(FILE *f)
{
  fputs("usage: ferry-agent [--node NAME ...] daemon --store URL --runc-root DIR [--kubeconfig FILE]\n"
        "         [--state-dir DIR] [--namespace NS] [--metrics-listen IP:PORT] [--lease-seconds N]\n"
        "         [--admission-dir DIR] [--migration-address IP] [--migration-bandwidth QUANTITY]\n"
        "  --runc-root:     the runtime's state root of this node's pod containers\n"
        "  --admission-dir: where restores are admitted for ferry-runc (default " FERRY_ADMISSION_DIR ")\n"
        "  --migration-address: where other nodes fetch post-copy memory from (default: the Node's InternalIP)\n"
        "  --migration-bandwidth: at most this many bytes/s of post-copy memory leave this node (e.g. 100Mi)\n"
        "  --image-compression zstd|lz4[:LEVEL], --encryption-key-file FILE: how images are stored (every\n"
        "                   node needs the same key; ferry-runc reads it from FERRY_ENCRYPTION_KEY_FILE)\n",
        f);
}

int agent_daemon(const struct daemon_globals *g, int argc, char **argv)
{
  struct daemon d;
  memset(&d, 0, sizeof d);
  d.g = g;
  d.state_dir = "/var/lib/ferry";
  d.ns = "ferry-system";
  d.metrics_listen = "0.0.0.0:9470";
  d.lease_seconds = 40;
  d.admission_dir = FERRY_ADMISSION_DIR;
  static const struct option opts[] = {
    { "kubeconfig", required_argument, NULL, 'k' }, { "store", required_argument, NULL, 's' },
    { "runc-root", required_argument, NULL, 'r' },  { "state-dir", required_argument, NULL, 'S' },
    { "namespace", required_argument, NULL, 'n' },  { "metrics-listen", required_argument, NULL, 'm' },
    { "admission-dir", required_argument, NULL, 'a' }, { "lease-seconds", required_argument, NULL, 'l' },
    { "migration-address", required_argument, NULL, 'A' }, { "migration-bandwidth", required_argument, NULL, 'B' },
    { "image-compression", required_argument, NULL, 'C' }, { "encryption-key-file", required_argument, NULL, 'K' },
    { "help", no_argument, NULL, 'h' },             { NULL, 0, NULL, 0 },
  };
  optind = 0;
  int o;
  while ((o = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
    switch (o) {
    case 'k': d.kubeconfig = optarg; break;
    case 's': d.store = optarg; break;
    case 'r': d.runc_root = optarg; break;
    case 'S': d.state_dir = optarg; break;
    case 'n': d.ns = optarg; break;
    case 'm': d.metrics_listen = optarg; break;
    case 'a': d.admission_dir = optarg; break;
    case 'l': d.lease_seconds = atoi(optarg); break;
    case 'A': d.migration_address = ferry_strdup(optarg); break;
    case 'C':
    case 'K': {
      struct ferry_codec c = { 0 };
      ferry_error e = FERRY_ERROR_INIT;
      if ((o == 'C' ? ferry_codec_parse_compression(optarg, &c, &e) : ferry_codec_load_key(optarg, &c, &e)) < 0) {
        fprintf(stderr, "ferry-agent daemon: %s\n", ferry_error_msg(&e));
        ferry_error_clear(&e);
        return 2;
      }
      if (o == 'C')
        d.compress = c.comp == FERRY_COMP_NONE ? NULL : optarg;
      else
        d.key_file = optarg;
      OPENSSL_cleanse(&c, sizeof c);
      break;
    }
    case 'B': {
      uint64_t bps;
      ferry_error e = FERRY_ERROR_INIT;
      if (ferry_relay_parse_bandwidth(optarg, &bps, &e) < 0) {
        fprintf(stderr, "ferry-agent daemon: --migration-%s\n", ferry_error_msg(&e));
        ferry_error_clear(&e);
        return 2;
      }
      d.bandwidth = optarg;
      break;
    }
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc || !d.store || !d.runc_root || d.lease_seconds < 3) {
    fprintf(stderr, "ferry-agent daemon: --store and --runc-root are required\n");
    usage(stderr);
    return 2;
  }
  ssize_t n = readlink("/proc/self/exe", d.self, sizeof d.self - 1);
  if (n <= 0) {
    log_error("readlink /proc/self/exe: %m");
    return 1;
  }
  d.self[n] = '\0';
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0) {
    log_error("sigaction: %m");
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);

  ferry_error err = FERRY_ERROR_INIT;
  struct ferry_kube_config cfg;
  memset(&cfg, 0, sizeof cfg);
  ferry_kube_global_init();
  int rc = 1, port = 0;
  char *ops = ferry_asprintf("%s/ops", d.state_dir), *fs = ferry_asprintf("spec.nodeName=%s", g->node);
  if (ferry_mkdir_p(ops, 0700, &err) < 0 || ferry_mkdir_p(d.admission_dir, 0700, &err) < 0 ||
      ferry_mkdir_p(g->work_dir, 0700, &err) < 0 || ferry_kube_config_auto(d.kubeconfig, NULL, &cfg, &err) < 0 ||
      ferry_kube_open(&cfg, &d.kube, &err) < 0 || ferry_informers_new(&cfg, &d.inf, &err) < 0 ||
      metrics_start(d.metrics_listen, g->node, &d.m, &port, &err) < 0) {
    log_error("daemon: %s", ferry_error_msg(&err));
    goto out;
  }
  d.q = queue_new(50, 30000);
  d.rec = ferry_recorder_new(d.kube, "ferry-agent", g->node);
  struct ferry_informer_handlers h = { enqueue, enqueue_upd, NULL, &d }, hp = { pod_changed, pod_updated, NULL, &d };
  if (!d.q || !d.rec || ferry_informer_add(d.inf, &FERRY_KUBE_PODMIGRATIONS, NULL, NULL, NULL, &h, &d.pms, &err) < 0 ||
      ferry_informer_add(d.inf, &FERRY_KUBE_PODS, NULL, NULL, fs, &hp, &d.pods, &err) < 0) {
    log_error("daemon: %s", ferry_error_msg(&err));
    goto out;
  }
  if (!d.migration_address)
    d.migration_address = node_internal_ip(&d);
  log_info("ferry-agent daemon on node %s: store %s, runc root %s, metrics on port %d, post-copy memory served on %s",
           g->node, d.store, d.runc_root, port, d.migration_address ? d.migration_address : "(no InternalIP: none)");
  int64_t next_lease = 0, last_lease_ok = 0;
  rc = 0;
  while (!stop) {
    reap(&d);
    int64_t now = ferry_now_mono_ms();
    if (now >= next_lease) {
      if (renew_lease(&d, &err) < 0) {
        log_warn("renewing the agent lease: %s", ferry_error_msg(&err));
        ferry_error_clear(&err);
        next_lease = now + 2000;
      } else {
        last_lease_ok = now;
        next_lease = now + d.lease_seconds * 1000 / 4;
      }
    }
    int synced = ferry_informer_synced(d.pms) && ferry_informer_synced(d.pods), lease_ok = last_lease_ok && now - last_lease_ok < d.lease_seconds * 1000;
    metrics_set_ready(d.m, synced && lease_ok, !synced ? "PodMigrations not listed yet" : "the agent Lease is not renewed");
    int64_t wait = -1;
    char *key = synced ? queue_pop(d.q, ferry_now_mono_ms(), &wait) : NULL;
    if (key) {
      int64_t again = 0;
      if (step(&d, key, &again, &err) < 0) {
        int64_t delay = queue_add_rate_limited(d.q, key, ferry_now_mono_ms());
        log_warn("%s: %s (retry in %lld ms)", key, ferry_error_msg(&err), (long long)delay);
        ferry_error_clear(&err);
      } else {
        queue_forget(d.q, key);
        if (again)
          queue_add_after(d.q, key, ferry_now_mono_ms(), again);
      }
      free(key);
      continue;
    }
    long cap = children_running(&d) ? 20 : 200; /* a step's end is noticed within 20 ms */
    long timeout = wait >= 0 && wait < cap ? (long)wait : cap;
    if (ferry_informers_run(d.inf, timeout, &err) < 0) {
      log_error("informers: %s", ferry_error_msg(&err));
      rc = 1;
      break;
    }
  }
  log_info("ferry-agent daemon stopped (steps still running go on; their answers are picked up at the next start)");
out:
  ferry_error_clear(&err);
  metrics_stop(d.m);
  ferry_recorder_free(d.rec);
  queue_free(d.q);
  ferry_informers_free(d.inf);
  ferry_kube_close(d.kube);
  ferry_kube_config_free(&cfg);
  for (size_t i = 0; i < sizeof d.children / sizeof d.children[0]; i++)
    free(d.children[i].key);
  free(ops);
  free(fs);
  free(d.migration_address);
  return rc;
}
