/* SPDX-License-Identifier: Apache-2.0 */
/* A process recorded by its PID and start time ("PID START\n" in a file), so
 * that another process can tell it from a later one that reused the PID; and a
 * process tree stopped at once. */
#ifndef FERRY_PIDREC_H
#define FERRY_PIDREC_H

#include <sys/types.h>

#include "base/error.h"

/* Field 22 of /proc/PID/stat, when the process started (0 when it is gone);
 * *state (if not NULL): its state letter (R, S, Z ...). */
unsigned long long ferry_pidrec_start_time(pid_t pid, char *state);
/* Writes PID's record to path (atomically, 0600). */
int ferry_pidrec_write(const char *path, pid_t pid, ferry_error *err);
/* 1 when the process path records still runs (not a zombie), else 0 (also when
 * path is missing or holds no record). */
int ferry_pidrec_alive(const char *path);
/* SIGKILL to root and every process descending from it (all stopped first, so
 * that none forks meanwhile); the caller reaps root if it is its child. */
void ferry_pidrec_kill_tree(pid_t root);

#endif
