/* SPDX-License-Identifier: Apache-2.0 */
#include "image/rootfs.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/path.h"
#include "base/util.h"

/* ---- mountinfo ---- */

static char *unescape(const char *s, size_t len)
{
  char *out = malloc(len + 1);
  if (!out)
    abort();
  size_t j = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '\\' && i + 3 < len + 1 && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
        s[i + 3] >= '0' && s[i + 3] <= '7') {
      out[j++] = (char)(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
      i += 3;
    } else {
      out[j++] = s[i];
    }
  }
  out[j] = '\0';
  return out;
}

/* Splits the next space-separated field of a mountinfo line. */
static const char *field(const char *p, const char *end, size_t *len)
{
  while (p < end && *p == ' ')
    p++;
  const char *e = p;
  while (e < end && *e != ' ')
    e++;
  *len = (size_t)(e - p);
  return p;
}

static char *opt_value(const char *opts, const char *key)
{
  size_t kl = strlen(key);
  const char *p = opts;
  while (p && *p) {
    const char *c = strchr(p, ',');
    size_t l = c ? (size_t)(c - p) : strlen(p);
    if (l > kl && strncmp(p, key, kl) == 0 && p[kl] == '=')
      return unescape(p + kl + 1, l - kl - 1);
    p = c ? c + 1 : NULL;
  }
  return NULL;
}

/* The mount point (field 5) of the mountinfo line at line (up to end), decoded. */
static char *line_mountpoint(const char *line, const char *end)
{
  const char *p = line;
  const char *f = NULL;
  size_t l = 0;
  for (int i = 0; i < 5; i++) {
    f = field(p, end, &l);
    p = f + l;
  }
  return unescape(f, l);
}

char **ferry_mountinfo_under(const char *mi, const char *dir, size_t *n)
{
  size_t dl = strlen(dir), cap = 0;
  char **out = NULL;
  *n = 0;
  for (const char *line = mi; line && *line;) {
    const char *end = strchr(line, '\n');
    if (!end)
      end = line + strlen(line);
    char *mp = line_mountpoint(line, end);
    if (strncmp(mp, dir, dl) == 0 && (mp[dl] == '\0' || mp[dl] == '/')) {
      if (*n == cap) {
        char **grown = realloc(out, (cap = cap ? 2 * cap : 8) * sizeof *out);
        if (!grown)
          abort();
        out = grown;
      }
      out[(*n)++] = mp;
    } else {
      free(mp);
    }
    line = *end ? end + 1 : end;
  }
  return out;
}

int ferry_mountinfo_find(const char *mi, const char *mountpoint, struct ferry_mount *m)
{
  memset(m, 0, sizeof *m);
  int found = -1;
  const char *line = mi;
  while (line && *line) {
    const char *end = strchr(line, '\n');
    if (!end)
      end = line + strlen(line);
    size_t l;
    const char *p = line;
    const char *f[5];
    size_t fl[5];
    for (int i = 0; i < 5; i++) {
      f[i] = field(p, end, &fl[i]);
      p = f[i] + fl[i];
    }
    char *mp = unescape(f[4], fl[4]);
    if (strcmp(mp, mountpoint) == 0) {
      /* Skip optional fields up to the "-" separator. */
      const char *x;
      do {
        x = field(p, end, &l);
        p = x + l;
      } while (l && !(l == 1 && *x == '-'));
      if (l == 1) {
        const char *fs = field(p, end, &l);
        size_t fsl = l;
        p = fs + l;
        const char *src = field(p, end, &l);
        p = src + l;
        const char *so = field(p, end, &l);
        ferry_mount_free(m);
        m->mountpoint = mp;
        mp = NULL;
        m->fstype = strndup(fs, fsl);
        m->superopts = strndup(so, l);
        if (!m->fstype || !m->superopts)
          abort();
        if (strcmp(m->fstype, "overlay") == 0)
          m->upperdir = opt_value(m->superopts, "upperdir");
        found = 0;
      }
    }
    free(mp);
    line = *end ? end + 1 : NULL;
  }
  return found;
}

void ferry_mount_free(struct ferry_mount *m)
{
  free(m->mountpoint);
  free(m->fstype);
  free(m->upperdir);
  free(m->superopts);
  memset(m, 0, sizeof *m);
}

/* ---- writing the diff ---- */

struct diff_writer {
  struct archive *out;
  struct archive *disk;
  const char *base;
  size_t base_len;
  int scan;
  int64_t since_ms;
  uint64_t entries;
  ferry_error *err;
  int failed;
};

static struct diff_writer *W; /* nftw has no user pointer */

static int archive_chunk(void *ctx, const void *buf, size_t n, ferry_error *err)
{
  struct archive *out = ctx;
  if (archive_write_data(out, buf, n) != (la_ssize_t)n)
    return ferry_error_set(err, archive_errno(out), "write rootfs diff: %s", archive_error_string(out));
  return 0;
}

static int copy_data(struct archive *out, const char *path, ferry_error *err)
{
  return ferry_read_chunks(path, 1 << 16, archive_chunk, out, NULL, err);
}

static int add_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)ftw;
  struct diff_writer *w = W;
  if (strlen(path) <= w->base_len)
    return 0; /* the root itself */
  const char *rel = path + w->base_len + 1;
  if (flag == FTW_NS || flag == FTW_DNR) {
    ferry_error_set(w->err, errno, "read %s", path);
    w->failed = 1;
    return 1;
  }
  if (S_ISSOCK(st->st_mode))
    return 0; /* sockets are recreated by their owners (CRIU restores bound ones) */
  if (w->scan) {
    int64_t ctime_ms = (int64_t)st->st_ctim.tv_sec * 1000 + st->st_ctim.tv_nsec / 1000000;
    if (ctime_ms < w->since_ms)
      return 0;
  }
  struct archive_entry *e = archive_entry_new();
  archive_entry_copy_sourcepath(e, path);
  if (archive_read_disk_entry_from_file(w->disk, e, -1, st) != ARCHIVE_OK) {
    ferry_error_set(w->err, 0, "read %s: %s", path, archive_error_string(w->disk));
    archive_entry_free(e);
    w->failed = 1;
    return 1;
  }
  archive_entry_copy_pathname(e, rel);
  if (archive_write_header(w->out, e) < ARCHIVE_WARN) {
    ferry_error_set(w->err, archive_errno(w->out), "write rootfs diff: %s", archive_error_string(w->out));
    archive_entry_free(e);
    w->failed = 1;
    return 1;
  }
  if (S_ISREG(st->st_mode) && st->st_size > 0 && copy_data(w->out, path, w->err) < 0) {
    archive_entry_free(e);
    w->failed = 1;
    return 1;
  }
  archive_entry_free(e);
  w->entries++;
  return 0;
}

/* Where the diff comes from: *base is the overlay's upper directory (*upper,
 * which the caller frees) or the root filesystem itself (real, *scan set), or
 * NULL for "none"; *used names the method applied. */
static int diff_source(const char *real, const char *method, const char **base, char **upper, int *scan,
                       const char **used, ferry_error *err)
{
  *base = NULL;
  *upper = NULL;
  *scan = 0;
  if (strcmp(method, "none") == 0) {
    *used = "none";
    return 0;
  }
  struct ferry_mount m = { 0 };
  cleanup_free char *mi = NULL;
  if (ferry_read_file("/proc/self/mountinfo", &mi, NULL, err) < 0)
    return -1;
  int is_overlay = ferry_mountinfo_find(mi, real, &m) == 0 && m.upperdir;
  int rc = 0;
  if (is_overlay && (strstr(m.superopts, "metacopy=on") || strstr(m.superopts, "redirect_dir=on"))) {
    rc = ferry_error_set(err, 0,
                         "root filesystem %s: overlay with metacopy or redirect_dir keeps data outside the "
                         "upper directory; use --rootfs-diff scan",
                         real);
  } else if (strcmp(method, "overlay") == 0 && !is_overlay) {
    rc = ferry_error_set(err, 0, "root filesystem %s is not an overlay mount (try --rootfs-diff scan)", real);
  } else if (strcmp(method, "overlay") == 0 || (strcmp(method, "auto") == 0 && is_overlay)) {
    *upper = ferry_strdup(m.upperdir);
    *base = *upper;
    *used = "overlay";
  } else if (strcmp(method, "scan") == 0 || strcmp(method, "auto") == 0) {
    *base = real;
    *scan = 1;
    *used = "scan";
  } else {
    rc = ferry_error_set(err, 0, "unknown --rootfs-diff method %s (auto, overlay, scan, none)", method);
  }
  ferry_mount_free(&m);
  return rc;
}

/* Every entry below base (changed since since_ms when scanning) into out. */
static int write_entries(struct archive *out, const char *base, int scan, int64_t since_ms, uint64_t *entries,
                         ferry_error *err)
{
  struct archive *disk = archive_read_disk_new();
  archive_read_disk_set_standard_lookup(disk);
  archive_read_disk_set_symlink_physical(disk);
  struct diff_writer w = { out, disk, base, strlen(base), scan, since_ms, 0, err, 0 };
  W = &w;
  int r = nftw(base, add_entry, 64, FTW_PHYS | FTW_MOUNT);
  W = NULL;
  int rc = 0;
  if (w.failed)
    rc = -1;
  else if (r != 0)
    rc = ferry_error_set(err, errno, "walk %s", base);
  *entries = w.entries;
  archive_read_free(disk);
  return rc;
}

int ferry_rootfs_diff_create(const char *rootfs, const char *method, int64_t since_ms, const char *tar_path,
                             const char **used, uint64_t *entries, ferry_error *err)
{
  char real[PATH_MAX];
  if (!realpath(rootfs, real))
    return ferry_error_set(err, errno, "root filesystem %s", rootfs);
  const char *base;
  cleanup_free char *upper = NULL;
  int scan;
  if (diff_source(real, method, &base, &upper, &scan, used, err) < 0)
    return -1;
  struct archive *out = archive_write_new();
  if (!out)
    return ferry_error_set(err, ENOMEM, "archive_write_new");
  archive_write_set_format_pax_restricted(out);
  if (archive_write_open_filename(out, tar_path) != ARCHIVE_OK) {
    ferry_error_set(err, archive_errno(out), "create %s: %s", tar_path, archive_error_string(out));
    archive_write_free(out);
    return -1;
  }
  *entries = 0;
  int rc = base ? write_entries(out, base, scan, since_ms, entries, err) : 0;
  if (archive_write_close(out) != ARCHIVE_OK && rc == 0)
    rc = ferry_error_set(err, archive_errno(out), "write %s: %s", tar_path, archive_error_string(out));
  archive_write_free(out);
  return rc;
}

/* ---- applying the diff ---- */

/* Resolves rel inside rootfd: symlinks are followed but never out of it (they
 * resolve as if rootfd were "/"). Where openat2 is missing (kernels before 5.6,
 * valgrind) every symlink is refused instead. */
static int open_in_root(int rootfd, const char *rel, int flags)
{
  struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC), .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
  int fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
  if (fd < 0 && errno == ENOSYS)
    fd = ferry_openat_walk(rootfd, rel, flags, 0);
  return fd;
}

static int rm_at(int dirfd, const char *name, ferry_error *err);

static int empty_dir_fd(int fd, ferry_error *err)
{
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return ferry_error_set(err, errno, "opendir");
  }
  struct dirent *de;
  int rc = 0;
  while (rc == 0 && (de = readdir(d)))
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
      rc = rm_at(dirfd(d), de->d_name, err);
  closedir(d);
  return rc;
}

static int rm_at(int dirfd, const char *name, ferry_error *err)
{
  if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return ferry_error_set(err, errno, "remove %s", name);
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return ferry_error_set(err, errno, "open %s", name);
  if (empty_dir_fd(fd, err) < 0)
    return -1;
  if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return ferry_error_set(err, errno, "rmdir %s", name);
  return 0;
}

/* Removes rel (resolved inside rootfd, symlinks never leaving it). */
static int whiteout(int rootfd, const char *rel, ferry_error *err)
{
  char *dup = ferry_strdup(rel);
  char *slash = strrchr(dup, '/');
  const char *name = slash ? slash + 1 : dup;
  int dfd =
      slash ? (*slash = '\0', open_in_root(rootfd, dup, O_RDONLY | O_DIRECTORY)) : fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
  int rc = 0;
  if (dfd < 0) {
    if (errno != ENOENT)
      rc = ferry_error_set(err, errno, "whiteout %s", rel);
  } else {
    rc = rm_at(dfd, name, err);
    if (rc < 0)
      ferry_error_prefix(err, "whiteout %s", rel);
    close(dfd);
  }
  free(dup);
  return rc;
}

static int is_opaque(struct archive_entry *e)
{
  const char *name;
  const void *value;
  size_t size;
  archive_entry_xattr_reset(e);
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK)
    if ((!strcmp(name, "trusted.overlay.opaque") || !strcmp(name, "user.overlay.opaque")) && size >= 1 &&
        ((const char *)value)[0] == 'y')
      return 1;
  return 0;
}

/* Drops overlay's own xattrs: they describe the upper layer, not the file. */
static void strip_overlay_xattrs(struct archive_entry *e)
{
  struct {
    char *name;
    void *value;
    size_t size;
  } keep[64];
  size_t n = 0;
  const char *name;
  const void *value;
  size_t size;
  archive_entry_xattr_reset(e);
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK && n < 64) {
    if (!strncmp(name, "trusted.overlay.", 16) || !strncmp(name, "user.overlay.", 13))
      continue;
    keep[n].name = ferry_strdup(name);
    keep[n].value = malloc(size ? size : 1);
    if (!keep[n].value)
      abort();
    memcpy(keep[n].value, value, size);
    keep[n].size = size;
    n++;
  }
  archive_entry_xattr_clear(e);
  for (size_t i = 0; i < n; i++) {
    archive_entry_xattr_add_entry(e, keep[i].name, keep[i].value, keep[i].size);
    free(keep[i].name);
    free(keep[i].value);
  }
}

/* The entry's path, checked to stay inside the root filesystem (a directory's
 * trailing '/', as tar writes it, dropped), as is a hard link's target. NULL
 * with err set when refused; the caller frees. */
static char *entry_rel(struct archive_entry *e, ferry_error *err)
{
  const char *p = archive_entry_pathname(e);
  if (!p) {
    ferry_error_set(err, 0, "rootfs diff: entry %s leaves the root filesystem", "(null)");
    return NULL;
  }
  char *rel = ferry_strdup(p);
  size_t l = strlen(rel);
  if (archive_entry_filetype(e) == AE_IFDIR && l > 1 && rel[l - 1] == '/')
    rel[l - 1] = '\0';
  const char *hl = archive_entry_hardlink(e);
  if (ferry_path_rel_ok(rel, err) < 0 || (hl && ferry_path_rel_ok(hl, err) < 0)) {
    ferry_error_prefix(err, "rootfs diff: entry %s leaves the root filesystem", p);
    free(rel);
    return NULL;
  }
  return rel;
}

/* What comes before writing an entry: a whiteout removes its path (returns 1:
 * nothing to write), an opaque directory is emptied first. */
static int remove_hidden(int rootfd, struct archive_entry *e, const char *rel, ferry_error *err)
{
  mode_t type = archive_entry_filetype(e);
  if (type == AE_IFCHR && archive_entry_rdev(e) == makedev(0, 0))
    return whiteout(rootfd, rel, err) < 0 ? -1 : 1;
  if (type == AE_IFDIR && is_opaque(e)) {
    int dfd = open_in_root(rootfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (dfd >= 0 && empty_dir_fd(dfd, err) < 0)
      return ferry_error_prefix(err, "opaque directory %s", rel);
  }
  return 0;
}

/* Points the entry (and a hard link's target: relative to the archive as well)
 * at the target root filesystem. */
static void retarget(struct archive_entry *e, const char *real, const char *rel)
{
  cleanup_free char *full = ferry_path_join(real, rel);
  archive_entry_copy_pathname(e, full);
  const char *hl = archive_entry_hardlink(e);
  if (hl) {
    cleanup_free char *fhl = ferry_path_join(real, hl);
    archive_entry_copy_hardlink(e, fhl);
  }
}

/* Writes the entry and its data to disk. */
static int extract_entry(struct archive *in, struct archive *out, struct archive_entry *e, const char *rel,
                         ferry_error *err)
{
  if (archive_write_header(out, e) < ARCHIVE_WARN)
    return ferry_error_set(err, archive_errno(out), "rootfs diff: extract %s: %s", rel, archive_error_string(out));
  if (archive_entry_size(e) > 0) {
    const void *buf;
    size_t size;
    la_int64_t off;
    int dr;
    while ((dr = archive_read_data_block(in, &buf, &size, &off)) == ARCHIVE_OK)
      if (archive_write_data_block(out, buf, size, off) < ARCHIVE_OK) {
        dr = ARCHIVE_FATAL;
        break;
      }
    if (dr != ARCHIVE_EOF)
      return ferry_error_set(err, archive_errno(out), "rootfs diff: extract %s: %s", rel,
                             archive_error_string(out) ? archive_error_string(out) : archive_error_string(in));
  }
  if (archive_write_finish_entry(out) < ARCHIVE_WARN)
    return ferry_error_set(err, archive_errno(out), "rootfs diff: finish %s: %s", rel, archive_error_string(out));
  return 0;
}

/* Every entry of the open archive in, applied below real (rootfd). */
static int apply_entries(struct archive *in, struct archive *out, int rootfd, const char *real, const char *tar_path,
                         uint64_t *n, ferry_error *err)
{
  struct archive_entry *e;
  int r;
  while ((r = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
    cleanup_free char *rel = entry_rel(e, err);
    if (!rel)
      return -1;
    int hidden = remove_hidden(rootfd, e, rel, err);
    if (hidden < 0)
      return -1;
    if (!hidden) {
      strip_overlay_xattrs(e);
      retarget(e, real, rel);
      if (extract_entry(in, out, e, rel, err) < 0)
        return -1;
    }
    (*n)++;
  }
  if (r != ARCHIVE_EOF)
    return ferry_error_set(err, archive_errno(in), "read %s: %s", tar_path, archive_error_string(in));
  return 0;
}

static struct archive *disk_writer(void)
{
  struct archive *out = archive_write_disk_new();
  archive_write_disk_set_options(out, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_TIME |
                                          ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_FFLAGS |
                                          ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                          ARCHIVE_EXTRACT_UNLINK);
  archive_write_disk_set_standard_lookup(out);
  return out;
}

int ferry_rootfs_diff_apply(const char *tar_path, const char *rootfs, uint64_t *entries, ferry_error *err)
{
  char real[PATH_MAX];
  if (!realpath(rootfs, real))
    return ferry_error_set(err, errno, "target root filesystem %s", rootfs);
  cleanup_close int rootfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return ferry_error_set(err, errno, "open %s", real);
  struct archive *in = archive_read_new();
  archive_read_support_format_tar(in);
  struct archive *out = disk_writer();
  int rc = 0;
  uint64_t n = 0;
  if (archive_read_open_filename(in, tar_path, 1 << 16) != ARCHIVE_OK)
    rc = ferry_error_set(err, archive_errno(in), "open %s: %s", tar_path, archive_error_string(in));
  else
    rc = apply_entries(in, out, rootfd, real, tar_path, &n, err);
  if (archive_write_close(out) != ARCHIVE_OK && rc == 0)
    rc = ferry_error_set(err, archive_errno(out), "rootfs diff: %s", archive_error_string(out));
  archive_write_free(out);
  archive_read_free(in);
  if (entries)
    *entries = n;
  return rc;
}
