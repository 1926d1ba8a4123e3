/* SPDX-License-Identifier: Apache-2.0 */
/* What the engine's files share and its callers do not see: the result setter,
 * work directories, the checkpoint and restore cores that migrate.c runs back to
 * back, and the source's recovery (rollback) after the freeze. */
#ifndef FERRY_ENGINE_COMMON_H
#define FERRY_ENGINE_COMMON_H

#include <pthread.h>

#include "base/error.h"
#include "engine/engine.h"
#include "image/manifest.h"
#include "runtime/runc.h"

struct lazy_source;

/* common.c */
void engine_set_result(struct engine_result *r, enum engine_exit code, const char *outcome, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
struct ferry_runc engine_runc_for(const struct engine_opts *o, const char *root, const char *log);
/* A fresh work directory WORK/NAME/WHAT. */
char *engine_work_subdir(const struct engine_opts *o, const char *name, const char *what, ferry_error *err);
/* runc's error plus the error lines of CRIU's log in the work directory. */
char *engine_criu_failure(const ferry_error *err, const char *work, const char *logname);
/* The raw image an encoded checkpoint was written to on this node's disk. */
void engine_drop_stage(const struct engine_opts *o, const char *name);
/* What a preCopy request runs as on this node, said once in the log. */
char *engine_precopy_note(const char *criu);
/* 1 when a container `id` exists under runc root `root` (res says so): a
 * restore must not take its place. */
int engine_target_taken(const struct engine_opts *o, const char *root, const char *id, struct engine_result *res);

/* checkpoint.c. ls: NULL for a full dump; for post-copy, the lazy dump's
 * processes, left running (serving pages) when this returns 0 (hold is then
 * ENGINE_DUMP_KILLS). */
int engine_checkpoint_run(const struct engine_opts *o, const char *root, const char *id,
                          const struct ferry_store *store, const char *name, struct engine_source *src,
                          struct lazy_source *ls, enum engine_hold hold, struct engine_result *res);

/* restore.c. lazy: NULL for a whole image; for post-copy, lazy->daemon is set to
 * the lazy-pages daemon left running (pulling pages) when this returns 0, and
 * lazy->work to its work directory. */
struct lazy_restore {
  pid_t daemon;
  char *work;
  char *decoded; /* the decoded image the daemon reads, removed at the end */
};
int engine_restore_run(const struct engine_opts *o, const struct engine_target *t, const struct ferry_store *store,
                       const char *name, struct lazy_restore *lazy, struct engine_result *res);
/* Verifies image NAME as scope says; an encoded one is verified whole and
 * decoded (and checked) into the work directory WORK/NAME/SUB, which *use_dir
 * then names (the caller removes it); else *use_dir is the image itself.
 * *memory_left (optional): 1 when the memory files are still to be hashed
 * (FERRY_VERIFY_ALL_BUT_MEMORY on an image that is not encoded). */
int engine_open_image(const struct engine_opts *o, const struct ferry_store *store, const char *name, const char *sub,
                      enum ferry_verify_scope scope, struct ferry_manifest *m, char **image_dir, char **use_dir,
                      int *memory_left, ferry_error *err);
/* memcheck.c: the memory files of image dir hashed against m on a thread of
 * its own (at once when no thread can be made) while the restore runs. */
struct memory_check {
  pthread_t thread;
  int running, rc;
  const char *dir;
  const struct ferry_manifest *m;
  ferry_error err;
};
void engine_memory_check_start(struct memory_check *mc, const char *dir, const struct ferry_manifest *m);
/* 0 when every memory file matched; else -1, err naming what did not. */
int engine_memory_check_wait(struct memory_check *mc, ferry_error *err);

/* Removes a decoded copy of an image (raw memory must not linger on disk). */
void engine_drop_decoded(const char *image_dir, char **use_dir);
/* After the freeze: put the container back on the source: a held one is
 * resumed, else it is restored from criu_dir. */
void engine_rollback(const struct engine_opts *o, const struct engine_source *src, const char *name,
                     const char *criu_dir, const char *what_failed, struct engine_result *res);
/* The target runs: the held source goes (its failure is added to res's message). */
void engine_release_held(const struct engine_opts *o, struct engine_source *src, struct engine_result *res);
/* After a failed `runc checkpoint`: make sure the container runs on the source. */
void engine_recover_failed_dump(const struct engine_opts *o, const struct engine_source *src, const char *name,
                                const char *tmpdir, const char *why, int lazy, struct engine_result *res);

#endif
