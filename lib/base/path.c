/* SPDX-License-Identifier: Apache-2.0 */
/* One rule for relative paths from outside input, and opening them below a
 * directory fd without following symlinks (see path.h). */
#include "base/path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/util.h"

/* Why the component s (l bytes) is refused, or NULL. */
static const char *component_problem(const char *s, size_t l)
{
  if (l == 0)
    return "an empty component";
  if (l == 1 && s[0] == '.')
    return "a \".\" component";
  if (l == 2 && s[0] == '.' && s[1] == '.')
    return "a \"..\" component";
  if (l > NAME_MAX)
    return "a component longer than NAME_MAX";
  return NULL;
}

int ferry_path_rel_ok(const char *rel, ferry_error *err)
{
  if (!rel || !*rel)
    return ferry_error_set(err, 0, "an empty path");
  if (*rel == '/')
    return ferry_error_set(err, 0, "an absolute path");
  size_t len = strnlen(rel, PATH_MAX);
  if (len >= PATH_MAX)
    return ferry_error_set(err, 0, "a path of PATH_MAX characters or more");
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)rel[i] < 0x20 || rel[i] == 0x7f)
      return ferry_error_set(err, 0, "a control character");
  for (const char *s = rel;;) {
    const char *slash = strchr(s, '/');
    size_t l = slash ? (size_t)(slash - s) : strlen(s);
    const char *problem = component_problem(s, l);
    if (problem)
      return ferry_error_set(err, 0, "%s", problem);
    if (!slash)
      return 0;
    s = slash + 1;
  }
}

static int rel_refused(const char *rel)
{
  cleanup_error ferry_error e = FERRY_ERROR_INIT;
  if (ferry_path_rel_ok(rel, &e) == 0)
    return 0;
  errno = EINVAL;
  return 1;
}

/* Opens the directory holding the last component of path (split in place) below
 * dirfd, one component at a time and never through a symlink; with make, each
 * missing directory is made (dir_mode) on the way. *leaf: the last component. */
static int open_parent(int dirfd, char *path, int make, mode_t dir_mode, char **leaf)
{
  int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
  char *part = path;
  for (char *slash; fd >= 0 && (slash = strchr(part, '/')); part = slash + 1) {
    *slash = '\0';
    int nfd = -1;
    if (!make || mkdirat(fd, part, dir_mode) == 0 || errno == EEXIST)
      nfd = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    close(fd);
    errno = e;
    fd = nfd;
  }
  *leaf = part;
  return fd;
}

int ferry_openat_walk(int dirfd, const char *rel, int flags, mode_t mode)
{
  if (rel_refused(rel))
    return -1;
  cleanup_free char *dup = ferry_strdup(rel);
  char *leaf;
  int parent = open_parent(dirfd, dup, 0, 0, &leaf);
  if (parent < 0)
    return -1;
  int fd = openat(parent, leaf, flags | O_NOFOLLOW | O_CLOEXEC, mode);
  int e = errno;
  close(parent);
  errno = e;
  return fd;
}

int ferry_openat_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
  if (rel_refused(rel))
    return -1;
  struct open_how how = {
    .flags = (uint64_t)(flags | O_CLOEXEC),
    .mode = (flags & O_CREAT) ? mode : 0,
    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
  };
  int fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
  if (fd < 0 && errno == ENOSYS)
    fd = ferry_openat_walk(dirfd, rel, flags, mode);
  return fd;
}

int ferry_createat_beneath(int dirfd, const char *rel, int flags, mode_t mode, mode_t dir_mode)
{
  if (rel_refused(rel))
    return -1;
  cleanup_free char *dup = ferry_strdup(rel);
  char *leaf;
  int parent = open_parent(dirfd, dup, 1, dir_mode, &leaf);
  if (parent < 0)
    return -1;
  close(parent);
  return ferry_openat_beneath(dirfd, rel, flags | O_CREAT, mode);
}
