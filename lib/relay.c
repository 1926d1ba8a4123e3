#include "relay.h"

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

#include "quantity.h"
#include "util.h"

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
  struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
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
      getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
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

int ferry_relay_run(int listen_fd, const char *upstream, uint64_t bytes_per_s, int accept_timeout_ms,
                    struct ferry_relay_stats *st, ferry_error *err)
{
  memset(st, 0, sizeof *st);
  struct pollfd lp = { listen_fd, POLLIN, 0 };
  int pr;
  do
    pr = poll(&lp, 1, accept_timeout_ms > 0 ? accept_timeout_ms : -1);
  while (pr < 0 && errno == EINTR);
  if (pr < 0)
    return ferry_error_set(err, errno, "relay: poll");
  if (pr == 0)
    return ferry_error_set(err, ETIMEDOUT, "relay: nobody connected within %d ms", accept_timeout_ms);
  int client = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (client < 0)
    return ferry_error_set(err, errno, "relay: accept");
  st->first_ms = ferry_now_mono_ms();
  int up = ferry_tcp_connect(upstream, err);
  if (up < 0) {
    close(client);
    st->last_ms = ferry_now_mono_ms();
    return ferry_error_prefix(err, "relay");
  }
  int one = 1;
  if (setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
    close(client);
    close(up);
    return ferry_error_set(err, errno, "relay: TCP_NODELAY");
  }
  struct ferry_bucket b;
  ferry_bucket_init(&b, bytes_per_s);
  char *buf = malloc(CHUNK);
  if (!buf)
    abort();
  int rc = 0, up_open = 1, client_open = 1;
  while (up_open && client_open) {
    int wait_ms = -1;
    short up_events = POLLIN;
    if (bytes_per_s) {
      ferry_bucket_fill(&b);
      if (b.tokens < 1.0) {
        /* Out of tokens: stop reading from the page server until enough came back. */
        up_events = 0;
        wait_ms = (int)((1.0 - b.tokens) * 1000.0 / (double)bytes_per_s) + 1;
      }
    }
    struct pollfd p[2] = { { up, up_events, 0 }, { client, POLLIN, 0 } };
    pr = poll(p, 2, wait_ms);
    if (pr < 0) {
      if (errno == EINTR)
        continue;
      rc = ferry_error_set(err, errno, "relay: poll");
      break;
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      size_t want = CHUNK;
      if (bytes_per_s && b.tokens < (double)want)
        want = b.tokens >= 1.0 ? (size_t)b.tokens : 1;
      ssize_t n = recv(up, buf, want, 0);
      if (n > 0) {
        if (ferry_send_all(client, buf, (size_t)n) < 0) {
          rc = ferry_error_set(err, errno, "relay: sending to the client");
          break;
        }
        st->to_client += (uint64_t)n;
        if (bytes_per_s)
          b.tokens -= (double)n;
      } else if (n == 0) {
        up_open = 0;
      } else if (errno != EINTR && errno != EAGAIN) {
        rc = ferry_error_set(err, errno, "relay: reading from %s", upstream);
        break;
      }
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = recv(client, buf, CHUNK, 0);
      if (n > 0) {
        if (ferry_send_all(up, buf, (size_t)n) < 0) {
          rc = ferry_error_set(err, errno, "relay: sending to %s", upstream);
          break;
        }
        st->from_client += (uint64_t)n;
      } else if (n == 0) {
        client_open = 0;
      } else if (errno != EINTR && errno != EAGAIN) {
        rc = ferry_error_set(err, errno, "relay: reading from the client");
        break;
      }
    }
  }
  /* Whichever side closed first, the other is told (it sees EOF) by closing both. */
  free(buf);
  close(up);
  close(client);
  st->last_ms = ferry_now_mono_ms();
  return rc;
}

int ferry_relay_spawn(int listen_fd, const char *upstream, uint64_t bytes_per_s, int accept_timeout_ms,
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
    struct ferry_relay_stats st;
    ferry_error e = FERRY_ERROR_INIT;
    int rc = ferry_relay_run(listen_fd, upstream, bytes_per_s, accept_timeout_ms, &st, &e);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "bytesToClient", json_object_new_int64((int64_t)st.to_client));
    json_object_object_add(o, "bytesFromClient", json_object_new_int64((int64_t)st.from_client));
    json_object_object_add(o, "ms", json_object_new_int64(st.last_ms - st.first_ms));
    if (rc < 0)
      json_object_object_add(o, "error", json_object_new_string(ferry_error_msg(&e)));
    const char *s = json_object_to_json_string(o);
    ferry_error we = FERRY_ERROR_INIT;
    int wrc = ferry_write_file_atomic(stats_path, s, strlen(s), &we);
    json_object_put(o);
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
  json_object_put(o);
  return 0;
}

void ferry_relay_stats_free(struct ferry_relay_stats *st)
{
  free(st->error);
  memset(st, 0, sizeof *st);
}
