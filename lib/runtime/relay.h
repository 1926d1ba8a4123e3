/* SPDX-License-Identifier: Apache-2.0 */
/* A TCP relay between two nodes' CRIU processes: the target's lazy-pages daemon
 * connects to it, it connects to the source's CRIU page server, and copies both
 * ways. It exists to bound the bandwidth a migration takes from a node (a token
 * bucket on the bytes going to the target, like KubeVirt's bandwidthPerMigration)
 * and to count the bytes moved after the freeze. */
#ifndef FERRY_RELAY_H
#define FERRY_RELAY_H

#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

struct ferry_relay_stats {
  uint64_t to_client;        /* bytes from the upstream (the page server) to the client */
  uint64_t from_client;      /* bytes from the client to the upstream */
  int64_t first_ms, last_ms; /* monotonic: the connection accepted, the relay ended */
  char *error;               /* NULL when both sides closed cleanly */
  int committed;             /* hold_close: the close went to CRIU (the source was released) */
};

/* "ADDR:PORT" (IPv4, or [IPv6]:PORT) into a listening TCP socket (port 0: any
 * free port). *bound gets "ADDR:PORT" with the port the kernel chose. */
int ferry_relay_listen(const char *addr_port, int *fd, char **bound, ferry_error *err);

/* send(2) with MSG_NOSIGNAL until all of data went; -1 with errno set. */
int ferry_send_all(int fd, const void *data, size_t n);

/* A TCP connection to "ADDR:PORT" (TCP_NODELAY), or -1 with err. */
int ferry_tcp_connect(const char *addr_port, ferry_error *err);

/* Parses a bandwidth: a Kubernetes quantity of bytes per second ("64Mi", "100M",
 * "0" = unlimited). */
int ferry_relay_parse_bandwidth(const char *text, uint64_t *bytes_per_s, ferry_error *err);

/* Accepts one connection on listen_fd (waiting at most accept_timeout_ms), connects
 * to upstream ("ADDR:PORT"), copies both ways until either side closes; upstream to
 * client at most bytes_per_s (0: unlimited). Fills *st.
 *
 * hold_close: the upstream is CRIU's page server serving lazy pages. CRIU takes
 * the end of that session as "every page arrived" and then kills the frozen
 * source, whether the lazy-pages daemon said PS_IOV_CLOSE or merely closed the
 * connection, and the daemon says PS_IOV_CLOSE even after it failed. So the
 * relay never passes the end on by itself: it answers the daemon's close itself
 * and holds CRIU's connection until it is told: SIGUSR1 commits (the close goes
 * to CRIU, which releases the source), SIGUSR2 or SIGTERM aborts (the
 * connection is reset, CRIU fails the dump and thaws the source). A daemon that
 * goes away without its close is an abort too. */
int ferry_relay_run(int listen_fd, const char *upstream, uint64_t bytes_per_s, int accept_timeout_ms, int hold_close,
                    struct ferry_relay_stats *st, ferry_error *err);

/* CRIU's page-server protocol (criu/page-xfer.c): the daemon's requests are
 * struct page_server_iov { u32 cmd; u64 nr_pages; u64 vaddr; u64 dst_id; },
 * 32 bytes on x86-64; the session ends with PS_IOV_CLOSE, answered by an int32. */
#define PS_IOV_SIZE 32

/* The daemon's requests as a held session reads them, one record at a time:
 * all but the close go to up; the close is answered to client here and kept
 * (held, holding). */
struct ferry_ps_reader {
  unsigned char rec[PS_IOV_SIZE], held[PS_IOV_SIZE];
  size_t len;
  int holding;
};
/* Takes n more bytes (at most the rest of a record, PS_IOV_SIZE - len) of the daemon's. */
int ferry_ps_take(struct ferry_ps_reader *r, int client, int up, const char *buf, size_t n, ferry_error *err);

/* A token bucket of bytes: at most rate bytes per second, bursts of burst. */
struct ferry_bucket {
  uint64_t rate, burst;
  double tokens;
  int64_t last_ms;
};
/* rate 0: no limit. */
void ferry_bucket_init(struct ferry_bucket *b, uint64_t rate);
/* Refills from the clock. */
void ferry_bucket_fill(struct ferry_bucket *b);
/* Sleeps until n bytes may go, then takes them. */
void ferry_bucket_take(struct ferry_bucket *b, uint64_t n);

/* ferry_relay_run in a child process, which writes its stats as JSON to
 * stats_path when it ends. Closes listen_fd in the caller. */
int ferry_relay_spawn(int listen_fd, const char *upstream, uint64_t bytes_per_s, int accept_timeout_ms, int hold_close,
                      const char *stats_path, pid_t *pid, ferry_error *err);
/* Reads what a spawned relay wrote. */
int ferry_relay_stats_load(const char *stats_path, struct ferry_relay_stats *st, ferry_error *err);
void ferry_relay_stats_free(struct ferry_relay_stats *st);

#endif
