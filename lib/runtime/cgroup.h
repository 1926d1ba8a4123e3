/* SPDX-License-Identifier: Apache-2.0 */
/* A process's cgroups, v1 (a hierarchy per controller) or v2 (unified, also on
 * the unified mount of a hybrid host): where a controller's directory is, and
 * the CPU time and memory a container's cgroup uses (the agent's per-pod load). */
#ifndef FERRY_CGROUP_H
#define FERRY_CGROUP_H

#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

/* The directory of pid's cgroup for a v1 controller ("freezer", "cpuacct",
 * "memory") when that hierarchy is mounted, else of its v2 cgroup (*v2 = 1).
 * NULL when /proc/PID/cgroup cannot be read or names neither. */
char *ferry_cgroup_dir(pid_t pid, const char *v1_controller, int *v2);
/* The first process of the cgroup process pid is in (its freezer's on v1), of
 * at most max, that fn finds something of (fn returns 1, saying what in why):
 * 1; 0 when none; -1 when the cgroup's processes cannot be read (fn was not called). */
int ferry_cgroup_find_proc(pid_t pid, size_t max, int (*fn)(pid_t proc, char *why, size_t len), char *why, size_t len);

/* The pids of the cgroup process pid is in (its freezer's on v1), at most
 * max, into out: how many; -1 when they cannot be read. */
int ferry_cgroup_pids(pid_t pid, pid_t *out, size_t max);

struct ferry_cgroup_usage {
  uint64_t cpu_usec;     /* CPU time used by the cgroup's tasks since it was made */
  uint64_t memory_bytes; /* memory charged to it now */
};

/* What the cgroup of the container whose init is pid used. -1 (err) when
 * neither the CPU nor the memory figure can be read. */
int ferry_cgroup_usage(pid_t pid, struct ferry_cgroup_usage *u, ferry_error *err);

#endif
