/* SPDX-License-Identifier: Apache-2.0 */
/* What holds a container (lib/runtime/hold.c), on real processes: a child
 * running, the same child stopped under a tracer whose name is "criu" (as a
 * dump that never ended leaves it), released when that tracer dies, and in a
 * frozen freezer cgroup. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/util.h"
#include "runtime/hold.h"

/* A child that waits forever (and dies with the test, should a test fail
 * before it reaps it). */
static pid_t spin(void)
{
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (;;)
      pause();
  }
  return pid;
}

static void reap(pid_t pid)
{
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

static struct ferry_hold inspect(pid_t pid)
{
  struct ferry_hold h;
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_hold_inspect(pid, &h, &err), 0);
  ferry_error_clear(&err);
  return h;
}

/* Waits (at most 30 s: the machine may be busy) until inspect(pid) says held or not. */
static struct ferry_hold wait_held(pid_t pid, int held)
{
  struct ferry_hold h = inspect(pid);
  for (int i = 0; i < 3000 && ferry_hold_held(&h) != held; i++) {
    usleep(10000);
    h = inspect(pid);
  }
  return h;
}

static void test_running_is_not_held(void **state)
{
  (void)state;
  pid_t pid = spin();
  struct ferry_hold h = inspect(pid);
  assert_true(h.tasks >= 1);
  assert_int_equal(h.tracer, 0);
  assert_false(h.frozen);
  assert_false(ferry_hold_held(&h));
  char why[128];
  ferry_hold_describe(&h, why, sizeof why);
  assert_string_equal(why, "running");
  reap(pid);
}

/* A tracer named "criu" that seizes and interrupts pid, then waits to be killed;
 * it writes one byte to ready once pid is in its tracing stop. */
static pid_t criu_like_tracer(pid_t pid, int ready)
{
  pid_t t = fork();
  assert_true(t >= 0);
  if (t == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_NAME, "criu");
    if (ptrace(PTRACE_SEIZE, pid, NULL, NULL) < 0 || ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) < 0)
      _exit(10 + errno % 100);
    int st;
    if (waitpid(pid, &st, __WALL) < 0 || write(ready, "x", 1) != 1)
      _exit(120);
    for (;;)
      pause();
  }
  return t;
}

static void test_stopped_under_criu_is_held_until_it_dies(void **state)
{
  (void)state;
  pid_t pid = spin();
  int p[2];
  assert_int_equal(pipe(p), 0);
  pid_t tracer = criu_like_tracer(pid, p[1]);
  close(p[1]);
  char c;
  if (read(p[0], &c, 1) != 1) { /* the tracer gave up: say why (exit 10 + errno of ptrace) */
    int st = 0;
    waitpid(tracer, &st, 0);
    reap(pid);
    fail_msg("the tracer could not stop the child: exit status %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  }
  struct ferry_hold h = inspect(pid);
  assert_int_equal(h.tracer, tracer);
  assert_string_equal(h.tracer_comm, "criu");
  assert_true(h.stopped >= 1);
  assert_true(ferry_hold_tracer_is_criu(&h));
  assert_true(ferry_hold_held(&h));
  char why[128];
  ferry_hold_describe(&h, why, sizeof why);
  assert_non_null(strstr(why, "stopped under criu"));
  reap(tracer); /* the kernel detaches the tracee: it runs again */
  h = wait_held(pid, 0);
  assert_false(ferry_hold_held(&h));
  assert_int_equal(h.tracer, 0);
  close(p[0]);
  reap(pid);
}

/* The freezer cgroup of the hierarchy this host has (v1 freezer or v2). */
static char *make_freezer(int *v2)
{
  if (ferry_is_dir("/sys/fs/cgroup/freezer")) {
    *v2 = 0;
    return ferry_asprintf("/sys/fs/cgroup/freezer/ferry-test-hold-%d", (int)getpid());
  }
  if (ferry_path_exists("/sys/fs/cgroup/cgroup.controllers")) {
    *v2 = 1;
    return ferry_asprintf("/sys/fs/cgroup/ferry-test-hold-%d", (int)getpid());
  }
  return NULL;
}

static void put(const char *dir, const char *file, const char *text)
{
  char *p = ferry_path_join(dir, file);
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_write_file(p, text, strlen(text), &err), 0);
  free(p);
}

static void test_frozen_cgroup_is_held(void **state)
{
  (void)state;
  int v2 = 0;
  char *dir = make_freezer(&v2);
  if (!dir || mkdir(dir, 0755) < 0) {
    free(dir);
    skip(); /* no freezer cgroup to make here (not root, or no hierarchy) */
  }
  pid_t pid = spin();
  char text[32];
  snprintf(text, sizeof text, "%d", (int)pid);
  put(dir, v2 ? "cgroup.procs" : "tasks", text);
  put(dir, v2 ? "cgroup.freeze" : "freezer.state", v2 ? "1" : "FROZEN");
  struct ferry_hold h = wait_held(pid, 1);
  assert_true(h.frozen);
  assert_true(ferry_hold_held(&h));
  put(dir, v2 ? "cgroup.freeze" : "freezer.state", v2 ? "0" : "THAWED");
  h = wait_held(pid, 0);
  assert_false(h.frozen);
  reap(pid);
  for (int i = 0; i < 100 && rmdir(dir) < 0 && errno == EBUSY; i++)
    usleep(10000);
  free(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_running_is_not_held),
    cmocka_unit_test(test_stopped_under_criu_is_held_until_it_dies),
    cmocka_unit_test(test_frozen_cgroup_is_held),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
