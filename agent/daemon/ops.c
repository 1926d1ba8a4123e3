/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's steps as child processes: `ferry-agent --json STEP ...` writes
 * its answer to STATE_DIR/ops/UID.STEP.json and its log to UID.STEP.log; the
 * .pid file (PID and start time) says whether it still runs, so a restarted
 * daemon finds out how a step it started ended. A child's exit wakes its
 * migration at once (reap). */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/pidrec.h"
#include "base/util.h"
#include "kube/kube.h"
#include "kube/queue.h"
#include "metrics.h"

enum { OP_MAX_ARGS = 64 };

char *op_path(struct daemon *d, const char *uid, const char *step, const char *ext)
{
  return ferry_asprintf("%s/ops/%s.%s.%s", d->state_dir, uid, step, ext);
}

/* A small JSON file, NULL when it is not there (or not JSON). */
static json_object *read_json(const char *path)
{
  cleanup_free char *text = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  return ferry_read_file(path, &text, NULL, &err) == 0 ? json_tokener_parse(text) : NULL;
}

enum op_state op_check(struct daemon *d, const char *uid, const char *step, json_object **result)
{
  *result = NULL;
  cleanup_free char *pidf = op_path(d, uid, step, "pid");
  if (!ferry_path_exists(pidf))
    return OP_NONE;
  if (ferry_pidrec_alive(pidf))
    return OP_RUNNING;
  cleanup_free char *outf = op_path(d, uid, step, "json");
  *result = read_json(outf);
  return *result ? OP_DONE : OP_DIED;
}

int op_ok(enum op_state s, json_object *res)
{
  return s == OP_DONE && json_object_get_int(ferry_kube_obj(res, "exitCode")) == 0;
}

const char *op_message(json_object *res, const char *fallback)
{
  return res ? ferry_kube_str(res, "message") ?: "" : fallback;
}

void op_clear(struct daemon *d, const char *uid, const char *step)
{
  if (d->ops > 0)
    d->ops--;
  metrics_ops(d->m, d->ops);
  static const char *const exts[] = { "pid", "json", "ready", "token" };
  for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
    cleanup_free char *p = op_path(d, uid, step, exts[i]);
    if (unlink(p) < 0 && errno != ENOENT)
      log_warn("removing %s: %m", p);
  }
}

static void remember_child(struct daemon *d, pid_t pid, json_object *pm)
{
  for (size_t i = 0; i < DAEMON_MAX_CHILDREN; i++)
    if (!d->children[i].pid) {
      d->children[i].pid = pid;
      d->children[i].key = pm_ref(pm);
      return;
    }
}

/* Runs this binary with the daemon's global options and args, in the child. */
static __attribute__((noreturn)) void exec_step(struct daemon *d, char *const *args, int out, int logfd)
{
  char *argv[OP_MAX_ARGS];
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
  for (int i = 0; args[i] && n < OP_MAX_ARGS - 1; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  int null = open("/dev/null", O_RDONLY);
  if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(logfd, 2) < 0)
    _exit(127);
  execv(d->self, argv);
  _exit(127);
}

/* Starts `ferry-agent --json ARGS...` with its answer going to the .json file
 * and its log to the .log file; records PID and start time in the .pid file. */
int op_start(struct daemon *d, json_object *pm, const char *step, char *const *args, ferry_error *err)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid");
  cleanup_free char *pidf = op_path(d, uid, step, "pid");
  cleanup_free char *outf = op_path(d, uid, step, "json");
  cleanup_free char *logf = op_path(d, uid, step, "log");
  cleanup_close int out = open(outf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  cleanup_close int logfd = out >= 0 ? open(logf, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : -1;
  if (out < 0 || logfd < 0)
    return ferry_error_set(err, errno, "opening %s", out < 0 ? outf : logf);
  pid_t pid = fork();
  if (pid < 0)
    return ferry_error_set(err, errno, "fork");
  if (pid == 0)
    exec_step(d, args, out, logfd);
  if (ferry_pidrec_write(pidf, pid, err) < 0) {
    kill(pid, SIGKILL); /* without its record no one could tell how it ended */
    return -1;
  }
  log_info("started %s for %s (pid %d, log %s)", step, uid, (int)pid, logf);
  remember_child(d, pid, pm);
  metrics_ops(d->m, ++d->ops);
  return 0;
}

/* The PID a running step recorded (-1 when none). */
pid_t child_pid(struct daemon *d, json_object *pm, const char *step)
{
  cleanup_free char *pidf = op_path(d, ferry_kube_str(pm, "metadata.uid"), step, "pid");
  cleanup_free char *text = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  long long pid = -1;
  if (ferry_read_file(pidf, &text, NULL, &err) < 0 || sscanf(text, "%lld", &pid) != 1 || pid <= 0)
    pid = -1;
  return (pid_t)pid;
}

/* Asks a step to stop (SIGTERM: it ends what it runs and answers). 1 when it is
 * not running (any more), 0 while it still does. */
int op_stop(struct daemon *d, json_object *pm, const char *step)
{
  cleanup_json json_object *res = NULL;
  enum op_state s = op_check(d, ferry_kube_str(pm, "metadata.uid"), step, &res);
  if (s != OP_RUNNING)
    return 1;
  pid_t pid = child_pid(d, pm, step);
  if (pid > 0 && kill(pid, SIGTERM) == 0)
    log_info("%s: asked the %s step (pid %d) to stop", ferry_kube_str(pm, "metadata.name"), step, (int)pid);
  return 0;
}

json_object *op_side(struct daemon *d, json_object *pm, const char *step, const char *ext)
{
  cleanup_free char *p = op_path(d, ferry_kube_str(pm, "metadata.uid"), step, ext);
  return read_json(p);
}

/* Collects ended children; a step's end puts its migration on the queue now. */
void reap(struct daemon *d)
{
  pid_t pid;
  while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
    for (size_t i = 0; i < DAEMON_MAX_CHILDREN; i++)
      if (d->children[i].pid == pid) {
        queue_add(d->q, d->children[i].key, ferry_now_mono_ms());
        free(d->children[i].key);
        d->children[i].key = NULL;
        d->children[i].pid = 0;
      }
}

int children_running(const struct daemon *d)
{
  for (size_t i = 0; i < DAEMON_MAX_CHILDREN; i++)
    if (d->children[i].pid)
      return 1;
  return 0;
}

void children_free(struct daemon *d)
{
  for (size_t i = 0; i < DAEMON_MAX_CHILDREN; i++)
    free(d->children[i].key);
}

/* How this node stores images (checkpoint) and reads them (restore, pages). */
void add_codec(struct daemon *d, char **args, int *n, int writing)
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

void add_flags(json_object *pm, char **args, int *n)
{
  static const struct {
    const char *field, *flag;
  } map[] = { { "tcpEstablished", "--tcp-established" },
              { "tcpClose", "--tcp-close" },
              { "fileLocks", "--file-locks" },
              { "extUnixSockets", "--ext-unix-sk" },
              { "shellJob", "--shell-job" } };
  json_object *o = ferry_kube_obj(ferry_kube_obj(pm, "spec"), "options");
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
    json_object *v = ferry_kube_key(o, map[i].field);
    if (v && json_object_get_boolean(v))
      args[(*n)++] = (char *)map[i].flag;
  }
}

struct ferry_runc runc_for(struct daemon *d)
{
  struct ferry_runc r = {
    .runc = d->g->runc, .criu = d->g->criu, .root = d->runc_root, .log = NULL, .timeout_ms = RUNC_TIMEOUT_MS
  };
  return r;
}
