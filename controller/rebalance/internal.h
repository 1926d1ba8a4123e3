/* SPDX-License-Identifier: Apache-2.0 */
/* What the rebalancer's files share inside one round: the indexes built from
 * the input (index.c), the projected loads and requests that each planned
 * move updates, the term caches (terms.c), the state's entries (state.c),
 * and the steps: load sharing (load.c), locality (locality.c). */
#ifndef FERRY_REBALANCE_INTERNAL_H
#define FERRY_REBALANCE_INTERNAL_H

#include <stdio.h>
#include <sys/types.h>

#include "rebalance/rebalance.h"
#include "rebalance/map.h"

#define RB_NO_NODE ((size_t)-1)
#define RB_POINTS 100.0 /* points per whole node's capacity */
#define RB_GIB (1024.0 * 1024.0 * 1024.0)
#define RB_HIST_MOVES 8 /* moves a pod's history keeps */

/* ---------- state (state.c) ---------- */

struct rb_node_hist {
  char *name;
  int over_count;       /* observations in a row above a high threshold */
  int64_t last_move_ms; /* the last move it sent or received */
  int seen;             /* in this round's input */
};

struct rb_pod_hist {
  char *uid;
  char *from;            /* the node its last move left */
  enum pm_reason reason; /* of its last move */
  double gain;           /* what its last move gained, points */
  int64_t moves[RB_HIST_MOVES];
  int n_moves;
};

/* Zeroed memory of at least size for one of a round's large arrays, kept in
 * the state for the next round (valid until the next call for that buffer). */
enum rb_buf { RB_BUF_PODS, RB_BUF_NODES, RB_BUF_BY_NODE, RB_BUF__COUNT };
void *rb_state_buf(struct rb_state *st, enum rb_buf which, size_t size);

struct rb_node_hist *rb_state_node(struct rb_state *st, const char *name);
struct rb_pod_hist *rb_state_pod(struct rb_state *st, const char *uid, int create);
/* Forgets nodes not seen this round and pods with no move within history_ms. */
void rb_state_sweep(struct rb_state *st, int64_t now_ms, int64_t history_ms);
int64_t rb_hist_last(const struct rb_pod_hist *h);
int rb_hist_recent(const struct rb_pod_hist *h, int64_t now_ms, int64_t history_ms);

/* ---------- term caches (terms.c) ---------- */

/* A topology key's domains: dom[node] (-1: the node has no such label), and
 * each domain's nodes: nodes[start[d] .. start[d + 1]). */
struct rb_domains {
  int *dom;
  int n;
  size_t *start, *nodes;
};

/* A pod term's selector, namespaces and topology: how many pods it matches in
 * each domain (projected). owners: for required anti-affinity, how many pods
 * carry the term in each domain. */
struct rb_entry {
  const struct rb_pod_term *term;
  const char *owner_ns; /* the namespace "none listed" means */
  const struct rb_domains *domains;
  int *count, *owners;
  int total;
};

struct rb_terms {
  struct rb_map columns; /* label key -> const char *[nodes] */
  struct rb_map domains; /* topology key -> struct rb_domains * */
  struct rb_map entries; /* a term's signature -> struct rb_entry * */
  struct rb_map lists;   /* (key, value) -> struct rb_vec * of pods; (key, NULL): every pod with the key */
  struct rb_map indexed; /* label keys whose lists are built */
  struct rb_map watch;   /* (key, value) -> struct rb_vec * of the entries whose first In names it */
  struct rb_vec all;     /* every entry */
  struct rb_vec generic; /* entries without an In requirement: every move looks at them */
  struct rb_vec anti;    /* entries of required anti-affinity terms, owners counted */
  struct rb_vec vecs;    /* every list, to free */
  int anti_ready;
  unsigned *mark; /* per node, for rb_candidates */
  unsigned stamp;
};

/* ---------- the round ---------- */

struct rb_pod_round {
  size_t node;  /* projected node (RB_NO_NODE: unbound or unknown) */
  size_t start; /* its node at the round's start */
  int planned;  /* moved in this round's plan */
  int cooling;  /* within its cooldown */
  double cost;  /* points a move costs */
  struct rb_pod_hist *hist;
  int prepared;                                      /* its terms' entries made (terms.c) */
  struct rb_entry **pref, **anti, **req, **req_anti; /* preferred, anti, required, required anti */
  const char ***cols; /* per requirement of its preferred node terms: that key's column */
  unsigned char *ext; /* per requirement: the key names an extended resource some node offers */
};

struct rb_node_round {
  double cpu, mem;     /* projected use, 0..1 */
  struct node_use use; /* projected requests */
  int moves;           /* this round, as source or target */
  int cooling;
  int over; /* above a high threshold now */
  int source, target;
  struct rb_node_hist *hist;
};

struct rb_ctx {
  const struct rb_input *in;
  const struct rb_policy *pol;
  struct rb_state *st;
  struct rb_plan *plan;
  struct rb_arena arena; /* this round's */
  struct rb_map node_by_name;
  struct rb_pod_round *pod;
  struct rb_node_round *node;
  size_t *by_node, *by_node_start; /* the pods of node i at the start: by_node[start[i] .. start[i+1]) */
  struct rb_vec locality;          /* the pods with preferred terms that may move for locality */
  struct rb_map ext;               /* (resource, node) -> slot in ext_alloc/ext_used */
  struct rb_map ext_names;         /* the extended resources any node offers */
  int64_t *ext_alloc, *ext_used;
  size_t n_ext;
  struct rb_terms terms;
  int moves_left;
};

/* index.c */
int rb_index_build(struct rb_ctx *c, ferry_error *err);
void rb_index_free(struct rb_ctx *c);
/* An extended resource's free amount on node for pod (its own request given
 * back on its current node); -1 when the node does not offer it. */
int64_t rb_ext_free(const struct rb_ctx *c, size_t pod, size_t node, const char *name);
int rb_ext_fits(const struct rb_ctx *c, size_t pod, size_t node);
/* Moves the pod's requests (extended resources included) between nodes. */
void rb_index_move(struct rb_ctx *c, size_t pod, size_t from, size_t to);

/* select.c */
int rb_req_matches(const struct rb_requirement *r, const char *value);
int rb_req_matches_free(const struct rb_requirement *r, int64_t free_amount, int64_t need);
const char *rb_label_of(const struct rb_label *labels, size_t n, const char *key);
int rb_selector_matches(const struct rb_selector *sel, const struct rb_label *labels, size_t n);
int rb_hardware_key(const struct rb_policy *pol, const char *key);
void rb_selector_text(const struct rb_selector *sel, char *buf, size_t len);

/* terms.c */
void rb_terms_init(struct rb_ctx *c);
void rb_terms_free(struct rb_ctx *c);
int rb_has_preferences(const struct rb_pod *p);
/* The pod's preferred terms scored on node (points), with its entries made. */
double rb_score(struct rb_ctx *c, size_t pod, size_t node);
/* The most its preferred terms could score anywhere (an upper bound). */
double rb_score_bound(struct rb_ctx *c, size_t pod);
#define RB_ALL_NODES ((size_t)-1)
/* The nodes where the pod may score above here (its score on its own node),
 * into out (room for every node); RB_ALL_NODES when that may be any node. */
size_t rb_candidates(struct rb_ctx *c, size_t pod, double here, size_t *out);
/* 0 when moving pod to node breaks a required (anti-)affinity term, its own or
 * another pod's; why gets the term. */
int rb_required_ok(struct rb_ctx *c, size_t pod, size_t node, char *why, size_t why_len);
/* Whether node matches one of the pod's hardware terms (policy labels or an
 * extended resource with room) that its current node does not. */
int rb_hardware_gain(struct rb_ctx *c, size_t pod, size_t node, char *what, size_t what_len);
/* The pod's best-weighted term that node satisfies and its node does not. */
void rb_term_text(struct rb_ctx *c, size_t pod, size_t node, char *buf, size_t len);
/* A planned move: entries and counts follow the pod. */
void rb_terms_moved(struct rb_ctx *c, size_t pod, size_t from, size_t to);

/* round.c */
/* The move recorded in the plan and the projections (loads, requests, terms). */
struct rb_move *rb_apply(struct rb_ctx *c, size_t pod, size_t to, enum pm_reason reason, double gain);
/* Not moving the pod back where its last move came from unless gain beats
 * what that move gained plus the cost. */
int rb_undo_ok(const struct rb_ctx *c, size_t pod, size_t to, double gain);
/* Whether the pod may be moved for allow (RB_ALLOW_*) in this round. */
int rb_movable(const struct rb_ctx *c, size_t pod, unsigned allow);
int rb_fits(struct rb_ctx *c, size_t pod, size_t node, char *why, size_t why_len);
double rb_pod_cpu_share(const struct rb_ctx *c, size_t pod, size_t node);
double rb_pod_mem_share(const struct rb_ctx *c, size_t pod, size_t node);
double rb_cpu_settle(const struct rb_policy *p);
double rb_mem_settle(const struct rb_policy *p);

/* load.c, locality.c */
void rb_plan_load(struct rb_ctx *c);
void rb_plan_locality(struct rb_ctx *c);

/* "1.5 GiB", "300 MiB" */
void rb_bytes_text(int64_t bytes, char *buf, size_t len);

#endif
