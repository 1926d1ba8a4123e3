/* SPDX-License-Identifier: Apache-2.0 */
/* Images: names, stores, manifests and their verification. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "image/manifest.h"
#include "image/store.h"

static void test_image_names(void **state)
{
  (void)state;
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_image_name_valid("web-1.ckpt_2", &err), 0);
  char long_ok[129];
  memset(long_ok, 'a', 128);
  long_ok[128] = '\0';
  assert_int_equal(ferry_image_name_valid(long_ok, &err), 0);
  const char *bad[] = { "", "a/b", "..", "../x", ".hidden", "-x", "a b", "x\n", "é" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(ferry_image_name_valid(bad[i], &err), -1);
    assert_non_null(err.msg);
    ferry_error_clear(&err);
  }
  char too_long[130];
  memset(too_long, 'a', 129);
  too_long[129] = '\0';
  assert_int_equal(ferry_image_name_valid(too_long, &err), -1);
  ferry_error_clear(&err);
}

static void test_store_urls(void **state)
{
  (void)state;
  ferry_error err = FERRY_ERROR_INIT;
  struct ferry_store s;
  assert_int_equal(ferry_store_parse("dir:///var/lib/ferry/images/", &s, &err), 0);
  assert_string_equal(s.path, "/var/lib/ferry/images");
  ferry_store_free(&s);
  assert_int_equal(ferry_store_parse("dir://relative/path", &s, &err), -1);
  assert_non_null(strstr(err.msg, "absolute"));
  ferry_error_clear(&err);
  assert_int_equal(ferry_store_parse("nfs://server/export", &s, &err), -1);
  assert_non_null(strstr(err.msg, "unsupported scheme nfs (supported: dir://, s3://)"));
  ferry_error_clear(&err);
  assert_int_equal(ferry_store_parse("/just/a/path", &s, &err), -1);
  ferry_error_clear(&err);
  assert_int_equal(ferry_store_parse("", &s, &err), -1);
  ferry_error_clear(&err);
}

static void test_store_publish(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  char *url = ferry_asprintf("dir://%s", dir);
  ferry_error err = FERRY_ERROR_INIT;
  struct ferry_store s;
  assert_int_equal(ferry_store_parse(url, &s, &err), 0);
  char *tmp = NULL;
  assert_int_equal(ferry_store_begin(&s, "img", &tmp, &err), 0);
  tu_write(tmp, "criu/pages-1.img", "pages");
  /* A second writer of the same name: begin succeeds (another temp dir) ... */
  char *tmp2 = NULL;
  assert_int_equal(ferry_store_begin(&s, "img", &tmp2, &err), -1); /* same pid, same temp name */
  ferry_error_clear(&err);
  assert_int_equal(ferry_store_publish(&s, "img", tmp, FERRY_PUBLISH_DURABLE, &err), 0);
  char *text = tu_read(dir, "img/criu/pages-1.img");
  assert_string_equal(text, "pages");
  free(text);
  /* ... but once published, the name is taken. */
  assert_int_equal(ferry_store_begin(&s, "img", &tmp2, &err), -1);
  assert_int_equal(err.errnum, EEXIST);
  assert_non_null(strstr(err.msg, "already exists"));
  ferry_error_clear(&err);
  /* publish never replaces an existing image */
  char *other = ferry_path_join(dir, ".other");
  assert_int_equal(mkdir(other, 0700), 0);
  assert_int_equal(ferry_store_publish(&s, "img", other, FERRY_PUBLISH_CACHED, &err), -1);
  ferry_error_clear(&err);
  ferry_store_abort(other);
  assert_false(ferry_path_exists(other));
  /* CACHED: published the same way, only without the fsyncs */
  char *tmp3 = NULL;
  assert_int_equal(ferry_store_begin(&s, "img2", &tmp3, &err), 0);
  tu_write(tmp3, "criu/pages-1.img", "held");
  assert_int_equal(ferry_store_publish(&s, "img2", tmp3, FERRY_PUBLISH_CACHED, &err), 0);
  assert_false(ferry_path_exists(tmp3));
  text = tu_read(dir, "img2/criu/pages-1.img");
  assert_string_equal(text, "held");
  free(text);
  free(tmp3);
  char *opened = NULL;
  assert_int_equal(ferry_store_open(&s, "img", &opened, &err), 0);
  free(opened);
  assert_int_equal(ferry_store_open(&s, "nope", &opened, &err), -1);
  assert_non_null(strstr(err.msg, "not found"));
  ferry_error_clear(&err);
  free(other);
  free(tmp);
  free(url);
  ferry_store_free(&s);
  tu_rm(dir);
}

static void test_store_missing(void **state)
{
  (void)state;
  ferry_error err = FERRY_ERROR_INIT;
  struct ferry_store s;
  assert_int_equal(ferry_store_parse("dir:///nonexistent/ferry-store", &s, &err), 0);
  char *tmp = NULL;
  assert_int_equal(ferry_store_begin(&s, "img", &tmp, &err), -1);
  assert_int_equal(err.errnum, ENOENT);
  ferry_error_clear(&err);
  ferry_store_free(&s);
}

static char *make_image(void)
{
  char *dir = tu_mkdtemp();
  tu_write(dir, "config.json", "{\"root\":{\"path\":\"rootfs\"}}");
  tu_write(dir, "criu/pages-1.img", "0123456789abcdef");
  tu_write(dir, "criu/core-1.img", "core");
  tu_write(dir, "logs/dump.log", "(00.1) Dumping finished successfully\n");
  struct ferry_manifest m = { 0 };
  ferry_error err = FERRY_ERROR_INIT;
  m.name = ferry_strdup("img");
  m.container_id = ferry_strdup("c1");
  m.strategy = ferry_strdup("stopAndCopy");
  m.rootfs_diff = ferry_strdup("overlay");
  m.created_ms = 1764000000000;
  m.freeze_start_ms = 1764000000123;
  m.dump_ms = 42;
  m.tcp_established = 1;
  assert_int_equal(ferry_manifest_scan(dir, &m, &err), 0);
  assert_int_equal(m.nfiles, 4);
  assert_int_equal(ferry_manifest_write(dir, &m, NULL, &err), 0);
  ferry_manifest_free(&m);
  return dir;
}

static int verify(const char *dir, char **msg)
{
  struct ferry_manifest m;
  ferry_error err = FERRY_ERROR_INIT;
  int rc = ferry_manifest_load(dir, &m, &err);
  if (rc == 0) {
    rc = ferry_manifest_verify(dir, &m, &err);
    ferry_manifest_free(&m);
  }
  *msg = err.msg ? ferry_strdup(err.msg) : NULL;
  ferry_error_clear(&err);
  return rc;
}

static void test_manifest_roundtrip(void **state)
{
  (void)state;
  char *dir = make_image();
  struct ferry_manifest m;
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_manifest_load(dir, &m, &err), 0);
  assert_string_equal(m.container_id, "c1");
  assert_int_equal(m.freeze_start_ms, 1764000000123);
  assert_int_equal(m.created_ms, 1764000000000);
  assert_int_equal(m.dump_ms, 42);
  assert_int_equal(m.tcp_established, 1);
  assert_int_equal(m.nfiles, 4);
  assert_string_equal(m.files[0].path, "config.json");
  /* sha256("core") */
  assert_string_equal(m.files[1].path, "criu/core-1.img");
  assert_string_equal(m.files[1].sha256, "0d45f5fd462b8c70bffb10021ac1bcff3f58f29b1faf7568595095427d42812c");
  ferry_manifest_free(&m);
  char *msg = NULL;
  assert_int_equal(verify(dir, &msg), 0);
  assert_null(msg);
  tu_rm(dir);
}

/* An image whose manifest and manifest.sha256 were both replaced (a writer of
 * the store) loads by the store's own sum, not against the digest its
 * migration recorded; a malformed digest is refused. */
static void test_manifest_pinned_to_the_recorded_digest(void **state)
{
  (void)state;
  char *dir = make_image();
  struct ferry_manifest m;
  ferry_error err = FERRY_ERROR_INIT;
  char digest[FERRY_DIGEST_LEN], forged[FERRY_DIGEST_LEN];
  assert_int_equal(ferry_manifest_load(dir, &m, &err), 0);
  assert_int_equal(ferry_manifest_write(dir, &m, digest, &err), 0);
  assert_int_equal(strncmp(digest, "sha256:", 7), 0);
  assert_int_equal(strlen(digest), 71);
  ferry_manifest_free(&m);
  assert_int_equal(ferry_manifest_load_pinned(dir, digest, &m, &err), 0);
  assert_string_equal(m.container_id, "c1");
  free(m.container_id);
  m.container_id = ferry_strdup("forged");
  assert_int_equal(ferry_manifest_write(dir, &m, forged, &err), 0);
  ferry_manifest_free(&m);
  assert_string_not_equal(forged, digest);
  assert_int_equal(ferry_manifest_load(dir, &m, &err), 0);
  ferry_manifest_free(&m);
  assert_int_equal(ferry_manifest_load_pinned(dir, digest, &m, &err), -1);
  assert_non_null(strstr(err.msg, "manifest.json is not the image's"));
  ferry_error_clear(&err);
  assert_int_equal(ferry_manifest_load_pinned(dir, "sha256:abc", &m, &err), -1);
  assert_non_null(strstr(err.msg, "is not sha256: and 64 hex characters"));
  ferry_error_clear(&err);
  assert_int_equal(ferry_manifest_load_pinned(dir, NULL, &m, &err), -1);
  ferry_error_clear(&err);
  tu_rm(dir);
}

static void test_manifest_detects_every_change(void **state)
{
  (void)state;
  struct {
    const char *what;
    const char *expect;
  } cases[] = {
    { "altered", "criu/pages-1.img was altered" },        { "truncated", "criu/pages-1.img has 15 bytes" },
    { "extra", "criu/extra.img is not in the manifest" }, { "missing", "criu/core-1.img is missing" },
    { "manifest", "manifest.json was altered" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *dir = make_image();
    char *pages = ferry_path_join(dir, "criu/pages-1.img");
    if (!strcmp(cases[i].what, "altered")) {
      int fd = open(pages, O_WRONLY);
      assert_true(fd >= 0);
      assert_int_equal(pwrite(fd, "X", 1, 7), 1);
      close(fd);
    } else if (!strcmp(cases[i].what, "truncated")) {
      assert_int_equal(truncate(pages, 15), 0);
    } else if (!strcmp(cases[i].what, "extra")) {
      tu_write(dir, "criu/extra.img", "x");
    } else if (!strcmp(cases[i].what, "missing")) {
      char *core = ferry_path_join(dir, "criu/core-1.img");
      assert_int_equal(unlink(core), 0);
      free(core);
    } else {
      char *mf = ferry_path_join(dir, "manifest.json");
      int fd = open(mf, O_WRONLY);
      assert_true(fd >= 0);
      assert_int_equal(pwrite(fd, " ", 1, 1), 1);
      close(fd);
      free(mf);
    }
    char *msg = NULL;
    assert_int_equal(verify(dir, &msg), -1);
    assert_non_null(msg);
    if (!strstr(msg, cases[i].expect))
      fail_msg("%s: expected '%s' in '%s'", cases[i].what, cases[i].expect, msg);
    free(msg);
    free(pages);
    tu_rm(dir);
  }
}

static void test_manifest_rejects_malformed(void **state)
{
  (void)state;
  struct {
    const char *json;
    const char *expect;
  } cases[] = {
    { "not json", "not valid JSON" },
    { "[]", "not a JSON object" },
    { "{\"kind\":\"Pod\"}", "kind is Pod" },
    { "{\"kind\":\"CheckpointImage\",\"containerId\":\"c\",\"strategy\":\"s\",\"rootfsDiff\":\"none\"}",
      "field name is missing" },
    { "{\"kind\":\"CheckpointImage\",\"name\":1}", "field name must be a string" },
    { "{\"kind\":\"CheckpointImage\",\"name\":\"n\",\"containerId\":\"c\",\"strategy\":\"s\",\"rootfsDiff\":\"none\"}",
      "field files is missing" },
    { "{\"kind\":\"CheckpointImage\",\"name\":\"n\",\"containerId\":\"c\",\"strategy\":\"s\",\"rootfsDiff\":\"none\","
      "\"files\":[{\"path\":\"../etc/passwd\",\"size\":1,\"sha256\":\""
      "0000000000000000000000000000000000000000000000000000000000000000\"}]}",
      "leaves the image" },
    { "{\"kind\":\"CheckpointImage\",\"name\":\"n\",\"containerId\":\"c\",\"strategy\":\"s\",\"rootfsDiff\":\"none\","
      "\"files\":[{\"path\":\"a\",\"size\":1,\"sha256\":\"xyz\"}]}",
      "invalid size or sha256" },
    { "{\"kind\":\"CheckpointImage\",\"name\":\"n\",\"containerId\":\"c\",\"strategy\":\"s\",\"rootfsDiff\":\"none\","
      "\"timings\":{\"dumpMs\":\"fast\"},\"files\":[]}",
      "dumpMs must be an integer" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct ferry_manifest m;
    ferry_error err = FERRY_ERROR_INIT;
    assert_int_equal(ferry_manifest_from_json(cases[i].json, &m, &err), -1);
    if (!strstr(err.msg, cases[i].expect))
      fail_msg("case %zu: expected '%s' in '%s'", i, cases[i].expect, err.msg);
    ferry_error_clear(&err);
  }
}

static void test_sha256(void **state)
{
  (void)state;
  char out[65];
  ferry_sha256_hex("abc", 3, out);
  assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  char *dir = tu_mkdtemp();
  tu_write(dir, "f", "abc");
  char *p = ferry_path_join(dir, "f");
  uint64_t size = 0;
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_sha256_file(p, out, &size, &err), 0);
  assert_int_equal(size, 3);
  assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  free(p);
  tu_rm(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_image_names),
    cmocka_unit_test(test_store_urls),
    cmocka_unit_test(test_store_publish),
    cmocka_unit_test(test_store_missing),
    cmocka_unit_test(test_manifest_roundtrip),
    cmocka_unit_test(test_manifest_pinned_to_the_recorded_digest),
    cmocka_unit_test(test_manifest_detects_every_change),
    cmocka_unit_test(test_manifest_rejects_malformed),
    cmocka_unit_test(test_sha256),
  };
  return cmocka_run_group_tests_name("manifest and store", tests, NULL, NULL);
}
