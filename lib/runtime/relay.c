/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "kube/quantity.h"
#include "base/util.h"

#define CHUNK (256 * 1024)

/* "ADDR:PORT" / "[ADDR]:PORT" into host and port strings. */
static int split_addr(const char *ap, char *host, size_t hlen, char *port, size_t plen, ferry_error *err)
{
  const char *colon = strrchr(ap ? ap : "", ':');
  if (!ap || !colon || colon == ap || !colon[1])
    return ferry_error_set(err, 0, "address %s: expected ADDR:PORT", ap ? ap : "(null)");
  const char *h = ap;
  size_t hl = (size_t)(colon - ap);
  if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
    h++;
    hl -= 2;
  }
  if (hl >= hlen || strlen(colon + 1) >= plen)
    return ferry_error_set(err, 0, "address %s: too long", ap);
  memcpy(host, h, hl);
  host[hl] = '\0';
  strcpy(port, colon + 1);
  for (const char *p = port; *p; p++)
    if (*p < '0' || *p > '9')
      return ferry_error_set(err, 0, "address %s: port %s is not a number", ap, port);
  if (atoi(port) > 65535)
    return ferry_error_set(err, 0, "address %s: port %s out of range", ap, port);
  return 0;
}

static int resolve(const char *ap, int passive, struct addrinfo **res, ferry_error *err)
{
  char host[256], port[16];
  if (split_addr(ap, host, sizeof host, port, sizeof port, err) < 0)
    return -1;
  struct addrinfo hints = { .ai_family = AF_UNSPEC,
                            .ai_socktype = SOCK_STREAM,
                            .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0) };
  int rc = getaddrinfo(host, port, &hints, res);
  if (rc != 0)
    return ferry_error_set(err, 0, "address %s: %s", ap, gai_strerror(rc));
  return 0;
}

int ferry_relay_listen(const char *addr_port, int *fd, char **bound, ferry_error *err)
{
  struct addrinfo *ai = NULL;
  if (resolve(addr_port, 1, &ai, err) < 0)
    return -1;
  int s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    freeaddrinfo(ai);
    return ferry_error_set(err, errno, "socket for %s", addr_port);
  }
  int one = 1;
  if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 || bind(s, ai->ai_addr, ai->ai_addrlen) < 0 ||
      listen(s, 4) < 0) {
    int e = errno;
    close(s);
    freeaddrinfo(ai);
    return ferry_error_set(err, e, "listen on %s", addr_port);
  }
  freeaddrinfo(ai);
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  char host[INET6_ADDRSTRLEN] = "", port[8] = "";
  if (getsockname(s, (struct sockaddr *)&ss, &sl) < 0 ||
      getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) !=
          0) {
    int e = errno;
    close(s);
    return ferry_error_set(err, e, "getsockname for %s", addr_port);
  }
  *bound = ss.ss_family == AF_INET6 ? ferry_asprintf("[%s]:%s", host, port) : ferry_asprintf("%s:%s", host, port);
  *fd = s;
  return 0;
}

int ferry_relay_parse_bandwidth(const char *text, uint64_t *bytes_per_s, ferry_error *err)
{
  int64_t milli = 0;
  if (ferry_quantity_milli(text, &milli, err) < 0)
    return ferry_error_prefix(err, "bandwidth %s", text ? text : "");
  if (milli < 0)
    return ferry_error_set(err, 0, "bandwidth %s: must not be negative", text);
  *bytes_per_s = (uint64_t)(milli / 1000);
  if (milli > 0 && *bytes_per_s < 4096)
    return ferry_error_set(err, 0, "bandwidth %s: at least 4Ki (bytes per second) or 0 for no limit", text);
  return 0;
}

int ferry_tcp_connect(const char *ap, ferry_error *err)
{
  struct addrinfo *ai = NULL;
  if (resolve(ap, 0, &ai, err) < 0)
    return -1;
  int s = -1, e = 0;
  for (struct addrinfo *p = ai; p; p = p->ai_next) {
    s = socket(p->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
      e = errno;
      continue;
    }
    if (connect(s, p->ai_addr, p->ai_addrlen) == 0)
      break;
    e = errno;
    close(s);
    s = -1;
  }
  freeaddrinfo(ai);
  if (s < 0)
    return ferry_error_set(err, e, "connect to %s", ap);
  int one = 1;
  if (setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
    e = errno;
    close(s);
    return ferry_error_set(err, e, "TCP_NODELAY to %s", ap);
  }
  return s;
}

void ferry_bucket_init(struct ferry_bucket *b, uint64_t rate)
{
  b->rate = rate;
  b->burst = rate / 20 > CHUNK ? rate / 20 : CHUNK;
  b->tokens = (double)(rate ? b->burst : 0);
  b->last_ms = ferry_now_mono_ms();
}

void ferry_bucket_take(struct ferry_bucket *b, uint64_t n)
{
  if (!b->rate)
    return;
  ferry_bucket_fill(b);
  b->tokens -= (double)n;
  if (b->tokens < 0) { /* in debt: wait until it is paid */
    double ms = -b->tokens * 1000.0 / (double)b->rate;
    struct timespec ts = { (time_t)(ms / 1000.0), (long)((ms - (double)(long)(ms / 1000.0) * 1000.0) * 1e6) };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
      ;
  }
}

void ferry_bucket_fill(struct ferry_bucket *b)
{
  int64_t now = ferry_now_mono_ms();
  b->tokens += (double)(now - b->last_ms) * (double)b->rate / 1000.0;
  if (b->tokens > (double)b->burst)
    b->tokens = (double)b->burst;
  b->last_ms = now;
}

int ferry_send_all(int fd, const void *data, size_t n)
{
  const char *buf = data;
  while (n > 0) {
    ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    buf += w;
    n -= (size_t)w;
  }
  return 0;
}

#define PS_IOV_CLOSE 0x1023
#define PS_IOV_FORCE_CLOSE 0x1024

static volatile sig_atomic_t relay_commit, relay_abort;
static void on_commit(int sig)
{
  (void)sig;
  relay_commit = 1;
}
static void on_abort(int sig)
{
  (void)sig;
  relay_abort = 1;
}

/* Ends the upstream connection with a reset: CRIU sees an error, not an end. */
static void reset_close(int fd)
{
  struct linger l = { 1, 0 };
  if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l) < 0)
    shutdown(fd, SHUT_RDWR);
  close(fd);
}

/* Sends the held close to CRIU and waits for its answer. */
static int commit_close(int up, const unsigned char *rec, ferry_error *err)
{
  if (ferry_send_all(up, rec, PS_IOV_SIZE) < 0)
    return ferry_error_set(err, errno, "relay: passing the close to the page server");
  int32_t status = -1;
  size_t got = 0;
  while (got < sizeof status) {
    ssize_t n = recv(up, (char *)&status + got, sizeof status - got, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return ferry_error_set(err, n < 0 ? errno : 0, "relay: the page server did not answer the close");
    got += (size_t)n;
  }
  return status == 0 ? 0 : ferry_error_set(err, 0, "relay: the page server answered the close with %d", (int)status);
}

int ferry_ps_take(struct ferry_ps_reader *r, int client, int up, const char *buf, size_t n, ferry_error *err)
{
  if (n > PS_IOV_SIZE - r->len)
    abort(); /* the caller reads at most the rest of a record */
  memcpy(r->rec + r->len, buf, n);
  r->len += n;
  if (r->len < PS_IOV_SIZE)
    return 0;
  r->len = 0;
  uint32_t cmd;
  memcpy(&cmd, r->rec, sizeof cmd);
  if (cmd == PS_IOV_CLOSE || cmd == PS_IOV_FORCE_CLOSE) {
    int32_t ok = 0;
    memcpy(r->held, r->rec, PS_IOV_SIZE);
    r->holding = 1;
    if (ferry_send_all(client, &ok, sizeof ok) < 0)
      log_debug("relay: the lazy-pages daemon left before the close was answered");
    return 0;
  }
  return ferry_send_all(up, r->rec, PS_IOV_SIZE) < 0 ? ferry_error_set(err, errno, "relay: sending a request upstream")
                                                     : 0;
}

/* Waits for the client to connect. When nobody does and the session is held
 * for CRIU, CRIU still gets a session, one that fails, so it thaws its source. */
static int await_client(int listen_fd, const char *upstream, int accept_timeout_ms, int hold_close, ferry_error *err)
{
  struct pollfd lp = { listen_fd, POLLIN, 0 };
  int pr;
  do
    pr = poll(&lp, 1, accept_timeout_ms > 0 ? accept_timeout_ms : -1);
  while (pr < 0 && errno == EINTR && !relay_abort);
  if (!relay_abort && pr > 0)
    return 0;
  if (relay_abort)
    ferry_error_set(err, ECANCELED, "relay: stopped before anyone connected");
  else if (pr < 0)
    ferry_error_set(err, errno, "relay: poll");
  else
    ferry_error_set(err, ETIMEDOUT, "relay: nobody connected within %d ms", accept_timeout_ms);
  if (hold_close) {
    cleanup_error ferry_error e2 = FERRY_ERROR_INIT;
    int up = ferry_tcp_connect(upstream, &e2);
    if (up >= 0)
      reset_close(up);
  }
  return -1;
}

/* One relayed session: the client (CRIU's lazy-pages daemon, or any client)
 * and the upstream page server. */
struct relay {
  int client, up;
  int client_open, up_open;
  int abort_up; /* end upstream with a reset */
  int hold_close;
  uint64_t bytes_per_s;
  const char *upstream;
  struct ferry_bucket bucket;
  struct ferry_ps_reader ps;
  char *buf;
  struct ferry_relay_stats *st;
  const char *live_path; /* the running count written here every LIVE_EVERY_MS (NULL: not) */
  int64_t live_next_ms;
};

#define READY (POLLIN | POLLHUP | POLLERR)
#define DECISION_POLL_MS 100 /* the decision signals are looked at between polls */
#define LIVE_EVERY_MS 1000   /* the running count's file rewritten this often (its reader: the agent's progress) */

/* How long the next poll may wait, and whether upstream is read at all: out of
 * tokens, the page server is not read until enough came back. */
static int poll_plan(struct relay *r, short *up_events)
{
  int wait_ms = -1;
  *up_events = POLLIN;
  if (r->bytes_per_s) {
    ferry_bucket_fill(&r->bucket);
    if (r->bucket.tokens < 1.0) {
      *up_events = 0;
      wait_ms = (int)((1.0 - r->bucket.tokens) * 1000.0 / (double)r->bytes_per_s) + 1;
    }
  }
  if (r->hold_close && (wait_ms < 0 || wait_ms > DECISION_POLL_MS))
    wait_ms = DECISION_POLL_MS;
  return wait_ms;
}

/* Pages from the page server to the client, within the bucket. */
static int from_upstream(struct relay *r, ferry_error *err)
{
  size_t want = CHUNK;
  if (r->bytes_per_s && r->bucket.tokens < (double)want)
    want = r->bucket.tokens >= 1.0 ? (size_t)r->bucket.tokens : 1;
  ssize_t n = recv(r->up, r->buf, want, 0);
  if (n > 0) {
    if (r->client_open && ferry_send_all(r->client, r->buf, (size_t)n) < 0) {
      r->abort_up = r->hold_close;
      return ferry_error_set(err, errno, "relay: sending to the client");
    }
    r->st->to_client += (uint64_t)n;
    if (r->bytes_per_s)
      r->bucket.tokens -= (double)n;
  } else if (n == 0) {
    r->up_open = 0;
  } else if (errno != EINTR && errno != EAGAIN) {
    return ferry_error_set(err, errno, "relay: reading from %s", r->upstream);
  }
  return 0;
}

/* Requests from the client to the page server (a held session's close kept back). */
static int from_client(struct relay *r, ferry_error *err)
{
  ssize_t n = recv(r->client, r->buf, r->hold_close ? PS_IOV_SIZE - r->ps.len : CHUNK, 0);
  if (n > 0) {
    r->st->from_client += (uint64_t)n;
    if (r->hold_close ? ferry_ps_take(&r->ps, r->client, r->up, r->buf, (size_t)n, err) < 0
                      : ferry_send_all(r->up, r->buf, (size_t)n) < 0) {
      if (!r->hold_close)
        ferry_error_set(err, errno, "relay: sending to %s", r->upstream);
      r->abort_up = r->hold_close;
      return -1;
    }
  } else if (n == 0) {
    r->client_open = 0;
    if (r->hold_close && !r->ps.holding) { /* gone without its close: never an end for CRIU */
      r->abort_up = 1;
      return ferry_error_set(err, 0, "relay: the lazy-pages daemon went away before it closed the session");
    }
  } else if (errno != EINTR && errno != EAGAIN) {
    r->abort_up = r->hold_close;
    return ferry_error_set(err, errno, "relay: reading from the client");
  }
  return 0;
}

/* The relay's answer in path: its counts, its error (NULL: none); live: while it still runs. */
static int write_stats(const char *path, const struct ferry_relay_stats *st, const char *error, int live)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "bytesToClient", json_object_new_int64((int64_t)st->to_client));
  json_object_object_add(o, "bytesFromClient", json_object_new_int64((int64_t)st->from_client));
  json_object_object_add(o, "ms", json_object_new_int64((live ? ferry_now_mono_ms() : st->last_ms) - st->first_ms));
  json_object_object_add(o, "committed", json_object_new_boolean(st->committed));
  if (live)
    json_object_object_add(o, "live", json_object_new_boolean(1));
  if (error)
    json_object_object_add(o, "error", json_object_new_string(error));
  const char *s = json_object_to_json_string(o);
  ferry_error we = FERRY_ERROR_INIT;
  int rc = ferry_write_file_atomic(path, s, strlen(s), &we);
  ferry_error_clear(&we);
  json_object_put(o);
  return rc;
}

/* While it runs: the running count, every LIVE_EVERY_MS. */
static void write_live(struct relay *r)
{
  if (!r->live_path || ferry_now_mono_ms() < r->live_next_ms)
    return;
  r->live_next_ms = ferry_now_mono_ms() + LIVE_EVERY_MS;
  write_stats(r->live_path, r->st, NULL, 1);
}

/* Relays until either side ends (or, holding the close, until told to commit or abort). */
static int relay_loop(struct relay *r, ferry_error *err)
{
  while (r->up_open && (r->client_open || r->ps.holding)) {
    if (r->hold_close && relay_abort) {
      r->abort_up = 1;
      return ferry_error_set(err, ECANCELED, "relay: told to abort");
    }
    if (r->ps.holding && relay_commit) {
      if (commit_close(r->up, r->ps.held, err) < 0) {
        r->abort_up = 1;
        return -1;
      }
      r->st->committed = 1;
      return 0;
    }
    write_live(r);
    short up_events;
    int wait_ms = poll_plan(r, &up_events);
    if (r->live_path && (wait_ms < 0 || wait_ms > LIVE_EVERY_MS))
      wait_ms = LIVE_EVERY_MS;
    struct pollfd p[2] = { { r->up, up_events, 0 }, { r->client_open && !r->ps.holding ? r->client : -1, POLLIN, 0 } };
    if (poll(p, 2, wait_ms) < 0) {
      if (errno == EINTR)
        continue;
      return ferry_error_set(err, errno, "relay: poll");
    }
    if ((p[0].revents & READY) && from_upstream(r, err) < 0)
      return -1;
    if (p[1].fd >= 0 && (p[1].revents & READY) && from_client(r, err) < 0)
      return -1;
  }
  if (r->hold_close && !r->up_open && !r->st->committed)
    return ferry_error_set(err, 0, "relay: the page server ended the session");
  return 0;
}

static int relay_run(int listen_fd, const char *upstream, uint64_t bytes_per_s, int accept_timeout_ms, int hold_close,
                     const char *live_path, struct ferry_relay_stats *st, ferry_error *err)
{
  memset(st, 0, sizeof *st);
  if (await_client(listen_fd, upstream, accept_timeout_ms, hold_close, err) < 0)
    return -1;
  cleanup_close int client = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (client < 0)
    return ferry_error_set(err, errno, "relay: accept");
  st->first_ms = ferry_now_mono_ms();
  int up = ferry_tcp_connect(upstream, err);
  if (up < 0) {
    st->last_ms = ferry_now_mono_ms();
    return ferry_error_prefix(err, "relay");
  }
  int one = 1;
  if (setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
    close(up);
    return ferry_error_set(err, errno, "relay: TCP_NODELAY");
  }
  cleanup_free char *buf = ferry_malloc(CHUNK);
  struct relay r = { .client = client,
                     .up = up,
                     .client_open = 1,
                     .up_open = 1,
                     .hold_close = hold_close,
                     .bytes_per_s = bytes_per_s,
                     .upstream = upstream,
                     .buf = buf,
                     .st = st,
                     .live_path = live_path };
  ferry_bucket_init(&r.bucket, bytes_per_s);
  int rc = relay_loop(&r, err);
  /* Whichever side closed first, the other is told (it sees EOF) by closing both;
   * an aborted lazy session is reset so that CRIU thaws its source. */
  if (r.abort_up)
    reset_close(up);
  else
    close(up);
  close(ferry_steal_fd(&client));
  st->last_ms = ferry_now_mono_ms();
  return rc;
}

int ferry_relay_run(int listen_fd, const char *upstream, uint64_t bytes_per_s, int accept_timeout_ms, int hold_close,
                    struct ferry_relay_stats *st, ferry_error *err)
{
  return relay_run(listen_fd, upstream, bytes_per_s, accept_timeout_ms, hold_close, NULL, st, err);
}

int ferry_relay_spawn(int listen_fd, const char *upstream, uint64_t bytes_per_s, int accept_timeout_ms, int hold_close,
                      const char *stats_path, pid_t *pid, ferry_error *err)
{
  pid_t p = fork();
  if (p < 0) {
    int e = errno;
    close(listen_fd);
    return ferry_error_set(err, e, "fork the relay");
  }
  if (p == 0) {
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_commit;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_abort;
    sigaction(SIGUSR2, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct ferry_relay_stats st;
    ferry_error e = FERRY_ERROR_INIT;
    int rc = relay_run(listen_fd, upstream, bytes_per_s, accept_timeout_ms, hold_close, stats_path, &st, &e);
    int wrc = write_stats(stats_path, &st, rc < 0 ? ferry_error_msg(&e) : NULL, 0);
    _exit(rc < 0 || wrc < 0 ? 1 : 0);
  }
  close(listen_fd);
  *pid = p;
  return 0;
}

int ferry_relay_stats_load(const char *stats_path, struct ferry_relay_stats *st, ferry_error *err)
{
  memset(st, 0, sizeof *st);
  char *text = NULL;
  if (ferry_read_file(stats_path, &text, NULL, err) < 0)
    return ferry_error_prefix(err, "relay stats");
  json_object *o = json_tokener_parse(text), *v;
  free(text);
  if (!o)
    return ferry_error_set(err, 0, "relay stats %s: not JSON", stats_path);
  if (json_object_object_get_ex(o, "bytesToClient", &v))
    st->to_client = (uint64_t)json_object_get_int64(v);
  if (json_object_object_get_ex(o, "bytesFromClient", &v))
    st->from_client = (uint64_t)json_object_get_int64(v);
  if (json_object_object_get_ex(o, "ms", &v))
    st->last_ms = json_object_get_int64(v);
  if (json_object_object_get_ex(o, "error", &v))
    st->error = ferry_strdup(json_object_get_string(v));
  if (json_object_object_get_ex(o, "committed", &v))
    st->committed = json_object_get_boolean(v);
  json_object_put(o);
  return 0;
}

void ferry_relay_stats_free(struct ferry_relay_stats *st)
{
  free(st->error);
  memset(st, 0, sizeof *st);
}
