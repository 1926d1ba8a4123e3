/* SPDX-License-Identifier: Apache-2.0 */
/* Images sent node to node: a good image arrives verified and published; a
 * sender without the token, an entry outside the image or an image that does
 * not verify is refused, and nothing is published. */
#include <archive.h>
#include <archive_entry.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#include "base/cleanup.h"
#include "base/error.h"
#include "image/manifest.h"
#include "runtime/relay.h"
#include "image/store.h"
#include "image/stream.h"
#include "base/util.h"

static char dir[64];

static int setup(void **state)
{
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/ferry-stream-XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  ferry_error err = FERRY_ERROR_INIT;
  char *a = ferry_path_join(dir, "a"), *b = ferry_path_join(dir, "b");
  int rc = ferry_mkdir_p(a, 0700, &err) | ferry_mkdir_p(b, 0700, &err);
  free(a);
  free(b);
  return rc;
}

static int teardown(void **state)
{
  (void)state;
  ferry_error err = FERRY_ERROR_INIT;
  ferry_rm_rf(dir, &err);
  ferry_error_clear(&err);
  return 0;
}

/* An image NAME in store a: two files and its manifest. */
static void make_image(const char *name)
{
  ferry_error err = FERRY_ERROR_INIT;
  char *img = ferry_asprintf("%s/a/%s", dir, name), *criu = ferry_asprintf("%s/criu", img);
  assert_int_equal(ferry_mkdir_p(criu, 0700, &err), 0);
  char *f1 = ferry_path_join(criu, "pages-1.img"), *f2 = ferry_path_join(img, "config.json");
  char *big = malloc(300000);
  for (int i = 0; i < 300000; i++)
    big[i] = (char)(i * 31);
  assert_int_equal(ferry_write_file(f1, big, 300000, &err), 0);
  assert_int_equal(ferry_write_file(f2, "{}", 2, &err), 0);
  struct ferry_manifest m = { 0 };
  assert_int_equal(ferry_manifest_scan(img, &m, &err), 0);
  m.name = ferry_strdup(name);
  m.container_id = ferry_strdup("c");
  m.strategy = ferry_strdup("stopAndCopy");
  m.rootfs_diff = ferry_strdup("none");
  assert_int_equal(ferry_manifest_write(img, &m, NULL, &err), 0);
  ferry_manifest_free(&m);
  free(big);
  free(f1);
  free(f2);
  free(img);
  free(criu);
}

/* A receiver into store b, in a thread. */
struct recv_job {
  pthread_t th;
  int lfd;
  const char *token;
  int rc;
};

static void *recv_main(void *p)
{
  struct recv_job *j = p;
  struct ferry_store s;
  ferry_error err = FERRY_ERROR_INIT;
  char *url = ferry_asprintf("dir://%s/b", dir), *name = NULL;
  uint64_t n = 0;
  j->rc = 3;
  if (ferry_store_parse(url, &s, &err) == 0) {
    j->rc = ferry_stream_receive(j->lfd, j->token, &s, 5000, &name, &n, &err) == 0 ? 0 : 1;
    ferry_store_free(&s);
  }
  ferry_error_clear(&err);
  free(name);
  free(url);
  close(j->lfd);
  return NULL;
}

static struct recv_job *receiver(int lfd, const char *token)
{
  struct recv_job *j = calloc(1, sizeof *j);
  j->lfd = lfd;
  j->token = token;
  assert_int_equal(pthread_create(&j->th, NULL, recv_main, j), 0);
  return j;
}

static int wait_exit(struct recv_job *j)
{
  assert_int_equal(pthread_join(j->th, NULL), 0);
  int rc = j->rc;
  free(j);
  return rc;
}

static void test_image_arrives(void **state)
{
  (void)state;
  make_image("img1");
  ferry_error err = FERRY_ERROR_INIT;
  char token[65], *addr = NULL, *src = ferry_asprintf("%s/a/img1", dir);
  int lfd;
  assert_int_equal(ferry_stream_token(token, &err), 0);
  assert_int_equal(ferry_relay_listen("127.0.0.1:0", &lfd, &addr, &err), 0);
  struct recv_job *r = receiver(lfd, token);
  uint64_t sent = 0;
  assert_int_equal(ferry_stream_send(src, "img1", addr, token, 0, &sent, &err), 0);
  assert_true(sent > 300000);
  assert_int_equal(wait_exit(r), 0);
  char *got = ferry_asprintf("%s/b/img1", dir);
  struct ferry_manifest m = { 0 };
  assert_int_equal(ferry_manifest_load(got, &m, &err), 0);
  assert_int_equal(ferry_manifest_verify(got, &m, &err), 0);
  ferry_manifest_free(&m);
  free(got);
  free(addr);
  free(src);
}

static void test_wrong_token(void **state)
{
  (void)state;
  make_image("img2");
  ferry_error err = FERRY_ERROR_INIT;
  char token[65], other[65], *addr = NULL, *src = ferry_asprintf("%s/a/img2", dir);
  int lfd;
  assert_int_equal(ferry_stream_token(token, &err), 0);
  assert_int_equal(ferry_stream_token(other, &err), 0);
  assert_int_equal(ferry_relay_listen("127.0.0.1:0", &lfd, &addr, &err), 0);
  struct recv_job *r = receiver(lfd, token);
  uint64_t sent = 0;
  assert_int_equal(ferry_stream_send(src, "img2", addr, other, 0, &sent, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "token"));
  ferry_error_clear(&err);
  assert_int_equal(wait_exit(r), 1);
  char *got = ferry_asprintf("%s/b/img2", dir);
  assert_false(ferry_path_exists(got));
  free(got);
  free(addr);
  free(src);
}

/* A hand-made stream whose tar holds "../evil": refused, nothing written outside. */
static void test_entry_outside(void **state)
{
  (void)state;
  ferry_error err = FERRY_ERROR_INIT;
  char token[65], *addr = NULL;
  int lfd;
  assert_int_equal(ferry_stream_token(token, &err), 0);
  assert_int_equal(ferry_relay_listen("127.0.0.1:0", &lfd, &addr, &err), 0);
  struct recv_job *r = receiver(lfd, token);
  int fd = ferry_tcp_connect(addr, &err);
  assert_true(fd >= 0);
  char *head = ferry_asprintf("FERRY-IMAGE/1 %s img3\n", token);
  assert_int_equal(send(fd, head, strlen(head), 0), (ssize_t)strlen(head));
  struct archive *a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  assert_int_equal(archive_write_open_fd(a, fd), ARCHIVE_OK);
  struct archive_entry *e = archive_entry_new();
  archive_entry_set_pathname(e, "../evil");
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, 4);
  archive_write_header(a, e);
  archive_write_data(a, "boom", 4);
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  shutdown(fd, SHUT_WR);
  char reply[256] = "";
  ssize_t n = recv(fd, reply, sizeof reply - 1, MSG_WAITALL);
  assert_true(n > 0);
  assert_non_null(strstr(reply, "ERROR"));
  assert_non_null(strstr(reply, "refusing entry ../evil"));
  close(fd);
  assert_int_equal(wait_exit(r), 1);
  char *evil = ferry_asprintf("%s/evil", dir), *img = ferry_asprintf("%s/b/img3", dir);
  assert_false(ferry_path_exists(evil));
  assert_false(ferry_path_exists(img));
  free(evil);
  free(img);
  free(head);
  free(addr);
}

/* A migration's token: HMAC-SHA256 of its UID under the nodes' key (the
 * values from Python's hmac), another UID another token, none without a UID. */
static void test_token_for_a_migration(void **state)
{
  (void)state;
  unsigned char key[32];
  for (int i = 0; i < 32; i++)
    key[i] = (unsigned char)i;
  char token[65];
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_stream_token_for(key, "3f1c2a9e-1111-4d2b-8e1a-2c3d4e5f6a7b", token, &err), 0);
  assert_string_equal(token, "e5bf18e24138e918e94eaa3371aec9a5b8438a23c5028ca6b6cd277edf23e160");
  assert_int_equal(ferry_stream_token_for(key, "3f1c2a9e-1111-4d2b-8e1a-2c3d4e5f6a7c", token, &err), 0);
  assert_string_equal(token, "b0a7ff45d4f832ed1daba3c9d0c312a23fa3d8b220f3b12163645a65912f0757");
  assert_int_equal(ferry_stream_token_for(key, "", token, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "UID"));
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_image_arrives, setup, teardown),
    cmocka_unit_test_setup_teardown(test_wrong_token, setup, teardown),
    cmocka_unit_test(test_token_for_a_migration),
    cmocka_unit_test_setup_teardown(test_entry_outside, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
