/* SPDX-License-Identifier: Apache-2.0 */
/* RS256 JSON Web Tokens with OpenSSL: what kube-lite signs ServiceAccount tokens with. */
#include "jwt.h"

#include <errno.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/util.h"

#define RSA_BITS 2048

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void evp_md_ctx_freep(EVP_MD_CTX **c) { EVP_MD_CTX_free(*c); }
#define cleanup_md_ctx __attribute__((cleanup(evp_md_ctx_freep)))

char *kl_b64url_encode(const unsigned char *in, size_t len)
{
  char *out = ferry_malloc((len + 2) / 3 * 4 + 1), *o = out;
  for (size_t i = 0; i < len; i += 3) {
    unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
    *o++ = B64URL[v >> 18 & 63];
    *o++ = B64URL[v >> 12 & 63];
    if (i + 1 < len)
      *o++ = B64URL[v >> 6 & 63];
    if (i + 2 < len)
      *o++ = B64URL[v & 63];
  }
  *o = '\0';
  return out;
}

static int b64url_value(char ch)
{
  const char *p = ch ? strchr(B64URL, ch) : NULL;
  return p ? (int)(p - B64URL) : -1;
}

int kl_b64url_decode(const char *in, size_t len, unsigned char **out, size_t *out_len)
{
  while (len > 0 && in[len - 1] == '=')
    len--;
  if (len % 4 == 1)
    return -1;
  unsigned char *buf = ferry_malloc(len / 4 * 3 + 3);
  size_t n = 0;
  unsigned acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; i++) {
    int v = b64url_value(in[i]);
    if (v < 0) {
      free(buf);
      return -1;
    }
    acc = acc << 6 | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      buf[n++] = (unsigned char)(acc >> bits & 0xff);
    }
  }
  buf[n] = '\0';
  *out = buf;
  *out_len = n;
  return 0;
}

EVP_PKEY *kl_jwt_key_generate(ferry_error *err)
{
  EVP_PKEY *k = EVP_RSA_gen(RSA_BITS);
  if (!k)
    ferry_error_set(err, 0, "generating an RSA key for ServiceAccount tokens failed");
  return k;
}

EVP_PKEY *kl_jwt_key_load(const char *path, ferry_error *err)
{
  cleanup_file FILE *f = fopen(path, "r");
  if (!f) {
    ferry_error_set(err, errno, "opening the ServiceAccount signing key %s", path);
    return NULL;
  }
  EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
  if (!k) {
    ferry_error_set(err, 0, "%s: not a PEM private key", path);
    return NULL;
  }
  if (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
    EVP_PKEY_free(k);
    ferry_error_set(err, 0, "%s: not an RSA key (RS256 needs one)", path);
    return NULL;
  }
  return k;
}

int kl_jwt_kid(EVP_PKEY *k, char *kid, ferry_error *err)
{
  unsigned char *der = NULL, sum[SHA256_DIGEST_LENGTH];
  int n = i2d_PUBKEY(k, &der);
  if (n <= 0)
    return ferry_error_set(err, 0, "encoding the ServiceAccount public key failed");
  SHA256(der, (size_t)n, sum);
  OPENSSL_free(der);
  cleanup_free char *b = kl_b64url_encode(sum, sizeof sum);
  snprintf(kid, KL_JWT_KID_LEN, "%s", b);
  return 0;
}

static char *b64url_json(json_object *o)
{
  const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  return kl_b64url_encode((const unsigned char *)text, strlen(text));
}

char *kl_jwt_sign(EVP_PKEY *k, const char *kid, json_object *claims, ferry_error *err)
{
  cleanup_json json_object *header = json_object_new_object();
  json_object_object_add(header, "alg", json_object_new_string("RS256"));
  json_object_object_add(header, "kid", json_object_new_string(kid));
  cleanup_free char *h = b64url_json(header);
  cleanup_free char *c = b64url_json(claims);
  cleanup_free char *input = ferry_asprintf("%s.%s", h, c);
  cleanup_md_ctx EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  size_t siglen = 0;
  if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k) != 1 ||
      EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)input, strlen(input)) != 1) {
    ferry_error_set(err, 0, "signing a token failed");
    return NULL;
  }
  cleanup_free unsigned char *sig = ferry_malloc(siglen);
  if (EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1) {
    ferry_error_set(err, 0, "signing a token failed");
    return NULL;
  }
  cleanup_free char *s = kl_b64url_encode(sig, siglen);
  return ferry_asprintf("%s.%s", input, s);
}

/* The JSON object base64url-encoded in in[0..len). */
static json_object *json_part(const char *in, size_t len)
{
  unsigned char *raw = NULL;
  size_t n = 0;
  if (kl_b64url_decode(in, len, &raw, &n) < 0)
    return NULL;
  json_object *o = json_tokener_parse((const char *)raw);
  free(raw);
  if (o && !json_object_is_type(o, json_type_object)) {
    json_object_put(o);
    return NULL;
  }
  return o;
}

static int header_is_rs256(const char *in, size_t len)
{
  cleanup_json json_object *h = json_part(in, len);
  json_object *alg;
  return h && json_object_object_get_ex(h, "alg", &alg) && !strcmp(json_object_get_string(alg) ?: "", "RS256");
}

static int signature_ok(EVP_PKEY *k, const char *token, size_t signed_len, const char *sig, size_t sig_len)
{
  unsigned char *raw = NULL;
  size_t n = 0;
  if (kl_b64url_decode(sig, sig_len, &raw, &n) < 0)
    return 0;
  cleanup_md_ctx EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k) == 1 &&
           EVP_DigestVerify(ctx, raw, n, (const unsigned char *)token, signed_len) == 1;
  free(raw);
  return ok;
}

json_object *kl_jwt_verify(EVP_PKEY *k, const char *token, ferry_error *err)
{
  const char *dot1 = strchr(token, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
  if (!dot1 || !dot2 || strchr(dot2 + 1, '.')) {
    ferry_error_set(err, 0, "not a compact JWT (three dot-separated parts)");
    return NULL;
  }
  if (!header_is_rs256(token, (size_t)(dot1 - token))) {
    ferry_error_set(err, 0, "the token's header is not an RS256 JWS header");
    return NULL;
  }
  if (!signature_ok(k, token, (size_t)(dot2 - token), dot2 + 1, strlen(dot2 + 1))) {
    ferry_error_set(err, 0, "the token's signature does not verify");
    return NULL;
  }
  json_object *claims = json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
  if (!claims)
    ferry_error_set(err, 0, "the token's claims are not a JSON object");
  return claims;
}
