/* SPDX-License-Identifier: Apache-2.0 */
/* The direct-transfer receiver (ferry_stream_receive): the input is what a sender
 * sends, "FERRY-IMAGE/1 TOKEN NAME\n" and a tar stream, written into a connection
 * to a Unix socket the receiver accepts on. The store is a directory of the
 * harness's; an image that verified and was published is removed again. */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz.h"
#include "image/store.h"
#include "image/stream.h"

#define TOKEN "5f0c3a9e0d4b7c2a1e8f6d3b9a0c7e4f2d1b8a6c5e3f0d9b7a2c4e6f8a1b3d5c"

static int listen_fd = -1;
static struct sockaddr_un addr = { .sun_family = AF_UNIX };
static struct ferry_store store;

static void setup(void)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  cleanup_free char *dir = ferry_path_join(fuzz_tmpdir(), "store");
  cleanup_free char *url = ferry_asprintf("dir://%s", dir);
  if (ferry_mkdir_p(dir, 0750, &err) < 0 || ferry_store_parse(url, &store, &err) < 0)
    abort();
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s/sock", fuzz_tmpdir());
  listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listen_fd, 1) < 0)
    abort();
}

/* A connection that already holds the input (as much as the socket takes) and its end. */
static int sender(const uint8_t *data, size_t len)
{
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
    abort();
  for (size_t off = 0; off < len;) {
    ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EAGAIN)
      break; /* the socket is full: the rest is cut off */
    if (n < 0)
      abort();
    off += (size_t)n;
  }
  if (shutdown(fd, SHUT_WR) < 0)
    abort();
  return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  if (listen_fd < 0)
    setup();
  cleanup_close int fd = sender(data, len); /* open until the receiver answered */
  (void)fd;
  cleanup_free char *name = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  uint64_t bytes = 0;
  if (ferry_stream_receive(listen_fd, TOKEN, &store, 1000, &name, &bytes, &err) == 0) {
    cleanup_free char *dir = ferry_store_image_dir(&store, name);
    if (ferry_rm_rf(dir, &err) < 0)
      abort();
  } else if (!err.msg) {
    abort();
  }
  return 0;
}
