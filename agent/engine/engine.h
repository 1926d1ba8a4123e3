/* SPDX-License-Identifier: Apache-2.0 */
/* The node migration engine: checkpoint a runc container into a store, restore it
 * from there on another node, and roll back when anything fails after the freeze.
 * The workload ends running exactly once: on the target, or again on the source.
 * checkpoint.c freezes and writes the image, restore.c verifies and restores it
 * (and rolls back), migrate.c runs both for one move, lazy.c holds post-copy's
 * processes; common.c has what they share. */
#ifndef FERRY_ENGINE_H
#define FERRY_ENGINE_H

#include <stdint.h>

#include "image/manifest.h"
#include "image/codec.h"
#include "runtime/census.h"
#include "runtime/runc.h"
#include "image/store.h"

enum engine_exit {
  ENGINE_OK = 0,
  ENGINE_FAILED_UNTOUCHED = 1, /* failed before the freeze (or restore failed): nothing changed */
  ENGINE_USAGE = 2,
  ENGINE_ROLLED_BACK = 3, /* failed after the freeze; running again on the source */
  ENGINE_LOST = 4,        /* failed after the freeze and the rollback failed */
};

struct engine_opts {
  const char *runc, *criu, *work_dir, *node;
  struct ferry_criu_flags flags;
  const char *rootfs_diff;         /* auto, overlay, scan, none */
  int timeout_ms;                  /* per runc call, and per page transfer */
  const char *strategy;            /* stopAndCopy (NULL), preCopy, postCopy */
  const char *page_server;         /* postCopy: ADDR:PORT the source serves pages on (port 0: any) */
  uint64_t bandwidth;              /* bytes per second for pages moved between nodes; 0: no limit */
  const struct ferry_codec *codec; /* how images are stored (NULL: as they are); its key decodes them */
};

struct engine_result {
  enum engine_exit exit_code;
  const char *outcome; /* checkpointed, restored, migrated, rolled-back, failed, lost */
  char *message;
  char *image_dir;
  char image_digest[FERRY_DIGEST_LEN]; /* checkpoint: "sha256:" and the manifest's hash ("" when none) */
  int64_t dump_ms, rootfs_ms, write_ms, verify_ms, restore_ms, downtime_ms, total_ms;
  int64_t pages_ms;    /* postCopy: from the target running to its last page */
  int64_t transfer_ms; /* a direct transfer of the image to the target's store */
  uint64_t bytes;      /* the image as stored */
  uint64_t bytes_raw;  /* the image before encoding (0 when not encoded) */
  char *criu_dir;      /* checkpoint: CRIU's images as written, for a rollback on this node */
  uint64_t bytes_before_freeze, bytes_during_freeze, bytes_after_restore;
  const char *strategy; /* the one used */
  char *strategy_note;  /* why it is not the one asked for, when it is not */
};

/* Where the source container was, for a rollback. */
struct engine_source {
  char *root, *id, *bundle;
  int64_t freeze_mono_ms;
  /* The dump left the container paused with its processes intact (it was not
   * killed): a rollback resumes it, a successful move removes it. */
  int held;
  /* Its processes just before the freeze: after a failed dump, each one is
   * looked at again (stopped ones continued, dead ones named). */
  struct ferry_census census;
};

/* The strategies, parsed (NULL is stopAndCopy); -1 for anything else. */
enum engine_strategy { STRATEGY_STOP_AND_COPY, STRATEGY_PRE_COPY, STRATEGY_POST_COPY };
int engine_strategy_parse(const char *name);
/* A strategy's name as images, results and PodMigrations spell it. */
const char *engine_strategy_name(enum engine_strategy s);
/* Why preCopy cannot pre-dump on this node (the sentence says what runs instead),
 * or NULL when it can. Caller frees. */
char *engine_precopy_unsupported(const char *criu);

void engine_result_free(struct engine_result *r);
void engine_source_free(struct engine_source *s);

/* What a whole dump does with the source container. KILLS: CRIU kills it
 * (runc checkpoint); the image, fsynced, is then the workload's only copy.
 * HOLDS: it is paused first and CRIU leaves it paused and whole (src->held):
 * the image needs no fsync, a rollback is a resume, and the caller removes the
 * source once the target runs. HOLDS is taken back (KILLS) when the container's
 * config names its cgroup path, which a target made from the same config would
 * share; HOLDS_FOR_OTHER_POD: the target is another pod's container, with a
 * config (and a cgroup) of its own. */
enum engine_hold { ENGINE_DUMP_KILLS, ENGINE_DUMP_HOLDS, ENGINE_DUMP_HOLDS_FOR_OTHER_POD };

int engine_checkpoint(const struct engine_opts *o, const char *root, const char *id, const struct ferry_store *store,
                      const char *name, enum engine_hold hold, struct engine_source *src, struct engine_result *res);

/* The image of a checkpoint whose process died after CRIU's whole dump (which
 * stopped the container: CRIU's log says the dump finished): the rest of it
 * written from the stopped container (root filesystem changes, config; from
 * bundle, when not NULL, once runc removed the container) and published, as
 * the checkpoint would have; or the image that process published before it
 * died, when whole. ENGINE_LOST when there is no complete dump or it cannot be
 * finished; ENGINE_FAILED_UNTOUCHED when the container was not stopped by a dump. */
int engine_checkpoint_finish(const struct engine_opts *o, const char *root, const char *id, const char *bundle,
                             const struct ferry_store *store, const char *name, struct engine_source *src,
                             struct engine_result *res);

struct engine_target {
  const char *root, *bundle, *netns, *id, *log;
  /* The target node's own store, when it is not the source's: the image is
   * streamed there directly (lib/image/stream.h) before the restore. NULL: shared. */
  const struct ferry_store *store;
  /* 1: the caller found no container of the restored id under root before the
   * source froze (migrate), so the restore need not ask runc again. */
  int checked_free;
};

int engine_restore(const struct engine_opts *o, const struct engine_target *t, const struct ferry_store *store,
                   const char *name, struct engine_result *res);

int engine_migrate(const struct engine_opts *o, const char *root, const char *id, const struct engine_target *t,
                   const struct ferry_store *store, const char *name, struct engine_result *res);

/* Post-copy split over two nodes' agents (the daemon's steps). The source:
 * freeze, publish the small image and serve the memory (0: serving on
 * ls->page_server); then wait until every page went (0: released, the container
 * is gone) or thaw the container when the transfer fails. */
struct lazy_source;
int engine_postcopy_checkpoint(const struct engine_opts *o, const char *root, const char *id,
                               const struct ferry_store *store, const char *name, struct engine_source *src,
                               struct lazy_source *ls, struct engine_result *res);
int engine_postcopy_release(const struct engine_opts *o, const struct engine_source *src, struct lazy_source *ls,
                            const char *name, struct engine_result *res);
/* The target: CRIU's lazy-pages daemon for the image, with its socket in
 * lazy_work (where the restore must find it), run until every page arrived. */
int engine_postcopy_pages(const struct engine_opts *o, const struct ferry_store *store, const char *name,
                          const char *lazy_work, struct engine_result *res);

#endif
