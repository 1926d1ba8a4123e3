/* SPDX-License-Identifier: Apache-2.0 */
/* The two protocols: an HTTP/1.0 GET of the counting workload's /count (the
 * server closes the connection after the reply) and a RESP GET of one of
 * redis-server's populated keys (a reply is whole at its bulk string's end). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

int proto_parse(const char *name, enum proto *p, ferry_error *err)
{
  if (!strcmp(name, "http"))
    *p = PROTO_HTTP;
  else if (!strcmp(name, "redis"))
    *p = PROTO_REDIS;
  else
    return ferry_error_set(err, 0, "--proto: http or redis, not %s", name);
  return 0;
}

size_t proto_request(const struct options *o, uint64_t seq, char *buf, size_t len)
{
  int n;
  if (o->proto == PROTO_HTTP) {
    n = snprintf(buf, len, "GET /count HTTP/1.0\r\nHost: svc\r\n\r\n");
  } else {
    char key[32];
    int kl = snprintf(key, sizeof key, "key:%lu", (unsigned long)(seq % (uint64_t)o->keys));
    n = snprintf(buf, len, "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", kl, key);
  }
  return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

static int http_done(const struct request *r, int eof, enum outcome *out)
{
  if (!eof)
    return r->reply_len >= REPLY_MAX - 1 ? (*out = OUT_BAD_REPLY, 1) : 0;
  const char *body = strstr(r->reply, "\r\n\r\n");
  *out = !strncmp(r->reply, "HTTP/1.", 7) && !strncmp(r->reply + 8, " 200", 4) && body && body[4] ? OUT_OK
         : r->reply_len                                                                           ? OUT_BAD_REPLY
                                                                                                  : OUT_RESET;
  return 1;
}

/* "$LEN\r\nvalue:N\r\n": whole once LEN bytes and the CRLF are there; "$-1" (the key is gone) is a bad reply. */
static int redis_done(const struct request *r, int eof, enum outcome *out)
{
  const char *crlf = strstr(r->reply, "\r\n");
  if (!crlf) {
    if (eof)
      *out = r->reply_len ? OUT_BAD_REPLY : OUT_RESET;
    return eof;
  }
  if (r->reply[0] != '$' || atol(r->reply + 1) < 0) {
    *out = OUT_BAD_REPLY;
    return 1;
  }
  size_t need = (size_t)(crlf - r->reply) + 2 + (size_t)atol(r->reply + 1) + 2;
  if (r->reply_len >= need) {
    *out = !strncmp(crlf + 2, "value:", 6) ? OUT_OK : OUT_BAD_REPLY;
    return 1;
  }
  if (eof)
    *out = OUT_RESET;
  return eof;
}

int proto_reply_done(const struct options *o, const struct request *r, int eof, enum outcome *out)
{
  return o->proto == PROTO_HTTP ? http_done(r, eof, out) : redis_done(r, eof, out);
}

/* What the reply carried, for the row: the count (HTTP body) or the key's value, cut at the first CR/LF. */
void proto_value(const struct options *o, const struct request *r, char *buf, size_t len)
{
  const char *v = o->proto == PROTO_HTTP ? strstr(r->reply, "\r\n\r\n") : strstr(r->reply, "\r\n");
  buf[0] = 0;
  if (!v)
    return;
  v += o->proto == PROTO_HTTP ? 4 : 2;
  snprintf(buf, len, "%.*s", (int)strcspn(v, "\r\n\t"), v);
}
