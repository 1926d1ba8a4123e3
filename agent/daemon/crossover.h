/* SPDX-License-Identifier: Apache-2.0 */
/* Where post-copy starts to pay on a node: from the moves this node made as the
 * source, a least-squares line per strategy, downtime = fixed + per_byte *
 * memory, and the memory at which the two lines cross. Until both lines are
 * trustworthy (enough moves, sizes spread apart, stop-and-copy's downtime
 * growing with memory faster than post-copy's) the configured default stands,
 * and says so. The moves are kept, the last CROSSOVER_KEEP of each strategy, in
 * a small JSON file of the agent's state directory, so a restart keeps them.
 * No API and no daemon here: the agent's moves.c feeds it. */
#ifndef FERRY_AGENT_CROSSOVER_H
#define FERRY_AGENT_CROSSOVER_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "api/podmigration.h"
#include "base/error.h"

enum {
  CROSSOVER_KEEP = 32,     /* moves kept per strategy (the latest) */
  CROSSOVER_MIN_MOVES = 3, /* a line needs this many moves ... */
  CROSSOVER_MIN_SPREAD = 2 /* ... the largest at least this many times the smallest */
};

/* One move this node made as the source, after it succeeded. */
struct crossover_move {
  char uid[64];        /* the PodMigration's: a move is counted once */
  int64_t at_ms;       /* when it ended (unix ms): the latest are kept */
  int64_t memory;      /* the container's memory when the checkpoint began (bytes) */
  int64_t downtime_ms; /* from the freeze to running on the target */
};

struct crossover_moves {
  struct crossover_move stop_and_copy[CROSSOVER_KEEP], post_copy[CROSSOVER_KEEP];
  size_t n_stop_and_copy, n_post_copy; /* each sorted by at_ms, oldest first */
};

/* A strategy's line over its moves. valid: it may be used; else why says why not. */
struct crossover_fit {
  size_t moves;
  double fixed_ms, ms_per_byte;
  int valid;
  char why[160];
};

/* The threshold this node publishes. measured: from the two lines; else the
 * configured default, and why (not measured yet, or no crossing). */
struct crossover {
  int64_t bytes;
  int measured;
  struct crossover_fit stop_and_copy, post_copy;
  char why[400];
};

/* The line through n moves (n may be 0). */
void crossover_fit(const struct crossover_move *m, size_t n, struct crossover_fit *out);
/* The threshold from the kept moves, else default_bytes. */
void crossover_compute(const struct crossover_moves *h, int64_t default_bytes, struct crossover *out);
/* Keeps a move of strategy s (stopAndCopy or postCopy). 1: kept; 0: not (known
 * already, older than every kept one of a full list, or not a usable move). */
int crossover_add(struct crossover_moves *h, enum pm_strategy s, const struct crossover_move *m);

/* The Lease annotation's value (JSON text, caller frees; lib/api/threshold.h
 * reads it): bytes, source ("measured" or "default"), moves, each line, why
 * when not measured. */
char *crossover_annotation(const struct crossover *c);

/* The moves file: read (a missing file is no moves) and written (atomically). */
int crossover_load(const char *path, struct crossover_moves *h, ferry_error *err);
int crossover_save(const char *path, const struct crossover_moves *h, ferry_error *err);

#endif
