/* SPDX-License-Identifier: Apache-2.0 */
/* The rebalancer's policy: the defaults and the check that refuses a policy
 * that cannot work. (Its reasons are PodMigration's: lib/api/podmigration.h.) */
#include <string.h>

#include "rebalance/rebalance.h"

#define MS_PER_S 1000
#define DEFAULT_CPU_HIGH 0.85
#define DEFAULT_CPU_LOW 0.60
#define DEFAULT_MEM_HIGH 0.90
#define DEFAULT_MEM_LOW 0.70
#define DEFAULT_HYSTERESIS 0.05
#define DEFAULT_WINDOW 3
#define DEFAULT_POD_COOLDOWN_S 600
#define DEFAULT_NODE_COOLDOWN_S 120
#define DEFAULT_HISTORY_S 3600
#define DEFAULT_MAX_MOVES 10
#define DEFAULT_MAX_MOVES_PER_NODE 2
#define DEFAULT_MOVE_COST 1.0
#define DEFAULT_COST_PER_GIB 2.0
#define DEFAULT_RECENT_MOVE_COST 10.0
#define DEFAULT_AFFINITY_MARGIN 5.0

void rb_policy_defaults(struct rb_policy *p)
{
  memset(p, 0, sizeof *p);
  p->cpu_high = DEFAULT_CPU_HIGH;
  p->cpu_low = DEFAULT_CPU_LOW;
  p->mem_high = DEFAULT_MEM_HIGH;
  p->mem_low = DEFAULT_MEM_LOW;
  p->hysteresis = DEFAULT_HYSTERESIS;
  p->window = DEFAULT_WINDOW;
  p->pod_cooldown_ms = (int64_t)DEFAULT_POD_COOLDOWN_S * MS_PER_S;
  p->node_cooldown_ms = (int64_t)DEFAULT_NODE_COOLDOWN_S * MS_PER_S;
  p->history_ms = (int64_t)DEFAULT_HISTORY_S * MS_PER_S;
  p->max_moves = DEFAULT_MAX_MOVES;
  p->max_moves_per_node = DEFAULT_MAX_MOVES_PER_NODE;
  p->move_cost = DEFAULT_MOVE_COST;
  p->cost_per_gib = DEFAULT_COST_PER_GIB;
  p->recent_move_cost = DEFAULT_RECENT_MOVE_COST;
  p->affinity_margin = DEFAULT_AFFINITY_MARGIN;
}

static int fraction_ok(double f) { return f >= 0 && f <= 1; }

static int check_thresholds(const char *what, double high, double low, double hysteresis, ferry_error *err)
{
  if (!fraction_ok(high) || !fraction_ok(low) || high <= 0)
    return ferry_error_set(err, 0, "%sHighPercent %.0f and %sLowPercent %.0f must be within 0..100 (high above 0)",
                           what, high * 100, what, low * 100);
  if (low >= high)
    return ferry_error_set(err, 0, "%sLowPercent %.0f is not below %sHighPercent %.0f", what, low * 100, what,
                           high * 100);
  if (high - hysteresis < low)
    return ferry_error_set(err, 0, "%sHighPercent %.0f minus hysteresisPercent %.0f falls below %sLowPercent %.0f",
                           what, high * 100, hysteresis * 100, what, low * 100);
  return 0;
}

int rb_policy_check(const struct rb_policy *p, ferry_error *err)
{
  if (!fraction_ok(p->hysteresis))
    return ferry_error_set(err, 0, "hysteresisPercent %.0f is not within 0..100", p->hysteresis * 100);
  if (check_thresholds("cpu", p->cpu_high, p->cpu_low, p->hysteresis, err) < 0 ||
      check_thresholds("memory", p->mem_high, p->mem_low, p->hysteresis, err) < 0)
    return -1;
  if (p->window < 1)
    return ferry_error_set(err, 0, "windowObservations %d is below 1", p->window);
  if (p->pod_cooldown_ms < 0 || p->node_cooldown_ms < 0)
    return ferry_error_set(err, 0, "cooldowns must not be negative");
  if (p->history_ms < p->pod_cooldown_ms)
    return ferry_error_set(err, 0, "the move history (%lld s) is shorter than the pod cooldown (%lld s)",
                           (long long)(p->history_ms / MS_PER_S), (long long)(p->pod_cooldown_ms / MS_PER_S));
  if (p->max_moves < 0 || p->max_moves_per_node < 1)
    return ferry_error_set(err, 0, "maxMovesPerRound %d must be 0 or more and maxMovesPerNode %d 1 or more",
                           p->max_moves, p->max_moves_per_node);
  if (p->move_cost < 0 || p->cost_per_gib < 0 || p->recent_move_cost < 0 || p->affinity_margin < 0)
    return ferry_error_set(err, 0, "costs and the affinity margin must not be negative");
  return 0;
}
