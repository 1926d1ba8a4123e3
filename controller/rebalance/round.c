/* SPDX-License-Identifier: Apache-2.0 */
/* One decision round: the indexes, each node's observation (its window above
 * high, source or target), load sharing, then locality, then the plan's
 * summary, and the moves recorded in the state unless it is a dry run. Also
 * what both planners share: whether a pod may move, whether it fits, and the
 * move applied to the projections. */
#include <stdlib.h>
#include <string.h>

#include "rebalance/internal.h"

double rb_cpu_settle(const struct rb_policy *p) { return p->cpu_high - p->hysteresis; }
double rb_mem_settle(const struct rb_policy *p) { return p->mem_high - p->hysteresis; }

double rb_pod_cpu_share(const struct rb_ctx *c, size_t pod, size_t node)
{
  double cpus = c->in->nodes[node].cpus;
  double cores = c->in->pods[pod].cpu_cores;
  return cpus > 0 && cores > 0 ? cores / cpus : 0;
}

double rb_pod_mem_share(const struct rb_ctx *c, size_t pod, size_t node)
{
  int64_t total = c->in->nodes[node].mem_total_bytes, bytes = c->in->pods[pod].mem_bytes;
  return total > 0 && bytes > 0 ? (double)bytes / (double)total : 0;
}

int rb_movable(const struct rb_ctx *c, size_t pod, unsigned allow)
{
  const struct rb_pod *p = &c->in->pods[pod];
  const struct rb_pod_round *r = &c->pod[pod];
  return (p->allow & allow) && p->uid && *p->uid && r->node != RB_NO_NODE && !r->planned && !r->cooling &&
         c->in->nodes[r->node].agent && c->node[r->node].moves < c->pol->max_moves_per_node;
}

int rb_fits(struct rb_ctx *c, size_t pod, size_t node, char *why, size_t why_len)
{
  why[0] = '\0';
  if (node == c->pod[pod].node)
    return 0;
  if (!rb_ext_fits(c, pod, node)) {
    snprintf(why, why_len, "not enough of an extended resource");
    return 0;
  }
  if (!rb_required_ok(c, pod, node, why, why_len))
    return 0;
  return c->in->fit(c->in->fit_ctx, &c->in->pods[pod], &c->in->nodes[node], &c->node[node].use, why, why_len) == FIT;
}

int rb_undo_ok(const struct rb_ctx *c, size_t pod, size_t to, double gain)
{
  const struct rb_pod_hist *h = c->pod[pod].hist;
  if (!h || !h->from || c->in->now_ms - rb_hist_last(h) >= c->pol->history_ms)
    return 1;
  if (strcmp(h->from, c->in->nodes[to].name) != 0)
    return 1;
  return gain > h->gain + c->pod[pod].cost;
}

static struct rb_move *plan_append(struct rb_plan *plan)
{
  if (plan->n_moves == plan->cap) {
    size_t cap = plan->cap ? plan->cap * 2 : 16;
    struct rb_move *v = realloc(plan->moves, cap * sizeof *v);
    if (!v)
      abort();
    plan->moves = v;
    plan->cap = cap;
  }
  struct rb_move *m = &plan->moves[plan->n_moves++];
  memset(m, 0, sizeof *m);
  return m;
}

struct rb_move *rb_apply(struct rb_ctx *c, size_t pod, size_t to, enum pm_reason reason, double gain)
{
  size_t from = c->pod[pod].node;
  c->node[from].cpu -= rb_pod_cpu_share(c, pod, from);
  c->node[from].mem -= rb_pod_mem_share(c, pod, from);
  c->node[to].cpu += rb_pod_cpu_share(c, pod, to);
  c->node[to].mem += rb_pod_mem_share(c, pod, to);
  rb_index_move(c, pod, from, to);
  rb_terms_moved(c, pod, from, to);
  c->pod[pod].node = to;
  c->pod[pod].planned = 1;
  c->node[from].moves++;
  c->node[to].moves++;
  c->moves_left--;
  struct rb_move *m = plan_append(c->plan);
  m->pod = pod;
  m->from = from;
  m->to = to;
  m->reason = reason;
  m->execute = !c->pol->dry_run;
  m->gain = gain;
  m->cost = c->pod[pod].cost;
  return m;
}

/* Each node's observation: above a high threshold now (its window grows or
 * starts over), a source (for the whole window, free to shed), a target
 * (below both low thresholds, free to receive). */
static void observe(struct rb_ctx *c)
{
  const struct rb_policy *pol = c->pol;
  for (size_t i = 0; i < c->in->n_nodes; i++) {
    const struct rb_node *n = &c->in->nodes[i];
    struct rb_node_round *r = &c->node[i];
    r->over = n->reported && (n->cpu > pol->cpu_high || n->memory > pol->mem_high);
    r->hist->over_count = r->over ? r->hist->over_count + 1 : 0;
    r->source = r->over && r->hist->over_count >= pol->window && n->agent && !r->cooling;
    r->target = n->reported && n->schedulable && n->agent && !r->over && !r->cooling && n->cpu < pol->cpu_low &&
                n->memory < pol->mem_low;
    c->plan->over += r->over;
  }
}

static void summarize(struct rb_ctx *c)
{
  struct rb_plan *plan = c->plan;
  int by[PM_REASON_COUNT] = { 0 };
  for (size_t i = 0; i < plan->n_moves; i++)
    by[plan->moves[i].reason]++;
  snprintf(plan->summary, sizeof plan->summary,
           "%d nodes above high, %d sources, %d targets; %zu moves (%d LoadBalance, %d Affinity, %d Hardware)%s%s",
           plan->over, plan->sources, plan->targets, plan->n_moves, by[PM_REASON_LOAD_BALANCE], by[PM_REASON_AFFINITY],
           by[PM_REASON_HARDWARE], plan->stuck ? "; some sources found no move" : "",
           c->pol->dry_run && plan->n_moves ? "; dry run: nothing moves" : "");
}

static void commit(struct rb_ctx *c)
{
  for (size_t i = 0; i < c->plan->n_moves; i++) {
    const struct rb_move *m = &c->plan->moves[i];
    rb_state_moved(c->st, c->in->pods[m->pod].uid, c->in->nodes[m->from].name, c->in->nodes[m->to].name, m->reason,
                   m->gain, c->in->now_ms);
  }
}

static void plan_reset(struct rb_plan *plan)
{
  plan->n_moves = 0;
  plan->over = plan->sources = plan->targets = plan->stuck = 0;
  plan->summary[0] = '\0';
}

int rb_round(struct rb_state *st, const struct rb_input *in, struct rb_plan *plan, ferry_error *err)
{
  if (!st || !in || !plan || !in->policy)
    return ferry_error_set(err, 0, "rebalance: no state, input, plan or policy");
  if (rb_policy_check(in->policy, err) < 0)
    return ferry_error_prefix(err, "rebalance policy");
  if (!in->fit)
    return ferry_error_set(err, 0, "rebalance: no fit function");
  plan_reset(plan);
  struct rb_ctx c;
  memset(&c, 0, sizeof c);
  c.in = in;
  c.pol = in->policy;
  c.st = st;
  c.plan = plan;
  c.moves_left = in->policy->max_moves;
  rb_terms_init(&c);
  int rc = rb_index_build(&c, err);
  if (rc == 0) {
    observe(&c);
    if (c.pol->load_enabled)
      rb_plan_load(&c);
    if (c.pol->locality_enabled)
      rb_plan_locality(&c);
    summarize(&c);
    if (!c.pol->dry_run)
      commit(&c);
    rb_state_sweep(st, in->now_ms, c.pol->history_ms);
  }
  rb_terms_free(&c);
  rb_index_free(&c);
  rb_arena_free(&c.arena);
  return rc;
}

void rb_plan_free(struct rb_plan *plan)
{
  free(plan->moves);
  plan->moves = NULL;
  plan->n_moves = plan->cap = 0;
}
