/* SPDX-License-Identifier: Apache-2.0 */
/* A container's cgroup frozen, thawed or signalled directly (see freeze.h). */
#include "runtime/freeze.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/util.h"
#include "runtime/cgroup.h"

/* How long a freeze may take to settle: tasks in uninterruptible sleep keep a
 * v1 freezer in FREEZING until they wake (runc gives up after about a second). */
#define FREEZE_WAIT_MS 2000
#define FREEZE_POLL_US 200

struct freezer {
  char *dir;
  int v2;
};

static void freezer_free(struct freezer *f) { free(f->dir); }

static int freezer_find(pid_t pid, struct freezer *f, ferry_error *err)
{
  f->dir = ferry_cgroup_dir(pid, "freezer", &f->v2);
  if (!f->dir)
    return ferry_error_set(err, ENOENT, "no freezer cgroup for process %d (/proc/%d/cgroup)", (int)pid, (int)pid);
  return 0;
}

static int write_state(const struct freezer *f, enum ferry_freeze what, ferry_error *err)
{
  const char *file = f->v2 ? "cgroup.freeze" : "freezer.state";
  const char *v1 = what == FERRY_FREEZE ? "FROZEN" : "THAWED", *v2 = what == FERRY_FREEZE ? "1" : "0";
  const char *value = f->v2 ? v2 : v1;
  cleanup_free char *path = ferry_path_join(f->dir, file);
  cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return ferry_error_set(err, errno, "open %s", path);
  if (ferry_write_all(fd, value, strlen(value)) < 0)
    return ferry_error_set(err, errno, "write %s to %s", value, path);
  return 0;
}

/* 1 when the cgroup reached what was asked, 0 not yet, -1 unreadable. */
static int reached(const struct freezer *f, enum ferry_freeze what)
{
  cleanup_free char *path = ferry_path_join(f->dir, f->v2 ? "cgroup.events" : "freezer.state");
  cleanup_free char *text = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_read_file(path, &text, NULL, &err) < 0)
    return -1;
  if (f->v2)
    return strstr(text, what == FERRY_FREEZE ? "frozen 1" : "frozen 0") != NULL;
  return !strncmp(text, what == FERRY_FREEZE ? "FROZEN" : "THAWED", 6);
}

int ferry_cgroup_freeze(pid_t pid, enum ferry_freeze what, ferry_error *err)
{
  struct freezer f __attribute__((cleanup(freezer_free))) = { 0 };
  if (freezer_find(pid, &f, err) < 0)
    return -1;
  int64_t deadline = ferry_now_mono_ms() + FREEZE_WAIT_MS;
  for (;;) {
    /* v1 may stop in FREEZING: writing FROZEN again retries the tasks not yet frozen */
    if (write_state(&f, what, err) < 0)
      return -1;
    int r = reached(&f, what);
    if (r < 0)
      return ferry_error_set(err, errno, "read the freezer state in %s", f.dir);
    if (r == 1)
      return 0;
    if (ferry_now_mono_ms() >= deadline)
      return ferry_error_set(err, ETIMEDOUT, "%s did not get %s within %d ms", f.dir,
                             what == FERRY_FREEZE ? "frozen" : "thawed", FREEZE_WAIT_MS);
    nanosleep(&(struct timespec){ 0, FREEZE_POLL_US * 1000L }, NULL);
  }
}

int ferry_cgroup_signal_all(pid_t pid, int sig, ferry_error *err)
{
  struct freezer f __attribute__((cleanup(freezer_free))) = { 0 };
  if (freezer_find(pid, &f, err) < 0)
    return -1;
  cleanup_free char *path = ferry_path_join(f.dir, "cgroup.procs");
  cleanup_file FILE *fp = fopen(path, "re");
  if (!fp)
    return ferry_error_set(err, errno, "open %s", path);
  long p;
  size_t sent = 0;
  while (fscanf(fp, "%ld", &p) == 1) {
    if (kill((pid_t)p, sig) < 0 && errno != ESRCH)
      return ferry_error_set(err, errno, "signal %d to process %ld of %s", sig, p, f.dir);
    sent++;
  }
  if (!sent)
    return ferry_error_set(err, ESRCH, "no process in %s", f.dir);
  return 0;
}
