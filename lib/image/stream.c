#include "image/stream.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "image/manifest.h"
#include "runtime/relay.h"
#include "base/util.h"

#define MAGIC "FERRY-IMAGE/1"
#define CHUNK (256 * 1024)

int ferry_stream_token(char out[65], ferry_error *err)
{
  unsigned char r[32];
  if (RAND_bytes(r, sizeof r) != 1)
    return ferry_error_set(err, 0, "no random bytes for a transfer token");
  ferry_hex(r, sizeof r, out);
  OPENSSL_cleanse(r, sizeof r);
  return 0;
}

/* ---------- sending ---------- */

struct sender {
  int fd;
  struct ferry_bucket bucket;
  uint64_t bytes;
  int error;
};

static la_ssize_t on_write(struct archive *a, void *ctx, const void *buf, size_t n)
{
  (void)a;
  struct sender *s = ctx;
  const char *p = buf;
  size_t left = n;
  while (left) { /* in slices, so the bucket paces the stream evenly */
    size_t k = left > 65536 ? 65536 : left;
    ferry_bucket_take(&s->bucket, k);
    if (ferry_send_all(s->fd, p, k) < 0) {
      s->error = errno;
      return -1;
    }
    p += k;
    left -= k;
    s->bytes += k;
  }
  return (la_ssize_t)n;
}

static int add_tree(struct archive *a, const char *root, const char *rel, ferry_error *err)
{
  char *dir = rel ? ferry_path_join(root, rel) : ferry_strdup(root);
  DIR *d = opendir(dir);
  if (!d) {
    ferry_error_set(err, errno, "opendir %s", dir);
    free(dir);
    return -1;
  }
  int rc = 0;
  struct dirent *de;
  char *buf = malloc(CHUNK);
  if (!buf)
    abort();
  while (rc == 0 && (de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    char *r = rel ? ferry_path_join(rel, de->d_name) : ferry_strdup(de->d_name);
    char *full = ferry_path_join(root, r);
    struct stat st;
    if (lstat(full, &st) < 0) {
      rc = ferry_error_set(err, errno, "stat %s", full);
    } else if (S_ISDIR(st.st_mode)) {
      rc = add_tree(a, root, r, err);
    } else if (S_ISREG(st.st_mode)) {
      struct archive_entry *e = archive_entry_new();
      archive_entry_set_pathname(e, r);
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_perm(e, 0640);
      archive_entry_set_size(e, st.st_size);
      int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0) {
        rc = ferry_error_set(err, errno, "open %s", full);
      } else if (archive_write_header(a, e) != ARCHIVE_OK) {
        rc = ferry_error_set(err, 0, "tar header for %s: %s", r, archive_error_string(a));
      } else {
        ssize_t n;
        while ((n = read(fd, buf, CHUNK)) > 0)
          if (archive_write_data(a, buf, (size_t)n) != n) {
            rc = ferry_error_set(err, 0, "sending %s: %s", r, archive_error_string(a));
            break;
          }
        if (n < 0)
          rc = ferry_error_set(err, errno, "read %s", full);
      }
      if (fd >= 0)
        close(fd);
      archive_entry_free(e);
    } else {
      rc = ferry_error_set(err, 0, "%s: an image holds regular files only", full);
    }
    free(r);
    free(full);
  }
  free(buf);
  closedir(d);
  free(dir);
  return rc;
}

/* One line, at most max-1 bytes, without its newline. */
static int read_line(int fd, char *line, size_t max, int timeout_ms)
{
  size_t n = 0;
  while (n + 1 < max) {
    struct pollfd p = { fd, POLLIN, 0 };
    int pr = poll(&p, 1, timeout_ms);
    if (pr <= 0)
      return -1;
    char c;
    ssize_t r = recv(fd, &c, 1, 0);
    if (r <= 0)
      return -1;
    if (c == '\n') {
      line[n] = '\0';
      return 0;
    }
    line[n++] = c;
  }
  return -1;
}

int ferry_stream_send(const char *dir, const char *name, const char *addr, const char *token, uint64_t bytes_per_s,
                      uint64_t *bytes, ferry_error *err)
{
  int fd = ferry_tcp_connect(addr, err);
  if (fd < 0)
    return ferry_error_prefix(err, "send image %s", name);
  struct sender s = { .fd = fd };
  ferry_bucket_init(&s.bucket, bytes_per_s);
  char *head = ferry_asprintf("%s %s %s\n", MAGIC, token, name);
  struct archive *a = archive_write_new();
  int rc = -1;
  if (ferry_send_all(fd, head, strlen(head)) < 0) {
    ferry_error_set(err, errno, "send image %s to %s", name, addr);
    goto out;
  }
  if (!a || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(a, 65536) != ARCHIVE_OK ||
      archive_write_open(a, &s, NULL, on_write, NULL) != ARCHIVE_OK) {
    ferry_error_set(err, s.error, "send image %s: %s", name, a ? archive_error_string(a) : "out of memory");
    goto out;
  }
  if (add_tree(a, dir, NULL, err) < 0 || archive_write_close(a) != ARCHIVE_OK) {
    char early[512];
    /* the receiver may have refused the image while it was coming: its reason first */
    if (s.error && read_line(fd, early, sizeof early, 2000) == 0 && !strncmp(early, "ERROR ", 6)) {
      ferry_error_set(err, 0, "send image %s to %s: the receiver refused it: %s", name, addr, early + 6);
      goto out;
    }
    if (!err->msg)
      ferry_error_set(err, s.error, "send image %s: %s", name, archive_error_string(a));
    ferry_error_prefix(err, "send image %s to %s", name, addr);
    goto out;
  }
  shutdown(fd, SHUT_WR);
  char reply[512];
  if (read_line(fd, reply, sizeof reply, 600000) < 0) {
    ferry_error_set(err, 0, "send image %s to %s: the receiver closed without an answer", name, addr);
    goto out;
  }
  if (strcmp(reply, "OK") != 0) {
    ferry_error_set(err, 0, "send image %s to %s: the receiver refused it: %s", name, addr,
                    strncmp(reply, "ERROR ", 6) ? reply : reply + 6);
    goto out;
  }
  *bytes = s.bytes;
  rc = 0;
out:
  if (a)
    archive_write_free(a);
  free(head);
  close(fd);
  return rc;
}

/* ---------- receiving ---------- */

struct receiver {
  int fd;
  char *buf;
  uint64_t bytes;
};

static la_ssize_t on_read(struct archive *a, void *ctx, const void **out)
{
  (void)a;
  struct receiver *r = ctx;
  for (;;) {
    ssize_t n = recv(r->fd, r->buf, CHUNK, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    r->bytes += (uint64_t)n;
    *out = r->buf;
    return n;
  }
}

/* A relative path of plain components: no "..", no "." , no empty ones. */
static int safe_path(const char *p)
{
  if (!*p || *p == '/')
    return 0;
  const char *c = p;
  while (*c) {
    const char *e = strchr(c, '/');
    size_t l = e ? (size_t)(e - c) : strlen(c);
    if (l == 0 || (l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.'))
      return 0;
    c += l;
    if (*c == '/')
      c++;
  }
  return 1;
}

static int unpack(int fd, const char *dest, uint64_t *bytes, ferry_error *err)
{
  struct receiver r = { fd, malloc(CHUNK), 0 };
  struct archive *a = archive_read_new();
  char *data = malloc(CHUNK);
  int rc = -1;
  if (!r.buf || !a || !data)
    abort();
  archive_read_support_format_tar(a);
  if (archive_read_open(a, &r, NULL, on_read, NULL) != ARCHIVE_OK) {
    ferry_error_set(err, 0, "receive: %s", archive_error_string(a));
    goto out;
  }
  struct archive_entry *e;
  int h;
  while ((h = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    const char *p = archive_entry_pathname(e);
    if (!p || !safe_path(p) || archive_entry_filetype(e) != AE_IFREG) {
      ferry_error_set(err, 0, "receive: refusing entry %s (only regular files inside the image)", p ? p : "(none)");
      goto out;
    }
    char *full = ferry_path_join(dest, p), *parent = ferry_strdup(full);
    *strrchr(parent, '/') = '\0';
    int out = ferry_mkdir_p(parent, 0750, err) == 0 ? open(full, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640) : -1;
    if (out < 0 && !err->msg)
      ferry_error_set(err, errno, "create %s", full);
    int ok = out >= 0;
    la_ssize_t n;
    while (ok && (n = archive_read_data(a, data, CHUNK)) > 0) {
      size_t done = 0;
      while (done < (size_t)n) {
        ssize_t w = write(out, data + done, (size_t)n - done);
        if (w < 0 && errno == EINTR)
          continue;
        if (w < 0) {
          ferry_error_set(err, errno, "write %s", full);
          ok = 0;
          break;
        }
        done += (size_t)w;
      }
    }
    if (ok && n < 0) {
      ferry_error_set(err, 0, "receive %s: %s", p, archive_error_string(a));
      ok = 0;
    }
    if (out >= 0 && close(out) < 0 && ok) {
      ferry_error_set(err, errno, "close %s", full);
      ok = 0;
    }
    free(full);
    free(parent);
    if (!ok)
      goto out;
  }
  if (h != ARCHIVE_EOF) {
    ferry_error_set(err, 0, "receive: %s", archive_error_string(a));
    goto out;
  }
  rc = 0;
out:
  *bytes = r.bytes;
  archive_read_free(a);
  free(r.buf);
  free(data);
  return rc;
}

int ferry_stream_receive(int listen_fd, const char *token, const struct ferry_store *store, int timeout_ms,
                         char **name, uint64_t *bytes, ferry_error *err)
{
  struct pollfd lp = { listen_fd, POLLIN, 0 };
  int pr;
  do
    pr = poll(&lp, 1, timeout_ms > 0 ? timeout_ms : -1);
  while (pr < 0 && errno == EINTR);
  if (pr <= 0)
    return ferry_error_set(err, pr == 0 ? ETIMEDOUT : errno, "receive: no image arrived");
  int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0)
    return ferry_error_set(err, errno, "receive: accept");
  char line[512], *tmpdir = NULL;
  int rc = -1;
  *name = NULL;
  if (read_line(fd, line, sizeof line, 10000) < 0) {
    ferry_error_set(err, 0, "receive: no header from the sender");
    goto reply;
  }
  char magic[32] = "", tok[80] = "", nm[160] = "";
  if (sscanf(line, "%31s %79s %159s", magic, tok, nm) != 3 || strcmp(magic, MAGIC) != 0 ||
      strlen(tok) != strlen(token) || CRYPTO_memcmp(tok, token, strlen(token)) != 0) {
    ferry_error_set(err, EACCES, "receive: refused a sender without this transfer's token");
    goto reply;
  }
  if (ferry_image_name_valid(nm, err) < 0 || ferry_store_begin(store, nm, &tmpdir, err) < 0)
    goto reply;
  struct ferry_manifest m = { 0 };
  if (unpack(fd, tmpdir, bytes, err) < 0 || ferry_manifest_load(tmpdir, &m, err) < 0 ||
      ferry_manifest_verify(tmpdir, &m, err) < 0 || strcmp(m.name, nm) != 0) {
    if (m.name && strcmp(m.name, nm) != 0 && !err->msg)
      ferry_error_set(err, 0, "receive: the image is %s, the sender said %s", m.name, nm);
    ferry_manifest_free(&m);
    goto reply;
  }
  ferry_manifest_free(&m);
  if (ferry_store_publish(store, nm, tmpdir, err) < 0)
    goto reply;
  free(tmpdir);
  tmpdir = NULL;
  *name = ferry_strdup(nm);
  rc = 0;
reply:
  if (tmpdir)
    ferry_store_abort(tmpdir);
  free(tmpdir);
  {
    char *ans = rc == 0 ? ferry_strdup("OK\n") : ferry_asprintf("ERROR %s\n", ferry_error_msg(err));
    for (char *c = ans; *c && c[1]; c++)
      if (*c == '\n')
        *c = ' ';
    if (ferry_send_all(fd, ans, strlen(ans)) < 0)
      log_warn("receive: answering the sender: %s", strerror(errno));
    free(ans);
  }
  /* a sender refused half-way still writes: read (and drop) what it sends for a
   * moment, so closing does not reset the connection before it read the answer */
  shutdown(fd, SHUT_WR);
  if (rc < 0) {
    char sink[65536];
    int64_t until = ferry_now_mono_ms() + 5000;
    struct pollfd p = { fd, POLLIN, 0 };
    while (ferry_now_mono_ms() < until && poll(&p, 1, 200) > 0 && recv(fd, sink, sizeof sink, 0) > 0)
      ;
  }
  close(fd);
  return rc;
}
