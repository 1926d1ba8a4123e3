/* SPDX-License-Identifier: Apache-2.0 */
/* The s3:// store's configuration and the S3 error documents it reports. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#include "base/error.h"
#include "image/s3.h"
#include "image/store.h"
#include "base/util.h"

static void clear_env(void)
{
  const char *vars[] = { "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",    "AWS_SESSION_TOKEN",
                         "AWS_REGION",        "AWS_DEFAULT_REGION",       "AWS_ENDPOINT_URL_S3",
                         "AWS_ENDPOINT_URL",  "FERRY_S3_CREDENTIALS_DIR", "FERRY_S3_CACHE" };
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
    unsetenv(vars[i]);
}

static void test_error_text(void **state)
{
  (void)state;
  char *t =
      ferry_s3_error_text("<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code>"
                          "<Message><![CDATA[The request signature we calculated does not match]]></Message></Error>");
  assert_string_equal(t, "SignatureDoesNotMatch: The request signature we calculated does not match");
  free(t);
  t = ferry_s3_error_text("<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>");
  assert_string_equal(t, "NoSuchKey: The specified key does not exist.");
  free(t);
  assert_null(ferry_s3_error_text("<html>500</html>"));
  assert_null(ferry_s3_error_text(NULL));
}

static void test_store_urls(void **state)
{
  (void)state;
  clear_env();
  struct ferry_store s;
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_store_parse("s3://images/x", &s, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "no credentials"));
  ferry_error_clear(&err);
  setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
  setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000/", 1);
  setenv("FERRY_S3_CACHE", "/var/tmp/c", 1);
  assert_int_equal(ferry_store_parse("s3://images/team/a/", &s, &err), 0);
  assert_string_equal(s.prefix, "team/a/");
  assert_string_equal(s.path, "/var/tmp/c/images");
  assert_string_equal(s.s3->endpoint, "http://127.0.0.1:9000");
  assert_string_equal(s.s3->region, "us-east-1");
  ferry_store_free(&s);
  assert_int_equal(ferry_store_parse("s3://images", &s, &err), 0);
  assert_string_equal(s.prefix, "");
  ferry_store_free(&s);
  const char *bad[] = { "s3://ab", "s3://Images/x", "s3://images/a//b", "s3://images/a b", "ftp://x" };
  for (size_t i = 0; i < 5; i++) {
    assert_int_equal(ferry_store_parse(bad[i], &s, &err), -1);
    ferry_error_clear(&err);
  }
  setenv("AWS_ENDPOINT_URL_S3", "127.0.0.1:9000", 1);
  assert_int_equal(ferry_store_parse("s3://images", &s, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "expected http:// or https://"));
  ferry_error_clear(&err);
  clear_env();
}

/* Keys from a mounted Secret: a directory of files. */
static void test_credentials_dir(void **state)
{
  (void)state;
  clear_env();
  char dir[] = "/tmp/ferry-s3creds-XXXXXX";
  assert_non_null(mkdtemp(dir));
  ferry_error err = FERRY_ERROR_INIT;
  char *a = ferry_path_join(dir, "accessKeyId"), *k = ferry_path_join(dir, "secretAccessKey");
  assert_int_equal(ferry_write_file(a, "AKIDFROMSECRET\n", 15, &err), 0);
  assert_int_equal(ferry_write_file(k, "s3cr3t\n", 7, &err), 0);
  setenv("FERRY_S3_CREDENTIALS_DIR", dir, 1);
  setenv("AWS_REGION", "eu-west-1", 1);
  struct ferry_s3 s;
  assert_int_equal(ferry_s3_from_env("images", &s, &err), 0);
  assert_string_equal(s.access_key, "AKIDFROMSECRET");
  assert_string_equal(s.secret_key, "s3cr3t");
  assert_string_equal(s.endpoint, "https://s3.eu-west-1.amazonaws.com");
  ferry_s3_free(&s);
  unlink(k);
  assert_int_equal(ferry_s3_from_env("images", &s, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "none found in"));
  ferry_error_clear(&err);
  unlink(a);
  rmdir(dir);
  free(a);
  free(k);
  clear_env();
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_error_text),
    cmocka_unit_test(test_store_urls),
    cmocka_unit_test(test_credentials_dir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
