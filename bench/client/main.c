/* SPDX-License-Identifier: Apache-2.0 */
/* ferry-bench-client: a request every --interval-ms to the Service's current
 * endpoint, each on its own connection, up to MAX_INFLIGHT at once, each given
 * --timeout-ms; a TSV row per request (record.c) to --out, until SIGTERM or
 * SIGINT (the requests in flight then end or time out first).
 *
 *   ferry-bench-client --proto http|redis --endpoints FILE --port N --out FILE
 *                      [--interval-ms 10] [--timeout-ms 1000] [--keys 100000]
 *
 * --interval-ms 0: closed loop, the next request as soon as the last one ended
 * (one in flight; 10 ms after a failed one): the rate the application answers
 * at, for its throughput. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "base/cleanup.h"

#define MAX_INFLIGHT 256

static volatile sig_atomic_t stopping;
static void on_stop(int sig) { (void)sig, stopping = 1; }

struct run {
  const struct options *o;
  FILE *out;
  struct request slots[MAX_INFLIGHT];
  int inflight;
  uint64_t seq;
  int64_t hold_until; /* closed loop: after a failure, no new request before this (no busy loop while down) */
};

#define CLOSED_RETRY_US 10000

static int parse_options(int argc, char **argv, struct options *o, ferry_error *err)
{
  static const struct option longs[] = {
    { "proto", required_argument, NULL, 'p' },      { "endpoints", required_argument, NULL, 'e' },
    { "port", required_argument, NULL, 'P' },       { "interval-ms", required_argument, NULL, 'i' },
    { "timeout-ms", required_argument, NULL, 't' }, { "keys", required_argument, NULL, 'k' },
    { "out", required_argument, NULL, 'o' },        { NULL, 0, NULL, 0 },
  };
  *o = (struct options){ .proto = PROTO_HTTP, .interval_ms = 10, .timeout_ms = 1000, .keys = 100000 };
  int c;
  while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
    switch (c) {
    case 'p':
      if (proto_parse(optarg, &o->proto, err) < 0)
        return -1;
      break;
    case 'e':
      o->endpoints = optarg;
      break;
    case 'P':
      o->port = atoi(optarg);
      break;
    case 'i':
      o->interval_ms = atoi(optarg);
      break;
    case 't':
      o->timeout_ms = atoi(optarg);
      break;
    case 'k':
      o->keys = atol(optarg);
      break;
    case 'o':
      o->out = optarg;
      break;
    default:
      return ferry_error_set(err, 0, "unknown option");
    }
  }
  if (!o->endpoints || !o->out || o->port <= 0 || o->interval_ms < 0 || o->timeout_ms <= 0 || o->keys <= 0)
    return ferry_error_set(err, 0,
                           "usage: ferry-bench-client --proto http|redis --endpoints FILE --port N --out FILE "
                           "[--interval-ms 10] [--timeout-ms 1000] [--keys 100000]");
  return 0;
}

static void finish(struct run *r, struct request *q, enum outcome oc)
{
  char value[64] = "";
  int64_t lat = now_mono_us() - q->sent_mono_us;
  if (oc == OUT_OK)
    proto_value(r->o, q, value, sizeof value);
  record_write(r->out, q->seq, q->sent_us, oc == OUT_OK ? lat : -1, oc, q->ip, value);
  if (oc != OUT_OK)
    r->hold_until = now_mono_us() + CLOSED_RETRY_US;
  if (q->state != REQ_FREE)
    r->inflight--;
  request_end(q);
}

static struct request *free_slot(struct run *r)
{
  for (int i = 0; i < MAX_INFLIGHT; i++)
    if (r->slots[i].state == REQ_FREE)
      return &r->slots[i];
  return NULL;
}

/* The request that is due: to the current endpoint, or recorded as why it could not be sent. */
static void issue(struct run *r)
{
  char ip[INET_ADDRSTRLEN];
  uint64_t seq = r->seq++;
  struct request *q = free_slot(r), none = { .fd = -1 };
  enum outcome oc;
  if (!endpoint_current(r->o->endpoints, ip) || !q) {
    none.seq = seq;
    none.sent_us = now_real_us();
    none.sent_mono_us = now_mono_us();
    snprintf(none.ip, sizeof none.ip, "%s", ip);
    finish(r, &none, q ? OUT_NO_ENDPOINT : OUT_OVERLOAD);
    return;
  }
  if (request_start(q, r->o, seq, ip, &oc)) {
    finish(r, q, oc);
    return;
  }
  r->inflight++;
}

static void expire(struct run *r)
{
  int64_t now = now_mono_us();
  for (int i = 0; i < MAX_INFLIGHT; i++) {
    struct request *q = &r->slots[i];
    if (q->state != REQ_FREE && now - q->sent_mono_us >= (int64_t)r->o->timeout_ms * 1000)
      finish(r, q, OUT_TIMEOUT);
  }
}

/* Waits for the requests in flight at most until the next one is due, and moves each on. */
static int step_inflight(struct run *r, int wait_ms, ferry_error *err)
{
  struct pollfd pfd[MAX_INFLIGHT];
  int idx[MAX_INFLIGHT], n = 0;
  for (int i = 0; i < MAX_INFLIGHT; i++) {
    if (r->slots[i].state == REQ_FREE)
      continue;
    pfd[n] = (struct pollfd){ .fd = r->slots[i].fd, .events = request_events(&r->slots[i]) };
    idx[n++] = i;
  }
  int k = poll(pfd, (nfds_t)n, wait_ms);
  if (k < 0 && errno != EINTR)
    return ferry_error_set(err, errno, "poll");
  for (int j = 0; k > 0 && j < n; j++) {
    enum outcome oc;
    if (pfd[j].revents && request_step(&r->slots[idx[j]], r->o, pfd[j].revents, &oc))
      finish(r, &r->slots[idx[j]], oc);
  }
  expire(r);
  return 0;
}

static int run_loop(struct run *r, ferry_error *err)
{
  int64_t interval = (int64_t)r->o->interval_ms * 1000, due = now_mono_us();
  while (!stopping || r->inflight) {
    int64_t now = now_mono_us();
    if (!stopping && !interval && !r->inflight && now >= r->hold_until) {
      issue(r);
      continue;
    }
    if (!stopping && interval && now >= due) {
      issue(r);
      due += interval;
      if (now - due > 5 * interval) /* this process was not scheduled for a while: no burst to catch up */
        due = now;
      continue;
    }
    int wait_ms = stopping || !interval ? 10 : (int)((due - now + 999) / 1000);
    if (step_inflight(r, wait_ms, err) < 0)
      return -1;
  }
  return 0;
}

/* The run, its rows to out; 0 when they were all written. */
static int run_to(const struct options *o, FILE *out, ferry_error *err)
{
  static struct run r;
  r.o = o;
  r.out = out;
  if (run_loop(&r, err) < 0)
    return -1;
  if (fflush(out) != 0)
    return ferry_error_set(err, errno, "%s", o->out);
  return 0;
}

int main(int argc, char **argv)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  struct options o;
  if (parse_options(argc, argv, &o, &err) < 0) {
    fprintf(stderr, "ferry-bench-client: %s\n", ferry_error_msg(&err));
    return 2;
  }
  struct sigaction sa = { .sa_handler = on_stop };
  if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0) {
    fprintf(stderr, "ferry-bench-client: sigaction: %s\n", strerror(errno));
    return 1;
  }
  cleanup_file FILE *out = fopen(o.out, "we");
  if (!out) {
    fprintf(stderr, "ferry-bench-client: %s: %s\n", o.out, strerror(errno));
    return 1;
  }
  int rc = run_to(&o, out, &err);
  if (rc < 0)
    fprintf(stderr, "ferry-bench-client: %s\n", ferry_error_msg(&err));
  return rc < 0 ? 1 : 0;
}
