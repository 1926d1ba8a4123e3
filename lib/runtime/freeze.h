/* SPDX-License-Identifier: Apache-2.0 */
/* Pausing, resuming and signalling a container through its cgroup, as `runc
 * pause`, `runc resume` and `runc kill --all` do, without starting runc (about
 * 25 ms each on a small node, inside a move's downtime). The freezer is v1's
 * when that hierarchy is mounted (runc uses it then), else v2's cgroup.freeze;
 * runc reports the container "paused" either way. */
#ifndef FERRY_FREEZE_H
#define FERRY_FREEZE_H

#include <sys/types.h>

#include "base/error.h"

enum ferry_freeze { FERRY_FREEZE, FERRY_THAW };

/* Freezes (or thaws) the cgroup of the container whose init is pid and waits
 * until the kernel says it is done. -1 (err) when the cgroup cannot be found or
 * does not get there. */
int ferry_cgroup_freeze(pid_t pid, enum ferry_freeze what, ferry_error *err);
/* Sends sig to every process of the cgroup of the container whose init is pid. */
int ferry_cgroup_signal_all(pid_t pid, int sig, ferry_error *err);

#endif
