/* SPDX-License-Identifier: Apache-2.0 */
/* kube-lite's ServiceAccount tokens (lite/kube-lite/jwt.h, tokens.h, pbjson.h):
 * RS256 signatures that verify and tampered ones that do not, TokenRequest's
 * claims and limits, a token that stops working with its account, and a
 * protobuf TokenRequest body read as kubectl sends it. */
#include "testutil.h"

#include "base/cleanup.h"
#include "base/path.h"
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

/* Two fixed RSA keys (test fixtures, made once with `openssl genrsa 2048`):
 * making keys under valgrind takes over a minute. */
static const char SIGNING_KEY[] = "-----BEGIN PRIVATE KEY-----\n"
                                  "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCwav1XVvceB6bi\n"
                                  "smVYdul6nxfW7iZAWfKkz5ospptjZPMFO58JRHUdSV90YuzBNQjqkTvVxJAwxqGg\n"
                                  "dcX3eoBQbljHnoMTLKH2XN+DyGC+BozWPW5D0Az8JlAGUqxc3J8TAFp9fB3S2geP\n"
                                  "0FWx/1YqnUb55ZJBOTiBXSHKUqbLpSJ/BDa3GeW6Hh1DrY9saLIR82uXDFnUVikY\n"
                                  "PZJi+U2HkdH/WpUUUdrBjUlr5oOLkup35r33c3PbM7JGXGdoukfx10DuMG5tLy6J\n"
                                  "Sm9K51ZYHRYKhngFm6MhwrJhaNUY7h5YyyhhhxhDx7gKZ3WVDVJ0vURzx35wo+Vz\n"
                                  "OmE5XkBRAgMBAAECggEAB2PHG095qBJd+56WMpYLwnOQX62eGisqYZwomYVpFBX4\n"
                                  "cAtG5omtj8p90YKk52FXVd87iGeX1DmdyS2yjmLdP4E/ysZpaylldDJm7AtxGF47\n"
                                  "eNK3hoB1t5Vk2/Ik/voAcWu3kdlCTo2MRfC0hj44Pi5UXy3H0JLOOrnLkcDTwWS/\n"
                                  "+F2jgagiL3fhla1sYCRSekctfWc7UfFYOFfEQ2lelV02RuzZ6KKVVbOKkOSYsOIN\n"
                                  "H/DjRtV5UfqysIlBU0cdvjtIiLhF188BfEk75wEVl/vYriG6emiOk1UpuI9pbA6r\n"
                                  "7nDz/Z3M4irFuMP7dtrv9aEAEkdNbkDoF4LgNXmQOQKBgQDkFotj3e8nyjU6D9xi\n"
                                  "XoMj3QvxvujfKCT9m2ZemT4sssn7YueU9EXiPoDC7JtdNuBj845RT+5IOPH4XJTj\n"
                                  "gFXH3BHGTadS2SAfT4wu+XNnux3efYGX8rfYRYbJo3D4AeoyhkhPeOPIK7vSRcPY\n"
                                  "5mANtGdcw1gr/Onfa9FFbkf0kwKBgQDGAb4t0VR1rxxgk5Z+7yt5rBPGQhUDbBVd\n"
                                  "dqZa/m9VBaoke9q7k1/Tx9zw6kcV2ta+lPGCDde91Pwr1CZPrF7ib2xLXadE+bNm\n"
                                  "ptH3VZNu8VAsgvvwzzP5MvJwW9WV0anDuzokzSqPBkkoK6f0cv6MDmSEkmQVivio\n"
                                  "Zo0OVQMKCwKBgQDPfBam7T/eAVr0C3OeZH2FRVLVQaaTQfCMZy3zhhGCFc4ZiXpD\n"
                                  "DQb5bYQyTYxzejUbl3ZyT3TibDLpjEbAwYDHA1GEBCXe/rby5KkQHkm2Jghg2ejm\n"
                                  "sZw999lKWgys/wjtlyv2Z3FGKUp9WIt1JvRf4ylXwDfYJAUYAftn3o9EUwKBgQCg\n"
                                  "j5M+pgsd7uRM8ADOZ3TSkhXq43UUtFVS176n9MAkqpZARWqmRigjnGLtvJvt/em6\n"
                                  "2x5HfqAeIBJoG/0BCF5csUuYhZX42Z5/M/D45hzKjsWbgo93wx17CrQLJny4oy5N\n"
                                  "OIo6g1/qYId8GoJ0N7dvrNAXrHmZ+noOXDIvmAIB5wKBgGxb0mmenQ/OSYSH2rxd\n"
                                  "Ip6p15K7cUDANzsjrRudmUUHYJ1izySLGSegpAHwMxSMXU8rVZyeAxfqSPjsIlFa\n"
                                  "W2Ss58hg03Cp302TwFfFlHfJG/nKYylBWeAL7eLZJQY6C9u3fprv+0tCGCAKqGTr\n"
                                  "SCv5mE+x1V1gha/kP9gX4tFx\n"
                                  "-----END PRIVATE KEY-----\n";
static const char OTHER_KEY[] = "-----BEGIN PRIVATE KEY-----\n"
                                "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCiwAQn5WWIM2CB\n"
                                "hIYlJ538gEcaVGNQ6Hfe4bcb4JX03Y5qO8e5B80SgssxWyHAif/KY8Lu291YNTHY\n"
                                "FZrrixlQb8OGDJeMjltdVsgYmjM2DRLnzRIA/kRjoR3nSkRnxfCB1uFXQKR5OZNe\n"
                                "kBaV/y6Tx0U4p33emUgh3UXQm13VV7iDdIKFNeTydC+o5IvXtP7epoIhvizdQAKi\n"
                                "khCX5QTdeXYcK5+/2+MwTHImP+czpGQ+cJukYBcvCq4JFOSTVcf4tQ5Pzi9PPAf1\n"
                                "+y5agQ6WuDYeVONvk0FAWiYAmNqndDCB7z5QgDJn+gXa7CZzCJIpo5L2t7WAZRXR\n"
                                "krsxGPnnAgMBAAECggEAN136q/XzGihcWwOSPV6idS3QwqjV1scXTKheSmoXqeOb\n"
                                "2RE4S37XacY8STC3JVDtR9Wzkd4TibgjGl+TQjGirYYwLtDm18bwVys4TIJdDLTa\n"
                                "6ygNSXA3JOvBiBdweRtSTGGlbLENoz4OoBuFy4ayOk0PBAybGhjsfLTR1PueKv8v\n"
                                "Fesbc6TZupNpsgw3EN2bQYt3np7VJp+zfS76UFt6jUJ+itcwqsDnyypdYb8QQ2ox\n"
                                "bfBcaCyl37MotvnSMwHPEG3XBw+IKwTE9bUF8iUTWfYcYhJanuSCcIrbDQHPRa/2\n"
                                "0LPZP0kJDAJOwU02KnXkDBLusF7J/CoPmQp12SKh3QKBgQDZ0b8C/dK/TPzCXfD5\n"
                                "3/ze3POe/Y9m3hV7xUoWe7MEdy1nqsli9zo779P5BZn1poXGcDiEfNJPoEAe3rO6\n"
                                "B/GKoUkES49DPUytq7NhOL/FrWysjHD9FN5FDBCkamYH46IvwsBcJy0ZL6ChL0aP\n"
                                "e3zX48j5pf/QumRKAaifns9plQKBgQC/RyKjKqGQvzDMFAoFrweTBAbvQ/XHWiWD\n"
                                "eQT++A7DkIK5o0JtFAcwd+MnNPpcMR0dMsa9lPpcHBQdYzLRCB82w+aPTWjHFGvs\n"
                                "Mx8GxqfOVVS4GWHqALhPqVyCEJaWoJQ0veO3WUbJLXi2ptYRUwvbUaEKqdq7a8sN\n"
                                "DXDbi8KOiwKBgQCTx+qAbRV/FQyoEnRcE8vMqLvhMscIU8TfpIsPlf1vGiyEGStp\n"
                                "KbMo1x5J5bL/J2u7poex274Up/TY/N+TZ7BJDgQsFdetFvnfGo8pdwclZvREXUSL\n"
                                "cI0c64KfClEPKTHwlYFNBIdkfxvMP/bvgijBkJnaRvW497zzOQzevzCZwQKBgFL4\n"
                                "fGHiwCqVhIlBuAc3IUX4XTm0dQyAYf1hpXUkDONv8ASueMXwBh5UIsiDBoavFz3v\n"
                                "JJ5f3SnPVDpbKVPa/g83cu9+WJDint3aXv8FdQzfntwsxnhGz6xefq48m9XC2gb2\n"
                                "x6xkoXvqqY4xWHIzX9VG12BUxXi/DVkgF3Bkc4R5AoGBAJORaQiReSaISw35w0S/\n"
                                "pzyLc1sidg2v3jUodaDCDDtNMJnKVu1v/C9FjzjIyNXnIHaHsunYjnIdgzeHNjg5\n"
                                "0tNRaYgJOrjabJih+MiBhZYcoohFV+cn2NSJqlD9fAZf3mQfftX7qg1fvoAlOmRX\n"
                                "mfkLY1icM2dQMbifyvBqvFso\n"
                                "-----END PRIVATE KEY-----\n";

/* The key in pem, loaded through a file as kube-lite's --service-account-signing-key-file. */
static EVP_PKEY *fixed_key(const char *pem, const char *name)
{
  char *dir = tu_mkdtemp();
  tu_write(dir, name, pem);
  cleanup_free char *path = ferry_path_join(dir, name);
  ferry_error err = FERRY_ERROR_INIT;
  EVP_PKEY *k = kl_jwt_key_load(path, &err);
  ferry_error_clear(&err);
  tu_rm(dir);
  return k;
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
  EVP_PKEY *other = fixed_key(OTHER_KEY, "other.pem");
  assert_non_null(other);
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
  char *dir = tu_mkdtemp();
  tu_write(dir, "sa.pem", SIGNING_KEY);
  cleanup_free char *key = ferry_path_join(dir, "sa.pem");
  int init = kl_auth_init(&auth, key, NULL, NULL, 0, &err);
  tu_rm(dir);
  if (init < 0) {
    fprintf(stderr, "%s\n", ferry_error_msg(&err));
    ferry_error_clear(&err);
    return 1;
  }
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
