/* SPDX-License-Identifier: Apache-2.0 */
/* The gRPC wire format of a unary call: message framing, grpc-status and
 * grpc-message parsing, grpc-timeout (see grpc_wire.h). No I/O here. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"
#include "cri/grpc_wire.h"

#define GRPC_FLAG_COMPRESSED 1
#define HTTP_OK 200

static const char *const code_names[] = {
  [FERRY_GRPC_OK] = "OK",
  [FERRY_GRPC_CANCELLED] = "Canceled",
  [FERRY_GRPC_UNKNOWN] = "Unknown",
  [FERRY_GRPC_INVALID_ARGUMENT] = "InvalidArgument",
  [FERRY_GRPC_DEADLINE_EXCEEDED] = "DeadlineExceeded",
  [FERRY_GRPC_NOT_FOUND] = "NotFound",
  [FERRY_GRPC_ALREADY_EXISTS] = "AlreadyExists",
  [FERRY_GRPC_PERMISSION_DENIED] = "PermissionDenied",
  [FERRY_GRPC_RESOURCE_EXHAUSTED] = "ResourceExhausted",
  [FERRY_GRPC_FAILED_PRECONDITION] = "FailedPrecondition",
  [FERRY_GRPC_ABORTED] = "Aborted",
  [FERRY_GRPC_OUT_OF_RANGE] = "OutOfRange",
  [FERRY_GRPC_UNIMPLEMENTED] = "Unimplemented",
  [FERRY_GRPC_INTERNAL] = "Internal",
  [FERRY_GRPC_UNAVAILABLE] = "Unavailable",
  [FERRY_GRPC_DATA_LOSS] = "DataLoss",
  [FERRY_GRPC_UNAUTHENTICATED] = "Unauthenticated",
};

const char *ferry_grpc_code_name(int code)
{
  if (code < 0 || (size_t)code >= sizeof code_names / sizeof code_names[0])
    return NULL;
  return code_names[code];
}

void ferry_grpc_put_prefix(uint8_t prefix[FERRY_GRPC_PREFIX_LEN], uint32_t len)
{
  prefix[0] = 0;
  prefix[1] = (uint8_t)(len >> 24);
  prefix[2] = (uint8_t)(len >> 16);
  prefix[3] = (uint8_t)(len >> 8);
  prefix[4] = (uint8_t)len;
}

int ferry_grpc_unframe(const uint8_t *body, size_t len, const uint8_t **msg, size_t *msg_len, ferry_error *err)
{
  if (len < FERRY_GRPC_PREFIX_LEN)
    return ferry_error_set(err, 0, "gRPC answer of %zu bytes has no message (a message takes %d bytes of prefix)", len,
                           FERRY_GRPC_PREFIX_LEN);
  if (body[0] & GRPC_FLAG_COMPRESSED)
    return ferry_error_set(err, 0, "gRPC answer is compressed (none was asked for)");
  uint32_t n = (uint32_t)body[1] << 24 | (uint32_t)body[2] << 16 | (uint32_t)body[3] << 8 | body[4];
  if (n > FERRY_GRPC_MAX_MESSAGE)
    return ferry_error_set(err, 0, "gRPC message of %u bytes is over the limit of %u", n, FERRY_GRPC_MAX_MESSAGE);
  if ((size_t)n != len - FERRY_GRPC_PREFIX_LEN)
    return ferry_error_set(err, 0, "gRPC message says %u bytes, the answer carries %zu", n,
                           len - FERRY_GRPC_PREFIX_LEN);
  *msg = body + FERRY_GRPC_PREFIX_LEN;
  *msg_len = n;
  return 0;
}

void ferry_grpc_status_reset(struct ferry_grpc_status *st)
{
  free(st->message);
  memset(st, 0, sizeof *st);
}

static int hex_value(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  c = (char)tolower((unsigned char)c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

char *ferry_grpc_percent_decode(const char *s, size_t len)
{
  char *out = ferry_malloc(len + 1);
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    int hi, lo;
    if (s[i] == '%' && i + 2 < len && (hi = hex_value(s[i + 1])) >= 0 && (lo = hex_value(s[i + 2])) >= 0) {
      out[o++] = (char)(hi << 4 | lo);
      i += 2;
    } else {
      out[o++] = s[i];
    }
  }
  out[o] = 0;
  return out;
}

/* The value of a "name: value" line when its name is `name`, trimmed; NULL otherwise. */
static const char *header_value(const char *line, size_t len, const char *name, size_t *vlen)
{
  size_t n = strlen(name);
  if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
    return NULL;
  const char *v = line + n + 1, *end = line + len;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
    end--;
  *vlen = (size_t)(end - v);
  return v;
}

void ferry_grpc_status_line(struct ferry_grpc_status *st, const char *line, size_t len)
{
  size_t vlen;
  const char *v = header_value(line, len, "grpc-status", &vlen);
  if (v) {
    char num[16];
    if (vlen == 0 || vlen >= sizeof num)
      return;
    memcpy(num, v, vlen);
    num[vlen] = 0;
    char *end;
    long code = strtol(num, &end, 10);
    if (*end == 0 && code >= 0 && code <= INT32_MAX) {
      st->have_code = true;
      st->code = (int)code;
    }
    return;
  }
  v = header_value(line, len, "grpc-message", &vlen);
  if (v) {
    free(st->message);
    st->message = ferry_grpc_percent_decode(v, vlen);
  }
}

int ferry_grpc_status_check(const struct ferry_grpc_status *st, long http_code, ferry_error *err)
{
  if (!st->have_code) {
    if (http_code != HTTP_OK)
      return ferry_error_set(err, 0, "HTTP status %ld without a grpc-status (not a gRPC server?)", http_code);
    return ferry_error_set(err, 0, "the answer carries no grpc-status");
  }
  if (st->code == FERRY_GRPC_OK)
    return http_code == HTTP_OK ? 0 : ferry_error_set(err, 0, "HTTP status %ld with grpc-status 0", http_code);
  const char *name = ferry_grpc_code_name(st->code);
  return ferry_error_set(err, 0, "grpc status %d (%s): %s", st->code, name ? name : "unknown code",
                         st->message && *st->message ? st->message : "(no message)");
}

void ferry_grpc_timeout_header(char *buf, size_t size, long timeout_ms)
{
  /* At most 8 digits per the gRPC spec: past that, seconds. */
  if (timeout_ms < 100000000L)
    snprintf(buf, size, "grpc-timeout: %ldm", timeout_ms > 0 ? timeout_ms : 1);
  else
    snprintf(buf, size, "grpc-timeout: %ldS", timeout_ms / 1000);
}
