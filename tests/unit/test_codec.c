/* SPDX-License-Identifier: Apache-2.0 */
/* Compressed and encrypted images: every encoding round-trips; a wrong key, an
 * altered byte or a truncated file is refused; keys load in their three forms. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "image/codec.h"
#include "base/error.h"
#include "image/manifest.h"
#include "base/util.h"

static char dir[64];

static int setup(void **state)
{
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/ferry-codec-XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  ferry_error err = FERRY_ERROR_INIT;
  ferry_rm_rf(dir, &err);
  ferry_error_clear(&err);
  return 0;
}

static char *path(const char *name) { return ferry_path_join(dir, name); }

/* size bytes, half of them a repeating text (compressible), half pseudo-random. */
static void make_file(const char *p, size_t size)
{
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  unsigned x = 12345;
  for (size_t i = 0; i < size; i++) {
    x = x * 1103515245u + 12345u;
    fputc(i < size / 2 ? "ferry moves containers "[i % 23] : (int)(x >> 16) & 0xff, f);
  }
  fclose(f);
}

static void write_key(const char *p, const char *text, size_t len)
{
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_write_file(p, text, len, &err), 0);
}

static void round_trip(const char *comp, int encrypt)
{
  struct ferry_codec c = { 0 };
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_codec_parse_compression(comp, &c, &err), 0);
  char *key = path("key");
  if (encrypt) {
    write_key(key, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", 65);
    assert_int_equal(ferry_codec_load_key(key, &c, &err), 0);
  }
  char *src = path("src"), *enc = path("enc"), *dec = path("dec");
  unlink(enc);
  make_file(src, 700 * 1024 + 17);
  char raw[65], want[65];
  uint64_t size = 0, wsize = 0;
  assert_int_equal(ferry_codec_encode_file(&c, src, enc, raw, &size, &err), 0);
  assert_int_equal(ferry_sha256_file(src, want, &wsize, &err), 0);
  assert_string_equal(raw, want);
  assert_int_equal(size, wsize);
  struct stat st;
  assert_int_equal(stat(enc, &st), 0);
  if (strcmp(comp, "none") != 0)
    assert_true((uint64_t)st.st_size < size); /* half of it compresses well */
  if (encrypt) {
    char head[5];
    int fd = open(enc, O_RDONLY);
    assert_int_equal(read(fd, head, 5), 5);
    close(fd);
    assert_memory_equal(head, "FRYE\x01", 5);
  }
  assert_int_equal(ferry_codec_decode_file(&c, enc, dec, raw, size, &err), 0);
  char got[65];
  assert_int_equal(ferry_sha256_file(dec, got, NULL, &err), 0);
  assert_string_equal(got, raw);
  /* the manifest's raw size or hash disagreeing is refused */
  assert_int_equal(ferry_codec_decode_file(&c, enc, dec, raw, size + 1, &err), -1);
  ferry_error_clear(&err);
  free(src);
  free(enc);
  free(dec);
  free(key);
}

static void test_round_trips(void **state)
{
  (void)state;
  const char *comps[] = { "none", "zstd", "zstd:9", "lz4" };
  for (size_t i = 0; i < 4; i++)
    for (int e = 0; e < 2; e++)
      if (strcmp(comps[i], "none") || e)
        round_trip(comps[i], e);
}

static void test_tampering_and_wrong_key(void **state)
{
  (void)state;
  struct ferry_codec c = { 0 }, other = { 0 };
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_codec_parse_compression("zstd", &c, &err), 0);
  char *key = path("key"), *key2 = path("key2");
  unsigned char k32[32];
  for (int i = 0; i < 32; i++)
    k32[i] = (unsigned char)(i * 7);
  write_key(key, (const char *)k32, 32);
  write_key(key2, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 45);
  assert_int_equal(ferry_codec_load_key(key, &c, &err), 0);
  other = c;
  assert_int_equal(ferry_codec_load_key(key2, &other, &err), 0);
  assert_string_not_equal(c.key_id, other.key_id);
  char *src = path("src"), *enc = path("enc"), *dec = path("dec");
  unlink(enc);
  make_file(src, 100000);
  char raw[65];
  uint64_t size;
  assert_int_equal(ferry_codec_encode_file(&c, src, enc, raw, &size, &err), 0);
  /* another key: the tag does not verify, nothing is left behind */
  assert_int_equal(ferry_codec_decode_file(&other, enc, dec, raw, size, &err), -1);
  assert_true(strstr(ferry_error_msg(&err), "authentication failed") || strstr(ferry_error_msg(&err), "zstd"));
  ferry_error_clear(&err);
  assert_false(ferry_path_exists(dec));
  /* one byte altered in the middle */
  int fd = open(enc, O_RDWR);
  char b;
  assert_int_equal(pread(fd, &b, 1, 1000), 1);
  b ^= 0x40;
  assert_int_equal(pwrite(fd, &b, 1, 1000), 1);
  close(fd);
  assert_int_equal(ferry_codec_decode_file(&c, enc, dec, raw, size, &err), -1);
  ferry_error_clear(&err);
  /* truncated */
  assert_int_equal(truncate(enc, 10), 0);
  assert_int_equal(ferry_codec_decode_file(&c, enc, dec, raw, size, &err), -1);
  ferry_error_clear(&err);
  free(src);
  free(enc);
  free(dec);
  free(key);
  free(key2);
}

static void test_keys_and_names(void **state)
{
  (void)state;
  struct ferry_codec c = { 0 };
  ferry_error err = FERRY_ERROR_INIT;
  char *key = path("key");
  write_key(key, "too short\n", 10);
  assert_int_equal(ferry_codec_load_key(key, &c, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "expected 32 bytes"));
  ferry_error_clear(&err);
  write_key(key, "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 64);
  assert_int_equal(ferry_codec_load_key(key, &c, &err), -1);
  ferry_error_clear(&err);
  assert_int_equal(ferry_codec_load_key("/nonexistent/key", &c, &err), -1);
  ferry_error_clear(&err);
  assert_false(c.encrypt);
  assert_int_equal(ferry_codec_parse_compression("gzip", &c, &err), -1);
  ferry_error_clear(&err);
  assert_int_equal(ferry_codec_parse_compression("zstd:99", &c, &err), -1);
  ferry_error_clear(&err);
  assert_int_equal(ferry_codec_parse_compression("lz4:2", &c, &err), 0);
  assert_int_equal(c.comp, FERRY_COMP_LZ4);
  assert_int_equal(c.level, 2);
  assert_string_equal(ferry_codec_compression_name(c.comp), "lz4");
  assert_true(ferry_codec_active(&c));
  free(key);
}

/* A tree encodes into a manifest whose decode checks the key's ID first. */
static void test_trees(void **state)
{
  (void)state;
  struct ferry_codec c = { 0 };
  ferry_error err = FERRY_ERROR_INIT;
  char *key = path("key"), *src = path("tree"), *sub = path("tree/criu"), *dst = path("stored"), *out = path("out");
  write_key(key, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 64);
  assert_int_equal(ferry_codec_load_key(key, &c, &err), 0);
  assert_int_equal(ferry_codec_parse_compression("lz4", &c, &err), 0);
  assert_int_equal(ferry_mkdir_p(sub, 0700, &err), 0);
  char *f1 = path("tree/criu/pages-1.img"), *f2 = path("tree/config.json");
  make_file(f1, 50000);
  make_file(f2, 300);
  struct ferry_manifest raw = { 0 }, m = { 0 };
  assert_int_equal(ferry_codec_encode_tree(&c, src, dst, &raw, &err), 0);
  assert_int_equal(raw.nfiles, 2);
  assert_int_equal(ferry_manifest_scan(dst, &m, &err), 0);
  m.name = ferry_strdup("t");
  m.container_id = ferry_strdup("c");
  m.strategy = ferry_strdup("stopAndCopy");
  m.rootfs_diff = ferry_strdup("none");
  m.compression = ferry_strdup("lz4");
  m.encryption = ferry_strdup("aes-256-gcm");
  m.key_id = ferry_strdup(c.key_id);
  for (size_t i = 0; i < m.nfiles; i++) {
    struct ferry_manifest_file *r = ferry_manifest_find(&raw, m.files[i].path);
    assert_non_null(r);
    m.files[i].raw_size = r->raw_size;
    memcpy(m.files[i].raw_sha256, r->raw_sha256, 65);
  }
  /* through JSON and back, as a manifest travels */
  char *json = ferry_manifest_to_json(&m);
  struct ferry_manifest back = { 0 };
  assert_int_equal(ferry_manifest_from_json(json, &back, &err), 0);
  assert_true(ferry_manifest_encoded(&back));
  assert_int_equal(ferry_codec_decode_tree(&c, &back, dst, out, &err), 0);
  char *o1 = path("out/criu/pages-1.img");
  char a[65], b[65];
  assert_int_equal(ferry_sha256_file(f1, a, NULL, &err), 0);
  assert_int_equal(ferry_sha256_file(o1, b, NULL, &err), 0);
  assert_string_equal(a, b);
  /* no key, or another key: refused by ID before anything is read */
  assert_int_equal(ferry_codec_decode_tree(NULL, &back, dst, out, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "is encrypted (key"));
  ferry_error_clear(&err);
  struct ferry_codec other = c;
  strcpy(other.key_id, "0000000000000000");
  assert_int_equal(ferry_codec_decode_tree(&other, &back, dst, out, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "this node's key is"));
  ferry_error_clear(&err);
  /* an encoded image whose file lacks its raw hash is not a valid manifest */
  char *bad = strstr(json, "\"rawSha256\"");
  assert_non_null(bad);
  memcpy(bad, "\"rawShaXXX\"", 11);
  struct ferry_manifest broken = { 0 };
  assert_int_equal(ferry_manifest_from_json(json, &broken, &err), -1);
  ferry_error_clear(&err);
  free(json);
  ferry_manifest_free(&raw);
  ferry_manifest_free(&m);
  ferry_manifest_free(&back);
  free(key);
  free(src);
  free(sub);
  free(dst);
  free(out);
  free(f1);
  free(f2);
  free(o1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_round_trips, setup, teardown),
    cmocka_unit_test_setup_teardown(test_tampering_and_wrong_key, setup, teardown),
    cmocka_unit_test_setup_teardown(test_keys_and_names, setup, teardown),
    cmocka_unit_test_setup_teardown(test_trees, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
