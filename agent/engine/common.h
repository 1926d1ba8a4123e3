/* SPDX-License-Identifier: Apache-2.0 */
/* What the engine's files share and its callers do not see: the result setter,
 * work directories, the checkpoint and restore cores that migrate.c runs back to
 * back, and the source's recovery (rollback) after the freeze. */
#ifndef FERRY_ENGINE_COMMON_H
#define FERRY_ENGINE_COMMON_H

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

/* checkpoint.c. ls: NULL for a full dump; for post-copy, the lazy dump's
 * processes, left running (serving pages) when this returns 0. */
int engine_checkpoint_run(const struct engine_opts *o, const char *root, const char *id,
                          const struct ferry_store *store, const char *name, struct engine_source *src,
                          struct lazy_source *ls, struct engine_result *res);

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
/* Verifies image NAME; an encoded one is decoded (and checked) into the work
 * directory WORK/NAME/SUB, which *use_dir then names (the caller removes it);
 * else *use_dir is the image itself. */
int engine_open_image(const struct engine_opts *o, const struct ferry_store *store, const char *name, const char *sub,
                      struct ferry_manifest *m, char **image_dir, char **use_dir, ferry_error *err);
/* Removes a decoded copy of an image (raw memory must not linger on disk). */
void engine_drop_decoded(const char *image_dir, char **use_dir);
/* After the freeze: put the container back on the source from criu_dir. */
void engine_rollback(const struct engine_opts *o, const struct engine_source *src, const char *name,
                     const char *criu_dir, const char *what_failed, struct engine_result *res);
/* After a failed `runc checkpoint`: make sure the container runs on the source. */
void engine_recover_failed_dump(const struct engine_opts *o, const struct engine_source *src, const char *name,
                                const char *tmpdir, const char *why, int lazy, struct engine_result *res);

#endif
