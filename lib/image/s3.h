/* SPDX-License-Identifier: Apache-2.0 */
/* A small S3 client for image stores: PUT, GET, HEAD and DELETE of objects,
 * path-style (ENDPOINT/BUCKET/KEY), signed with AWS Signature Version 4 by
 * libcurl (CURLOPT_AWS_SIGV4). Uploads carry their payload's SHA-256 in
 * x-amz-content-sha256, so the server checks the bytes it got.
 *
 * Configuration follows the AWS SDKs' environment: AWS_ENDPOINT_URL_S3 (or
 * AWS_ENDPOINT_URL; default https://s3.REGION.amazonaws.com), AWS_REGION (or
 * AWS_DEFAULT_REGION; default us-east-1), AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN. The keys may instead come from a
 * mounted Secret: FERRY_S3_CREDENTIALS_DIR holding the files accessKeyId and
 * secretAccessKey (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY). */
#ifndef FERRY_S3_H
#define FERRY_S3_H

#include "base/error.h"

struct ferry_s3 {
  char *endpoint, *region, *bucket;
  char *access_key, *secret_key, *session_token;
};

int ferry_s3_from_env(const char *bucket, struct ferry_s3 *s, ferry_error *err);
void ferry_s3_free(struct ferry_s3 *s);

/* Uploads the file at path as key. */
int ferry_s3_put_file(const struct ferry_s3 *s, const char *key, const char *path, ferry_error *err);
/* Downloads key into path (created 0600). -1 with ENOENT in err->errnum when there is no such object. */
int ferry_s3_get_file(const struct ferry_s3 *s, const char *key, const char *path, ferry_error *err);
/* 1 when key exists, 0 when not, -1 on error. */
int ferry_s3_exists(const struct ferry_s3 *s, const char *key, ferry_error *err);
int ferry_s3_delete(const struct ferry_s3 *s, const char *key, ferry_error *err);

/* The <Code> and <Message> of an S3 error body ("SignatureDoesNotMatch: The
 * request signature ..."), or NULL. Exposed for tests. */
char *ferry_s3_error_text(const char *body);

#endif
