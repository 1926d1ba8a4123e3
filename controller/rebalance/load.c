/* SPDX-License-Identifier: Apache-2.0 */
/* Load sharing, after the descheduler's LowNodeUtilization with live moves
 * instead of evictions: nodes above a high threshold for the whole window
 * shed migratable pods to nodes below both low thresholds, the pods that
 * carry the most load for what moving them costs first, until the source is
 * at high - hysteresis. A target never fills past that level nor past the
 * source after the move; sources take turns, one move each per pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rebalance/internal.h"

#define MAX_POD_TRIES 8  /* candidate pods a source tries per move */
#define MAX_FIT_TRIES 16 /* targets a pod asks the fit function about */
#define PERCENT 100.0

enum resource { CPU, MEM };

struct load {
  struct rb_ctx *c;
  size_t *sources, *by_level[2]; /* the targets, least busy first in CPU and in memory */
  size_t n_sources, n_targets;
  int *stuck; /* per source */
};

static double level(const struct rb_ctx *c, size_t node, enum resource res)
{
  return res == CPU ? c->node[node].cpu : c->node[node].mem;
}

static double excess(const struct rb_ctx *c, size_t node, enum resource res)
{
  return level(c, node, res) - (res == CPU ? rb_cpu_settle(c->pol) : rb_mem_settle(c->pol));
}

static double share(const struct rb_ctx *c, size_t pod, size_t node, enum resource res)
{
  return res == CPU ? rb_pod_cpu_share(c, pod, node) : rb_pod_mem_share(c, pod, node);
}

struct sort_arg {
  const struct rb_ctx *c;
  enum resource res;
};

static int by_level(const void *a, const void *b, void *arg)
{
  const struct sort_arg *sa = arg;
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  double lx = level(sa->c, x, sa->res), ly = level(sa->c, y, sa->res);
  if (lx != ly)
    return lx < ly ? -1 : 1;
  return strcmp(sa->c->in->nodes[x].name, sa->c->in->nodes[y].name);
}

static double worst_excess(const struct rb_ctx *c, size_t node)
{
  double ex_cpu = excess(c, node, CPU), ex_mem = excess(c, node, MEM);
  return ex_cpu > ex_mem ? ex_cpu : ex_mem;
}

static int by_excess_desc(const void *a, const void *b, void *arg)
{
  const struct sort_arg *sa = arg;
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  double ex = worst_excess(sa->c, x), ey = worst_excess(sa->c, y);
  if (ex != ey)
    return ex > ey ? -1 : 1;
  return strcmp(sa->c->in->nodes[x].name, sa->c->in->nodes[y].name);
}

static void sort_nodes(const struct rb_ctx *c, size_t *v, size_t n, enum resource res,
                       int (*cmp)(const void *, const void *, void *))
{
  struct sort_arg arg = { c, res };
  qsort_r(v, n, sizeof *v, cmp, &arg);
}

/* Whether a move of pod from s to t keeps the rules: t stays at or below the
 * settle level on both resources and below s on the one that moves; the pod
 * gives up preferred affinity only for a gain that beats it and the cost;
 * it does not undo its last move for less than that move gained. */
static int target_ok(struct rb_ctx *c, size_t pod, size_t s, size_t t, enum resource res, double gain)
{
  const struct rb_policy *pol = c->pol;
  if (!c->node[t].target || c->node[t].moves >= pol->max_moves_per_node)
    return 0;
  double t_cpu = c->node[t].cpu + rb_pod_cpu_share(c, pod, t), t_mem = c->node[t].mem + rb_pod_mem_share(c, pod, t);
  if (t_cpu > rb_cpu_settle(pol) || t_mem > rb_mem_settle(pol))
    return 0;
  if (level(c, t, res) + share(c, pod, t, res) > level(c, s, res) - share(c, pod, s, res))
    return 0;
  if (rb_has_preferences(&c->in->pods[pod])) {
    double loss = rb_score(c, pod, s) - rb_score(c, pod, t);
    if (loss > 0 && gain <= loss + c->pod[pod].cost)
      return 0;
  }
  return rb_undo_ok(c, pod, t, gain);
}

/* A target received a pod: its place in the order, the rest still sorted. */
static void reposition(const struct rb_ctx *c, size_t *v, size_t n, size_t node, enum resource res)
{
  struct sort_arg arg = { c, res };
  size_t i = 0;
  while (i < n && v[i] != node)
    i++;
  for (; i + 1 < n && by_level(&v[i], &v[i + 1], &arg) > 0; i++) {
    v[i] = v[i + 1];
    v[i + 1] = node;
  }
}

static size_t pick_target(struct load *l, size_t pod, size_t s, enum resource res, double gain)
{
  struct rb_ctx *c = l->c;
  char why[256];
  int tries = 0;
  for (size_t i = 0; i < l->n_targets && tries < MAX_FIT_TRIES; i++) {
    size_t t = l->by_level[res][i];
    if (!target_ok(c, pod, s, t, res, gain))
      continue;
    tries++;
    if (rb_fits(c, pod, t, why, sizeof why))
      return t;
  }
  return RB_NO_NODE;
}

static void load_why(struct load *l, struct rb_move *m, enum resource res, double s_before, double t_before)
{
  struct rb_ctx *c = l->c;
  const struct rb_pod *p = &c->in->pods[m->pod];
  const struct rb_node *src = &c->in->nodes[m->from];
  const char *what = res == CPU ? "CPU" : "memory", *dst = c->in->nodes[m->to].name;
  char mem[32];
  rb_bytes_text(p->mem_bytes, mem, sizeof mem);
  int seen = c->node[m->from].hist->over_count;
  snprintf(m->why, sizeof m->why,
           "%s's %s has been above %.0f%% for %d observation%s (%.0f%% reported); %s/%s uses %.2f cores and holds %s "
           "(%.0f%% of %s's %s), the most load for its cost there; %s is the least busy node that fits "
           "(%.0f%% -> %.0f%%; %s %.0f%% -> %.0f%%)",
           src->name, what, (res == CPU ? c->pol->cpu_high : c->pol->mem_high) * PERCENT, seen, seen == 1 ? "" : "s",
           (res == CPU ? src->cpu : src->memory) * PERCENT, p->ns ? p->ns : "", p->name ? p->name : "", p->cpu_cores,
           mem, share(c, m->pod, m->from, res) * PERCENT, src->name, what, dst, t_before * PERCENT,
           level(c, m->to, res) * PERCENT, src->name, s_before * PERCENT, level(c, m->from, res) * PERCENT);
}

struct candidate {
  size_t pod;
  double gain, rank;
};

static int by_rank_desc(const void *a, const void *b)
{
  const struct candidate *x = a, *y = b;
  if (x->rank != y->rank)
    return x->rank > y->rank ? -1 : 1;
  return x->pod < y->pod ? -1 : x->pod > y->pod;
}

/* The source's movable pods, ranked by the load they take off its excess
 * (points) per point of cost; a pod whose gain does not beat its cost is none. */
static size_t candidates(struct rb_ctx *c, size_t s, enum resource res, struct candidate *out)
{
  size_t n = 0;
  double ex = excess(c, s, res);
  for (size_t k = c->by_node_start[s]; k < c->by_node_start[s + 1]; k++) {
    size_t pod = c->by_node[k];
    double sh = share(c, pod, s, res);
    if (c->pod[pod].node != s || sh <= 0 || !rb_movable(c, pod, RB_ALLOW_LOAD))
      continue;
    double gain = (sh < ex ? sh : ex) * RB_POINTS;
    if (gain <= c->pod[pod].cost)
      continue;
    out[n++] = (struct candidate){ pod, gain, gain / c->pod[pod].cost };
  }
  qsort(out, n, sizeof *out, by_rank_desc);
  return n;
}

/* One move off source s; 0 when none is possible. */
static int shed_one(struct load *l, size_t s, struct candidate *buf)
{
  struct rb_ctx *c = l->c;
  double ex_cpu = excess(c, s, CPU), ex_mem = excess(c, s, MEM);
  if (ex_cpu <= 0 && ex_mem <= 0)
    return 0;
  enum resource res = ex_cpu / c->pol->cpu_high >= ex_mem / c->pol->mem_high ? CPU : MEM;
  size_t n = candidates(c, s, res, buf);
  for (size_t i = 0; i < n && i < MAX_POD_TRIES; i++) {
    size_t t = pick_target(l, buf[i].pod, s, res, buf[i].gain);
    if (t == RB_NO_NODE)
      continue;
    double s_before = level(c, s, res), t_before = level(c, t, res);
    struct rb_move *m = rb_apply(c, buf[i].pod, t, PM_REASON_LOAD_BALANCE, buf[i].gain);
    load_why(l, m, res, s_before, t_before);
    reposition(c, l->by_level[CPU], l->n_targets, t, CPU);
    reposition(c, l->by_level[MEM], l->n_targets, t, MEM);
    return 1;
  }
  return 0;
}

static int done(const struct rb_ctx *c, size_t s)
{
  return c->node[s].moves >= c->pol->max_moves_per_node || (excess(c, s, CPU) <= 0 && excess(c, s, MEM) <= 0);
}

static void passes(struct load *l, struct candidate *buf)
{
  struct rb_ctx *c = l->c;
  for (int progress = 1; progress && c->moves_left > 0;) {
    progress = 0;
    for (size_t i = 0; i < l->n_sources && c->moves_left > 0; i++) {
      size_t s = l->sources[i];
      if (l->stuck[i] || done(c, s))
        continue;
      if (shed_one(l, s, buf))
        progress = 1;
      else
        l->stuck[i] = 1;
    }
  }
  for (size_t i = 0; i < l->n_sources; i++)
    c->plan->stuck += l->stuck[i] && worst_excess(c, l->sources[i]) > 0;
}

void rb_plan_load(struct rb_ctx *c)
{
  struct load l = { c, NULL, { NULL, NULL }, 0, 0, NULL };
  size_t n = c->in->n_nodes, most = 1;
  l.sources = calloc(n + 1, sizeof *l.sources);
  l.by_level[CPU] = calloc(n + 1, sizeof *l.by_level[CPU]);
  l.by_level[MEM] = calloc(n + 1, sizeof *l.by_level[MEM]);
  l.stuck = calloc(n + 1, sizeof *l.stuck);
  if (!l.sources || !l.by_level[CPU] || !l.by_level[MEM] || !l.stuck)
    abort();
  for (size_t i = 0; i < n; i++) {
    if (c->node[i].source) {
      l.sources[l.n_sources++] = i;
    } else if (c->node[i].target) {
      l.by_level[CPU][l.n_targets] = l.by_level[MEM][l.n_targets] = i;
      l.n_targets++;
    }
    size_t pods = c->by_node_start[i + 1] - c->by_node_start[i];
    most = pods > most ? pods : most;
  }
  struct candidate *buf = calloc(most, sizeof *buf);
  if (!buf)
    abort();
  c->plan->sources = (int)l.n_sources;
  c->plan->targets = (int)l.n_targets;
  if (l.n_sources && l.n_targets) {
    sort_nodes(c, l.sources, l.n_sources, CPU, by_excess_desc);
    sort_nodes(c, l.by_level[CPU], l.n_targets, CPU, by_level);
    sort_nodes(c, l.by_level[MEM], l.n_targets, MEM, by_level);
    passes(&l, buf);
  } else {
    c->plan->stuck = (int)l.n_sources;
  }
  free(buf);
  free(l.sources);
  free(l.by_level[CPU]);
  free(l.by_level[MEM]);
  free(l.stuck);
}
