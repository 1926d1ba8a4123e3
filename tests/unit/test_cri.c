/* SPDX-License-Identifier: Apache-2.0 */
/* The gRPC wire format of lib/cri (grpc_wire.c), without a server: the 5-byte
 * message prefix, answers unframed (short, compressed, wrong length, too big),
 * grpc-status and grpc-message read from header and trailer lines, the errors
 * a failed call gives, and the grpc-timeout header. The calls themselves are
 * tested against a real containerd (tests/cri). */
#include "testutil.h"

#include <string.h>

#include "cri/grpc_wire.h"

static void test_prefix(void **state)
{
  (void)state;
  uint8_t p[FERRY_GRPC_PREFIX_LEN];
  ferry_grpc_put_prefix(p, 0x01020304);
  static const uint8_t want[] = { 0, 1, 2, 3, 4 };
  assert_memory_equal(p, want, sizeof want);
  ferry_grpc_put_prefix(p, 0);
  static const uint8_t zero[] = { 0, 0, 0, 0, 0 };
  assert_memory_equal(p, zero, sizeof zero);
}

static void test_unframe(void **state)
{
  (void)state;
  uint8_t body[FERRY_GRPC_PREFIX_LEN + 3];
  ferry_grpc_put_prefix(body, 3);
  memcpy(body + FERRY_GRPC_PREFIX_LEN, "abc", 3);
  const uint8_t *msg = NULL;
  size_t len = 99;
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_grpc_unframe(body, sizeof body, &msg, &len, &err), 0);
  assert_int_equal(len, 3);
  assert_memory_equal(msg, "abc", 3);
  /* An empty message (an empty protobuf answer) is a prefix alone. */
  assert_int_equal(ferry_grpc_unframe(body, FERRY_GRPC_PREFIX_LEN, &msg, &len, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "says 3 bytes, the answer carries 0"));
  ferry_grpc_put_prefix(body, 0);
  assert_int_equal(ferry_grpc_unframe(body, FERRY_GRPC_PREFIX_LEN, &msg, &len, &err), 0);
  assert_int_equal(len, 0);
  /* Short, compressed, longer than said, over the limit. */
  assert_int_equal(ferry_grpc_unframe(body, 4, &msg, &len, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "has no message"));
  ferry_grpc_put_prefix(body, 3);
  body[0] = 1;
  assert_int_equal(ferry_grpc_unframe(body, sizeof body, &msg, &len, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "compressed"));
  ferry_grpc_put_prefix(body, 2);
  assert_int_equal(ferry_grpc_unframe(body, sizeof body, &msg, &len, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "says 2 bytes, the answer carries 3"));
  ferry_grpc_put_prefix(body, FERRY_GRPC_MAX_MESSAGE + 1);
  assert_int_equal(ferry_grpc_unframe(body, sizeof body, &msg, &len, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "over the limit"));
  ferry_error_clear(&err);
}

static void line(struct ferry_grpc_status *st, const char *s) { ferry_grpc_status_line(st, s, strlen(s)); }

static void test_status_lines(void **state)
{
  (void)state;
  struct ferry_grpc_status st = { 0 };
  line(&st, "HTTP/2 200\r\n");
  line(&st, "content-type: application/grpc\r\n");
  assert_false(st.have_code);
  /* A trailers-only answer: the status in the headers; names in any case. */
  line(&st, "Grpc-Status: 5\r\n");
  line(&st, "grpc-message:  an error occurred when try to find container \"x\": not found \r\n");
  assert_true(st.have_code);
  assert_int_equal(st.code, FERRY_GRPC_NOT_FOUND);
  assert_string_equal(st.message, "an error occurred when try to find container \"x\": not found");
  /* The trailers come later and win. */
  line(&st, "grpc-status: 0\r\n");
  assert_int_equal(st.code, 0);
  /* Not a status: ignored. */
  line(&st, "grpc-status: five\r\n");
  line(&st, "grpc-status-details-bin: AAAA\r\n");
  line(&st, "grpc-status:\r\n");
  assert_int_equal(st.code, 0);
  line(&st, "grpc-message: a%20b%3A%zz%4\r\n");
  assert_string_equal(st.message, "a b:%zz%4");
  ferry_grpc_status_reset(&st);
  assert_false(st.have_code);
  assert_null(st.message);
}

static void test_percent_decode(void **state)
{
  (void)state;
  char *s = ferry_grpc_percent_decode("100%25 %E2%9C%93 done%", 22);
  assert_string_equal(s, "100% \xe2\x9c\x93 done%");
  free(s);
  s = ferry_grpc_percent_decode("ab%41", 4); /* the escape is cut off by len */
  assert_string_equal(s, "ab%4");
  free(s);
}

static void test_status_check(void **state)
{
  (void)state;
  ferry_error err = FERRY_ERROR_INIT;
  struct ferry_grpc_status st = { .have_code = true, .code = 0 };
  assert_int_equal(ferry_grpc_status_check(&st, 200, &err), 0);
  st.code = FERRY_GRPC_UNKNOWN;
  st.message = strdup("failed to create containerd task: no such file");
  assert_int_equal(ferry_grpc_status_check(&st, 200, &err), -1);
  assert_string_equal(ferry_error_msg(&err), "grpc status 2 (Unknown): failed to create containerd task: no such file");
  ferry_grpc_status_reset(&st);
  st = (struct ferry_grpc_status){ .have_code = true, .code = 42 };
  assert_int_equal(ferry_grpc_status_check(&st, 200, &err), -1);
  assert_string_equal(ferry_error_msg(&err), "grpc status 42 (unknown code): (no message)");
  st.have_code = false;
  assert_int_equal(ferry_grpc_status_check(&st, 404, &err), -1);
  assert_string_equal(ferry_error_msg(&err), "HTTP status 404 without a grpc-status (not a gRPC server?)");
  assert_int_equal(ferry_grpc_status_check(&st, 200, &err), -1);
  assert_string_equal(ferry_error_msg(&err), "the answer carries no grpc-status");
  st = (struct ferry_grpc_status){ .have_code = true, .code = 0 };
  assert_int_equal(ferry_grpc_status_check(&st, 503, &err), -1);
  ferry_error_clear(&err);
  assert_string_equal(ferry_grpc_code_name(FERRY_GRPC_UNAVAILABLE), "Unavailable");
  assert_null(ferry_grpc_code_name(-1));
  assert_null(ferry_grpc_code_name(17));
}

static void test_timeout_header(void **state)
{
  (void)state;
  char h[64];
  ferry_grpc_timeout_header(h, sizeof h, 120000);
  assert_string_equal(h, "grpc-timeout: 120000m");
  ferry_grpc_timeout_header(h, sizeof h, 0);
  assert_string_equal(h, "grpc-timeout: 1m");
  ferry_grpc_timeout_header(h, sizeof h, 100000000L);
  assert_string_equal(h, "grpc-timeout: 100000S");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_prefix),         cmocka_unit_test(test_unframe),      cmocka_unit_test(test_status_lines),
    cmocka_unit_test(test_percent_decode), cmocka_unit_test(test_status_check), cmocka_unit_test(test_timeout_header),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
