/* SPDX-License-Identifier: Apache-2.0 */
/* What the lazy-pages daemon sends the relay of a held session (ferry_ps_take,
 * as from_client reads it, at most the rest of a record at a time): every
 * request before the close goes upstream whole, the close is answered and held. */
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "runtime/relay.h"

/* Reads what came out of fd (non-blocking) and returns how many bytes. */
static size_t drain(int fd)
{
  char buf[4096];
  size_t total = 0;
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
    total += (size_t)n;
  return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  int client[2], up[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, client) < 0)
    abort();
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, up) < 0)
    abort();
  struct ferry_ps_reader r = { 0 };
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  size_t at = 0, requests = 0, forwarded = 0;
  while (at < len && !r.holding) {
    size_t n = len - at < PS_IOV_SIZE - r.len ? len - at : PS_IOV_SIZE - r.len;
    if (ferry_ps_take(&r, client[0], up[0], (const char *)data + at, n, &err) < 0)
      abort(); /* both sockets are open */
    at += n;
    requests += r.len == 0 && !r.holding;
    forwarded += drain(up[1]);
  }
  if (forwarded != requests * PS_IOV_SIZE || drain(client[1]) != (r.holding ? 4 : 0))
    abort(); /* whole requests upstream, an int32 answer to the close */
  close(client[0]);
  close(client[1]);
  close(up[0]);
  close(up[1]);
  return 0;
}
