/* SPDX-License-Identifier: Apache-2.0 */
/* Running helper programs (runc, CRIU) with captured output and a deadline. */
#ifndef FERRY_PROC_H
#define FERRY_PROC_H

#include <sys/types.h>

#include "base/error.h"

struct ferry_proc_opts {
  const char *const *argv;    /* argv[0] is looked up in PATH */
  const char *const *env_add; /* NULL or NULL-terminated "NAME=VALUE" added to the environment */
  /* The child's stdio: -1 means /dev/null for stdin, captured for stdout/stderr. */
  int stdin_fd, stdout_fd, stderr_fd;
  int timeout_ms; /* 0: no deadline; past it the child's process group gets SIGKILL */
  int same_group; /* 1: the child stays in the caller's process group (see ferry_proc_fork_group) */
};

struct ferry_proc_result {
  int exited; /* 1 when the child exited (then exit_code is valid) */
  int exit_code;
  int signal;    /* the signal that killed it, else 0 */
  int timed_out; /* 1 when we killed it at the deadline */
  char *out;     /* captured stdout (NUL-terminated, never NULL after a run) */
  char *errout;  /* captured stderr */
};

#define FERRY_PROC_OPTS_INIT                                                                                           \
  {                                                                                                                    \
    NULL, NULL, -1, -1, -1, 0, 0                                                                                       \
  }

/* Runs the program to completion. Returns -1 only when it could not be run;
 * a non-zero exit is reported in *res, not as an error. */
int ferry_proc_run(const struct ferry_proc_opts *opts, struct ferry_proc_result *res, ferry_error *err);
void ferry_proc_result_free(struct ferry_proc_result *res);
/* 1 when the run exited 0. */
int ferry_proc_ok(const struct ferry_proc_result *res);
/* A one-line description: "exit status 1", "killed by signal 9", "timed out after N ms". */
const char *ferry_proc_describe(const struct ferry_proc_result *res, const struct ferry_proc_opts *opts, char *buf,
                                size_t len);
/* The argv joined by spaces (for logs); caller frees. */
char *ferry_proc_cmdline(const char *const *argv);

/* Runs fn(ctx) in a forked child that leads a process group of its own; the child
 * exits with fn's return value. Programs it runs with same_group stay in that
 * group, so ferry_proc_kill_group stops all of them at once. */
int ferry_proc_fork_group(int (*fn)(void *ctx), void *ctx, pid_t *pid, ferry_error *err);
/* Waits for a child at most timeout_ms (< 0: forever). Returns 1 when it ended
 * (*code: its exit status, or 128 + the signal that killed it), 0 when it still
 * runs, -1 on error. */
int ferry_proc_wait_child(pid_t pid, int timeout_ms, int *code);
/* 1 when capability cap (CAP_*) is in this process's effective set (capget(2)); 0 when not or it cannot tell. */
int ferry_proc_has_cap(int cap);
/* SIGKILL to pid's process group, then reaps pid. */
void ferry_proc_kill_group(pid_t pid);

/* Stdio for a container, as containerd's shim gives it: a pipe for stdin (EOF)
 * and one pipe for stdout+stderr whose read end a relay process (reparented to
 * init, in its own session) drains into log_path, appending, until the container
 * closes it. On success *in_fd and *out_fd are the ends to give the runtime as
 * its stdin and stdout/stderr; close them once the runtime has returned. */
int ferry_stdio_relay(const char *log_path, int *in_fd, int *out_fd, ferry_error *err);

#endif
