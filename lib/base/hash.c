/* SPDX-License-Identifier: Apache-2.0 */
/* SHA-256 of a buffer or a file, as lowercase hex (OpenSSL's EVP). */
#include "base/hash.h"

#include <openssl/evp.h>
#include <stdlib.h>

#include "base/util.h"

void ferry_sha256_hex(const void *data, size_t len, char out[65])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0;
  if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL))
    abort();
  ferry_hex(md, mdlen < 32 ? mdlen : 32, out);
}

static int digest_chunk(void *ctx, const void *buf, size_t n, ferry_error *err)
{
  return EVP_DigestUpdate(ctx, buf, n) ? 0 : ferry_error_set(err, 0, "SHA-256 update failed");
}

int ferry_sha256_file(const char *path, char out[65], uint64_t *size, ferry_error *err)
{
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
    EVP_MD_CTX_free(ctx);
    return ferry_error_set(err, 0, "SHA-256 init failed");
  }
  int rc = ferry_read_chunks(path, 1 << 20, digest_chunk, ctx, size, err);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0;
  if (rc == 0 && !EVP_DigestFinal_ex(ctx, md, &mdlen))
    rc = ferry_error_set(err, 0, "SHA-256 final failed");
  if (rc == 0)
    ferry_hex(md, mdlen < 32 ? mdlen : 32, out);
  EVP_MD_CTX_free(ctx);
  return rc;
}
