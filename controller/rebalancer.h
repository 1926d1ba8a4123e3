/* SPDX-License-Identifier: Apache-2.0 */
/* The rebalancer's wiring (docs/policies.md): every --rebalance-interval the
 * leader fills the decision core's structs (controller/rebalance/) from its
 * caches (rebalancer_inputs.c) and the round's MigrationPolicy
 * (rebalancer_policy.c), runs a round and turns its plan into PodMigrations,
 * events, the policy's status and metrics (rebalancer.c). */
#ifndef FERRY_CTL_REBALANCER_H
#define FERRY_CTL_REBALANCER_H

#include <json-c/json.h>
#include <stdint.h>

#include "controller.h"
#include "rebalance/rebalance.h"

/* ---------- rebalancer_policy.c ---------- */

/* The MigrationPolicy that sets the round: the lowest-named one with
 * load.enabled or locality.enabled. NULL when none has. */
json_object *rbw_round_policy(struct ctl *c);
/* Its spec as the core's policy (defaults for what it leaves out; strings
 * point into mpol, arrays from the arena). -1 with err ("cpuLowPercent 90 is
 * not below cpuHighPercent 85") when the policy cannot work. */
int rbw_policy_from(json_object *mpol, struct rb_arena *a, struct rb_policy *out, ferry_error *err);
/* What the pod's own MigrationPolicy lets the rebalancer do with it
 * (RB_ALLOW_LOAD, RB_ALLOW_LOCALITY) and its cooldown (0: the round's). */
unsigned rbw_pod_allows(struct ctl *c, json_object *pod, int64_t *cooldown_ms);

/* ---------- rebalancer_inputs.c ---------- */

struct rbw_inputs {
  struct rb_arena arena;
  struct rb_node *nodes;
  struct rb_pod *pods;
  size_t n_nodes, n_pods;
  json_object *reports; /* the agents' parsed load reports, by node name */
};

/* Every node (with its agent's report) and every pod bound to one (with its
 * measured use, what its policy allows, its move history from the
 * PodMigrations). Objects the core cannot take (a pod with an affinity term
 * the API server would refuse) are logged and left out. */
void rbw_inputs_build(struct ctl *c, const struct rb_policy *pol, int64_t now_ms, struct rbw_inputs *in);
void rbw_inputs_free(struct rbw_inputs *in);

/* ---------- rebalancer.c ---------- */

struct rebalancer;
/* interval_s 0: never a round. NULL when out of memory. */
struct rebalancer *rebalancer_new(int interval_s);
void rebalancer_free(struct rebalancer *r);
/* A round when one is due; call on the leader with synced caches. */
void rebalancer_tick(struct ctl *c, struct rebalancer *r);
/* Leadership lost or gained: what the last leader remembered is not ours. */
void rebalancer_forget(struct rebalancer *r);

#endif
