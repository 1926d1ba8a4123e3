/* SPDX-License-Identifier: Apache-2.0 */
/* The post-copy threshold an agent publishes on its Lease
 * (FERRY_ANN_POSTCOPY_THRESHOLD, written by the agent's crossover.c), as the
 * controller reads it for strategy auto. */
#ifndef FERRY_THRESHOLD_H
#define FERRY_THRESHOLD_H

#include <stdint.h>

#include "base/error.h"

struct ferry_postcopy_threshold {
  int64_t bytes; /* post-copy's downtime is the shorter above this pod memory */
  int measured;  /* 1: from the node's moves; 0: the agent's configured default */
  int moves;     /* the moves the node keeps for it */
};

/* Parses the annotation's JSON; -1 (err says what is wrong) for anything else. */
int ferry_postcopy_threshold_parse(const char *text, struct ferry_postcopy_threshold *out, ferry_error *err);

#endif
