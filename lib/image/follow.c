/* SPDX-License-Identifier: Apache-2.0 */
#include "image/follow.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/path.h"
#include "base/util.h"

#define READ_CHUNK (1 << 20)

/* One memory file being followed. */
struct followed {
  char *path; /* PREFIX/NAME */
  int fd;
  uint64_t off;
  EVP_MD_CTX *ctx;
};

struct ferry_follow {
  char *dir, *prefix;
  int ino, stop; /* inotify, eventfd */
  pthread_t thread;
  struct followed *files;
  size_t n;
  unsigned char *buf;
  ferry_error err; /* the first failure; following ends at it */
};

static struct followed *find(struct ferry_follow *f, const char *path)
{
  for (size_t i = 0; i < f->n; i++)
    if (!strcmp(f->files[i].path, path))
      return &f->files[i];
  return NULL;
}

/* Starts following dir/name when it is a memory file not followed yet. */
static int track(struct ferry_follow *f, const char *name)
{
  cleanup_free char *path = ferry_path_join(f->prefix, name);
  if (!ferry_manifest_is_memory(path) || find(f, path))
    return 0;
  cleanup_free char *full = ferry_path_join(f->dir, name);
  int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return ferry_error_set(&f->err, errno, "open %s", full);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
    EVP_MD_CTX_free(ctx);
    close(fd);
    return ferry_error_set(&f->err, 0, "SHA-256 init failed");
  }
  struct followed *v = realloc(f->files, (f->n + 1) * sizeof *v);
  if (!v)
    abort();
  f->files = v;
  f->files[f->n++] = (struct followed){ .path = ferry_steal(&path), .fd = fd, .ctx = ctx };
  return 0;
}

/* Every memory file now in dir (at the start, and after a lost event). */
static int track_listing(struct ferry_follow *f)
{
  cleanup_dir DIR *d = opendir(f->dir);
  if (!d)
    return ferry_error_set(&f->err, errno, "list %s", f->dir);
  struct dirent *de;
  while ((de = readdir(d)))
    if (track(f, de->d_name) < 0)
      return -1;
  return 0;
}

/* Hashes what was written to each file since the last time. */
static int catch_up(struct ferry_follow *f)
{
  for (size_t i = 0; i < f->n; i++) {
    struct followed *v = &f->files[i];
    for (;;) {
      ssize_t r = read(v->fd, f->buf, READ_CHUNK);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return ferry_error_set(&f->err, errno, "read %s", v->path);
      if (r == 0)
        break;
      if (!EVP_DigestUpdate(v->ctx, f->buf, (size_t)r))
        return ferry_error_set(&f->err, 0, "SHA-256 update failed");
      v->off += (uint64_t)r;
    }
  }
  return 0;
}

/* The names inotify reported: files created or written to. */
static int read_events(struct ferry_follow *f)
{
  char ev[sizeof(struct inotify_event) * 64 + NAME_MAX + 1] __attribute__((aligned(__alignof__(struct inotify_event))));
  ssize_t len = read(f->ino, ev, sizeof ev);
  if (len < 0)
    return errno == EAGAIN || errno == EINTR ? 0 : ferry_error_set(&f->err, errno, "inotify on %s", f->dir);
  for (char *p = ev; p < ev + len;) {
    const struct inotify_event *e = (const struct inotify_event *)p;
    if (e->mask & IN_Q_OVERFLOW) {
      if (track_listing(f) < 0)
        return -1;
    } else if (e->len && track(f, e->name) < 0) {
      return -1;
    }
    p += sizeof *e + e->len;
  }
  return 0;
}

static void *follow_run(void *arg)
{
  struct ferry_follow *f = arg;
  struct pollfd pfd[2] = { { .fd = f->ino, .events = POLLIN }, { .fd = f->stop, .events = POLLIN } };
  for (;;) {
    if (poll(pfd, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      ferry_error_set(&f->err, errno, "poll");
      return NULL;
    }
    if (((pfd[0].revents & POLLIN) && read_events(f) < 0) || catch_up(f) < 0 || (pfd[1].revents & POLLIN))
      return NULL;
  }
}

static void follow_free(struct ferry_follow *f)
{
  for (size_t i = 0; i < f->n; i++) {
    free(f->files[i].path);
    close(f->files[i].fd);
    EVP_MD_CTX_free(f->files[i].ctx);
  }
  free(f->files);
  free(f->buf);
  free(f->dir);
  free(f->prefix);
  if (f->ino >= 0)
    close(f->ino);
  if (f->stop >= 0)
    close(f->stop);
  ferry_error_clear(&f->err);
  free(f);
}

int ferry_follow_start(const char *dir, const char *prefix, struct ferry_follow **out, ferry_error *err)
{
  struct ferry_follow *f = calloc(1, sizeof *f);
  if (!f)
    abort();
  *f = (struct ferry_follow){ .dir = ferry_strdup(dir), .prefix = ferry_strdup(prefix), .ino = -1, .stop = -1 };
  f->err = (ferry_error)FERRY_ERROR_INIT;
  f->buf = malloc(READ_CHUNK);
  if (!f->buf)
    abort();
  int e;
  if ((f->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0 ||
      inotify_add_watch(f->ino, dir, IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE) < 0 ||
      (f->stop = eventfd(0, EFD_CLOEXEC)) < 0) {
    ferry_error_set(err, errno, "follow %s", dir);
  } else if (track_listing(f) < 0) {
    ferry_error_set(err, 0, "%s", ferry_error_msg(&f->err));
  } else if ((e = pthread_create(&f->thread, NULL, follow_run, f)) != 0) {
    ferry_error_set(err, e, "a thread to follow %s", dir);
  } else {
    *out = f;
    return 0;
  }
  follow_free(f);
  return -1;
}

/* Tells the thread to end and waits for it. */
static void follow_end(struct ferry_follow *f)
{
  uint64_t one = 1;
  if (write(f->stop, &one, sizeof one) != sizeof one)
    pthread_cancel(f->thread); /* not woken: poll and read are cancellation points */
  pthread_join(f->thread, NULL);
}

int ferry_follow_finish(struct ferry_follow *f, struct ferry_manifest *known, ferry_error *err)
{
  follow_end(f);
  /* the writer has ended: whatever it wrote since the thread's last pass */
  int rc = f->err.msg ? -1 : track_listing(f) < 0 || catch_up(f) < 0 ? -1 : 0;
  if (rc < 0) {
    ferry_error_set(err, 0, "hashing the memory files while they were written: %s", ferry_error_msg(&f->err));
    follow_free(f);
    return -1;
  }
  for (size_t i = 0; i < f->n; i++) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (!EVP_DigestFinal_ex(f->files[i].ctx, md, &len) || len < 32) {
      follow_free(f);
      return ferry_error_set(err, 0, "SHA-256 final failed");
    }
    struct ferry_manifest_file *k = ferry_manifest_add(known, f->files[i].path);
    k->size = f->files[i].off;
    ferry_hex(md, 32, k->sha256);
  }
  follow_free(f);
  return 0;
}

void ferry_follow_cancel(struct ferry_follow *f)
{
  if (!f)
    return;
  follow_end(f);
  follow_free(f);
}
