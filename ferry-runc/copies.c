/* SPDX-License-Identifier: Apache-2.0 */
/* ferry-runc's private copies of images (STATE/image-ID, see restore.c): each
 * held by its ferry-runc through an flock on STATE/image-ID.lock while it
 * restores. The copy goes when its restore ends; a ferry-runc killed first
 * (SIGKILL, the node's OOM killer) cannot remove it, and the lock it held is
 * released by the kernel: the next restore under the same state directory
 * finds copies nobody holds and removes them, with their locks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/path.h"
#include "base/util.h"
#include "ferry_runc.h"

#define COPY_PREFIX "image-"
#define LOCK_SUFFIX ".lock"

enum { HOLD_TRIES = 8 };

/* Waits for the lock (a sweep holds it briefly); a lock file a sweep removed
 * meanwhile is no lock: opened again. */
int copy_hold(const char *copy_dir, ferry_error *err)
{
  cleanup_free char *lock = ferry_asprintf("%s" LOCK_SUFFIX, copy_dir);
  for (int i = 0; i < HOLD_TRIES; i++) {
    cleanup_close int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
      return ferry_error_set(err, errno, "opening %s", lock);
    while (flock(fd, LOCK_EX) < 0)
      if (errno != EINTR)
        return ferry_error_set(err, errno, "locking %s", lock);
    struct stat held, named;
    if (fstat(fd, &held) < 0)
      return ferry_error_set(err, errno, "fstat %s", lock);
    if (stat(lock, &named) == 0 && named.st_dev == held.st_dev && named.st_ino == held.st_ino)
      return ferry_steal_fd(&fd);
  }
  return ferry_error_set(err, 0, "%s: removed each time it was locked", lock);
}

void copy_forget(const struct invocation *in, const char *copy_dir)
{
  cleanup_free char *lock = ferry_asprintf("%s" LOCK_SUFFIX, copy_dir);
  if (unlink(lock) < 0 && errno != ENOENT)
    report_info(in, "removing %s: %s", lock, strerror(errno));
}

/* STATE/NAME, a copy (or the lock a copy removed earlier left): removed with
 * its lock when no ferry-runc holds it. */
static void sweep_one(const struct invocation *in, const char *state, const char *name)
{
  cleanup_free char *dir = ferry_path_join(state, name);
  cleanup_free char *lock = ferry_asprintf("%s" LOCK_SUFFIX, dir);
  cleanup_close int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    report_info(in, "opening %s: %s", lock, strerror(errno));
    return;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) < 0)
    return; /* its restore runs */
  int had_copy = ferry_path_exists(dir);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_rm_rf(dir, &err) < 0) {
    report_info(in, "removing the private copy %s a killed ferry-runc left: %s", dir, ferry_error_msg(&err));
    return;
  }
  copy_forget(in, dir);
  if (had_copy)
    report_info(in, "removed the private copy %s a killed ferry-runc left", dir);
}

void copies_sweep(const struct invocation *in, const char *state)
{
  cleanup_dir DIR *d = opendir(state);
  if (!d) {
    if (errno != ENOENT)
      report_info(in, "opendir %s: %s", state, strerror(errno));
    return;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    char name[sizeof e->d_name];
    size_t n = strlen(e->d_name), ls = strlen(LOCK_SUFFIX);
    if (strncmp(e->d_name, COPY_PREFIX, strlen(COPY_PREFIX)) != 0)
      continue;
    int is_lock = n > ls && !strcmp(e->d_name + n - ls, LOCK_SUFFIX);
    snprintf(name, sizeof name, "%.*s", (int)(is_lock ? n - ls : n), e->d_name);
    cleanup_free char *dir = ferry_path_join(state, name);
    if (is_lock && ferry_path_exists(dir))
      continue; /* swept as the copy's own entry */
    sweep_one(in, state, name);
  }
}
