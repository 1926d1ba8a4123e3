/* SPDX-License-Identifier: Apache-2.0 */
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t ferry_now_mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ferry_now_real_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ferry_format_time(int64_t unix_ms, char *buf, size_t len)
{
  time_t t = (time_t)(unix_ms / 1000);
  struct tm tm;
  if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf(buf, len, "1970-01-01T00:00:00Z");
}

void ferry_format_bytes(int64_t bytes, char *buf, size_t len)
{
  static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
  double v = (double)bytes;
  size_t u = 0;
  while ((v >= 1024 || v <= -1024) && u + 1 < sizeof units / sizeof *units) {
    v /= 1024;
    u++;
  }
  if (u == 0)
    snprintf(buf, len, "%lld B", (long long)bytes);
  else if (v < 10 && v > -10 && v != (double)(int64_t)v)
    snprintf(buf, len, "%.1f %s", v, units[u]);
  else
    snprintf(buf, len, "%.0f %s", v, units[u]);
}

int64_t ferry_parse_time_ms(const char *s)
{
  struct tm tm = { 0 };
  const char *rest = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
  if (!rest)
    return 0;
  int64_t ms = (int64_t)timegm(&tm) * 1000;
  if (*rest == '.') {
    int64_t frac = 0, scale = 100;
    for (rest++; *rest >= '0' && *rest <= '9'; rest++) {
      frac += (*rest - '0') * scale;
      scale /= 10;
    }
    ms += frac;
  }
  return ms;
}

/* The unit at *p (advanced past it): ms per unit, 0 when none. */
static int64_t duration_unit(const char **p)
{
  static const struct {
    const char *name;
    int64_t ms;
  } units[] = { { "ms", 1 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 } };
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (!strncmp(*p, units[i].name, strlen(units[i].name))) {
      *p += strlen(units[i].name);
      return units[i].ms;
    }
  return 0;
}

int ferry_parse_duration_ms(const char *s, int64_t *ms, ferry_error *err)
{
  if (!s || !*s)
    return ferry_error_set(err, 0, "empty duration (e.g. 24h, 30m, 90s)");
  *ms = 0;
  if (!strcmp(s, "0"))
    return 0;
  for (const char *p = s; *p;) {
    if (*p < '0' || *p > '9')
      return ferry_error_set(err, 0, "duration \"%s\": expected a number at \"%s\" (e.g. 24h, 30m, 90s)", s, p);
    char *end;
    errno = 0;
    long long n = strtoll(p, &end, 10);
    p = end;
    int64_t unit = duration_unit(&p);
    if (!unit)
      return ferry_error_set(err, 0, "duration \"%s\": a unit (h, m, s, ms) must follow each number", s);
    if (errno == ERANGE || n > (INT64_MAX - *ms) / unit)
      return ferry_error_set(err, 0, "duration \"%s\" is too long", s);
    *ms += n * unit;
  }
  return 0;
}

static void oom(void)
{
  fputs("ferry: out of memory\n", stderr);
  abort();
}

char *ferry_strdup(const char *s)
{
  char *r = strdup(s ? s : "");
  if (!r)
    oom();
  return r;
}

void *ferry_malloc(size_t n)
{
  void *p = malloc(n ? n : 1);
  if (!p)
    oom();
  return p;
}

char *ferry_vasprintf(const char *fmt, va_list ap)
{
  char *r = NULL;
  return vasprintf(&r, fmt, ap) < 0 ? NULL : r;
}

char *ferry_asprintf(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *r = ferry_vasprintf(fmt, ap);
  va_end(ap);
  if (!r)
    oom();
  return r;
}

char *ferry_path_join(const char *a, const char *b)
{
  size_t la = strlen(a);
  while (la > 1 && a[la - 1] == '/')
    la--;
  while (*b == '/')
    b++;
  return ferry_asprintf("%.*s/%s", (int)la, a, b);
}

int ferry_mkdir_p(const char *path, mode_t mode, ferry_error *err)
{
  char *p = ferry_strdup(path);
  for (char *s = p + 1; *s; s++) {
    if (*s != '/')
      continue;
    *s = '\0';
    if (mkdir(p, mode) < 0 && errno != EEXIST) {
      ferry_error_set(err, errno, "mkdir %s", p);
      free(p);
      return -1;
    }
    *s = '/';
  }
  int r = 0;
  if (mkdir(p, mode) < 0 && errno != EEXIST)
    r = ferry_error_set(err, errno, "mkdir %s", p);
  else if (!ferry_is_dir(p))
    r = ferry_error_set(err, ENOTDIR, "mkdir %s", p);
  free(p);
  return r;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st;
  (void)ftw;
  int r = (flag == FTW_DP) ? rmdir(path) : unlink(path);
  return (r < 0 && errno != ENOENT) ? errno : 0;
}

int ferry_rm_rf(const char *path, ferry_error *err)
{
  struct stat st;
  if (lstat(path, &st) < 0)
    return errno == ENOENT ? 0 : ferry_error_set(err, errno, "stat %s", path);
  int r = nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
  if (r != 0)
    return ferry_error_set(err, r > 0 ? r : errno, "remove %s", path);
  return 0;
}

int ferry_read_file(const char *path, char **out, size_t *len, ferry_error *err)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return ferry_error_set(err, errno, "open %s", path);
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap + 1);
  if (!buf)
    oom();
  for (;;) {
    if (n == cap) {
      cap *= 2;
      char *nb = realloc(buf, cap + 1);
      if (!nb)
        oom();
      buf = nb;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      int e = errno;
      free(buf);
      close(fd);
      return ferry_error_set(err, e, "read %s", path);
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = '\0';
  *out = buf;
  if (len)
    *len = n;
  return 0;
}

void ferry_hex(const unsigned char *in, size_t n, char *out)
{
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

int ferry_write_all(int fd, const void *data, size_t len)
{
  const char *p = data;
  while (len) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int ferry_write_file(const char *path, const void *data, size_t len, ferry_error *err)
{
  return ferry_write_file_mode(path, data, len, 0644, err);
}

int ferry_write_file_mode(const char *path, const void *data, size_t len, mode_t mode, ferry_error *err)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return ferry_error_set(err, errno, "create %s", path);
  if (fchmod(fd, mode) < 0 || ferry_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
    int e = errno;
    close(fd);
    return ferry_error_set(err, e, "write %s", path);
  }
  if (close(fd) < 0)
    return ferry_error_set(err, errno, "close %s", path);
  return 0;
}

int ferry_fsync_path(const char *path, ferry_error *err)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return ferry_error_set(err, errno, "open %s for fsync", path);
  if (fsync(fd) < 0 && errno != EINVAL && errno != EROFS) {
    int e = errno;
    close(fd);
    return ferry_error_set(err, e, "fsync %s", path);
  }
  close(fd);
  return 0;
}

int ferry_write_file_atomic(const char *path, const void *data, size_t len, ferry_error *err)
{
  char *tmp = ferry_asprintf("%s.tmp", path);
  if (ferry_write_file(tmp, data, len, err) < 0) {
    unlink(tmp);
    free(tmp);
    return -1;
  }
  if (rename(tmp, path) < 0) {
    ferry_error_set(err, errno, "rename %s to %s", tmp, path);
    unlink(tmp);
    free(tmp);
    return -1;
  }
  free(tmp);
  char *dir = ferry_strdup(path);
  char *slash = strrchr(dir, '/');
  if (slash)
    *(slash == dir ? slash + 1 : slash) = '\0';
  int r = ferry_fsync_path(slash ? dir : ".", err);
  free(dir);
  return r;
}

int ferry_read_chunks(const char *path, size_t chunk, ferry_chunk_fn fn, void *ctx, uint64_t *total, ferry_error *err)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return ferry_error_set(err, errno, "open %s", path);
  char *buf = malloc(chunk);
  if (!buf)
    oom();
  uint64_t sum = 0;
  int rc = 0;
  for (;;) {
    ssize_t n = read(fd, buf, chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      rc = ferry_error_set(err, errno, "read %s", path);
      break;
    }
    if (n == 0)
      break;
    if ((rc = fn(ctx, buf, (size_t)n, err)) < 0)
      break;
    sum += (uint64_t)n;
  }
  free(buf);
  close(fd);
  if (rc == 0 && total)
    *total = sum;
  return rc;
}

struct copy_ctx {
  int out;
  const char *dst;
};

static int write_chunk(void *ctx, const void *buf, size_t n, ferry_error *err)
{
  struct copy_ctx *c = ctx;
  return ferry_write_all(c->out, buf, n) < 0 ? ferry_error_set(err, errno, "write %s", c->dst) : 0;
}

int ferry_copy_file(const char *src, const char *dst, ferry_error *err)
{
  int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0)
    return ferry_error_set(err, errno, "create %s", dst);
  struct copy_ctx c = { out, dst };
  int r = ferry_read_chunks(src, 1 << 16, write_chunk, &c, NULL, err);
  if (r == 0 && fsync(out) < 0)
    r = ferry_error_set(err, errno, "fsync %s", dst);
  if (close(out) < 0 && r == 0)
    r = ferry_error_set(err, errno, "close %s", dst);
  return r;
}

static int fsync_tree_rec(int fd_dir, const char *path, int start_only, ferry_error *err)
{
  DIR *d = fdopendir(fd_dir);
  if (!d) {
    int e = errno;
    close(fd_dir);
    return ferry_error_set(err, e, "opendir %s", path);
  }
  int r = 0;
  struct dirent *de;
  errno = 0;
  while (r == 0 && (de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ELOOP) /* a symlink: nothing to sync */
        continue;
      r = ferry_error_set(err, errno, "open %s/%s", path, de->d_name);
      break;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
      r = ferry_error_set(err, errno, "stat %s/%s", path, de->d_name);
      close(fd);
      break;
    }
    if (S_ISDIR(st.st_mode)) {
      char *sub = ferry_path_join(path, de->d_name);
      r = fsync_tree_rec(fd, sub, start_only, err);
      free(sub);
    } else {
      if (S_ISREG(st.st_mode) && start_only) {
        /* Only start writeback; a later fsync waits for what is left. */
        if (sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) < 0 && errno != ESPIPE && errno != EINVAL)
          r = ferry_error_set(err, errno, "start writeback of %s/%s", path, de->d_name);
      } else if (S_ISREG(st.st_mode) && fsync(fd) < 0) {
        r = ferry_error_set(err, errno, "fsync %s/%s", path, de->d_name);
      }
      close(fd);
    }
  }
  if (r == 0 && errno != 0 && !de)
    r = ferry_error_set(err, errno, "readdir %s", path);
  if (r == 0 && !start_only && fsync(dirfd(d)) < 0 && errno != EINVAL)
    r = ferry_error_set(err, errno, "fsync %s", path);
  closedir(d);
  return r;
}

int ferry_fsync_tree(const char *path, ferry_error *err)
{
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return ferry_error_set(err, errno, "open %s", path);
  return fsync_tree_rec(fd, path, 0, err);
}

int ferry_writeback_tree(const char *path, ferry_error *err)
{
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return ferry_error_set(err, errno, "open %s", path);
  return fsync_tree_rec(fd, path, 1, err);
}

static __thread uint64_t tree_total;
static int add_size(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)path;
  (void)ftw;
  if (flag == FTW_F && S_ISREG(st->st_mode))
    tree_total += (uint64_t)st->st_size;
  return 0;
}

int ferry_tree_size(const char *path, uint64_t *out, ferry_error *err)
{
  tree_total = 0;
  if (nftw(path, add_size, 32, FTW_PHYS) != 0)
    return ferry_error_set(err, errno, "walk %s", path);
  *out = tree_total;
  return 0;
}

int ferry_path_exists(const char *path)
{
  struct stat st;
  return lstat(path, &st) == 0;
}

int ferry_is_dir(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}
