/* SPDX-License-Identifier: Apache-2.0 */
/* A container's processes counted before a dump and looked at again after a
 * failed one. CRIU works inside each process it dumps (ptrace, its parasite):
 * killed at the wrong moment it can leave a process stopped (a group stop
 * delivered on its detach) or dead (its injected code left behind). A stopped
 * one is continued; a dead one is named, so that a failure never claims the
 * container untouched when it is not. */
#ifndef FERRY_RUNTIME_CENSUS_H
#define FERRY_RUNTIME_CENSUS_H

#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"

struct ferry_census_proc {
  pid_t pid;
  unsigned long long start; /* /proc/PID/stat's starttime: a reused pid is another process */
  char state;               /* R, S, D, T ... as /proc/PID/stat says */
  char comm[17];
};

struct ferry_census {
  struct ferry_census_proc *procs;
  size_t n;
};

/* The processes of the cgroup of the container whose init is pid (at most
 * max); init alone when its cgroup's processes cannot be read. -1 (err) when
 * not even init can be read. */
int ferry_census_take(pid_t init, size_t max, struct ferry_census *c, ferry_error *err);
void ferry_census_free(struct ferry_census *c);

/* What became of them: each one that is stopped now and was not is sent
 * SIGCONT (*continued counts them); each one gone (or a zombie) is named in
 * died ("pid 12 (workload), pid 14 (sh)"). Returns how many are gone. */
int ferry_census_check(const struct ferry_census *before, int *continued, char *died, size_t len);

/* One process's line of /proc/PID/stat read into p (pid set); -1 (err) when it cannot be read. */
int ferry_census_read(pid_t pid, struct ferry_census_proc *p, ferry_error *err);
/* The same from the text of a stat line (for the parser's tests). */
int ferry_census_parse_stat(const char *line, struct ferry_census_proc *p, ferry_error *err);

#endif
