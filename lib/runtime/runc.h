/* SPDX-License-Identifier: Apache-2.0 */
/* runc, driven as containerd's shim drives it: one global --root per node, a
 * --log file per call whose JSON lines carry runc's own error messages. */
#ifndef FERRY_RUNC_H
#define FERRY_RUNC_H

#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

struct ferry_runc {
  const char *runc; /* binary */
  const char *criu; /* passed as --criu */
  const char *root; /* state root */
  const char *log;  /* --log file for this call's errors (optional) */
  int timeout_ms;   /* per call; 0: none */
  int same_group;   /* runc stays in the caller's process group (ferry_proc_fork_group) */
};

struct ferry_runc_state {
  char *id;
  pid_t pid;
  char *status; /* created, running, paused, stopped */
  char *bundle;
  char *rootfs;
  int64_t created_ms; /* unix ms, parsed from "created" */
};

/* Parses `runc state` output. Exposed for tests. */
int ferry_runc_parse_state(const char *json, struct ferry_runc_state *st, ferry_error *err);
/* Returns 0 and fills *st; -1 with ENOENT in err->errnum when there is no such container. */
int ferry_runc_state(const struct ferry_runc *r, const char *id, struct ferry_runc_state *st, ferry_error *err);
void ferry_runc_state_free(struct ferry_runc_state *st);
/* Every container of the root (`runc list --format json`): *out, *n (free with ferry_runc_list_free). */
int ferry_runc_list(const struct ferry_runc *r, struct ferry_runc_state **out, size_t *n, ferry_error *err);
int ferry_runc_parse_list(const char *json, struct ferry_runc_state **out, size_t *n, ferry_error *err);
void ferry_runc_list_free(struct ferry_runc_state *v, size_t n);
int ferry_runc_version(const char *runc, char **version, ferry_error *err);

struct ferry_criu_flags {
  int tcp_established, tcp_close, file_locks, ext_unix_sk, shell_job, leave_running;
  /* Restore: CRIU leaves the restored tasks stopped (SIGSTOP); the caller
   * lets them run (ferry_runc_kill_all CONT) once it checked what it must. */
  int leave_stopped;
  const char *manage_cgroups_mode;
  /* Post-copy. Checkpoint: CRIU keeps the frozen tasks and serves their memory
   * from a page server on page_server ("ADDR:PORT") once the dump is written, and
   * writes one byte to status_fd then. Restore: pages come from the lazy-pages
   * daemon whose socket is in the work directory. */
  int lazy_pages;
  const char *page_server;
  int status_fd;
  /* Restore: runc writes the restored init's pid there (--pid-file). */
  const char *pid_file;
};

/* Extra arguments for the CRIU options (the ones runc has flags for). */
int ferry_runc_checkpoint(const struct ferry_runc *r, const char *id, const char *image_path, const char *work_path,
                          const struct ferry_criu_flags *f, const char *criu_config, ferry_error *err);
/* `runc restore --detach`; stdio_in/out become the container's stdin and stdout+stderr. */
int ferry_runc_restore(const struct ferry_runc *r, const char *id, const char *bundle, const char *image_path,
                       const char *work_path, const struct ferry_criu_flags *f, const char *criu_config, int stdio_in,
                       int stdio_out, ferry_error *err);
int ferry_runc_run_detached(const struct ferry_runc *r, const char *id, const char *bundle, int stdio_in, int stdio_out,
                            ferry_error *err);
int ferry_runc_kill(const struct ferry_runc *r, const char *id, const char *signal, ferry_error *err);
/* The signal to every process of the container (runc kill --all). */
int ferry_runc_kill_all(const struct ferry_runc *r, const char *id, const char *signal, ferry_error *err);
int ferry_runc_delete_force(const struct ferry_runc *r, const char *id, ferry_error *err);
int ferry_runc_pause(const struct ferry_runc *r, const char *id, ferry_error *err);
int ferry_runc_resume(const struct ferry_runc *r, const char *id, ferry_error *err);
/* Kill and delete a container, then confirm it is gone (polls state). */
int ferry_runc_remove(const struct ferry_runc *r, const char *id, ferry_error *err);

/* The "msg" of error-level lines in a runc --log JSON file, joined by "; ";
 * NULL when there are none. Exposed for tests. */
char *ferry_runc_log_errors(const char *log_text);

#endif
