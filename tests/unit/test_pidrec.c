/* SPDX-License-Identifier: Apache-2.0 */
/* Processes recorded by PID and start time; process trees killed at once (base/pidrec.h). */
#include "testutil.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/pidrec.h"
#include "base/util.h"

static pid_t sleeper(void)
{
  pid_t p = fork();
  assert_true(p >= 0);
  if (p == 0) {
    pause();
    _exit(0);
  }
  return p;
}

/* A record of a running child: alive; once it ended, not. */
static void test_record_alive_and_pidfd(void **state)
{
  (void)state;
  char path[64];
  snprintf(path, sizeof path, "/tmp/ferry-pidrec-%d", (int)getpid());
  pid_t p = sleeper();
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_pidrec_write(path, p, &err), 0);
  assert_true(ferry_pidrec_alive(path));
  assert_int_equal(kill(p, SIGKILL), 0);
  for (int i = 0; i < 100 && ferry_pidrec_alive(path); i++) /* (a zombie is not alive either) */
    usleep(10000);
  assert_false(ferry_pidrec_alive(path));
  assert_int_equal(waitpid(p, NULL, 0), p);
  assert_false(ferry_pidrec_alive(path));
  unlink(path);
}

/* A record whose PID now belongs to a later process (another start time) is not it. */
static void test_reused_pid_and_bad_records(void **state)
{
  (void)state;
  char path[64];
  snprintf(path, sizeof path, "/tmp/ferry-pidrec-%d", (int)getpid());
  char line[64];
  snprintf(line, sizeof line, "%d %llu\n", (int)getpid(), ferry_pidrec_start_time(getpid(), NULL) + 1);
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_write_file_atomic(path, line, strlen(line), &err), 0);
  assert_false(ferry_pidrec_alive(path));
  assert_int_equal(ferry_write_file_atomic(path, "garbage", 7, &err), 0);
  assert_false(ferry_pidrec_alive(path));
  unlink(path);
  assert_false(ferry_pidrec_alive(path)); /* missing */
}

/* A child that forked a sleeping grandchild (*grandchild): the child then
 * pauses, or, when reaps, waits for the grandchild and exits 42 if it was
 * SIGKILLed (1 otherwise). */
static pid_t parent_of_sleeper(pid_t *grandchild, int reaps)
{
  int pipefd[2];
  assert_int_equal(pipe(pipefd), 0);
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    pid_t g = sleeper();
    if (write(pipefd[1], &g, sizeof g) != sizeof g)
      _exit(1);
    if (!reaps) {
      pause();
      _exit(0);
    }
    int st = 0;
    _exit(waitpid(g, &st, 0) == g && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? 42 : 1);
  }
  assert_int_equal(read(pipefd[0], grandchild, sizeof *grandchild), sizeof *grandchild);
  close(pipefd[0]);
  close(pipefd[1]);
  return child;
}

/* A child that forked a grandchild: both killed. */
static void test_kill_tree(void **state)
{
  (void)state;
  pid_t grandchild = 0, child = parent_of_sleeper(&grandchild, 0);
  char path[64];
  snprintf(path, sizeof path, "/tmp/ferry-pidrec-g-%d", (int)getpid());
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_pidrec_write(path, grandchild, &err), 0);
  ferry_pidrec_kill_tree(child);
  int st = 0;
  assert_int_equal(waitpid(child, &st, 0), child);
  assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  for (int i = 0; i < 500 && ferry_pidrec_alive(path); i++) /* the grandchild ended too (its reaper is init) */
    usleep(10000);
  assert_false(ferry_pidrec_alive(path));
  unlink(path);
}

/* Below a child: its own child killed, the child left running. */
static void test_kill_descendants(void **state)
{
  (void)state;
  pid_t grandchild = 0, child = parent_of_sleeper(&grandchild, 1);
  assert_int_equal(ferry_pidrec_kill_descendants(child), 1);
  int st = 0;
  assert_int_equal(waitpid(child, &st, 0), child); /* it saw its own child killed, then ended itself */
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 42);
  assert_int_equal(ferry_pidrec_kill_descendants(getpid()), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_record_alive_and_pidfd),
    cmocka_unit_test(test_reused_pid_and_bad_records),
    cmocka_unit_test(test_kill_tree),
    cmocka_unit_test(test_kill_descendants),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
