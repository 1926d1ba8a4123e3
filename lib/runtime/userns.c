/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/userns.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"

/* The namespaces CRIU enters from the container's user namespace (criu/namespaces.c, check_user_ns). */
static const struct {
  const char *file, *name;
} entered[] = {
  { "net", "network" }, { "uts", "UTS" }, { "time", "time" }, { "ipc", "IPC" }, { "mnt", "mount" },
};

/* The identity of a namespace file (pid 0: this process's); 0 when it cannot be read. */
static int ns_of(pid_t pid, const char *file, struct stat *st)
{
  char path[64];
  if (pid)
    snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)pid, file);
  else
    snprintf(path, sizeof path, "/proc/self/ns/%s", file);
  return stat(path, st) == 0;
}

static int same_ns(const struct stat *a, const struct stat *b)
{
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* 1 when user namespace user owns pid's namespace file, itself or through its
 * descendants; 0 when not; -1 when it cannot be told. */
static int owned_by(pid_t pid, const char *file, const struct stat *user)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)pid, file);
  cleanup_close int ns = open(path, O_RDONLY | O_CLOEXEC);
  if (ns < 0)
    return -1;
  cleanup_close int owner = ioctl(ns, NS_GET_USERNS);
  struct stat st;
  while (owner >= 0 && fstat(owner, &st) == 0) {
    if (same_ns(&st, user))
      return 1;
    int parent = ioctl(owner, NS_GET_PARENT); /* EPERM above this process's own */
    close(owner);
    owner = parent;
  }
  return 0;
}

int ferry_container_undumpable_userns(pid_t init, char *why, size_t len)
{
  struct stat user, ours, ns, mine;
  if (!ns_of(init, "user", &user) || !ns_of(0, "user", &ours) || same_ns(&user, &ours))
    return 0;
  for (size_t i = 0; i < sizeof entered / sizeof entered[0]; i++) {
    if (!ns_of(init, entered[i].file, &ns) || (ns_of(0, entered[i].file, &mine) && same_ns(&ns, &mine)))
      continue; /* not the container's own: CRIU leaves it */
    if (owned_by(init, entered[i].file, &user) == 0) {
      snprintf(why, len,
               "it runs in a user namespace of its own that does not own its %s namespace, and CRIU checkpoints "
               "such a container only when its user namespace owns all its namespaces (create the %s namespace "
               "inside the container's user namespace, or run it without one)",
               entered[i].name, entered[i].name);
      return 1;
    }
  }
  return 0;
}
