/* SPDX-License-Identifier: Apache-2.0 */
/* CRIU's kernel-feature cache, made where CRIU will not make it itself. */
#include "runtime/kdat.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/util.h"

/* Where CRIU keeps it: KDAT_RUNDIR, "/run" in Debian's and upstream's builds. */
#define KDAT_DIR "/run"
#define KDAT_NAME "criu.kdat"
#define KDAT_PATH KDAT_DIR "/" KDAT_NAME
/* CRIU's own temporary name; it renames it within milliseconds, or leaves it
 * behind for good when /run is not a tmpfs. */
#define KDAT_TMP_PATH KDAT_PATH ".tmp"
#define KDAT_TMP_STALE_S 10
#define CRIU_PROBE_MS 30000

const char *ferry_kdat_state_name(enum ferry_kdat_state s)
{
  switch (s) {
  case FERRY_KDAT_CACHED:
    return "cached";
  case FERRY_KDAT_CRIU:
    return "written by CRIU";
  case FERRY_KDAT_SEEDED:
    return "seeded";
  }
  return "unknown";
}

/* When this machine booted (btime of /proc/stat), 0 when unknown. */
static time_t boot_time(void)
{
  cleanup_free char *text = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_read_file("/proc/stat", &text, NULL, &err) < 0)
    return 0;
  const char *p = strstr(text, "\nbtime ");
  return p ? (time_t)strtoll(p + 7, NULL, 10) : 0;
}

/* A leftover CRIU temporary file keeps every later CRIU from writing the cache. */
static void drop_stale_tmp(void)
{
  struct stat st;
  if (lstat(KDAT_TMP_PATH, &st) < 0 || time(NULL) - st.st_mtime < KDAT_TMP_STALE_S)
    return;
  if (unlink(KDAT_TMP_PATH) < 0 && errno != ENOENT)
    log_warn("remove CRIU's stale %s: %s", KDAT_TMP_PATH, strerror(errno));
}

/* 1 when the cache was written since this boot; one from before is removed
 * (it describes the kernel that ran then). */
static int cache_fresh(void)
{
  struct stat st;
  if (lstat(KDAT_PATH, &st) < 0)
    return 0;
  time_t booted = boot_time();
  if (S_ISREG(st.st_mode) && st.st_size > 0 && booted > 0 && st.st_mtime >= booted)
    return 1;
  if (unlink(KDAT_PATH) < 0 && errno != ENOENT)
    log_warn("remove the stale %s: %s", KDAT_PATH, strerror(errno));
  return 0;
}

static int run_is_tmpfs(void)
{
  struct statfs s;
  return statfs(KDAT_DIR, &s) == 0 && s.f_type == TMPFS_MAGIC;
}

/* Any CRIU command probes the kernel and writes the cache when it may. */
static int criu_probe(const char *criu, ferry_error *err)
{
  const char *argv[] = { criu, "check", "--feature", "mnt_id", NULL };
  struct ferry_proc_opts o = FERRY_PROC_OPTS_INIT;
  o.argv = argv;
  o.timeout_ms = CRIU_PROBE_MS;
  struct ferry_proc_result res;
  if (ferry_proc_run(&o, &res, err) < 0)
    return -1;
  int timed_out = res.timed_out;
  ferry_proc_result_free(&res);
  return timed_out ? ferry_error_set(err, ETIMEDOUT, "%s check timed out", criu) : 0;
}

/* Copies the cache CRIU wrote under the private /run into the real one (run_fd). */
static int copy_seed(int run_fd)
{
  cleanup_free char *data = NULL;
  size_t len = 0;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_read_file(KDAT_PATH, &data, &len, &err) < 0 || len == 0)
    return 1;
  char seed[64]; /* one per seeding agent: two may seed at once */
  snprintf(seed, sizeof seed, "%s.ferry-%d", KDAT_NAME, (int)getpid());
  cleanup_close int fd = openat(run_fd, seed, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || ferry_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
    unlinkat(run_fd, seed, 0);
    return 2;
  }
  if (renameat(run_fd, seed, run_fd, KDAT_NAME) < 0) {
    unlinkat(run_fd, seed, 0);
    return 3;
  }
  return 0;
}

struct seed_ctx {
  const char *criu;
};

/* In a child: a mount namespace of its own with a tmpfs on /run, where CRIU
 * keeps its cache; the cache is then copied through a descriptor of the real
 * /run taken before the tmpfs hid it. Exit codes name the step that failed. */
static int seed_child(void *p)
{
  struct seed_ctx *c = p;
  if (unshare(CLONE_NEWNS) < 0)
    return 10;
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return 11;
  int run_fd = open(KDAT_DIR, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (run_fd < 0)
    return 12;
  if (mount("tmpfs", KDAT_DIR, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=1m") < 0)
    return 13;
  ferry_error err = FERRY_ERROR_INIT;
  int rc = criu_probe(c->criu, &err) < 0 ? 14 : copy_seed(run_fd);
  ferry_error_clear(&err);
  close(run_fd);
  return rc;
}

static const char *seed_step(int code)
{
  switch (code) {
  case 1:
    return "CRIU wrote no cache";
  case 2:
    return "writing a copy into " KDAT_DIR " failed";
  case 3:
    return "renaming it to " KDAT_PATH " failed";
  case 10:
    return "unshare(CLONE_NEWNS) failed (the agent needs CAP_SYS_ADMIN)";
  case 11:
    return "making the mounts private failed";
  case 12:
    return "opening " KDAT_DIR " failed";
  case 13:
    return "mounting a tmpfs on " KDAT_DIR " failed";
  case 14:
    return "running CRIU failed";
  default:
    return "the child failed";
  }
}

static int seed(const char *criu, ferry_error *err)
{
  struct seed_ctx c = { criu };
  pid_t pid;
  int code = 0;
  if (ferry_proc_fork_group(seed_child, &c, &pid, err) < 0)
    return -1;
  if (ferry_proc_wait_child(pid, CRIU_PROBE_MS + 5000, &code) != 1) {
    ferry_proc_kill_group(pid);
    return ferry_error_set(err, ETIMEDOUT, "making CRIU's cache %s in a private mount namespace timed out", KDAT_PATH);
  }
  if (code != 0)
    return ferry_error_set(err, 0, "making CRIU's cache %s in a private mount namespace: %s (exit %d)", KDAT_PATH,
                           seed_step(code), code);
  return 0;
}

int ferry_criu_kdat_ensure(const char *criu, enum ferry_kdat_state *state, ferry_error *err)
{
  drop_stale_tmp();
  if (cache_fresh()) {
    *state = FERRY_KDAT_CACHED;
    return 0;
  }
  if (run_is_tmpfs()) {
    if (criu_probe(criu, err) < 0)
      return -1;
    if (!ferry_path_exists(KDAT_PATH))
      return ferry_error_set(err, 0, "%s check wrote no %s although /run is a tmpfs", criu, KDAT_PATH);
    *state = FERRY_KDAT_CRIU;
    return 0;
  }
  if (seed(criu, err) < 0)
    return -1;
  *state = FERRY_KDAT_SEEDED;
  return 0;
}

void ferry_criu_kdat_prepare(const char *criu)
{
  enum ferry_kdat_state state;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_criu_kdat_ensure(criu, &state, &err) < 0)
    log_warn("every CRIU run probes the kernel first (about 100 ms each): %s", ferry_error_msg(&err));
  else if (state != FERRY_KDAT_CACHED)
    log_info("CRIU's kernel feature cache %s made (%s)", KDAT_PATH, ferry_kdat_state_name(state));
}
