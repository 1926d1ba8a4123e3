/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's HTTP endpoints (libmicrohttpd, its own thread): /healthz (the
 * process answers), /readyz (caches synced and the node Lease renewed lately)
 * and Prometheus /metrics. Counters are updated by the daemon loop. */
#ifndef FERRY_AGENT_METRICS_H
#define FERRY_AGENT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct metrics;

/* listen: "IP:PORT" (port 0 picks one; *port receives it). */
int metrics_start(const char *listen, const char *node, struct metrics **out, int *port, ferry_error *err);
void metrics_stop(struct metrics *m);

void metrics_set_ready(struct metrics *m, int ready, const char *why);
/* role: source or target; outcome: checkpointed, restored, failed, refused (StoreFull), rolled_back, lost. */
void metrics_count(struct metrics *m, const char *role, const char *outcome);
void metrics_ops(struct metrics *m, int in_progress);
/* A held container released (release.c); how many the watchdog left held. */
void metrics_released(struct metrics *m);
void metrics_held(struct metrics *m, size_t held);
void metrics_observe_downtime(struct metrics *m, double seconds);
void metrics_observe_bytes(struct metrics *m, double bytes);
/* gc.c: n more of kind removed (0: the series exists); what the store holds; its free bytes. */
void metrics_gc_removed(struct metrics *m, const char *kind, unsigned n);
void metrics_store(struct metrics *m, size_t images, uint64_t image_bytes);
void metrics_store_free(struct metrics *m, uint64_t free_bytes);

#endif
