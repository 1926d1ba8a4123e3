/* SPDX-License-Identifier: Apache-2.0 */
/* ferry-bench-client: what a client of a Service sees while its pod moves. A
 * request every interval (10 ms), each on a connection of its own to the
 * Service's current endpoint; each one's send and reply times and outcome are
 * written as a TSV row when it ends (bench/client.sh sums them up). */
#ifndef FERRY_BENCH_CLIENT_H
#define FERRY_BENCH_CLIENT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

enum proto { PROTO_HTTP, PROTO_REDIS };

enum outcome {
  OUT_OK,          /* a whole, valid reply */
  OUT_NO_ENDPOINT, /* the Service had no ready endpoint when it was due */
  OUT_REFUSED,     /* connect failed (refused, unreachable) */
  OUT_RESET,       /* the connection broke before the whole reply */
  OUT_BAD_REPLY,   /* a reply, but not the one expected (HTTP status, a lost key) */
  OUT_TIMEOUT,     /* no whole reply within the timeout */
  OUT_OVERLOAD,    /* too many requests in flight: not sent */
};

enum req_state { REQ_FREE, REQ_CONNECTING, REQ_SENDING, REQ_READING };

#define REPLY_MAX 512

struct request {
  enum req_state state;
  int fd;
  uint64_t seq;
  int64_t sent_us; /* CLOCK_REALTIME, for lining up with the migration's phases */
  int64_t sent_mono_us;
  char ip[INET_ADDRSTRLEN];
  char out[96];
  size_t out_len, out_done;
  char reply[REPLY_MAX];
  size_t reply_len;
};

struct options {
  enum proto proto;
  const char *endpoints; /* a file: the ready endpoints' addresses, the first one is used */
  int port;
  int interval_ms, timeout_ms;
  long keys; /* redis: GET key:(seq % keys), as DEBUG POPULATE names them */
  const char *out;
};

/* proto.c */
int proto_parse(const char *name, enum proto *p, ferry_error *err);
size_t proto_request(const struct options *o, uint64_t seq, char *buf, size_t len);
/* 1: the reply is whole (outcome set); 0: more is needed; at EOF, eof is 1. */
int proto_reply_done(const struct options *o, const struct request *r, int eof, enum outcome *out);
void proto_value(const struct options *o, const struct request *r, char *buf, size_t len);

/* endpoint.c: the first address of the endpoints file, re-read when it changed. */
int endpoint_current(const char *path, char ip[INET_ADDRSTRLEN]);

/* request.c */
int request_start(struct request *r, const struct options *o, uint64_t seq, const char *ip, enum outcome *out);
/* After poll: 1 when the request ended (outcome set), 0 while it goes on. */
int request_step(struct request *r, const struct options *o, short revents, enum outcome *out);
short request_events(const struct request *r);
void request_end(struct request *r);

/* record.c */
const char *outcome_name(enum outcome o);
void record_write(FILE *f, uint64_t seq, int64_t sent_us, int64_t latency_us, enum outcome o, const char *ip,
                  const char *value);
int64_t now_real_us(void);
int64_t now_mono_us(void);

#endif
