/* SPDX-License-Identifier: Apache-2.0 */
/* Locality: a migratable pod's preferred node affinity and pod (anti-)affinity
 * scored on its node and on every other node that may receive it; it moves to
 * the best-scoring node that fits when that node beats its own by more than
 * the margin plus the move's cost (Affinity), or Hardware when the gain is a
 * term naming hardware (a policy label, or an extended resource with room).
 * A locality move never takes a node past the settle level (high -
 * hysteresis) nor onto a node above high: load does not undo it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rebalance/internal.h"

#define MAX_FIT_TRIES 16
#define PERCENT 100.0

struct scored {
  size_t node;
  double score;
};

struct locality {
  struct rb_ctx *c;
  struct scored *buf;
  size_t *cand;
};

static int by_score_desc(const void *a, const void *b, void *arg)
{
  const struct rb_ctx *c = arg;
  const struct scored *x = a, *y = b;
  if (x->score != y->score)
    return x->score > y->score ? -1 : 1;
  double lx = c->node[x->node].cpu, ly = c->node[y->node].cpu;
  if (lx != ly)
    return lx < ly ? -1 : 1;
  return strcmp(c->in->nodes[x->node].name, c->in->nodes[y->node].name);
}

/* A node that may receive a pod for locality this round. */
static int receiver(const struct rb_ctx *c, size_t n)
{
  const struct rb_node *node = &c->in->nodes[n];
  const struct rb_node_round *r = &c->node[n];
  return node->reported && node->agent && node->schedulable && !r->over && !r->cooling &&
         r->moves < c->pol->max_moves_per_node;
}

static int stays_below(const struct rb_ctx *c, size_t pod, size_t n)
{
  return c->node[n].cpu + rb_pod_cpu_share(c, pod, n) <= rb_cpu_settle(c->pol) &&
         c->node[n].mem + rb_pod_mem_share(c, pod, n) <= rb_mem_settle(c->pol);
}

static void locality_why(struct rb_ctx *c, struct rb_move *m, double here, double there, const char *term,
                         double cpu_before)
{
  const struct rb_pod *p = &c->in->pods[m->pod];
  const char *src = c->in->nodes[m->from].name, *dst = c->in->nodes[m->to].name;
  snprintf(m->why, sizeof m->why,
           "%s/%s %s: %s scores %.0f against %.0f on %s (gain %.0f, move cost %.1f); %s fits and stays below "
           "%.0f%% CPU (%.0f%% -> %.0f%%)",
           p->ns ? p->ns : "", p->name ? p->name : "", term, dst, there, here, src, there - here, m->cost, dst,
           rb_cpu_settle(c->pol) * PERCENT, cpu_before * PERCENT, c->node[m->to].cpu * PERCENT);
}

/* The nodes that beat the pod's own by more than need, best first. */
static size_t better_nodes(struct locality *l, size_t pod, double here, double need)
{
  struct rb_ctx *c = l->c;
  size_t n = 0, n_cand = rb_candidates(c, pod, here, l->cand);
  int all = n_cand == RB_ALL_NODES;
  for (size_t k = 0; k < (all ? c->in->n_nodes : n_cand); k++) {
    size_t i = all ? k : l->cand[k];
    if (i == c->pod[pod].node || !receiver(c, i))
      continue;
    double s = rb_score(c, pod, i);
    if (s - here > need)
      l->buf[n++] = (struct scored){ i, s };
  }
  qsort_r(l->buf, n, sizeof *l->buf, by_score_desc, c);
  return n;
}

static void consider(struct locality *l, size_t pod)
{
  struct rb_ctx *c = l->c;
  size_t cur = c->pod[pod].node;
  double here = rb_score(c, pod, cur), need = c->pol->affinity_margin + c->pod[pod].cost;
  if (rb_score_bound(c, pod) - here <= need)
    return;
  size_t n = better_nodes(l, pod, here, need);
  char why[256], hw[200], term[320];
  for (size_t i = 0, tries = 0; i < n && tries < MAX_FIT_TRIES; i++) {
    size_t t = l->buf[i].node;
    double gain = l->buf[i].score - here;
    if (!stays_below(c, pod, t) || !rb_undo_ok(c, pod, t, gain))
      continue;
    tries++;
    if (!rb_fits(c, pod, t, why, sizeof why))
      continue;
    /* the words first: the move changes what the pod's node is */
    int hardware = rb_hardware_gain(c, pod, t, hw, sizeof hw);
    if (hardware)
      snprintf(term, sizeof term, "prefers %s and %s offers it with room now", hw, c->in->nodes[t].name);
    else
      rb_term_text(c, pod, t, term, sizeof term);
    double cpu_before = c->node[t].cpu;
    struct rb_move *m = rb_apply(c, pod, t, hardware ? PM_REASON_HARDWARE : PM_REASON_AFFINITY, gain);
    locality_why(c, m, here, l->buf[i].score, term, cpu_before);
    return;
  }
}

void rb_plan_locality(struct rb_ctx *c)
{
  struct locality l = { c, calloc(c->in->n_nodes + 1, sizeof(struct scored)),
                        calloc(c->in->n_nodes + 1, sizeof(size_t)) };
  if (!l.buf || !l.cand)
    abort();
  for (size_t i = 0; i < c->locality.n && c->moves_left > 0; i++)
    if (rb_movable(c, c->locality.v[i], RB_ALLOW_LOCALITY))
      consider(&l, c->locality.v[i]);
  free(l.buf);
  free(l.cand);
}
