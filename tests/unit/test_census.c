/* SPDX-License-Identifier: Apache-2.0 */
/* A container's processes before a dump and after a failed one
 * (lib/runtime/census.c): the /proc/PID/stat parser, a stopped process
 * continued, a dead one (or its pid reused) named. */
#include "testutil.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "runtime/census.h"

static void test_parse_stat(void **state)
{
  (void)state;
  struct ferry_census_proc p = { 0 };
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_census_parse_stat("42 (work load) T 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 "
                                           "98765 1000 10 18446744073709551615",
                                           &p, &err),
                   0);
  assert_string_equal(p.comm, "work load");
  assert_int_equal(p.state, 'T');
  assert_true(p.start == 98765ULL);
  /* a name with a ')' in it ends at the last one */
  assert_int_equal(ferry_census_parse_stat("7 (a) b) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0", &p, &err), 0);
  assert_string_equal(p.comm, "a) b");
  assert_int_equal(p.state, 'S');
  assert_true(p.start == 55ULL);
  assert_int_equal(ferry_census_parse_stat("7 (short) S 1 2 3", &p, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "fewer than 22 fields"));
  ferry_error_clear(&err);
  assert_int_equal(ferry_census_parse_stat("no parentheses", &p, &err), -1);
  ferry_error_clear(&err);
  assert_int_equal(ferry_census_parse_stat("7 (x) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 start 0", &p, &err), -1);
}

static pid_t child_that_waits(void)
{
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    for (;;)
      pause();
  }
  return pid;
}

/* A census of one process: the child. */
static void census_of(pid_t pid, struct ferry_census *c)
{
  c->procs = calloc(1, sizeof *c->procs);
  assert_non_null(c->procs);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_census_read(pid, &c->procs[0], &err), 0);
  c->n = 1;
}

static void test_stopped_is_continued(void **state)
{
  (void)state;
  pid_t pid = child_that_waits();
  struct ferry_census c = { 0 };
  census_of(pid, &c);
  int st, continued = -1;
  assert_int_equal(kill(pid, SIGSTOP), 0);
  assert_int_equal(waitpid(pid, &st, WUNTRACED), pid);
  assert_true(WIFSTOPPED(st));
  char died[256];
  assert_int_equal(ferry_census_check(&c, &continued, died, sizeof died), 0);
  assert_int_equal(continued, 1);
  assert_string_equal(died, "");
  assert_int_equal(waitpid(pid, &st, WCONTINUED), pid);
  assert_true(WIFCONTINUED(st));
  /* one stopped before the dump stays as it was */
  assert_int_equal(kill(pid, SIGSTOP), 0);
  assert_int_equal(waitpid(pid, &st, WUNTRACED), pid);
  ferry_census_free(&c);
  census_of(pid, &c);
  assert_int_equal(c.procs[0].state, 'T');
  assert_int_equal(ferry_census_check(&c, &continued, died, sizeof died), 0);
  assert_int_equal(continued, 0);
  assert_int_equal(kill(pid, SIGKILL), 0);
  assert_int_equal(waitpid(pid, &st, 0), pid);
  ferry_census_free(&c);
}

static void test_dead_is_named(void **state)
{
  (void)state;
  pid_t pid = child_that_waits();
  struct ferry_census c = { 0 };
  census_of(pid, &c);
  int st, continued = -1;
  char died[256], want[64];
  assert_int_equal(kill(pid, SIGKILL), 0);
  /* a zombie (not reaped yet) is as dead */
  for (int i = 0; i < 1000; i++) {
    struct ferry_census_proc now;
    cleanup_error ferry_error err = FERRY_ERROR_INIT;
    if (ferry_census_read(pid, &now, &err) == 0 && now.state == 'Z')
      break;
    usleep(1000);
  }
  snprintf(want, sizeof want, "pid %d (%s)", (int)pid, c.procs[0].comm);
  assert_int_equal(ferry_census_check(&c, &continued, died, sizeof died), 1);
  assert_string_equal(died, want);
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_int_equal(ferry_census_check(&c, &continued, died, sizeof died), 1);
  assert_string_equal(died, want);
  /* a pid that runs another process now (another start time) */
  ferry_census_free(&c);
  census_of(getpid(), &c);
  c.procs[0].start++;
  assert_int_equal(ferry_census_check(&c, &continued, died, sizeof died), 1);
  ferry_census_free(&c);
}

/* This process's own cgroup: it is among the processes counted. */
static void test_take(void **state)
{
  (void)state;
  struct ferry_census c = { 0 };
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_census_take(getpid(), 4096, &c, &err), 0);
  int found = 0;
  for (size_t i = 0; i < c.n; i++)
    found |= c.procs[i].pid == getpid();
  assert_true(found);
  ferry_census_free(&c);
  assert_int_equal(ferry_census_take(0x7ffffff0, 16, &c, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "the container's init"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse_stat),
    cmocka_unit_test(test_stopped_is_continued),
    cmocka_unit_test(test_dead_is_named),
    cmocka_unit_test(test_take),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
