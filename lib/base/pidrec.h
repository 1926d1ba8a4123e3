/* SPDX-License-Identifier: Apache-2.0 */
/* A process recorded by its PID and start time ("PID START\n" in a file), so
 * that another process can tell it from a later one that reused the PID; and a
 * process tree stopped at once. */
#ifndef FERRY_PIDREC_H
#define FERRY_PIDREC_H

#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"

/* Field 22 of /proc/PID/stat, when the process started (0 when it is gone);
 * *state (if not NULL): its state letter (R, S, Z ...). */
unsigned long long ferry_pidrec_start_time(pid_t pid, char *state);
/* 1 when pid runs, is no zombie, and started at start (its start time). */
int ferry_pidrec_running(pid_t pid, unsigned long long start);
/* Writes PID's record to path (atomically, 0600). */
int ferry_pidrec_write(const char *path, pid_t pid, ferry_error *err);
/* 1 when the process path records still runs (not a zombie), else 0 (also when
 * path is missing or holds no record). */
int ferry_pidrec_alive(const char *path);
/* A child of parent that ended and was not reaped yet (the first found), or 0. */
pid_t ferry_pidrec_zombie_child(pid_t parent);
/* SIGKILL to root and every process descending from it (all stopped first, so
 * that none forks meanwhile); the caller reaps root if it is its child. */
void ferry_pidrec_kill_tree(pid_t root);
/* The same for every process below root, root left running; how many. */
size_t ferry_pidrec_kill_descendants(pid_t root);

#endif
