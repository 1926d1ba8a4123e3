/* SPDX-License-Identifier: Apache-2.0 */
/* Memory files hashed while they are written (image/follow.h), the manifest
 * taking those hashes, and verification by scope (all, all but memory, memory). */
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "testutil.h"

#include "base/hash.h"
#include "image/follow.h"
#include "image/manifest.h"

#define CHUNK (64 << 10)
#define CHUNKS 160 /* 10 MiB */

struct writer {
  const char *path;
  int chunks;
};

/* Appends pseudo-random chunks, one write each, as CRIU appends pages. */
static void *write_pages(void *arg)
{
  const struct writer *w = arg;
  int fd = open(w->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  unsigned char *buf = malloc(CHUNK);
  assert_non_null(buf);
  unsigned seed = 7;
  for (int c = 0; c < w->chunks; c++) {
    for (size_t i = 0; i < CHUNK; i++)
      buf[i] = (unsigned char)(rand_r(&seed) >> 7);
    assert_int_equal(write(fd, buf, CHUNK), CHUNK);
    sched_yield(); /* let the follower interleave; nothing below depends on it */
  }
  free(buf);
  close(fd);
  return NULL;
}

static char *sha_of(const char *dir, const char *rel)
{
  char *p = ferry_path_join(dir, rel), sha[65];
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_sha256_file(p, sha, NULL, &err), 0);
  free(p);
  return ferry_strdup(sha);
}

static void test_follow_hashes_memory_while_written(void **state)
{
  (void)state;
  char *img = tu_mkdtemp();
  char *criu = ferry_path_join(img, "criu");
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_mkdir_p(criu, 0700, &err), 0);
  /* a memory file already there when following starts, written on after */
  tu_write(img, "criu/pages-2.img", "early bytes");
  struct ferry_follow *f = NULL;
  assert_int_equal(ferry_follow_start(criu, "criu", &f, &err), 0);
  char *pages1 = ferry_path_join(criu, "pages-1.img"), *pages2 = ferry_path_join(criu, "pages-2.img");
  struct writer w1 = { pages1, CHUNKS }, w2 = { pages2, 3 };
  pthread_t t1, t2;
  assert_int_equal(pthread_create(&t1, NULL, write_pages, &w1), 0);
  assert_int_equal(pthread_create(&t2, NULL, write_pages, &w2), 0);
  tu_write(img, "criu/core-1.img", "not memory");
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  struct ferry_manifest known = { 0 };
  assert_int_equal(ferry_follow_finish(f, &known, &err), 0);
  /* the memory files only, each with its whole size and the hash a second pass gives */
  assert_int_equal(known.nfiles, 2);
  const char *rel[] = { "criu/pages-1.img", "criu/pages-2.img" };
  const uint64_t size[] = { (uint64_t)CHUNKS * CHUNK, 11 + 3 * CHUNK };
  for (int i = 0; i < 2; i++) {
    const struct ferry_manifest_file *k = ferry_manifest_find(&known, rel[i]);
    assert_non_null(k);
    assert_int_equal(k->size, size[i]);
    char *sha = sha_of(img, rel[i]);
    assert_string_equal(k->sha256, sha);
    free(sha);
  }
  assert_null(ferry_manifest_find(&known, "criu/core-1.img"));
  /* the manifest taken with them equals one hashed from scratch */
  struct ferry_manifest a = { 0 }, b = { 0 };
  assert_int_equal(ferry_manifest_scan_known(img, &known, &a, &err), 0);
  assert_int_equal(ferry_manifest_scan(img, &b, &err), 0);
  assert_int_equal(a.nfiles, b.nfiles);
  for (size_t i = 0; i < a.nfiles; i++) {
    assert_string_equal(a.files[i].path, b.files[i].path);
    assert_string_equal(a.files[i].sha256, b.files[i].sha256);
  }
  ferry_manifest_free(&a);
  ferry_manifest_free(&b);
  ferry_manifest_free(&known);
  free(pages1);
  free(pages2);
  free(criu);
  assert_int_equal(ferry_rm_rf(img, &err), 0);
  free(img);
}

/* A file changed in place after it was followed keeps its size: the manifest
 * takes the stale hash, and verification refuses the image (never accepts it). */
static void test_changed_behind_the_follower_is_refused(void **state)
{
  (void)state;
  char *img = tu_mkdtemp();
  char *criu = ferry_path_join(img, "criu");
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_mkdir_p(criu, 0700, &err), 0);
  struct ferry_follow *f = NULL;
  assert_int_equal(ferry_follow_start(criu, "criu", &f, &err), 0);
  tu_write(img, "criu/pages-1.img", "AAAAAAAA");
  struct ferry_manifest known = { 0 }, m = { 0 };
  assert_int_equal(ferry_follow_finish(f, &known, &err), 0);
  tu_write(img, "criu/pages-1.img", "AAAABAAA");
  assert_int_equal(ferry_manifest_scan_known(img, &known, &m, &err), 0);
  assert_int_equal(ferry_manifest_verify(img, &m, &err), -1);
  assert_non_null(strstr(err.msg, "criu/pages-1.img was altered"));
  ferry_error_clear(&err);
  assert_int_equal(ferry_manifest_verify_scope(img, &m, FERRY_VERIFY_MEMORY, &err), -1);
  ferry_error_clear(&err);
  /* a stale size: the file is hashed again */
  ferry_manifest_free(&m);
  tu_write(img, "criu/pages-1.img", "AAAABAAAC");
  assert_int_equal(ferry_manifest_scan_known(img, &known, &m, &err), 0);
  assert_int_equal(ferry_manifest_verify(img, &m, &err), 0);
  ferry_manifest_free(&m);
  ferry_manifest_free(&known);
  free(criu);
  assert_int_equal(ferry_rm_rf(img, &err), 0);
  free(img);
}

/* ALL_BUT_MEMORY checks the listing and every other file, memory by size only;
 * MEMORY hashes the memory files by their entries, whatever else appeared. */
static void test_verify_scopes(void **state)
{
  (void)state;
  char *img = tu_mkdtemp();
  ferry_error err = FERRY_ERROR_INIT;
  tu_write(img, "criu/pages-1.img", "pages!");
  tu_write(img, "criu/pagemap-1.img", "map");
  struct ferry_manifest m = { 0 };
  assert_int_equal(ferry_manifest_scan(img, &m, &err), 0);
  tu_write(img, "criu/pages-1.img", "PAGES!"); /* same size, altered */
  assert_int_equal(ferry_manifest_verify_scope(img, &m, FERRY_VERIFY_ALL_BUT_MEMORY, &err), 0);
  assert_int_equal(ferry_manifest_verify_scope(img, &m, FERRY_VERIFY_MEMORY, &err), -1);
  assert_non_null(strstr(err.msg, "criu/pages-1.img was altered"));
  ferry_error_clear(&err);
  assert_int_equal(ferry_manifest_verify_scope(img, &m, FERRY_VERIFY_ALL, &err), -1);
  ferry_error_clear(&err);
  tu_write(img, "criu/pages-1.img", "pages!");
  tu_write(img, "criu/pagemap-1.img", "MAP");
  tu_write(img, "criu/stats-restore", "written by the restore");
  assert_int_equal(ferry_manifest_verify_scope(img, &m, FERRY_VERIFY_MEMORY, &err), 0);
  assert_int_equal(ferry_manifest_verify_scope(img, &m, FERRY_VERIFY_ALL_BUT_MEMORY, &err), -1);
  assert_non_null(strstr(err.msg, "criu/pagemap-1.img was altered"));
  assert_non_null(strstr(err.msg, "criu/stats-restore is not in the manifest"));
  ferry_error_clear(&err);
  /* a memory file of the wrong size is caught by ALL_BUT_MEMORY too */
  tu_write(img, "criu/pagemap-1.img", "map");
  char *stats = ferry_path_join(img, "criu/stats-restore");
  assert_int_equal(unlink(stats), 0);
  free(stats);
  tu_write(img, "criu/pages-1.img", "pages");
  assert_int_equal(ferry_manifest_verify_scope(img, &m, FERRY_VERIFY_ALL_BUT_MEMORY, &err), -1);
  assert_non_null(strstr(err.msg, "criu/pages-1.img has 5 bytes, the manifest says 6"));
  ferry_error_clear(&err);
  assert_true(ferry_manifest_is_memory("criu/pages-12.img"));
  assert_false(ferry_manifest_is_memory("criu/pagemap-1.img"));
  assert_false(ferry_manifest_is_memory("pages-1.img"));
  assert_false(ferry_manifest_is_memory("criu/pages-.img"));
  ferry_manifest_free(&m);
  assert_int_equal(ferry_rm_rf(img, &err), 0);
  free(img);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_follow_hashes_memory_while_written),
    cmocka_unit_test(test_changed_behind_the_follower_is_refused),
    cmocka_unit_test(test_verify_scopes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
