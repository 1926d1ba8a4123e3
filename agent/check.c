#include "check.h"

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

#include "runtime/criu.h"
#include "engine.h"
#include "lazy.h"
#include "base/log.h"
#include "base/proc.h"
#include "runtime/runc.h"
#include "base/util.h"

static long read_count(const char *dir)
{
  char *p = ferry_path_join(dir, "count"), *text = NULL;
  ferry_error err = FERRY_ERROR_INIT;
  long v = -1;
  if (ferry_read_file(p, &text, NULL, &err) == 0 && *text)
    v = strtol(text, NULL, 10);
  ferry_error_clear(&err);
  free(text);
  free(p);
  return v;
}

/* Polls until the counter in dir exceeds `than` (at most `tries` x 50 ms). */
static long wait_count_above(const char *dir, long than, int tries)
{
  for (int i = 0; i < tries; i++) {
    long v = read_count(dir);
    if (v > than)
      return v;
    usleep(50000);
  }
  return -1;
}

static int run_criu(const char *const *argv, int timeout_ms, char **why)
{
  struct ferry_proc_opts o = FERRY_PROC_OPTS_INIT;
  o.argv = argv;
  o.timeout_ms = timeout_ms;
  struct ferry_proc_result res;
  ferry_error err = FERRY_ERROR_INIT;
  if (ferry_proc_run(&o, &res, &err) < 0) {
    *why = ferry_strdup(ferry_error_msg(&err));
    ferry_error_clear(&err);
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
  char *log = ferry_path_join(img, logname);
  char *n = ferry_criu_explain(*why, log);
  free(log);
  free(*why);
  *why = n;
}

/* Checkpoint and restore a child process with CRIU directly: proves dump,
 * parasite cure (which hangs on VMs without hardware breakpoints with old CRIU)
 * and restore work, each under a deadline. */
static int self_test(const char *criu, const char *work_dir, int timeout_ms, json_object *out)
{
  ferry_error err = FERRY_ERROR_INIT;
  char *dir = ferry_asprintf("%s/selftest-%d", work_dir, (int)getpid());
  char *img = ferry_path_join(dir, "img"), *pidfile = ferry_path_join(dir, "restored.pid");
  char *why = NULL;
  pid_t child = -1;
  long restored_pid = -1;
  int rc = -1;
  int64_t dump_ms = -1, restore_ms = -1;
  if (ferry_rm_rf(dir, &err) < 0 || ferry_mkdir_p(img, 0700, &err) < 0) {
    why = ferry_strdup(ferry_error_msg(&err));
    goto out;
  }
  child = fork();
  if (child < 0) {
    why = ferry_asprintf("fork: %s", strerror(errno));
    goto out;
  }
  if (child == 0) {
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
    /* One task, no children: its tree is exactly what CRIU must move. */
    struct timespec ts = { 0, 50 * 1000 * 1000 };
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
  long before = wait_count_above(dir, 2, 100);
  if (before < 0) {
    why = ferry_strdup("the test process did not start counting");
    goto out;
  }
  char pidbuf[32];
  snprintf(pidbuf, sizeof pidbuf, "%d", (int)child);
  const char *dump[] = { criu, "dump", "-t", pidbuf, "-D", img, "-o", "dump.log", "-v4", NULL };
  int64_t t0 = ferry_now_mono_ms();
  if (run_criu(dump, timeout_ms, &why) < 0) {
    explain(&why, img, "dump.log");
    goto out;
  }
  dump_ms = ferry_now_mono_ms() - t0;
  int status;
  waitpid(child, &status, 0); /* CRIU killed it after the dump; free its pid for the restore */
  child = -1;
  long frozen = read_count(dir);
  const char *restore[] = { criu, "restore", "-D", img, "-d", "-o", "restore.log", "-v4", "--pidfile", pidfile, NULL };
  t0 = ferry_now_mono_ms();
  if (run_criu(restore, timeout_ms, &why) < 0) {
    explain(&why, img, "restore.log");
    goto out;
  }
  restore_ms = ferry_now_mono_ms() - t0;
  char *text = NULL;
  if (ferry_read_file(pidfile, &text, NULL, &err) == 0)
    restored_pid = strtol(text, NULL, 10);
  free(text);
  ferry_error_clear(&err);
  long after = wait_count_above(dir, frozen, 100);
  if (after < 0) {
    why = ferry_asprintf("the restored process did not go on counting past %ld", frozen);
    goto out;
  }
  rc = 0;
out:
  if (child > 0) {
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
  }
  if (restored_pid > 0)
    kill((pid_t)restored_pid, SIGKILL);
  json_object *st = json_object_new_object();
  json_object_object_add(st, "passed", json_object_new_boolean(rc == 0));
  json_object_object_add(st, "dumpMs", json_object_new_int64(dump_ms));
  json_object_object_add(st, "restoreMs", json_object_new_int64(restore_ms));
  if (why)
    json_object_object_add(st, "error", json_object_new_string(why));
  json_object_object_add(out, "selfTest", st);
  if (rc == 0)
    ferry_rm_rf(dir, &err);
  ferry_error_clear(&err);
  free(why);
  free(dir);
  free(img);
  free(pidfile);
  return rc;
}

static json_object *tristate(int v)
{
  return v < 0 ? json_object_new_string("unknown") : json_object_new_boolean(v);
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
