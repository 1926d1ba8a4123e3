/* SPDX-License-Identifier: Apache-2.0 */
/* The one rule for relative paths from outside input (lib/base/path.h), and
 * opening them below a directory without following a symlink out of it. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "base/path.h"

static void refused(const char *rel, const char *why)
{
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_path_rel_ok(rel, &err), -1);
  assert_non_null(err.msg);
  if (!strstr(err.msg, why))
    fail_msg("%s: \"%s\", expected \"%s\"", rel, err.msg, why);
  ferry_error_clear(&err);
}

static void allowed(const char *rel)
{
  ferry_error err = FERRY_ERROR_INIT;
  if (ferry_path_rel_ok(rel, &err) != 0)
    fail_msg("%s refused: %s", rel, err.msg);
}

static void test_refused(void **state)
{
  (void)state;
  refused(".", "\".\" component");
  refused("..", "\"..\" component");
  refused("", "empty path");
  refused("/abs", "absolute");
  refused("a/../b", "\"..\" component");
  refused("a/./b", "\".\" component");
  refused("a//b", "empty component");
  refused("a/", "empty component");
  refused("a/\x01b", "control character");
  refused("a/b\x7f", "control character");
  char *long_path = malloc(5001);
  for (int i = 0; i < 5000; i++)
    long_path[i] = i % 100 == 99 ? '/' : 'p';
  long_path[5000] = '\0';
  refused(long_path, "PATH_MAX");
  free(long_path);
  char comp[301];
  memset(comp, 'c', 300);
  comp[300] = '\0';
  char *p = ferry_asprintf("dir/%s/file", comp);
  refused(p, "NAME_MAX");
  free(p);
}

static void test_allowed(void **state)
{
  (void)state;
  allowed("ok/file");
  allowed("..hidden");
  allowed("dir/..hidden/.x");
  allowed("checkpoint/pages-1.img");
  char comp[256];
  memset(comp, 'n', 255);
  comp[255] = '\0';
  allowed(comp);
}

static void test_create_and_open(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  int dfd = open(dir, O_RDONLY | O_DIRECTORY);
  assert_true(dfd >= 0);
  int fd = ferry_createat_beneath(dfd, "ok/deeper/file", O_WRONLY | O_EXCL, 0640, 0750);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "hi", 2), 2);
  close(fd);
  char *text = tu_read(dir, "ok/deeper/file");
  assert_string_equal(text, "hi");
  free(text);
  fd = ferry_openat_beneath(dfd, "ok/deeper/file", O_RDONLY, 0);
  assert_true(fd >= 0);
  close(fd);
  fd = ferry_openat_walk(dfd, "ok/deeper/file", O_RDONLY, 0);
  assert_true(fd >= 0);
  close(fd);
  /* an existing file is not overwritten with O_EXCL */
  assert_int_equal(ferry_createat_beneath(dfd, "ok/deeper/file", O_WRONLY | O_EXCL, 0640, 0750), -1);
  assert_int_equal(errno, EEXIST);
  /* a refused path is never opened */
  assert_int_equal(ferry_openat_beneath(dfd, "../x", O_RDONLY, 0), -1);
  assert_int_equal(errno, EINVAL);
  close(dfd);
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_rm_rf(dir, &err), 0);
  free(dir);
}

/* A directory holding x -> /tmp: writing x/evil must not reach /tmp/evil, by
 * any of the three ways in. */
static void test_symlink_escape(void **state)
{
  (void)state;
  struct stat st;
  int had_evil = lstat("/tmp/evil", &st) == 0;
  char *dir = tu_mkdtemp();
  char *link = ferry_path_join(dir, "x");
  assert_int_equal(symlink("/tmp", link), 0);
  int dfd = open(dir, O_RDONLY | O_DIRECTORY);
  assert_true(dfd >= 0);
  assert_int_equal(ferry_createat_beneath(dfd, "x/evil", O_WRONLY | O_EXCL, 0640, 0750), -1);
  assert_int_equal(ferry_openat_beneath(dfd, "x/evil", O_WRONLY | O_CREAT | O_EXCL, 0640), -1);
  assert_int_equal(ferry_openat_walk(dfd, "x/evil", O_WRONLY | O_CREAT | O_EXCL, 0640), -1);
  /* nor is a symlink followed as the last component */
  assert_int_equal(ferry_openat_beneath(dfd, "x", O_RDONLY, 0), -1);
  assert_int_equal(ferry_openat_walk(dfd, "x", O_RDONLY, 0), -1);
  if (!had_evil)
    assert_int_equal(lstat("/tmp/evil", &st), -1);
  close(dfd);
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_rm_rf(dir, &err), 0);
  free(link);
  free(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_refused),
    cmocka_unit_test(test_allowed),
    cmocka_unit_test(test_create_and_open),
    cmocka_unit_test(test_symlink_escape),
  };
  return cmocka_run_group_tests_name("relative paths", tests, NULL, NULL);
}
