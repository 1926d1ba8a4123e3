/* SPDX-License-Identifier: Apache-2.0 */
/* One request's life on a non-blocking socket of its own: connect, send, read
 * until the protocol says the reply is whole (or the server closed). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"

static int open_connect(const char *ip, int port, int *fd)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
  if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
    return -1;
  *fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (*fd < 0)
    return -1;
  if (connect(*fd, (struct sockaddr *)&sa, sizeof sa) == 0 || errno == EINPROGRESS)
    return 0;
  close(*fd);
  *fd = -1;
  return -1;
}

int request_start(struct request *r, const struct options *o, uint64_t seq, const char *ip, enum outcome *out)
{
  memset(r, 0, sizeof *r);
  r->fd = -1;
  r->seq = seq;
  r->sent_us = now_real_us();
  r->sent_mono_us = now_mono_us();
  snprintf(r->ip, sizeof r->ip, "%s", ip);
  r->out_len = proto_request(o, seq, r->out, sizeof r->out);
  if (!r->out_len || open_connect(ip, o->port, &r->fd) < 0) {
    *out = OUT_REFUSED;
    return 1;
  }
  r->state = REQ_CONNECTING;
  return 0;
}

short request_events(const struct request *r) { return r->state == REQ_READING ? POLLIN : POLLOUT; }

static int connected(struct request *r, enum outcome *out)
{
  int e = 0;
  socklen_t l = sizeof e;
  if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0 || e) {
    *out = OUT_REFUSED;
    return 1;
  }
  r->state = REQ_SENDING;
  return 0;
}

static int send_some(struct request *r, enum outcome *out)
{
  ssize_t n = send(r->fd, r->out + r->out_done, r->out_len - r->out_done, MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return 0;
  if (n < 0) {
    *out = OUT_RESET;
    return 1;
  }
  r->out_done += (size_t)n;
  if (r->out_done == r->out_len)
    r->state = REQ_READING;
  return 0;
}

static int read_some(struct request *r, const struct options *o, enum outcome *out)
{
  ssize_t n = recv(r->fd, r->reply + r->reply_len, REPLY_MAX - 1 - r->reply_len, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return 0;
  if (n < 0) {
    *out = OUT_RESET;
    return 1;
  }
  r->reply_len += (size_t)n;
  r->reply[r->reply_len] = 0;
  return proto_reply_done(o, r, n == 0, out);
}

int request_step(struct request *r, const struct options *o, short revents, enum outcome *out)
{
  if (r->state == REQ_CONNECTING && revents & (POLLOUT | POLLERR | POLLHUP) && connected(r, out))
    return 1;
  if (r->state == REQ_SENDING && send_some(r, out))
    return 1;
  if (r->state == REQ_READING && revents & (POLLIN | POLLERR | POLLHUP))
    return read_some(r, o, out);
  return 0;
}

void request_end(struct request *r)
{
  if (r->fd >= 0)
    close(r->fd);
  r->fd = -1;
  r->state = REQ_FREE;
}
