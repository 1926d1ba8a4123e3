/* SPDX-License-Identifier: Apache-2.0 */
/* ferry-runc: an OCI runtime that is runc, except that `create` of a container
 * whose pod asks to be restored (and was admitted on this node) restores it
 * from a Ferry image into the bundle the runtime prepared, and the `start` that
 * follows does nothing. */
#ifndef FERRY_RUNC_WRAPPER_H
#define FERRY_RUNC_WRAPPER_H

#include <json-c/json.h>

#include "base/error.h"

/* runc's global options as the caller gave them, and the command's. */
struct invocation {
  int argc;
  char **argv;      /* as called, argv[0] ours */
  int cmd_at;       /* index of the command in argv, or -1 */
  const char *root; /* --root (runc's default otherwise) */
  const char *log;  /* --log */
  int log_json;     /* --log-format json */
  const char *criu; /* --criu */
  const char *runc; /* the real runc */
};

/* The marker of a restored container: its `start` is a no-op. */
char *restored_marker(const struct invocation *in, const char *id);
/* delete: the container's restore forgotten, its marker and CRIU's work
 * directory (its logs) removed. */
void forget_restore(const struct invocation *in, const char *id);

/* Reports an error as runc does: a JSON line in --log (the shim reads the last
 * one) and on stderr. */
void report_error(const struct invocation *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An info line in --log only (during create, stdio belongs to the container). */
void report_info(const struct invocation *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The message of this process's last report_error ("" before any). */
const char *report_last_error(void);

/* create: restores when the bundle's annotations ask for it and the restore
 * was admitted; returns 1 when the container is a plain one (the caller passes
 * the command to runc), 0 when it was restored, -1 on a refused or failed
 * restore or a create of a departed container (reported). */
int maybe_restore(const struct invocation *in);

/* Holds the private copy copy_dir for this process (an flock on
 * copy_dir.lock, released as it ends, killed or not): the lock's descriptor
 * (close-on-exec), or -1 (err: held by another create, or the error). */
int copy_hold(const char *copy_dir, ferry_error *err);
/* Removes the lock file of copy_dir, removed itself (its lock still held). */
void copy_forget(const struct invocation *in, const char *copy_dir);
/* Removes every private copy under state that no ferry-runc holds (their
 * restores were killed), each said in --log. */
void copies_sweep(const struct invocation *in, const char *state);

/* Replaces this process with the real runc and the same arguments. */
int exec_runc(const struct invocation *in, char **argv);

#endif
