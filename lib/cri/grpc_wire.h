/* SPDX-License-Identifier: Apache-2.0 */
/* The gRPC wire format of a unary call, without any transport: the 5-byte
 * length prefix of a message (a compressed flag, then the big-endian length),
 * the grpc-status and grpc-message a server sends in its trailers (or in its
 * headers, for an answer without a body), and the grpc-timeout header. Kept
 * apart from the HTTP/2 transport (grpc.c) so that it is tested without a server. */
#ifndef FERRY_CRI_GRPC_WIRE_H
#define FERRY_CRI_GRPC_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define FERRY_GRPC_PREFIX_LEN 5
/* The largest answer accepted (gRPC's own default is 4 MiB; ExecSync may answer 16 MiB of stdout and as much stderr). */
#define FERRY_GRPC_MAX_MESSAGE (40u << 20)

/* The status codes of gRPC (grpc/status.h). */
enum ferry_grpc_code {
  FERRY_GRPC_OK = 0,
  FERRY_GRPC_CANCELLED = 1,
  FERRY_GRPC_UNKNOWN = 2,
  FERRY_GRPC_INVALID_ARGUMENT = 3,
  FERRY_GRPC_DEADLINE_EXCEEDED = 4,
  FERRY_GRPC_NOT_FOUND = 5,
  FERRY_GRPC_ALREADY_EXISTS = 6,
  FERRY_GRPC_PERMISSION_DENIED = 7,
  FERRY_GRPC_RESOURCE_EXHAUSTED = 8,
  FERRY_GRPC_FAILED_PRECONDITION = 9,
  FERRY_GRPC_ABORTED = 10,
  FERRY_GRPC_OUT_OF_RANGE = 11,
  FERRY_GRPC_UNIMPLEMENTED = 12,
  FERRY_GRPC_INTERNAL = 13,
  FERRY_GRPC_UNAVAILABLE = 14,
  FERRY_GRPC_DATA_LOSS = 15,
  FERRY_GRPC_UNAUTHENTICATED = 16,
};
/* "NotFound" for FERRY_GRPC_NOT_FOUND; "Code(N)" is not given: NULL when unknown. */
const char *ferry_grpc_code_name(int code);

/* Writes the prefix of a message of len bytes (uncompressed). */
void ferry_grpc_put_prefix(uint8_t prefix[FERRY_GRPC_PREFIX_LEN], uint32_t len);

/* The one message of an answer's body: *msg points into body. Fails on a short
 * or empty body, a compressed message, a length that is not the body's rest, or
 * one over FERRY_GRPC_MAX_MESSAGE. */
int ferry_grpc_unframe(const uint8_t *body, size_t len, const uint8_t **msg, size_t *msg_len, ferry_error *err);

/* What the trailers (or headers) said. */
struct ferry_grpc_status {
  bool have_code;
  int code;      /* grpc-status */
  char *message; /* grpc-message, percent-decoded; heap, NULL when absent */
};
void ferry_grpc_status_reset(struct ferry_grpc_status *st);

/* Takes one header or trailer line ("grpc-status: 5\r\n", names in any case);
 * lines other than grpc-status and grpc-message are ignored. */
void ferry_grpc_status_line(struct ferry_grpc_status *st, const char *line, size_t len);

/* 0 when the call succeeded (HTTP 200 and grpc-status 0); else -1 with
 * "grpc status N (Name): MESSAGE", or what the HTTP answer was when it carried
 * no grpc-status. */
int ferry_grpc_status_check(const struct ferry_grpc_status *st, long http_code, ferry_error *err);

/* grpc-message's percent-encoding undone ("%20" -> " "); a bad escape is kept as it is. */
char *ferry_grpc_percent_decode(const char *s, size_t len);

/* The grpc-timeout header for timeout_ms ("grpc-timeout: 5000m") into buf. */
void ferry_grpc_timeout_header(char *buf, size_t size, long timeout_ms);

#endif
