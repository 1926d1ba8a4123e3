/* SPDX-License-Identifier: Apache-2.0 */
/* Running programs, deadlines, the stdio relay, error context. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "testutil.h"

#include "base/error.h"
#include "base/proc.h"

static void test_capture_and_exit(void **state)
{
  (void)state;
  const char *argv[] = { "/bin/sh", "-c", "echo out; echo err >&2; echo \"$FERRY_T\"; exit 3", NULL };
  const char *env[] = { "FERRY_T=added", NULL };
  struct ferry_proc_opts o = FERRY_PROC_OPTS_INIT;
  o.argv = argv;
  o.env_add = env;
  struct ferry_proc_result r;
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_proc_run(&o, &r, &err), 0);
  assert_int_equal(r.exited, 1);
  assert_int_equal(r.exit_code, 3);
  assert_false(ferry_proc_ok(&r));
  assert_string_equal(r.out, "out\nadded\n");
  assert_string_equal(r.errout, "err\n");
  char buf[128];
  assert_string_equal(ferry_proc_describe(&r, &o, buf, sizeof buf), "exit status 3");
  ferry_proc_result_free(&r);
}

static void test_deadline_kills_the_group(void **state)
{
  (void)state;
  /* A child that forks a grandchild holding stdout open: both must go. */
  const char *argv[] = { "/bin/sh", "-c", "sleep 30 & sleep 30", NULL };
  struct ferry_proc_opts o = FERRY_PROC_OPTS_INIT;
  o.argv = argv;
  o.timeout_ms = 200;
  struct ferry_proc_result r;
  ferry_error err = FERRY_ERROR_INIT;
  int64_t t0 = ferry_now_mono_ms();
  assert_int_equal(ferry_proc_run(&o, &r, &err), 0);
  assert_true(r.timed_out);
  assert_false(ferry_proc_ok(&r));
  /* Not a timing assertion on Ferry: a bound that proves the kill happened at all. */
  assert_true(ferry_now_mono_ms() - t0 < 20000);
  char buf[128];
  assert_non_null(strstr(ferry_proc_describe(&r, &o, buf, sizeof buf), "timed out"));
  ferry_proc_result_free(&r);
}

static void test_missing_program(void **state)
{
  (void)state;
  const char *argv[] = { "/nonexistent/program", NULL };
  struct ferry_proc_opts o = FERRY_PROC_OPTS_INIT;
  o.argv = argv;
  struct ferry_proc_result r;
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_proc_run(&o, &r, &err), 0);
  assert_int_equal(r.exit_code, 127);
  assert_non_null(strstr(r.errout, "No such file"));
  ferry_proc_result_free(&r);
}

static void test_stdio_relay(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  char *log = ferry_path_join(dir, "c.log");
  int in = -1, out = -1;
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_stdio_relay(log, &in, &out, &err), 0);
  /* What a container does with them. */
  const char *argv[] = { "/bin/sh", "-c", "cat; echo hello; echo oops >&2", NULL };
  struct ferry_proc_opts o = FERRY_PROC_OPTS_INIT;
  o.argv = argv;
  o.stdin_fd = in;
  o.stdout_fd = out;
  o.stderr_fd = out;
  struct ferry_proc_result r;
  assert_int_equal(ferry_proc_run(&o, &r, &err), 0);
  assert_true(ferry_proc_ok(&r)); /* cat saw EOF on stdin */
  ferry_proc_result_free(&r);
  close(in);
  close(out);
  /* The relay drains asynchronously; wait for it (bounded). */
  char *text = NULL;
  for (int i = 0; i < 200; i++) {
    free(text);
    text = tu_read(dir, "c.log");
    if (text && !strcmp(text, "hello\noops\n"))
      break;
    usleep(10000);
  }
  assert_string_equal(text, "hello\noops\n");
  free(text);
  assert_int_equal(ferry_stdio_relay("/nonexistent/dir/log", &in, &out, &err), -1);
  assert_non_null(strstr(err.msg, "container log"));
  ferry_error_clear(&err);
  free(log);
  tu_rm(dir);
}

static void test_error_context(void **state)
{
  (void)state;
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_error_set(&err, ENOENT, "open %s", "/x"), -1);
  assert_string_equal(err.msg, "open /x: No such file or directory");
  ferry_error_prefix(&err, "store %s", "dir:///s");
  assert_string_equal(err.msg, "store dir:///s: open /x: No such file or directory");
  assert_int_equal(err.errnum, ENOENT);
  ferry_error_clear(&err);
  assert_null(err.msg);
  assert_string_equal(ferry_error_msg(&err), "unknown error");
}

static void test_files(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  ferry_error err = FERRY_ERROR_INIT;
  char *deep = ferry_path_join(dir, "a/b/c");
  assert_int_equal(ferry_mkdir_p(deep, 0755, &err), 0);
  assert_int_equal(ferry_mkdir_p(deep, 0755, &err), 0); /* idempotent */
  char *f = ferry_path_join(deep, "f");
  assert_int_equal(ferry_write_file_atomic(f, "x", 1, &err), 0);
  assert_false(ferry_path_exists("a/b/c/f.tmp"));
  char *copy = ferry_path_join(dir, "copy");
  assert_int_equal(ferry_copy_file(f, copy, &err), 0);
  uint64_t size = 0;
  assert_int_equal(ferry_tree_size(dir, &size, &err), 0);
  assert_int_equal(size, 2);
  assert_int_equal(ferry_fsync_tree(dir, &err), 0);
  char *j = ferry_path_join("/a//", "/b");
  assert_string_equal(j, "/a/b");
  free(j);
  char *file_as_dir = ferry_path_join(f, "sub");
  assert_int_equal(ferry_mkdir_p(file_as_dir, 0755, &err), -1);
  ferry_error_clear(&err);
  free(file_as_dir);
  free(deep);
  free(f);
  free(copy);
  tu_rm(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_capture_and_exit), cmocka_unit_test(test_deadline_kills_the_group),
    cmocka_unit_test(test_missing_program),  cmocka_unit_test(test_stdio_relay),
    cmocka_unit_test(test_error_context),    cmocka_unit_test(test_files),
  };
  return cmocka_run_group_tests_name("processes and files", tests, NULL, NULL);
}
