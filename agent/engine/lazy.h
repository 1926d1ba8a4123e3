/* SPDX-License-Identifier: Apache-2.0 */
/* Post-copy's processes. On the source: `runc checkpoint --lazy-pages`, which
 * writes a small image, keeps the container frozen and serves its memory from
 * CRIU's page server, reached through a relay that bounds the bandwidth and counts
 * the bytes. On the target: CRIU's lazy-pages daemon, which the restored tasks'
 * userfaultfd faults go to, and which pulls every remaining page in the
 * background. The source is released when CRIU has sent the last page. */
#ifndef FERRY_LAZY_H
#define FERRY_LAZY_H

#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "runtime/runc.h"

#include <signal.h>

/* Set (by a SIGTERM handler) to give up waiting: the waits below then stop what
 * they wait for and fail. */
extern volatile sig_atomic_t lazy_stop;
/* Set (by a SIGUSR1 handler) when the target has every page: lazy_dump_finish
 * then lets CRIU release the source. */
extern volatile sig_atomic_t lazy_commit;
/* Handlers for the command line's post-copy waits: SIGTERM and SIGINT set
 * lazy_stop (the wait ends cleanly: CRIU stopped, the container thawed), SIGUSR1
 * sets lazy_commit (the agent daemon says the target has every page). */
void lazy_catch_signals(void);

struct lazy_source {
  pid_t dump_pid; /* leads the process group of runc and CRIU */
  pid_t relay_pid;
  char *page_server; /* ADDR:PORT the target's lazy-pages daemon connects to */
  char *result;      /* where the dump child writes why it failed */
  char *relay_stats;
};

/* Starts the lazy dump of container id and waits (at most timeout_ms) until the
 * image is written and the page server runs: from then on the container is
 * frozen. listen: ADDR:PORT for the relay (port 0: any). On failure everything
 * started is stopped and err says why (CRIU's own errors included). */
int lazy_dump_start(const struct ferry_runc *r, const char *id, const char *criu_dir, const char *work,
                    const struct ferry_criu_flags *flags, const char *criu_config, const char *listen,
                    uint64_t bytes_per_s, int timeout_ms, struct lazy_source *ls, ferry_error *err);
/* Ends the lazy dump before the target has everything: the relay resets CRIU's
 * session, CRIU fails the dump and thaws the container; what is left after a
 * while is killed (then the container may stay frozen: the caller thaws it). */
void lazy_dump_abort(struct lazy_source *ls);
/* The target has every page: CRIU may end the session and release the source. */
void lazy_dump_commit(struct lazy_source *ls);
/* Waits for CRIU to finish serving (at most timeout_ms), committing when
 * lazy_commit is set. 0: the target had every page and CRIU ended the source's
 * tasks; -1: it failed (*why), was stopped (lazy_stop) or timed out (then it is
 * aborted). */
int lazy_dump_finish(struct lazy_source *ls, int timeout_ms, char **why);
/* Bytes the relay moved to the target (0 when unknown). */
uint64_t lazy_source_bytes(const struct lazy_source *ls);
void lazy_source_free(struct lazy_source *ls);

/* Starts `criu lazy-pages` for the images in criu_dir with work as its work
 * directory (runc restore --lazy-pages must use the same one), fetching from
 * page_server; lazy_daemon_ready waits until its socket is there (the caller
 * prepares the restore meanwhile). lazy_daemon_start does both. */
int lazy_daemon_spawn(const char *criu, const char *criu_dir, const char *work, const char *page_server, pid_t *pid,
                      ferry_error *err);
int lazy_daemon_ready(const char *work, pid_t *pid, ferry_error *err);
int lazy_daemon_start(const char *criu, const char *criu_dir, const char *work, const char *page_server, pid_t *pid,
                      ferry_error *err);
/* Waits for the daemon (at most timeout_ms): 0 when every page arrived, -1 with
 * *why otherwise (killed on timeout). */
int lazy_daemon_wait(pid_t pid, const char *work, int timeout_ms, char **why);

/* Why post-copy cannot run on this node, or NULL when it can (caller frees):
 * userfaultfd missing, or fs.pipe-max-size below what CRIU's page server needs
 * while the process lacks CAP_SYS_RESOURCE to exceed it. */
char *lazy_unsupported_reason(void);

#endif
