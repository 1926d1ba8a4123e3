/* SPDX-License-Identifier: Apache-2.0 */
#include "image/s3.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/util.h"
#include "image/manifest.h"

#ifndef FERRY_VERSION
#define FERRY_VERSION "0.1.0"
#endif

/* SHA-256 of no bytes: the payload hash of a request without a body. */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const char *env(const char *a, const char *b)
{
  const char *v = getenv(a);
  if ((!v || !*v) && b)
    v = getenv(b);
  return v && *v ? v : NULL;
}

/* DIR/NAME1 or DIR/NAME2, trailing newlines dropped. */
static char *read_secret(const char *dir, const char *n1, const char *n2)
{
  const char *names[] = { n1, n2 };
  for (int i = 0; i < 2; i++) {
    char *p = ferry_path_join(dir, names[i]), *text = NULL;
    ferry_error err = FERRY_ERROR_INIT;
    int ok = ferry_read_file(p, &text, NULL, &err) == 0;
    ferry_error_clear(&err);
    free(p);
    if (ok) {
      size_t l = strlen(text);
      while (l && (text[l - 1] == '\n' || text[l - 1] == '\r'))
        text[--l] = '\0';
      return text;
    }
  }
  return NULL;
}

int ferry_s3_from_env(const char *bucket, struct ferry_s3 *s, ferry_error *err)
{
  memset(s, 0, sizeof *s);
  const char *region = env("AWS_REGION", "AWS_DEFAULT_REGION");
  s->region = ferry_strdup(region ? region : "us-east-1");
  const char *ep = env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL");
  s->endpoint = ep ? ferry_strdup(ep) : ferry_asprintf("https://s3.%s.amazonaws.com", s->region);
  size_t l = strlen(s->endpoint);
  while (l && s->endpoint[l - 1] == '/')
    s->endpoint[--l] = '\0';
  if (strncmp(s->endpoint, "http://", 7) != 0 && strncmp(s->endpoint, "https://", 8) != 0) {
    ferry_error_set(err, 0, "S3 endpoint %s: expected http:// or https://", s->endpoint);
    ferry_s3_free(s);
    return -1;
  }
  s->bucket = ferry_strdup(bucket);
  const char *dir = env("FERRY_S3_CREDENTIALS_DIR", NULL);
  if (dir) {
    s->access_key = read_secret(dir, "accessKeyId", "AWS_ACCESS_KEY_ID");
    s->secret_key = read_secret(dir, "secretAccessKey", "AWS_SECRET_ACCESS_KEY");
    s->session_token = read_secret(dir, "sessionToken", "AWS_SESSION_TOKEN");
  } else {
    const char *a = env("AWS_ACCESS_KEY_ID", NULL), *k = env("AWS_SECRET_ACCESS_KEY", NULL),
               *t = env("AWS_SESSION_TOKEN", NULL);
    s->access_key = a ? ferry_strdup(a) : NULL;
    s->secret_key = k ? ferry_strdup(k) : NULL;
    s->session_token = t ? ferry_strdup(t) : NULL;
  }
  if (!s->access_key || !s->secret_key || !*s->access_key || !*s->secret_key) {
    ferry_error_set(err, 0,
                    "S3 bucket %s: no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                    "FERRY_S3_CREDENTIALS_DIR to a directory with accessKeyId and secretAccessKey%s%s)",
                    bucket, dir ? ": none found in " : "", dir ? dir : "");
    ferry_s3_free(s);
    return -1;
  }
  if (strchr(s->access_key, ':')) {
    ferry_error_set(err, 0, "S3 access key ID must not contain ':'");
    ferry_s3_free(s);
    return -1;
  }
  return 0;
}

void ferry_s3_free(struct ferry_s3 *s)
{
  free(s->endpoint);
  free(s->region);
  free(s->bucket);
  if (s->secret_key)
    memset(s->secret_key, 0, strlen(s->secret_key));
  free(s->access_key);
  free(s->secret_key);
  free(s->session_token);
  memset(s, 0, sizeof *s);
}

static char *between(const char *body, const char *open, const char *close)
{
  const char *a = strstr(body, open);
  if (!a)
    return NULL;
  a += strlen(open);
  const char *b = strstr(a, close);
  if (!b)
    return NULL;
  /* <![CDATA[...]]> as some servers send it */
  if (!strncmp(a, "<![CDATA[", 9) && b - a >= 12 && !strncmp(b - 3, "]]>", 3))
    return strndup(a + 9, (size_t)(b - a - 12));
  return strndup(a, (size_t)(b - a));
}

char *ferry_s3_error_text(const char *body)
{
  if (!body)
    return NULL;
  char *code = between(body, "<Code>", "</Code>"), *msg = between(body, "<Message>", "</Message>");
  char *r = NULL;
  if (code && msg)
    r = ferry_asprintf("%s: %s", code, msg);
  else if (code)
    r = ferry_strdup(code);
  free(code);
  free(msg);
  return r;
}

struct body {
  char *data;
  size_t len;
  int fd; /* >= 0: a successful GET writes here */
  int failed;
};

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
  struct body *b = ctx;
  size_t len = size * n;
  if (b->fd >= 0) {
    if (ferry_write_all(b->fd, p, len) < 0) {
      b->failed = errno;
      return 0;
    }
    return len;
  }
  if (b->len < 64 * 1024) { /* an error body: keep the start */
    char *d = realloc(b->data, b->len + len + 1);
    if (!d)
      return 0;
    b->data = d;
    memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0';
  }
  return len;
}

/* The method's options: an upload (the open file in) for PUT, no body for HEAD. */
static CURLcode set_method(CURL *h, const char *method, FILE *in, off_t in_size)
{
  CURLcode c = CURLE_OK;
  if (in) {
    if ((c = curl_easy_setopt(h, CURLOPT_UPLOAD, 1L)) != CURLE_OK ||
        (c = curl_easy_setopt(h, CURLOPT_READDATA, in)) != CURLE_OK ||
        (c = curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)in_size)) != CURLE_OK)
      return c;
  } else if (!strcmp(method, "HEAD")) {
    c = curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (strcmp(method, "GET") != 0) {
    c = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  }
  return c;
}

/* What every request has: the URL, SigV4 signing, headers, the body's sink, limits. */
static CURLcode set_common(CURL *h, const char *url, const char *sigv4, const char *userpwd, struct curl_slist *hdrs,
                           struct body *b)
{
  CURLcode c;
  if ((c = curl_easy_setopt(h, CURLOPT_URL, url)) != CURLE_OK ||
      (c = curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4)) != CURLE_OK ||
      (c = curl_easy_setopt(h, CURLOPT_USERPWD, userpwd)) != CURLE_OK ||
      (c = curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs)) != CURLE_OK ||
      (c = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data)) != CURLE_OK ||
      (c = curl_easy_setopt(h, CURLOPT_WRITEDATA, b)) != CURLE_OK ||
      (c = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L)) != CURLE_OK ||
      (c = curl_easy_setopt(h, CURLOPT_USERAGENT, "ferry/" FERRY_VERSION)) != CURLE_OK ||
      (c = curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L)) != CURLE_OK ||
      (c = curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L)) != CURLE_OK ||
      (c = curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L)) != CURLE_OK ||
      (c = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https")) != CURLE_OK)
    return c;
  return CURLE_OK;
}

/* Sets up and performs the request; the HTTP status, or -1 with err set. */
static long perform(CURL *h, const struct ferry_s3 *s, const char *method, const char *url, FILE *in, off_t in_size,
                    const char *payload_sha, struct body *b, ferry_error *err)
{
  cleanup_free char *sigv4 = ferry_asprintf("aws:amz:%s:s3", s->region);
  char *userpwd = ferry_asprintf("%s:%s", s->access_key, s->secret_key);
  cleanup_free char *sha_hdr = ferry_asprintf("x-amz-content-sha256: %s", payload_sha ? payload_sha : EMPTY_SHA256);
  cleanup_free char *tok_hdr = s->session_token ? ferry_asprintf("x-amz-security-token: %s", s->session_token) : NULL;
  struct curl_slist *hdrs = curl_slist_append(NULL, sha_hdr);
  if (tok_hdr)
    hdrs = curl_slist_append(hdrs, tok_hdr);
  /* (no "Expect:" to drop 100-continue: libcurl 7.88's SigV4 would sign the removed header) */
  long status = -1;
  CURLcode c = set_method(h, method, in, in_size);
  if (c == CURLE_OK)
    c = set_common(h, url, sigv4, userpwd, hdrs, b);
  if (c == CURLE_OK)
    c = curl_easy_perform(h);
  if (c != CURLE_OK)
    ferry_error_set(err, b->failed, "S3 %s %s: %s", method, url, curl_easy_strerror(c));
  else
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(hdrs);
  memset(userpwd, 0, strlen(userpwd));
  free(userpwd);
  return status;
}

/* A GET's body file: synced and kept on success, else removed. */
static long finish_download(struct body *b, const char *out_path, long status, ferry_error *err)
{
  if ((fsync(b->fd) < 0 || close(b->fd) < 0) && status >= 200 && status < 300) {
    ferry_error_set(err, errno, "write %s", out_path);
    status = -1;
  }
  b->fd = -1;
  if (status < 200 || status >= 300)
    unlink(out_path);
  return status;
}

/* One signed request. upload: a file for PUT; out_path: where a GET's body goes
 * (on an error status it is read back as the error and removed). Returns the
 * HTTP status, or -1 with err set when there was none. *error_body gets the
 * body of a non-2xx answer. */
static long request(const struct ferry_s3 *s, const char *method, const char *key, const char *upload,
                    const char *payload_sha, const char *out_path, char **error_body, ferry_error *err)
{
  CURL *h = curl_easy_init();
  if (!h)
    return ferry_error_set(err, 0, "curl_easy_init failed");
  cleanup_free char *url = ferry_asprintf("%s/%s/%s", s->endpoint, s->bucket, key);
  struct body b = { NULL, 0, -1, 0 };
  cleanup_file FILE *in = NULL;
  struct stat st = { 0 };
  long status = -1;
  if (out_path && (b.fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
    ferry_error_set(err, errno, "create %s", out_path);
  } else if (upload && (!(in = fopen(upload, "rb")) || fstat(fileno(in), &st) < 0)) {
    ferry_error_set(err, errno, "open %s", upload);
  } else {
    status = perform(h, s, method, url, in, st.st_size, payload_sha, &b, err);
  }
  if (status >= 300 && b.fd >= 0) { /* the body is an error document, not the object */
    char buf[4096];
    ssize_t n = pread(b.fd, buf, sizeof buf - 1, 0);
    if (n > 0) {
      buf[n] = '\0';
      b.data = ferry_strdup(buf);
    }
  }
  if (status >= 300 && error_body && b.data)
    *error_body = ferry_strdup(b.data);
  if (b.fd >= 0)
    status = finish_download(&b, out_path, status, err);
  curl_easy_cleanup(h);
  free(b.data);
  return status;
}

/* err from an answer that is not 2xx: the server's own code and message. */
static int fail_status(const struct ferry_s3 *s, const char *method, const char *key, long status, const char *body,
                       ferry_error *err)
{
  char *why = ferry_s3_error_text(body);
  ferry_error_set(err, status == 404 ? ENOENT : 0, "S3 %s s3://%s/%s: HTTP %ld%s%s", method, s->bucket, key, status,
                  why ? " " : "", why ? why : "");
  free(why);
  return -1;
}

int ferry_s3_put_file(const struct ferry_s3 *s, const char *key, const char *path, ferry_error *err)
{
  char sha[65];
  if (ferry_sha256_file(path, sha, NULL, err) < 0)
    return -1;
  char *body = NULL;
  long st = request(s, "PUT", key, path, sha, NULL, &body, err);
  int rc = st < 0 ? -1 : st >= 200 && st < 300 ? 0 : fail_status(s, "PUT", key, st, body, err);
  free(body);
  return rc;
}

int ferry_s3_get_file(const struct ferry_s3 *s, const char *key, const char *path, ferry_error *err)
{
  char *body = NULL;
  long st = request(s, "GET", key, NULL, NULL, path, &body, err);
  int rc = st < 0 ? -1 : st >= 200 && st < 300 ? 0 : fail_status(s, "GET", key, st, body, err);
  free(body);
  return rc;
}

int ferry_s3_exists(const struct ferry_s3 *s, const char *key, ferry_error *err)
{
  long st = request(s, "HEAD", key, NULL, NULL, NULL, NULL, err);
  if (st < 0)
    return -1;
  if (st == 404)
    return 0;
  if (st >= 200 && st < 300)
    return 1;
  /* HEAD answers carry no body: name the usual causes */
  return ferry_error_set(err, 0, "S3 HEAD s3://%s/%s: HTTP %ld%s", s->bucket, key, st,
                         st == 403 ? " (access denied or a bad signature: check the credentials and the region)" : "");
}

int ferry_s3_delete(const struct ferry_s3 *s, const char *key, ferry_error *err)
{
  char *body = NULL;
  long st = request(s, "DELETE", key, NULL, NULL, NULL, &body, err);
  int rc = st < 0 ? -1 : (st >= 200 && st < 300) || st == 404 ? 0 : fail_status(s, "DELETE", key, st, body, err);
  free(body);
  return rc;
}
