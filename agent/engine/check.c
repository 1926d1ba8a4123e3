/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry-agent check`: the node's CRIU, runc and kernel features, and a self-test
 * that checkpoints and restores a child process with CRIU directly. */
#include "engine/check.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/util.h"
#include "engine/engine.h"
#include "engine/lazy.h"
#include "runtime/criu.h"
#include "runtime/kdat.h"
#include "runtime/runc.h"

/* The test process counts in the file `count` every COUNT_TICK_MS; the test
 * waits up to COUNT_POLLS polls of COUNT_POLL_US for it to go on. */
#define COUNT_TICK_MS 50
#define COUNT_POLLS 100
#define COUNT_POLL_US 50000

static long read_count(const char *dir)
{
  cleanup_free char *p = ferry_path_join(dir, "count");
  cleanup_free char *text = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_read_file(p, &text, NULL, &err) == 0 && *text)
    return strtol(text, NULL, 10);
  return -1;
}

/* Polls until the counter in dir exceeds `than` (at most COUNT_POLLS times). */
static long wait_count_above(const char *dir, long than)
{
  for (int i = 0; i < COUNT_POLLS; i++) {
    long v = read_count(dir);
    if (v > than)
      return v;
    usleep(COUNT_POLL_US);
  }
  return -1;
}

static int run_criu(const char *const *argv, int timeout_ms, char **why)
{
  struct ferry_proc_opts o = FERRY_PROC_OPTS_INIT;
  o.argv = argv;
  o.timeout_ms = timeout_ms;
  struct ferry_proc_result res;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_proc_run(&o, &res, &err) < 0) {
    *why = ferry_strdup(ferry_error_msg(&err));
    return -1;
  }
  int ok = ferry_proc_ok(&res);
  if (!ok) {
    char how[128];
    ferry_proc_describe(&res, &o, how, sizeof how);
    *why = ferry_asprintf("%s %s", argv[1], how);
  }
  ferry_proc_result_free(&res);
  return ok ? 0 : -1;
}

/* Adds the error lines of CRIU's log to *why. */
static void explain(char **why, const char *img, const char *logname)
{
  cleanup_free char *log = ferry_path_join(img, logname);
  char *n = ferry_criu_explain(*why, log);
  free(*why);
  *why = n;
}

/* The test process: one task, no children, its stdio on /dev/null, counting in
 * dir/count. Its tree is exactly what CRIU must move. */
static void counter_child(const char *dir) __attribute__((noreturn));
static void counter_child(const char *dir)
{
  setsid();
  if (chdir(dir) < 0)
    _exit(127);
  int fd = open("/dev/null", O_RDWR);
  if (fd < 0)
    _exit(127);
  dup2(fd, 0);
  dup2(fd, 1);
  dup2(fd, 2);
  for (int i = 3; i < 1024; i++)
    close(i);
  struct timespec ts = { 0, COUNT_TICK_MS * 1000 * 1000 };
  for (unsigned long i = 1;; i++) {
    char line[32];
    int n = snprintf(line, sizeof line, "%lu\n", i);
    int cfd = open("count.new", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (cfd >= 0) {
      if (write(cfd, line, (size_t)n) == n)
        rename("count.new", "count");
      close(cfd);
    }
    nanosleep(&ts, NULL);
  }
}

/* One self-test: its directory, its processes, what it measured and why it failed. */
struct self_test {
  const char *criu;
  int timeout_ms;
  char *dir, *img, *pidfile, *why;
  pid_t child;
  long restored_pid;
  int64_t dump_ms, restore_ms;
};

static void self_test_free(struct self_test *t)
{
  free(t->why);
  free(t->dir);
  free(t->img);
  free(t->pidfile);
}

/* The test process started and counting. */
static int start_counter(struct self_test *t)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_rm_rf(t->dir, &err) < 0 || ferry_mkdir_p(t->img, 0700, &err) < 0) {
    t->why = ferry_strdup(ferry_error_msg(&err));
    return -1;
  }
  t->child = fork();
  if (t->child < 0) {
    t->why = ferry_asprintf("fork: %s", strerror(errno));
    return -1;
  }
  if (t->child == 0)
    counter_child(t->dir);
  if (wait_count_above(t->dir, 2) < 0) {
    t->why = ferry_strdup("the test process did not start counting");
    return -1;
  }
  return 0;
}

/* criu dump of the test process, which CRIU ends. */
static int dump_counter(struct self_test *t)
{
  char pidbuf[32];
  snprintf(pidbuf, sizeof pidbuf, "%d", (int)t->child);
  const char *dump[] = { t->criu, "dump", "-t", pidbuf, "-D", t->img, "-o", "dump.log", "-v4", NULL };
  int64_t t0 = ferry_now_mono_ms();
  if (run_criu(dump, t->timeout_ms, &t->why) < 0) {
    explain(&t->why, t->img, "dump.log");
    return -1;
  }
  t->dump_ms = ferry_now_mono_ms() - t0;
  int status;
  waitpid(t->child, &status, 0); /* CRIU killed it after the dump; free its pid for the restore */
  t->child = -1;
  return 0;
}

/* criu restore of the test process, which must go on counting. */
static int restore_counter(struct self_test *t)
{
  long frozen = read_count(t->dir);
  const char *restore[] = { t->criu,       "restore", "-D",        t->img,     "-d", "-o",
                            "restore.log", "-v4",     "--pidfile", t->pidfile, NULL };
  int64_t t0 = ferry_now_mono_ms();
  if (run_criu(restore, t->timeout_ms, &t->why) < 0) {
    explain(&t->why, t->img, "restore.log");
    return -1;
  }
  t->restore_ms = ferry_now_mono_ms() - t0;
  cleanup_free char *text = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_read_file(t->pidfile, &text, NULL, &err) == 0)
    t->restored_pid = strtol(text, NULL, 10);
  if (wait_count_above(t->dir, frozen) < 0) {
    t->why = ferry_asprintf("the restored process did not go on counting past %ld", frozen);
    return -1;
  }
  return 0;
}

static void report(const struct self_test *t, int rc, json_object *out)
{
  json_object *st = json_object_new_object();
  json_object_object_add(st, "passed", json_object_new_boolean(rc == 0));
  json_object_object_add(st, "dumpMs", json_object_new_int64(t->dump_ms));
  json_object_object_add(st, "restoreMs", json_object_new_int64(t->restore_ms));
  if (t->why)
    json_object_object_add(st, "error", json_object_new_string(t->why));
  json_object_object_add(out, "selfTest", st);
}

/* Checkpoint and restore a child process with CRIU directly: proves dump,
 * parasite cure (which hangs on VMs without hardware breakpoints with old CRIU)
 * and restore work, each under a deadline. */
static int self_test(const char *criu, const char *work_dir, int timeout_ms, json_object *out)
{
  struct self_test t __attribute__((cleanup(self_test_free))) = {
    .criu = criu,
    .timeout_ms = timeout_ms,
    .dir = ferry_asprintf("%s/selftest-%d", work_dir, (int)getpid()),
    .child = -1,
    .restored_pid = -1,
    .dump_ms = -1,
    .restore_ms = -1,
  };
  t.img = ferry_path_join(t.dir, "img");
  t.pidfile = ferry_path_join(t.dir, "restored.pid");
  int rc = start_counter(&t) == 0 && dump_counter(&t) == 0 && restore_counter(&t) == 0 ? 0 : -1;
  if (t.child > 0) {
    kill(t.child, SIGKILL);
    waitpid(t.child, NULL, 0);
  }
  if (t.restored_pid > 0)
    kill((pid_t)t.restored_pid, SIGKILL);
  report(&t, rc, out);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (rc == 0)
    ferry_rm_rf(t.dir, &err);
  return rc;
}

static json_object *tristate(int v) { return v < 0 ? json_object_new_string("unknown") : json_object_new_boolean(v); }

/* CRIU's kernel feature cache ("cached", "seeded" ...), or why there is none. */
static void add_kdat(const char *criu, json_object *out)
{
  enum ferry_kdat_state state;
  ferry_error err = FERRY_ERROR_INIT;
  if (ferry_criu_kdat_ensure(criu, &state, &err) == 0)
    json_object_object_add(out, "criuKernelCache", json_object_new_string(ferry_kdat_state_name(state)));
  else
    json_object_object_add(out, "criuKernelCacheError", json_object_new_string(ferry_error_msg(&err)));
  ferry_error_clear(&err);
}

int ferry_check_node(const char *criu, const char *runc, const char *work_dir, int timeout_ms, json_object *out)
{
  ferry_error err = FERRY_ERROR_INIT;
  struct utsname u;
  if (uname(&u) == 0)
    json_object_object_add(out, "kernel", json_object_new_string(u.release));
  char *v = NULL;
  int usable = 1;
  json_object_object_add(out, "criuPath", json_object_new_string(criu));
  if (ferry_criu_version(criu, &v, &err) == 0) {
    json_object_object_add(out, "criuVersion", json_object_new_string(v));
    free(v);
  } else {
    json_object_object_add(out, "criuError", json_object_new_string(ferry_error_msg(&err)));
    usable = 0;
  }
  ferry_error_clear(&err);
  if (ferry_runc_version(runc, &v, &err) == 0) {
    json_object_object_add(out, "runcVersion", json_object_new_string(v));
    free(v);
  } else {
    json_object_object_add(out, "runcError", json_object_new_string(ferry_error_msg(&err)));
    usable = 0;
  }
  ferry_error_clear(&err);
  if (usable) {
    add_kdat(criu, out);
    char *all = NULL;
    int ok = 0;
    if (ferry_criu_check_all(criu, &all, &ok, &err) == 0) {
      json_object_object_add(out, "hardwareBreakpoints",
                             json_object_new_boolean(!strstr(all, "Hardware breakpoints don't seem to work")));
      free(all);
    }
    ferry_error_clear(&err);
    json_object_object_add(out, "lazyPages", tristate(ferry_criu_feature(criu, "uffd-noncoop")));
    json_object_object_add(out, "dirtyTracking", tristate(ferry_criu_feature(criu, "mem_dirty_track")));
    /* What each strategy would do here, with the reason when it cannot run. */
    json_object *st = json_object_new_object();
    char *why = lazy_unsupported_reason();
    json_object_object_add(st, "postCopy", json_object_new_string(why ? why : "ok"));
    free(why);
    why = engine_precopy_unsupported(criu);
    json_object_object_add(st, "preCopy", json_object_new_string(why ? why : "ok"));
    free(why);
    json_object_object_add(st, "stopAndCopy", json_object_new_string("ok"));
    json_object_object_add(out, "strategies", st);
    if (ferry_mkdir_p(work_dir, 0700, &err) < 0) {
      json_object_object_add(out, "workDirError", json_object_new_string(ferry_error_msg(&err)));
      usable = 0;
    } else if (self_test(criu, work_dir, timeout_ms, out) < 0) {
      usable = 0;
    }
    ferry_error_clear(&err);
  }
  json_object_object_add(out, "migrationsPossible", json_object_new_boolean(usable));
  return usable ? 0 : -1;
}
