/* SPDX-License-Identifier: Apache-2.0 */
#include "image/stream.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/path.h"
#include "base/util.h"
#include "image/manifest.h"
#include "runtime/relay.h"

#define MAGIC "FERRY-IMAGE/1"
#define CHUNK (256 * 1024)
#define PACE_SLICE 65536            /* bytes sent between two bucket takes */
#define TAR_BLOCK 65536             /* tar block size on the wire */
#define HEADER_TIMEOUT_MS 10000     /* for the sender's first line */
#define EARLY_REPLY_TIMEOUT_MS 2000 /* for a refusal sent while the image came */
#define REPLY_TIMEOUT_MS 600000     /* for the receiver's verdict (it verifies the image) */
#define DRAIN_MS 5000               /* a refused sender's bytes read and dropped */

static void archive_write_freep(struct archive **a)
{
  if (*a)
    archive_write_free(*a);
}
static void archive_read_freep(struct archive **a)
{
  if (*a)
    archive_read_free(*a);
}
#define cleanup_archive_write __attribute__((cleanup(archive_write_freep)))
#define cleanup_archive_read __attribute__((cleanup(archive_read_freep)))

int ferry_stream_token(char out[65], ferry_error *err)
{
  unsigned char r[32];
  if (RAND_bytes(r, sizeof r) != 1)
    return ferry_error_set(err, 0, "no random bytes for a transfer token");
  ferry_hex(r, sizeof r, out);
  OPENSSL_cleanse(r, sizeof r);
  return 0;
}

#define TOKEN_LABEL "ferry.dev/transfer-token/v1:"

int ferry_stream_token_for(const unsigned char key[32], const char *migration_uid, char out[65], ferry_error *err)
{
  if (!migration_uid || !*migration_uid)
    return ferry_error_set(err, EINVAL, "a transfer token needs the migration's UID");
  cleanup_free char *msg = ferry_asprintf(TOKEN_LABEL "%s", migration_uid);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key, 32, (const unsigned char *)msg, strlen(msg), mac, &len) || len != 32)
    return ferry_error_set(err, 0, "HMAC-SHA256 of the transfer token failed");
  ferry_hex(mac, len, out);
  OPENSSL_cleanse(mac, sizeof mac);
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
    size_t k = left > PACE_SLICE ? PACE_SLICE : left;
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

/* One regular file as a tar entry named rel. */
static int add_file(struct archive *a, const char *full, const char *rel, const struct stat *st, char *buf,
                    ferry_error *err)
{
  cleanup_close int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return ferry_error_set(err, errno, "open %s", full);
  struct archive_entry *e = archive_entry_new();
  archive_entry_set_pathname(e, rel);
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0640);
  archive_entry_set_size(e, st->st_size);
  int hr = archive_write_header(a, e);
  archive_entry_free(e);
  if (hr != ARCHIVE_OK)
    return ferry_error_set(err, 0, "tar header for %s: %s", rel, archive_error_string(a));
  ssize_t n;
  while ((n = read(fd, buf, CHUNK)) > 0)
    if (archive_write_data(a, buf, (size_t)n) != n)
      return ferry_error_set(err, 0, "sending %s: %s", rel, archive_error_string(a));
  if (n < 0)
    return ferry_error_set(err, errno, "read %s", full);
  return 0;
}

static int add_tree(struct archive *a, const char *root, const char *rel, char *buf, ferry_error *err)
{
  cleanup_free char *dir = rel ? ferry_path_join(root, rel) : ferry_strdup(root);
  cleanup_dir DIR *d = opendir(dir);
  if (!d)
    return ferry_error_set(err, errno, "opendir %s", dir);
  int rc = 0;
  struct dirent *de;
  while (rc == 0 && (de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    cleanup_free char *r = rel ? ferry_path_join(rel, de->d_name) : ferry_strdup(de->d_name);
    cleanup_free char *full = ferry_path_join(root, r);
    struct stat st;
    if (lstat(full, &st) < 0)
      rc = ferry_error_set(err, errno, "stat %s", full);
    else if (S_ISDIR(st.st_mode))
      rc = add_tree(a, root, r, buf, err);
    else if (S_ISREG(st.st_mode))
      rc = add_file(a, full, r, &st, buf, err);
    else
      rc = ferry_error_set(err, 0, "%s: an image holds regular files only", full);
  }
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

/* Why sending failed part-way: the receiver may have refused the image while it
 * was coming, and then its reason comes first. */
static int send_failed(int fd, struct sender *s, struct archive *a, const char *name, const char *addr,
                       ferry_error *err)
{
  char early[512];
  if (s->error && read_line(fd, early, sizeof early, EARLY_REPLY_TIMEOUT_MS) == 0 && !strncmp(early, "ERROR ", 6))
    return ferry_error_set(err, 0, "send image %s to %s: the receiver refused it: %s", name, addr, early + 6);
  if (!err->msg)
    ferry_error_set(err, s->error, "send image %s: %s", name, archive_error_string(a));
  return ferry_error_prefix(err, "send image %s to %s", name, addr);
}

/* The receiver's verdict once the whole image went. */
static int await_verdict(int fd, const char *name, const char *addr, ferry_error *err)
{
  char reply[512];
  if (read_line(fd, reply, sizeof reply, REPLY_TIMEOUT_MS) < 0)
    return ferry_error_set(err, 0, "send image %s to %s: the receiver closed without an answer", name, addr);
  if (strcmp(reply, "OK") != 0)
    return ferry_error_set(err, 0, "send image %s to %s: the receiver refused it: %s", name, addr,
                           strncmp(reply, "ERROR ", 6) ? reply : reply + 6);
  return 0;
}

int ferry_stream_send(const char *dir, const char *name, const char *addr, const char *token, uint64_t bytes_per_s,
                      uint64_t *bytes, ferry_error *err)
{
  cleanup_close int fd = ferry_tcp_connect(addr, err);
  if (fd < 0)
    return ferry_error_prefix(err, "send image %s", name);
  struct sender s = { .fd = fd };
  ferry_bucket_init(&s.bucket, bytes_per_s);
  cleanup_free char *head = ferry_asprintf("%s %s %s\n", MAGIC, token, name);
  cleanup_archive_write struct archive *a = archive_write_new();
  if (ferry_send_all(fd, head, strlen(head)) < 0)
    return ferry_error_set(err, errno, "send image %s to %s", name, addr);
  if (!a || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(a, TAR_BLOCK) != ARCHIVE_OK ||
      archive_write_open(a, &s, NULL, on_write, NULL) != ARCHIVE_OK)
    return ferry_error_set(err, s.error, "send image %s: %s", name, a ? archive_error_string(a) : "out of memory");
  cleanup_free char *buf = ferry_malloc(CHUNK);
  if (add_tree(a, dir, NULL, buf, err) < 0 || archive_write_close(a) != ARCHIVE_OK)
    return send_failed(fd, &s, a, name, addr, err);
  shutdown(fd, SHUT_WR);
  if (await_verdict(fd, name, addr, err) < 0)
    return -1;
  *bytes = s.bytes;
  return 0;
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

/* Writes the current entry's data into out (full: its path, for messages). */
static int write_entry_data(struct archive *a, int out, char *data, const char *rel, const char *full, ferry_error *err)
{
  la_ssize_t n;
  while ((n = archive_read_data(a, data, CHUNK)) > 0)
    if (ferry_write_all(out, data, (size_t)n) < 0)
      return ferry_error_set(err, errno, "write %s", full);
  if (n < 0)
    return ferry_error_set(err, 0, "receive %s: %s", rel, archive_error_string(a));
  return 0;
}

/* One tar entry: a regular file at a safe path, created below destfd (never
 * through a symlink, never over an existing file). */
static int unpack_entry(struct archive *a, struct archive_entry *e, int destfd, const char *dest, char *data,
                        ferry_error *err)
{
  const char *p = archive_entry_pathname(e);
  if (!p || archive_entry_filetype(e) != AE_IFREG)
    return ferry_error_set(err, 0, "receive: refusing entry %s (only regular files inside the image)",
                           p ? p : "(none)");
  if (ferry_path_rel_ok(p, err) < 0)
    return ferry_error_prefix(err, "receive: refusing entry %s (only regular files inside the image)", p);
  cleanup_free char *full = ferry_path_join(dest, p);
  cleanup_close int out = ferry_createat_beneath(destfd, p, O_WRONLY | O_EXCL, 0640, 0750);
  if (out < 0)
    return ferry_error_set(err, errno, "create %s", full);
  if (write_entry_data(a, out, data, p, full, err) < 0)
    return -1;
  if (close(ferry_steal_fd(&out)) < 0)
    return ferry_error_set(err, errno, "close %s", full);
  return 0;
}

static int unpack_entries(struct archive *a, struct receiver *r, const char *dest, ferry_error *err)
{
  cleanup_close int destfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (destfd < 0)
    return ferry_error_set(err, errno, "open %s", dest);
  cleanup_free char *data = ferry_malloc(CHUNK);
  archive_read_support_format_tar(a);
  if (archive_read_open(a, r, NULL, on_read, NULL) != ARCHIVE_OK)
    return ferry_error_set(err, 0, "receive: %s", archive_error_string(a));
  struct archive_entry *e;
  int h;
  while ((h = archive_read_next_header(a, &e)) == ARCHIVE_OK)
    if (unpack_entry(a, e, destfd, dest, data, err) < 0)
      return -1;
  if (h != ARCHIVE_EOF)
    return ferry_error_set(err, 0, "receive: %s", archive_error_string(a));
  return 0;
}

static int unpack(int fd, const char *dest, uint64_t *bytes, ferry_error *err)
{
  cleanup_free char *buf = ferry_malloc(CHUNK);
  cleanup_archive_read struct archive *a = archive_read_new();
  if (!a)
    abort();
  struct receiver r = { fd, buf, 0 };
  int rc = unpack_entries(a, &r, dest, err);
  *bytes = r.bytes;
  return rc;
}

/* The sender's first line: the magic, this transfer's token and a valid image name (into nm). */
static int read_header(int fd, const char *token, char nm[160], ferry_error *err)
{
  char line[512];
  if (read_line(fd, line, sizeof line, HEADER_TIMEOUT_MS) < 0)
    return ferry_error_set(err, 0, "receive: no header from the sender");
  char magic[32] = "", tok[80] = "";
  if (sscanf(line, "%31s %79s %159s", magic, tok, nm) != 3 || strcmp(magic, MAGIC) != 0 ||
      strlen(tok) != strlen(token) || CRYPTO_memcmp(tok, token, strlen(token)) != 0)
    return ferry_error_set(err, EACCES, "receive: refused a sender without this transfer's token");
  return ferry_image_name_valid(nm, err);
}

/* Unpacks into tmpdir and checks it is the image nm, whole. */
static int unpack_verified(int fd, const char *nm, const char *tmpdir, uint64_t *bytes, ferry_error *err)
{
  struct ferry_manifest m = { 0 };
  int rc = -1;
  if (unpack(fd, tmpdir, bytes, err) == 0 && ferry_manifest_load(tmpdir, &m, err) == 0 &&
      ferry_manifest_verify(tmpdir, &m, err) == 0) {
    if (strcmp(m.name, nm) == 0)
      rc = 0;
    else
      ferry_error_set(err, 0, "receive: the image is %s, the sender said %s", m.name, nm);
  }
  ferry_manifest_free(&m);
  return rc;
}

/* Receives the image into the store: *name set once it is published. */
static int receive_image(int fd, const char *token, const struct ferry_store *store, char **name, uint64_t *bytes,
                         ferry_error *err)
{
  char nm[160] = "";
  cleanup_free char *tmpdir = NULL;
  if (read_header(fd, token, nm, err) < 0 || ferry_store_begin(store, nm, &tmpdir, err) < 0)
    return -1;
  if (unpack_verified(fd, nm, tmpdir, bytes, err) < 0 ||
      ferry_store_publish(store, nm, tmpdir, FERRY_PUBLISH_DURABLE, err) < 0) {
    ferry_store_abort(tmpdir);
    return -1;
  }
  *name = ferry_strdup(nm);
  return 0;
}

/* "OK" or "ERROR reason" (on one line) to the sender. */
static void answer(int fd, int rc, const ferry_error *err)
{
  cleanup_free char *ans = rc == 0 ? ferry_strdup("OK\n") : ferry_asprintf("ERROR %s\n", ferry_error_msg(err));
  for (char *c = ans; *c && c[1]; c++)
    if (*c == '\n')
      *c = ' ';
  if (ferry_send_all(fd, ans, strlen(ans)) < 0)
    log_warn("receive: answering the sender: %s", strerror(errno));
}

int ferry_stream_receive(int listen_fd, const char *token, const struct ferry_store *store, int timeout_ms, char **name,
                         uint64_t *bytes, ferry_error *err)
{
  struct pollfd lp = { listen_fd, POLLIN, 0 };
  int pr;
  do
    pr = poll(&lp, 1, timeout_ms > 0 ? timeout_ms : -1);
  while (pr < 0 && errno == EINTR);
  if (pr <= 0)
    return ferry_error_set(err, pr == 0 ? ETIMEDOUT : errno, "receive: no image arrived");
  cleanup_close int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0)
    return ferry_error_set(err, errno, "receive: accept");
  *name = NULL;
  int rc = receive_image(fd, token, store, name, bytes, err);
  answer(fd, rc, err);
  /* a sender refused half-way still writes: read (and drop) what it sends for a
   * moment, so closing does not reset the connection before it read the answer */
  shutdown(fd, SHUT_WR);
  if (rc < 0) {
    char sink[65536];
    int64_t until = ferry_now_mono_ms() + DRAIN_MS;
    struct pollfd p = { fd, POLLIN, 0 };
    while (ferry_now_mono_ms() < until && poll(&p, 1, 200) > 0 && recv(fd, sink, sizeof sink, 0) > 0)
      ;
  }
  return rc;
}
