/* SPDX-License-Identifier: Apache-2.0 */
/* The root filesystem diff, on a real overlay mount (the tests run as root). */
#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "testutil.h"

#include "image/rootfs.h"

struct fx {
  char *top, *lower, *upper, *work, *merged, *target, *tar;
};

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof *f);
  f->top = tu_mkdtemp();
  f->lower = ferry_path_join(f->top, "lower");
  f->upper = ferry_path_join(f->top, "upper");
  f->work = ferry_path_join(f->top, "work");
  f->merged = ferry_path_join(f->top, "merged");
  f->target = ferry_path_join(f->top, "target");
  f->tar = ferry_path_join(f->top, "diff.tar");
  const char *dirs[] = { f->upper, f->work, f->merged };
  ferry_error err = FERRY_ERROR_INIT;
  for (int i = 0; i < 3; i++)
    assert_int_equal(ferry_mkdir_p(dirs[i], 0755, &err), 0);
  /* The "image": the same content as the lower layer on both nodes. */
  const char *base = f->lower;
  for (int pass = 0; pass < 2; pass++, base = f->target) {
    tu_write(base, "etc/config", "original\n");
    tu_write(base, "etc/remove-me", "bye\n");
    tu_write(base, "data/old-1", "1\n");
    tu_write(base, "data/old-2", "2\n");
    tu_write(base, "bin/app", "binary\n");
  }
  char *opts = ferry_asprintf("lowerdir=%s,upperdir=%s,workdir=%s", f->lower, f->upper, f->work);
  int r = mount("overlay", f->merged, "overlay", 0, opts);
  free(opts);
  if (r < 0) {
    print_message("overlay mount failed (%s): these tests need root and overlayfs\n", strerror(errno));
    return -1;
  }
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;
  umount2(f->merged, MNT_DETACH);
  tu_rm(f->top);
  free(f->lower);
  free(f->upper);
  free(f->work);
  free(f->merged);
  free(f->target);
  free(f->tar);
  free(f);
  return 0;
}

static void test_overlay_diff_roundtrip(void **state)
{
  struct fx *f = *state;
  ferry_error err = FERRY_ERROR_INIT;
  /* What a container does: change, add, delete, replace a directory. */
  tu_write(f->merged, "etc/config", "changed\n");
  tu_write(f->merged, "tmp/count", "42\n");
  char *rm_path = ferry_path_join(f->merged, "etc/remove-me");
  assert_int_equal(unlink(rm_path), 0);
  char *data = ferry_path_join(f->merged, "data");
  assert_int_equal(ferry_rm_rf(data, &err), 0);
  assert_int_equal(mkdir(data, 0755), 0); /* an opaque directory in the upper layer */
  tu_write(f->merged, "data/new", "new\n");
  char *link = ferry_path_join(f->merged, "etc/link");
  assert_int_equal(symlink("config", link), 0);

  const char *used = NULL;
  uint64_t n = 0;
  assert_int_equal(ferry_rootfs_diff_create(f->merged, "auto", 0, f->tar, &used, &n, &err), 0);
  assert_string_equal(used, "overlay");
  assert_true(n >= 6);
  uint64_t applied = 0;
  if (ferry_rootfs_diff_apply(f->tar, f->target, &applied, &err) < 0)
    fail_msg("apply: %s", err.msg);
  assert_int_equal(applied, n);

  char *t = tu_read(f->target, "etc/config");
  assert_string_equal(t, "changed\n");
  free(t);
  t = tu_read(f->target, "tmp/count");
  assert_string_equal(t, "42\n");
  free(t);
  assert_null(tu_read(f->target, "etc/remove-me")); /* the whiteout deleted it */
  assert_null(tu_read(f->target, "data/old-1"));    /* the opaque directory replaced the old one */
  assert_null(tu_read(f->target, "data/old-2"));
  t = tu_read(f->target, "data/new");
  assert_string_equal(t, "new\n");
  free(t);
  t = tu_read(f->target, "bin/app"); /* untouched */
  assert_string_equal(t, "binary\n");
  free(t);
  char buf[64];
  char *tl = ferry_path_join(f->target, "etc/link");
  ssize_t l = readlink(tl, buf, sizeof buf - 1);
  assert_int_equal(l, 6);
  buf[l] = '\0';
  assert_string_equal(buf, "config");
  /* overlay's own xattrs are not copied onto the target */
  char *td = ferry_path_join(f->target, "data");
  assert_true(getxattr(td, "trusted.overlay.opaque", buf, sizeof buf) < 0);
  free(td);
  free(tl);
  free(rm_path);
  free(data);
  free(link);
}

static void test_scan_and_none(void **state)
{
  struct fx *f = *state;
  ferry_error err = FERRY_ERROR_INIT;
  const char *used = NULL;
  uint64_t n = 0;
  /* A plain directory: scan takes what changed since the given time. */
  int64_t since = ferry_now_real_ms() + 60000; /* in the future: nothing qualifies */
  assert_int_equal(ferry_rootfs_diff_create(f->lower, "auto", since, f->tar, &used, &n, &err), 0);
  assert_string_equal(used, "scan");
  assert_int_equal(n, 0);
  assert_int_equal(ferry_rootfs_diff_create(f->lower, "scan", 0, f->tar, &used, &n, &err), 0);
  assert_true(n >= 8);
  assert_int_equal(ferry_rootfs_diff_create(f->lower, "none", 0, f->tar, &used, &n, &err), 0);
  assert_string_equal(used, "none");
  assert_int_equal(n, 0);
  assert_int_equal(ferry_rootfs_diff_create(f->lower, "overlay", 0, f->tar, &used, &n, &err), -1);
  assert_non_null(strstr(err.msg, "not an overlay mount"));
  ferry_error_clear(&err);
  assert_int_equal(ferry_rootfs_diff_create("/nonexistent/rootfs", "auto", 0, f->tar, &used, &n, &err), -1);
  ferry_error_clear(&err);
}

static void test_apply_never_leaves_rootfs(void **state)
{
  struct fx *f = *state;
  ferry_error err = FERRY_ERROR_INIT;
  /* The target's etc is a symlink to a directory outside it: a diff entry under
   * etc/ must not be written through it. */
  char *outside = ferry_path_join(f->top, "outside");
  assert_int_equal(ferry_mkdir_p(outside, 0755, &err), 0);
  char *src = ferry_path_join(f->top, "src");
  tu_write(src, "etc/passwd", "evil\n");
  const char *used;
  uint64_t n;
  assert_int_equal(ferry_rootfs_diff_create(src, "scan", 0, f->tar, &used, &n, &err), 0);
  char *tetc = ferry_path_join(f->target, "etc");
  assert_int_equal(ferry_rm_rf(tetc, &err), 0);
  assert_int_equal(symlink(outside, tetc), 0);
  /* libarchive (SECURE_SYMLINKS with UNLINK) replaces the link instead of
   * following it: the file lands inside the root, never outside. */
  if (ferry_rootfs_diff_apply(f->tar, f->target, &n, &err) < 0)
    fail_msg("apply: %s", err.msg);
  assert_null(tu_read(outside, "passwd"));
  struct stat st;
  assert_int_equal(lstat(tetc, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  char *t = tu_read(f->target, "etc/passwd");
  assert_string_equal(t, "evil\n");
  free(t);
  /* An entry that climbs out is refused outright. */
  char *evil = ferry_path_join(f->top, "evil.tar");
  const char *argv_dir = f->top;
  char *cmd = ferry_asprintf("cd %s && mkdir -p x && echo pwned > x/p && tar --transform 's,^x/p,../../p,' -cf %s x/p "
                             "2>/dev/null",
                             argv_dir, evil);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(ferry_rootfs_diff_apply(evil, f->target, &n, &err), -1);
  assert_non_null(strstr(err.msg, "leaves the root filesystem"));
  ferry_error_clear(&err);
  free(cmd);
  free(evil);
  free(tetc);
  free(outside);
  free(src);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_overlay_diff_roundtrip, setup, teardown),
    cmocka_unit_test_setup_teardown(test_scan_and_none, setup, teardown),
    cmocka_unit_test_setup_teardown(test_apply_never_leaves_rootfs, setup, teardown),
  };
  return cmocka_run_group_tests_name("rootfs diff", tests, NULL, NULL);
}
