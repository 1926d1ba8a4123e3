/* SPDX-License-Identifier: Apache-2.0 */
/* JSON Web Tokens signed RS256 (RFC 7515/7519), as the API server signs
 * ServiceAccount tokens: the compact form header.claims.signature in base64url,
 * the RSA key made at start or read from a PEM file, the key id as the API
 * server derives it (base64url of the SHA-256 of the public key's DER). */
#ifndef KL_JWT_H
#define KL_JWT_H

#include <json-c/json.h>
#include <openssl/evp.h>
#include <stddef.h>

#include "base/error.h"

#define KL_JWT_KID_LEN 48

/* A new 2048-bit RSA key. */
EVP_PKEY *kl_jwt_key_generate(ferry_error *err);
/* The private key in PEM file path (RSA). */
EVP_PKEY *kl_jwt_key_load(const char *path, ferry_error *err);
/* The key id of k's public half into kid (KL_JWT_KID_LEN bytes). */
int kl_jwt_kid(EVP_PKEY *k, char *kid, ferry_error *err);

/* base64url without padding: a new string. */
char *kl_b64url_encode(const unsigned char *in, size_t len);
/* Decodes len characters of base64url (padding optional); *out is a new
 * NUL-terminated buffer of *out_len bytes. -1 on a bad character. */
int kl_b64url_decode(const char *in, size_t len, unsigned char **out, size_t *out_len);

/* The compact token for claims, signed with k (header {"alg":"RS256","kid":kid}). */
char *kl_jwt_sign(EVP_PKEY *k, const char *kid, json_object *claims, ferry_error *err);
/* The claims of token when it is a well-formed RS256 token whose signature k
 * verifies; NULL with err otherwise. Times and audiences are the caller's. */
json_object *kl_jwt_verify(EVP_PKEY *k, const char *token, ferry_error *err);

#endif
