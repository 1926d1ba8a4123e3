/* SPDX-License-Identifier: Apache-2.0 */
/* kube-lite's ServiceAccount tokens (lite/kube-lite/jwt.h, tokens.h, pbjson.h):
 * RS256 signatures that verify and tampered ones that do not, TokenRequest's
 * claims and limits, a token that stops working with its account, and a
 * protobuf TokenRequest body read as kubectl sends it. */
#include "testutil.h"

#include "kube/kube.h"

#include "jwt.h"
#include "store.h"
#include "protobuf.h"
#include "tokens.h"

static struct kl_auth auth;

static json_object *J(const char *text)
{
  json_object *o = json_tokener_parse(text);
  assert_non_null(o);
  return o;
}

static void test_b64url(void **state)
{
  (void)state;
  const unsigned char bytes[] = { 0xfb, 0xff, 0x00, 'a', 'b' };
  for (size_t n = 0; n <= sizeof bytes; n++) {
    char *e = kl_b64url_encode(bytes, n);
    assert_null(strpbrk(e, "+/="));
    unsigned char *d = NULL;
    size_t len = 0;
    assert_int_equal(kl_b64url_decode(e, strlen(e), &d, &len), 0);
    assert_int_equal(len, n);
    assert_memory_equal(d, bytes, n);
    free(e);
    free(d);
  }
  unsigned char *d = NULL;
  size_t len;
  assert_int_equal(kl_b64url_decode("ab+c", 4, &d, &len), -1);
}

/* token with its part-th dot-separated part replaced by the base64url of text. */
static char *with_part(const char *token, int part, const char *text)
{
  char *copy = ferry_strdup(token), *parts[3], *save = NULL;
  parts[0] = strtok_r(copy, ".", &save);
  parts[1] = strtok_r(NULL, ".", &save);
  parts[2] = strtok_r(NULL, ".", &save);
  char *e = kl_b64url_encode((const unsigned char *)text, strlen(text));
  parts[part] = e;
  char *out = ferry_asprintf("%s.%s.%s", parts[0], parts[1], parts[2]);
  free(e);
  free(copy);
  return out;
}

static void test_jwt_sign_verify(void **state)
{
  (void)state;
  ferry_error err = FERRY_ERROR_INIT;
  json_object *claims = J("{\"sub\":\"me\",\"n\":1}");
  char *t = kl_jwt_sign(auth.sa_key, auth.kid, claims, &err);
  assert_non_null(t);
  json_object *back = kl_jwt_verify(auth.sa_key, t, &err);
  assert_non_null(back);
  assert_true(json_object_equal(back, claims));
  json_object_put(back);
  char *forged = with_part(t, 1, "{\"sub\":\"admin\",\"n\":1}");
  assert_null(kl_jwt_verify(auth.sa_key, forged, &err));
  assert_non_null(strstr(ferry_error_msg(&err), "signature"));
  char *none = with_part(t, 0, "{\"alg\":\"none\"}");
  assert_null(kl_jwt_verify(auth.sa_key, none, &err));
  assert_non_null(strstr(ferry_error_msg(&err), "RS256"));
  EVP_PKEY *other = kl_jwt_key_generate(&err);
  assert_null(kl_jwt_verify(other, t, &err));
  assert_null(kl_jwt_verify(auth.sa_key, "a.b", &err));
  EVP_PKEY_free(other);
  ferry_error_clear(&err);
  free(forged);
  free(none);
  free(t);
  json_object_put(claims);
}

static void add_sa(struct kl_store *s, const char *uid)
{
  char *text = ferry_asprintf("{\"metadata\":{\"name\":\"agent\",\"namespace\":\"ferry-system\",\"uid\":\"%s\"}}", uid);
  json_object_object_add(kl_store_kind(s, "/serviceaccounts"), "ferry-system/agent", J(text));
  free(text);
}

static void test_token_request(void **state)
{
  (void)state;
  struct kl_store s;
  kl_store_init(&s);
  json_object *out = NULL;
  assert_int_equal(kl_token_request(&auth, &s, "ferry-system", "agent", NULL, &out), 404);
  json_object_put(out);
  add_sa(&s, "uid-1");
  json_object *req = J("{\"spec\":{\"expirationSeconds\":60}}");
  assert_int_equal(kl_token_request(&auth, &s, "ferry-system", "agent", req, &out), 422);
  assert_non_null(strstr(json_object_get_string(json_object_object_get(out, "message")),
                         "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"));
  json_object_put(out);
  json_object_put(req);
  assert_int_equal(kl_token_request(&auth, &s, "ferry-system", "agent", NULL, &out), 201);
  json_object *spec = json_object_object_get(out, "spec"), *status = json_object_object_get(out, "status");
  assert_int_equal(json_object_get_int64(json_object_object_get(spec, "expirationSeconds")), 3600);
  const char *token = json_object_get_string(json_object_object_get(status, "token"));
  ferry_error err = FERRY_ERROR_INIT;
  struct kl_user u;
  assert_int_equal(kl_token_authenticate(&auth, &s, token, &u, &err), 0);
  assert_string_equal(u.name, "system:serviceaccount:ferry-system:agent");
  assert_string_equal(u.uid, "uid-1");
  assert_true(kl_user_in_group(&u, "system:serviceaccounts"));
  assert_true(kl_user_in_group(&u, "system:serviceaccounts:ferry-system"));
  add_sa(&s, "uid-2"); /* deleted and made again: the old tokens are not its */
  assert_int_equal(kl_token_authenticate(&auth, &s, token, &u, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "uid-2"));
  json_object_put(out);
  req = J("{\"spec\":{\"audiences\":[\"vault\"]}}"); /* not an audience of the API */
  assert_int_equal(kl_token_request(&auth, &s, "ferry-system", "agent", req, &out), 201);
  token = ferry_kube_str(out, "status.token");
  assert_int_equal(kl_token_authenticate(&auth, &s, token, &u, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "audiences"));
  ferry_error_clear(&err);
  json_object_put(out);
  json_object_put(req);
  kl_store_free(&s);
}

static void test_protobuf_body(void **state)
{
  (void)state;
  /* "k8s\0", then runtime.Unknown{typeMeta{apiVersion, kind}, raw: TokenRequest{spec{audiences: ["a"],
   * expirationSeconds: 1200, boundObjectRef{kind: Pod, name: p}}}} */
  static const unsigned char body[] = {
    'k',  '8',  's',  0, /* the envelope's magic */
    0x0a, 0x28,          /* Unknown.typeMeta */
    0x0a, 0x18, 'a',  'u',  't', 'h', 'e', 'n',  't',  'i', 'c',  'a',  't', 'i',
    'o',  'n',  '.',  'k',  '8', 's', '.', 'i',  'o',  '/', 'v',  '1',            /* apiVersion */
    0x12, 0x0c, 'T',  'o',  'k', 'e', 'n', 'R',  'e',  'q', 'u',  'e',  's', 't', /* kind */
    0x12, 0x14,                                                                   /* Unknown.raw: the TokenRequest */
    0x12, 0x12,                                                                   /* spec */
    0x0a, 0x01, 'a',                                                              /* audiences */
    0x1a, 0x0a, 0x0a, 0x03, 'P', 'o', 'd', 0x1a, 0x01, 'p', 0x22, 0x00,           /* boundObjectRef {kind, name, uid} */
    0x20, 0xb0, 0x09,                                                             /* expirationSeconds 1200 */
  };
  char why[256];
  json_object *o = NULL;
  assert_int_equal(kl_protobuf_decode(body, sizeof body, &o, why, sizeof why), 0);
  assert_non_null(o);
  json_object *want = J("{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\",\"spec\":"
                        "{\"audiences\":[\"a\"],\"boundObjectRef\":{\"kind\":\"Pod\",\"name\":\"p\"},"
                        "\"expirationSeconds\":1200}}");
  if (!json_object_equal(o, want))
    fail_msg("decoded %s", json_object_to_json_string(o));
  json_object_put(o);
  json_object_put(want);
  json_object *bad = NULL;
  assert_int_equal(kl_protobuf_decode(body + 4, sizeof body - 4, &bad, why, sizeof why), -1); /* no envelope */
  assert_int_equal(kl_protobuf_decode(body, sizeof body - 3, &bad, why, sizeof why), -1);     /* cut short */
  assert_null(bad);
}

int main(void)
{
  ferry_error err = FERRY_ERROR_INIT;
  if (kl_auth_init(&auth, NULL, NULL, NULL, 0, &err) < 0)
    return 1;
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_b64url),
    cmocka_unit_test(test_jwt_sign_verify),
    cmocka_unit_test(test_token_request),
    cmocka_unit_test(test_protobuf_body),
  };
  int rc = cmocka_run_group_tests_name("kube-lite ServiceAccount tokens", tests, NULL, NULL);
  kl_auth_free(&auth);
  return rc;
}
