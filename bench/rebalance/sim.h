/* SPDX-License-Identifier: Apache-2.0 */
/* A simulated cluster for the rebalancer's benchmark (no API): Nodes and Pods
 * made as the API shows them, turned into the core's structs once, and node
 * load reports computed each round from the pods' CPU demand (heavy-tailed,
 * seeded), capped at the node's cores as a saturated node reports it. */
#ifndef FERRY_BENCH_REBALANCE_SIM_H
#define FERRY_BENCH_REBALANCE_SIM_H

#include <json-c/json.h>
#include <stdint.h>

#include "rebalance/rebalance.h"

#define SIM_LEFT 8 /* the nodes a pod left that the oscillation count remembers */

struct sim_opts {
  int nodes, pods;
  int pairs;    /* pods pairs with preferred affinity to each other */
  int gpu_pods; /* pods that prefer accelerator=nvidia nodes */
  double hot;   /* the share of nodes given four times the pods */
  double noise; /* each round, each pod's demand times 1 +- noise */
  uint64_t seed;
  int interval_s; /* simulated time between rounds */
  int max_rounds;
};

struct sim_pod {
  double cores; /* demand */
  size_t node;
  int left[SIM_LEFT], n_left;
};

struct sim {
  struct sim_opts o;
  uint64_t rng;
  struct rb_arena arena;
  json_object **objs;
  size_t n_objs;
  struct rb_node *nodes;
  struct rb_pod *pods;
  struct sim_pod *sp;
  size_t n_nodes, n_pods;
  struct rb_policy pol;
  struct rb_state *st;
  struct rb_plan plan;
  int64_t now;
  double build_ms; /* JSON to structs, once (the wiring's work) */
  long moves, by_reason[PM_REASON_COUNT], oscillations;
  double gib_moved;
};

int sim_build(struct sim *s, const struct sim_opts *o);
void sim_free(struct sim *s);
/* Every node's report from its pods' demand this round (noise drawn anew). */
void sim_report(struct sim *s);
/* One decision round; its wall time in ms (*cpu_ms: the thread's CPU time). */
double sim_round(struct sim *s, double *cpu_ms);
/* The plan's moves done (pods and their spec.nodeName), counted. */
void sim_execute(struct sim *s);
/* Nodes whose demand is above high. */
int sim_over(const struct sim *s);
/* The fewest migratable pods whose load must leave the nodes above high to
 * bring each to high - hysteresis, taken largest first. */
long sim_lower_bound(const struct sim *s);
double sim_unit(struct sim *s); /* uniform in [0, 1) */

#endif
