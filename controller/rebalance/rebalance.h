/* SPDX-License-Identifier: Apache-2.0 */
/* The rebalancer's decision core (issue 14): which running pods move where,
 * and why. Plain structs in (the nodes with their agents' load reports, the
 * pods with their measured use, requests, labels and affinity, the policy,
 * the time), a plan out (moves, each with a reason and a sentence). No API
 * calls, no kube client, no I/O: the controller's wiring fills these structs
 * from its informers (json.c helps) and turns the plan into PodMigrations.
 * docs/policies.md describes the policies, the scores and this interface. */
#ifndef FERRY_REBALANCE_H
#define FERRY_REBALANCE_H

#include <stddef.h>
#include <stdint.h>

#include "api/podmigration.h"
#include "base/error.h"
#include "placement.h"

/* ---------- the objects ---------- */

struct rb_label {
  const char *key, *value;
};

/* Label selector and node selector operators. */
enum rb_op { RB_OP_IN, RB_OP_NOT_IN, RB_OP_EXISTS, RB_OP_DOES_NOT_EXIST, RB_OP_GT, RB_OP_LT };

/* One requirement: matchLabels k=v is In with one value. field: a node
 * term's matchFields (the key is metadata.name, the node's name). */
struct rb_requirement {
  const char *key;
  enum rb_op op;
  const char *const *values;
  size_t n_values;
  int field;
};

/* The requirements ANDed; none matches everything. */
struct rb_selector {
  const struct rb_requirement *reqs;
  size_t n;
};

/* A preferred node affinity term: weight 1..100 and a nodeSelectorTerm. A
 * requirement whose key is an extended resource the node offers (allocatable
 * nvidia.com/gpu) and not one of its labels is evaluated on the amount free
 * there (docs/policies.md, "Hardware"). */
struct rb_node_term {
  int weight;
  struct rb_selector sel;
};

/* A pod (anti-)affinity term. weight: 1..100 for preferred terms, 0 for
 * required ones. namespaces: none means the pod's own namespace;
 * all_namespaces: namespaceSelector {}. topology_key: kubernetes.io/hostname
 * (a node without that label is its own domain) or any node label. */
struct rb_pod_term {
  int weight;
  struct rb_selector sel;
  const char *const *namespaces;
  size_t n_namespaces;
  int all_namespaces;
  const char *topology_key;
};

/* An extended resource amount (nvidia.com/gpu: 2), in whole units. */
struct rb_resource {
  const char *name;
  int64_t amount;
};

struct rb_affinity {
  const struct rb_node_term *node_preferred;
  size_t n_node_preferred;
  const struct rb_pod_term *pod_preferred, *pod_required, *anti_preferred, *anti_required;
  size_t n_pod_preferred, n_pod_required, n_anti_preferred, n_anti_required;
};

/* What a pod may be moved for (its MigrationPolicy enables it). 0: never moved
 * (not ferry.dev/migratable=true, not Running, in a migration now...). */
enum { RB_ALLOW_LOAD = 1, RB_ALLOW_LOCALITY = 2 };

/* Every pod bound to a node (all of them: their requests fill the nodes). */
struct rb_pod {
  const char *uid, *ns, *name;
  const char *node; /* spec.nodeName */
  const struct rb_label *labels;
  size_t n_labels;
  unsigned allow;                       /* RB_ALLOW_* */
  double cpu_cores;                     /* measured: CPU cores in use (its cgroup's usage rate) */
  int64_t mem_bytes;                    /* measured: memory in use (what a move copies) */
  int64_t req_cpu_milli, req_mem_bytes; /* requests, as the scheduler counts them */
  const struct rb_resource *ext;        /* extended resource requests */
  size_t n_ext;
  struct rb_affinity aff;
  int64_t last_moved_ms; /* when its last migration ended (any reason, wall clock ms); 0: none known */
  int recent_moves;      /* its migrations within the policy's history_ms, as far as known */
  int64_t cooldown_ms;   /* its own policy's cooldown; 0: the round policy's */
  void *obj;             /* the pod's json_object, for the fit function */
};

/* Every node. cpu and memory: the agent's report (ferry.dev/load on its Lease). */
struct rb_node {
  const char *name;
  const struct rb_label *labels;
  size_t n_labels;
  int schedulable; /* Ready and not cordoned */
  int agent;       /* a Ferry agent runs there (its Lease is fresh) */
  int reported;    /* cpu and memory below are a fresh report */
  double cpu;      /* CPU in use, 0..1 of cpus */
  double cpus;     /* cores */
  double memory;   /* memory in use, 0..1 of mem_total_bytes */
  int64_t mem_total_bytes;
  const struct rb_resource *ext; /* allocatable extended resources */
  size_t n_ext;
  void *obj; /* the node's json_object, for the fit function */
};

/* Whether pod fits on node with used (what the node's pods request, this
 * round's planned moves included) already taken; the core checks extended
 * resources and inter-pod affinity itself. rb_fit_placement is the one to
 * use: placement_fit on the json objects (pod->obj, node->obj). */
typedef enum misfit (*rb_fit_fn)(void *ctx, const struct rb_pod *pod, const struct rb_node *node,
                                 const struct node_use *used, char *why, size_t why_len);
enum misfit rb_fit_placement(void *ctx, const struct rb_pod *pod, const struct rb_node *node,
                             const struct node_use *used, char *why, size_t why_len);

/* ---------- the policy ---------- */

/* Fractions are 0..1; points are the common unit of gains and costs: one
 * preferred-term weight point, or 1% of a node's capacity taken off its
 * excess (docs/policies.md, "Scores"). */
struct rb_policy {
  int load_enabled, locality_enabled;
  int dry_run;              /* plan as usual, mark nothing to execute, record nothing */
  double cpu_high, cpu_low; /* a node above high is overloaded; below low on both it may receive */
  double mem_high, mem_low;
  double hysteresis;                  /* sources shed to high - hysteresis; targets fill to at most that */
  int window;                         /* observations in a row above high before a node sheds */
  int64_t pod_cooldown_ms;            /* a pod moved within this never moves */
  int64_t node_cooldown_ms;           /* a node that sent or received a pod within this does neither */
  int64_t history_ms;                 /* how long a move counts as recent (its cost, the undo rule) */
  int max_moves;                      /* per round, in the cluster */
  int max_moves_per_node;             /* per round, a node as source or target */
  double move_cost;                   /* points every move costs */
  double cost_per_gib;                /* points per GiB of memory a move copies */
  double recent_move_cost;            /* points per recent move of the pod */
  double affinity_margin;             /* a locality move gains more than this plus its cost */
  const char *const *hardware_labels; /* node label keys (or prefixes ending in '/') that name hardware */
  size_t n_hardware_labels;
};

/* The defaults (docs/policies.md): load and locality off, high 85% CPU and
 * 90% memory, low 60% and 70%, hysteresis 5%, window 3, cooldowns 600 s per
 * pod and 120 s per node, 10 moves a round, 2 per node. */
void rb_policy_defaults(struct rb_policy *p);
/* -1 with err ("cpuLowPercent 90 is not below cpuHighPercent 85") when the
 * policy cannot work; the wiring refuses such a MigrationPolicy with it. */
int rb_policy_check(const struct rb_policy *p, ferry_error *err);

/* ---------- a round ---------- */

struct rb_input {
  const struct rb_node *nodes;
  size_t n_nodes;
  const struct rb_pod *pods;
  size_t n_pods;
  const struct rb_policy *policy;
  int64_t now_ms; /* wall clock, the same clock as last_moved_ms */
  rb_fit_fn fit;
  void *fit_ctx;
};

#define RB_WHY_MAX 480

struct rb_move {
  size_t pod, from, to; /* indices into the input's pods and nodes */
  enum pm_reason reason;
  int execute;       /* 0 in a dry run */
  double gain, cost; /* points */
  char why[RB_WHY_MAX];
};

struct rb_plan {
  struct rb_move *moves;
  size_t n_moves, cap;
  int over;    /* nodes above a high threshold now */
  int sources; /* overloaded for the window and free to shed */
  int targets; /* below both low thresholds and free to receive */
  int stuck;   /* sources left above high - hysteresis with no move found */
  char summary[512];
};

/* What the core remembers between rounds: each node's observations above high
 * and its last move, each moved pod's last move (from where, why, what it
 * gained). Keep one for the controller's life; a new one starts afresh. */
struct rb_state;
struct rb_state *rb_state_new(void);
void rb_state_free(struct rb_state *st);
/* A move made for another reason (Drain, Annotation, SelfRequested) or by the
 * wiring on its own: it counts for the cooldowns and the undo rule. */
void rb_state_moved(struct rb_state *st, const char *pod_uid, const char *from, const char *to, enum pm_reason reason,
                    double gain, int64_t when_ms);

/* One decision round: plan (emptied first) receives the moves, at most
 * policy.max_moves. Unless dry_run, the moves are recorded in st as made at
 * now_ms. -1 with err on a policy that does not check or an input without a
 * fit function; pods on unknown nodes are left out, never an error. */
int rb_round(struct rb_state *st, const struct rb_input *in, struct rb_plan *plan, ferry_error *err);
void rb_plan_free(struct rb_plan *plan);

/* ---------- memory for the structs ---------- */

/* A bump allocator the struct builders (json.c) take their arrays from;
 * everything goes at once with rb_arena_free. */
struct rb_arena {
  struct rb_chunk *head;
};
void *rb_arena_alloc(struct rb_arena *a, size_t n); /* zeroed; aborts when out of memory */
void rb_arena_free(struct rb_arena *a);

#endif
