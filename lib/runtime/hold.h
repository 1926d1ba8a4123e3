/* SPDX-License-Identifier: Apache-2.0 */
/* What keeps a container from running although runc says it runs: its cgroup
 * frozen, or its tasks stopped under a tracer (a CRIU dump that never ended
 * keeps them in ptrace stop with the cgroup thawed). A rollback is only true
 * once nothing holds the container. */
#ifndef FERRY_HOLD_H
#define FERRY_HOLD_H

#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"

struct ferry_hold {
  int frozen;           /* its freezer cgroup is frozen (v1 FROZEN or FREEZING, v2 cgroup.freeze 1) */
  size_t tasks;         /* threads looked at */
  size_t stopped;       /* of them in a stop (T) or a tracing stop (t) */
  pid_t tracer;         /* a process tracing one of them, 0 when none */
  char tracer_comm[32]; /* its name ("criu", "gdb"), "" when none */
};

/* Looks at every thread of the cgroup of the container whose init is pid
 * (just pid's threads when the cgroup cannot be read). */
int ferry_hold_inspect(pid_t pid, struct ferry_hold *h, ferry_error *err);
/* 1 when what holds the container is Ferry's to end: a frozen cgroup, or a
 * CRIU tracing it. A task a user stopped or traces (gdb, strace) is theirs. */
int ferry_hold_held(const struct ferry_hold *h);
/* "frozen", "stopped under criu (pid 123)", for messages. */
void ferry_hold_describe(const struct ferry_hold *h, char *buf, size_t len);
/* 1 when the tracer is a CRIU (ours: a dump that never ended), the one tracer
 * Ferry may end to release a container. */
int ferry_hold_tracer_is_criu(const struct ferry_hold *h);

#endif
