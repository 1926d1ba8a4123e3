/* SPDX-License-Identifier: Apache-2.0 */
/* What Ferry asks CRIU directly: its version, the kernel features it reports,
 * and the error lines of its logs (so a failure reads as CRIU's reason). */
#ifndef FERRY_CRIU_H
#define FERRY_CRIU_H

#include "base/error.h"

/* In a post-copy restore's work directory (the agent's `pages` step): CRIU's
 * lazy-pages daemon's socket, which the restore connects to, and the daemon's
 * record (base/pidrec.h), by which ferry-runc stops a restore the daemon left. */
#define FERRY_LAZY_SOCKET "lazy-pages.socket"
#define FERRY_LAZY_DAEMON_RECORD "lazy-pages.pid"

/* Default CRIU: $FERRY_CRIU, else /opt/ferry/criu/bin/criu when present, else "criu". */
const char *ferry_criu_default_path(void);
/* "4.2.1" from `criu --version`. */
int ferry_criu_version(const char *criu, char **version, ferry_error *err);
/* 1 supported, 0 not, -1 could not tell: `criu check --feature NAME`. */
int ferry_criu_feature(const char *criu, const char *feature);
/* Runs `criu check --all` and returns its combined output (caller frees). */
int ferry_criu_check_all(const char *criu, char **output, int *ok, ferry_error *err);
/* Up to max_lines "Error (...)" lines of a CRIU log, without timestamps, joined by
 * "; " (NULL when none or unreadable). Parses text so tests can feed it. */
char *ferry_criu_log_errors_text(const char *log_text, int max_lines);
char *ferry_criu_log_errors(const char *log_path, int max_lines);
/* "WHAT; CRIU (LOG): Error lines" or "WHAT (CRIU log: LOG)". Caller frees. */
char *ferry_criu_explain(const char *what, const char *log_path);
/* Writes a CRIU configuration file (one option per line) for options runc has no
 * flag for; *path is NULL when there is nothing to write. */
struct ferry_criu_conf {
  int tcp_close;      /* restore established TCP sockets closed */
  int skip_in_flight; /* dump: connections not yet accepted (in a listener's queue) are left out, not an error */
  int leave_stopped;  /* restore: the tasks are left stopped (SIGSTOP) at the end */
};
int ferry_criu_write_config(const char *dir, const struct ferry_criu_conf *conf, char **path, ferry_error *err);

/* Removes CRIU's network lock (its iptables chain "CRIU", jumped to from INPUT
 * and OUTPUT, IPv4 and IPv6) from the network namespace at netns_path. CRIU
 * locks a container's network for the dump and leaves it locked when it dies in
 * the middle of one: the container runs on but its traffic is dropped. Sets
 * *was_locked. */
int ferry_criu_netns_unlock(const char *netns_path, int *was_locked, ferry_error *err);

#endif
