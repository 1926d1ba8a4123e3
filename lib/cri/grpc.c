/* SPDX-License-Identifier: Apache-2.0 */
/* gRPC unary calls over HTTP/2 on a unix socket, through libcurl (see grpc.h).
 * The framing and the status parsing are grpc_wire.c's. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/util.h"
#include "cri/grpc.h"
#include "cri/grpc_wire.h"

/* The host part of the URL: the socket is what connects, the authority is only a name. */
#define GRPC_URL_HOST "http://localhost"
#define CONNECT_TIMEOUT_MS 5000L

struct ferry_grpc {
  CURL *curl;
  char *socket_path;
  int last_code;
};

/* An answer being received: its body and what its headers and trailers said. */
struct answer {
  uint8_t *body;
  size_t len;
  bool too_big;
  struct ferry_grpc_status status;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void init_curl(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static char *socket_of(const char *endpoint, ferry_error *err)
{
  const char *path = endpoint;
  if (strncmp(endpoint, "unix://", 7) == 0)
    path = endpoint + 7;
  if (path[0] != '/') {
    ferry_error_set(err, 0, "CRI endpoint %s: only unix sockets are supported (unix:///PATH)", endpoint);
    return NULL;
  }
  return ferry_strdup(path);
}

struct ferry_grpc *ferry_grpc_open(const char *endpoint, ferry_error *err)
{
  pthread_once(&curl_once, init_curl);
  if (curl_init_rc != CURLE_OK) {
    ferry_error_set(err, 0, "libcurl: %s", curl_easy_strerror(curl_init_rc));
    return NULL;
  }
  cleanup_free char *path = socket_of(endpoint, err);
  if (!path)
    return NULL;
  curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  if (!(v->features & CURL_VERSION_HTTP2) || !(v->features & CURL_VERSION_UNIX_SOCKETS)) {
    ferry_error_set(err, 0, "libcurl %s lacks HTTP/2 or unix sockets, which gRPC needs", v->version);
    return NULL;
  }
  CURL *curl = curl_easy_init();
  if (!curl) {
    ferry_error_set(err, 0, "curl_easy_init failed");
    return NULL;
  }
  struct ferry_grpc *g = ferry_malloc(sizeof *g);
  *g = (struct ferry_grpc){ .curl = curl, .socket_path = ferry_steal(&path) };
  return g;
}

void ferry_grpc_close(struct ferry_grpc *g)
{
  if (!g)
    return;
  curl_easy_cleanup(g->curl);
  free(g->socket_path);
  free(g);
}

int ferry_grpc_last_code(const struct ferry_grpc *g) { return g->last_code; }

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
  struct answer *a = ctx;
  size_t len = size * n;
  if (a->len + len > FERRY_GRPC_MAX_MESSAGE + FERRY_GRPC_PREFIX_LEN) {
    a->too_big = true;
    return 0; /* ends the transfer */
  }
  uint8_t *body = realloc(a->body, a->len + len);
  if (!body)
    return 0;
  memcpy(body + a->len, data, len);
  a->body = body;
  a->len += len;
  return len;
}

/* Headers and, at the stream's end, trailers: libcurl hands both here. */
static size_t on_header(char *line, size_t size, size_t n, void *ctx)
{
  struct answer *a = ctx;
  ferry_grpc_status_line(&a->status, line, size * n);
  return size * n;
}

static void free_headers(struct curl_slist **h) { curl_slist_free_all(*h); }

static struct curl_slist *request_headers(long timeout_ms)
{
  char timeout[64];
  ferry_grpc_timeout_header(timeout, sizeof timeout, timeout_ms);
  struct curl_slist *h = NULL;
  const char *lines[] = { "Content-Type: application/grpc", "TE: trailers", "Expect:", "Accept:", timeout };
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    struct curl_slist *next = curl_slist_append(h, lines[i]);
    if (!next) {
      curl_slist_free_all(h);
      return NULL;
    }
    h = next;
  }
  return h;
}

#define SETOPT(opt, val)                                                                                               \
  do {                                                                                                                 \
    CURLcode c_ = curl_easy_setopt(g->curl, opt, val);                                                                 \
    if (c_ != CURLE_OK)                                                                                                \
      return ferry_error_set(err, 0, "libcurl option " #opt ": %s", curl_easy_strerror(c_));                           \
  } while (0)

static int set_request(struct ferry_grpc *g, const char *url, struct curl_slist *headers, const uint8_t *body,
                       size_t len, long timeout_ms, struct answer *a, ferry_error *err)
{
  SETOPT(CURLOPT_URL, url);
  SETOPT(CURLOPT_UNIX_SOCKET_PATH, g->socket_path);
  SETOPT(CURLOPT_NOSIGNAL, 1L);
  SETOPT(CURLOPT_PROTOCOLS_STR, "http");
  SETOPT(CURLOPT_POST, 1L);
  SETOPT(CURLOPT_POSTFIELDS, body);
  SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  SETOPT(CURLOPT_HTTPHEADER, headers);
  SETOPT(CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
  SETOPT(CURLOPT_TIMEOUT_MS, timeout_ms);
  SETOPT(CURLOPT_WRITEFUNCTION, on_body);
  SETOPT(CURLOPT_WRITEDATA, a);
  SETOPT(CURLOPT_HEADERFUNCTION, on_header);
  SETOPT(CURLOPT_HEADERDATA, a);
  return 0;
}

/* HTTP/2 with prior knowledge opens the connection; the calls after it ask for plain HTTP/2, which takes the kept
 * connection as it is. Asking for prior knowledge again breaks a kept connection in curl 7.88 (Debian bookworm's):
 * it puts a second HTTP/2 layer on it and the call fails with "Error in the HTTP2 framing layer" (curl issue
 * #10634, fixed in 8.0.0 by "http2: fix for http2-prior-knowledge when reusing connections"). */
static long http_version(struct ferry_grpc *g)
{
  curl_socket_t kept = CURL_SOCKET_BAD;
  if (curl_easy_getinfo(g->curl, CURLINFO_ACTIVESOCKET, &kept) != CURLE_OK)
    kept = CURL_SOCKET_BAD;
  return kept == CURL_SOCKET_BAD ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE : CURL_HTTP_VERSION_2_0;
}

/* Whether a failed transfer went out on a new connection as HTTP/1.1 (plain HTTP/2 asked, the kept connection
 * found closed): the runtime refuses it before running anything, so it may be made again with prior knowledge. */
static bool went_as_http1(struct ferry_grpc *g, long version, CURLcode c, const struct answer *a)
{
  long connects = 0;
  return c != CURLE_OK && !a->too_big && version == CURL_HTTP_VERSION_2_0 &&
         curl_easy_getinfo(g->curl, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0;
}

static void answer_reset(struct answer *a)
{
  free(a->body);
  ferry_grpc_status_reset(&a->status);
  *a = (struct answer){ 0 };
}

/* The transfer set up by set_request, on the kept connection when there is one. */
static int perform(struct ferry_grpc *g, struct answer *a, ferry_error *err)
{
  long version = http_version(g);
  SETOPT(CURLOPT_HTTP_VERSION, version);
  CURLcode c = curl_easy_perform(g->curl);
  if (went_as_http1(g, version, c, a)) {
    answer_reset(a);
    SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    SETOPT(CURLOPT_FRESH_CONNECT, 1L);
    c = curl_easy_perform(g->curl);
    SETOPT(CURLOPT_FRESH_CONNECT, 0L);
  }
  if (a->too_big)
    return ferry_error_set(err, 0, "gRPC answer over the limit of %u bytes", FERRY_GRPC_MAX_MESSAGE);
  if (c != CURLE_OK)
    return ferry_error_set(err, 0, "%s: %s", g->socket_path, curl_easy_strerror(c));
  return 0;
}

/* The status and message of a finished transfer; 0 with *msg and *msg_len pointing into a->body. */
static int read_answer(struct ferry_grpc *g, struct answer *a, const uint8_t **msg, size_t *msg_len, ferry_error *err)
{
  long http_code = 0;
  curl_easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, &http_code);
  g->last_code = a->status.have_code ? a->status.code : FERRY_GRPC_UNKNOWN;
  if (ferry_grpc_status_check(&a->status, http_code, err) < 0)
    return -1;
  g->last_code = FERRY_GRPC_INTERNAL;
  if (ferry_grpc_unframe(a->body, a->len, msg, msg_len, err) < 0)
    return -1;
  g->last_code = FERRY_GRPC_OK;
  return 0;
}

int ferry_grpc_call(struct ferry_grpc *g, const char *path, const uint8_t *req, size_t req_len, long timeout_ms,
                    uint8_t **resp, size_t *resp_len, ferry_error *err)
{
  g->last_code = FERRY_GRPC_UNAVAILABLE;
  if (req_len > FERRY_GRPC_MAX_MESSAGE)
    return ferry_error_set(err, 0, "gRPC request of %zu bytes is over the limit", req_len);
  cleanup_free uint8_t *body = ferry_malloc(req_len + FERRY_GRPC_PREFIX_LEN);
  ferry_grpc_put_prefix(body, (uint32_t)req_len);
  if (req_len)
    memcpy(body + FERRY_GRPC_PREFIX_LEN, req, req_len);
  __attribute__((cleanup(free_headers))) struct curl_slist *headers = request_headers(timeout_ms);
  if (!headers)
    return ferry_error_set(err, ENOMEM, "gRPC request headers");
  cleanup_free char *url = ferry_asprintf(GRPC_URL_HOST "%s", path);
  struct answer a = { 0 };
  int rc = set_request(g, url, headers, body, req_len + FERRY_GRPC_PREFIX_LEN, timeout_ms, &a, err);
  if (rc == 0)
    rc = perform(g, &a, err);
  const uint8_t *msg = NULL;
  size_t msg_len = 0;
  if (rc == 0)
    rc = read_answer(g, &a, &msg, &msg_len, err);
  if (rc == 0) {
    *resp = ferry_malloc(msg_len ? msg_len : 1);
    memcpy(*resp, msg, msg_len);
    *resp_len = msg_len;
  }
  answer_reset(&a);
  return rc;
}
