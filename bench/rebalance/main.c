/* SPDX-License-Identifier: Apache-2.0 */
/* rebalance-bench: the rebalancer's decision core on a simulated cluster (no
 * API). Rounds every --interval simulated seconds, the planned moves done at
 * once, until nothing moved for a pod cooldown and a window; then one
 * Markdown table row (rounds to converge, moves against a lower bound, time
 * per round, moves that undid an earlier one) on stdout and one line per
 * round into --tsv. bench/rebalance/run.sh runs the scenarios. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define MS_PER_S 1000

struct args {
  struct sim_opts o;
  const char *label, *tsv;
};

static void usage(void)
{
  fprintf(stderr, "usage: rebalance-bench [--nodes N] [--pods N] [--pairs N] [--gpu-pods N] [--hot F] [--noise F]\n"
                  "                       [--seed N] [--interval S] [--max-rounds N] [--label TEXT] [--tsv FILE]\n");
  exit(2);
}

static void parse(int argc, char **argv, struct args *a)
{
  static const struct option opts[] = {
    { "nodes", 1, 0, 'n' }, { "pods", 1, 0, 'p' },  { "pairs", 1, 0, 'a' },      { "gpu-pods", 1, 0, 'g' },
    { "hot", 1, 0, 'h' },   { "noise", 1, 0, 'z' }, { "seed", 1, 0, 's' },       { "interval", 1, 0, 'i' },
    { "label", 1, 0, 'l' }, { "tsv", 1, 0, 't' },   { "max-rounds", 1, 0, 'r' }, { 0, 0, 0, 0 },
  };
  *a = (struct args){ { 1000, 30000, 0, 0, 1.0 / 3, 0, 42, 30, 400 }, "run", NULL };
  for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
    switch (c) {
    case 'n':
      a->o.nodes = atoi(optarg);
      break;
    case 'p':
      a->o.pods = atoi(optarg);
      break;
    case 'a':
      a->o.pairs = atoi(optarg);
      break;
    case 'g':
      a->o.gpu_pods = atoi(optarg);
      break;
    case 'h':
      a->o.hot = atof(optarg);
      break;
    case 'z':
      a->o.noise = atof(optarg);
      break;
    case 's':
      a->o.seed = strtoull(optarg, NULL, 10);
      break;
    case 'i':
      a->o.interval_s = atoi(optarg);
      break;
    case 'r':
      a->o.max_rounds = atoi(optarg);
      break;
    case 'l':
      a->label = optarg;
      break;
    case 't':
      a->tsv = optarg;
      break;
    default:
      usage();
    }
  }
  if (a->o.nodes < 1 || a->o.pods < a->o.nodes || a->o.interval_s < 1 || a->o.pairs * 2 > a->o.pods / 2 ||
      a->o.gpu_pods > a->o.pods / 4)
    usage();
}

static int by_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double quantile(double *v, int n, double q)
{
  qsort(v, (size_t)n, sizeof *v, by_double);
  int i = (int)(q * (n - 1) + 0.5);
  return v[i < n ? i : n - 1];
}

/* Pods with a pair term sharing a node with their partner; pods preferring
 * accelerators on such a node. */
static void locality_outcome(const struct sim *s, int *pairs_together, int *gpu_placed)
{
  *pairs_together = *gpu_placed = 0;
  for (size_t i = 0; i < s->n_pods; i++) {
    const struct rb_pod *p = &s->pods[i];
    if (p->aff.n_node_preferred) {
      for (size_t l = 0; l < s->nodes[s->sp[i].node].n_labels; l++)
        *gpu_placed += !strcmp(s->nodes[s->sp[i].node].labels[l].key, "accelerator");
      continue;
    }
    if (!p->aff.n_pod_preferred)
      continue;
    const char *want = p->aff.pod_preferred[0].sel.reqs[0].values[0];
    for (size_t j = 0; j < s->n_pods; j++) {
      if (j == i || s->sp[j].node != s->sp[i].node || !s->pods[j].aff.n_pod_preferred)
        continue;
      for (size_t l = 0; l < s->pods[j].n_labels; l++)
        if (!strcmp(s->pods[j].labels[l].key, "pair") && !strcmp(s->pods[j].labels[l].value, want))
          (*pairs_together)++;
    }
  }
  *pairs_together /= 2;
}

struct run {
  double *ms, *cpu;
  int rounds, last_move, over_start, over_end;
  int settled; /* the round after which the count of nodes above high no longer changed */
  long bound;
};

static void rounds(struct sim *s, const struct args *a, FILE *tsv, struct run *r)
{
  int64_t longest = s->pol.history_ms > s->pol.pod_cooldown_ms ? s->pol.history_ms : s->pol.pod_cooldown_ms;
  int quiet = (int)(longest / MS_PER_S / a->o.interval_s) + s->pol.window + 2;
  r->ms = calloc((size_t)a->o.max_rounds + 1, sizeof *r->ms);
  r->cpu = calloc((size_t)a->o.max_rounds + 1, sizeof *r->cpu);
  if (!r->ms || !r->cpu)
    abort();
  r->last_move = -1;
  r->settled = 0;
  r->over_start = r->over_end = sim_over(s);
  r->bound = sim_lower_bound(s);
  for (r->rounds = 0; r->rounds < a->o.max_rounds && r->rounds - r->last_move <= quiet; r->rounds++) {
    double cpu, ms = sim_round(s, &cpu);
    r->ms[r->rounds] = ms;
    r->cpu[r->rounds] = cpu;
    if (s->plan.n_moves)
      r->last_move = r->rounds;
    if (tsv)
      fprintf(tsv, "%s\t%d\t%zu\t%d\t%.3f\t%.3f\t%d\t%d\n", a->label, r->rounds + 1, s->plan.n_moves, sim_over(s), ms,
              cpu, s->plan.sources, s->plan.targets);
    sim_execute(s);
    int over = sim_over(s);
    if (over != r->over_end || r->rounds == 0)
      r->settled = r->rounds + 1;
    r->over_end = over;
  }
}

static void report(const struct sim *s, const struct args *a, struct run *r)
{
  int together, gpu;
  locality_outcome(s, &together, &gpu);
  double median = quantile(r->ms, r->rounds, 0.5), p99 = quantile(r->ms, r->rounds, 0.99);
  double worst = r->ms[r->rounds - 1];
  double cpu_median = quantile(r->cpu, r->rounds, 0.5), cpu_p99 = quantile(r->cpu, r->rounds, 0.99);
  long lb = s->by_reason[PM_REASON_LOAD_BALANCE];
  char locality[64] = "-";
  if (a->o.pairs || a->o.gpu_pods)
    snprintf(locality, sizeof locality, "%d/%d pairs, %d/%d on GPU nodes", together, a->o.pairs, gpu, a->o.gpu_pods);
  printf("| %s | %d | %d | %d (%.1f min) | %d | %ld (%ld LB, %ld Aff, %ld HW) | %ld | %.2f | %.0f | %.1f / %.1f / %.1f "
         "| %.1f / %.1f | %ld | %d -> %d | %s | %.0f |\n",
         a->label, a->o.nodes, a->o.pods, r->settled, r->settled * a->o.interval_s / 60.0, r->last_move + 1, s->moves,
         lb, s->by_reason[PM_REASON_AFFINITY], s->by_reason[PM_REASON_HARDWARE], r->bound,
         r->bound ? (double)lb / (double)r->bound : 0, s->gib_moved, median, p99, worst, cpu_median, cpu_p99,
         s->oscillations, r->over_start, r->over_end, locality, s->build_ms);
}

int main(int argc, char **argv)
{
  struct args a;
  parse(argc, argv, &a);
  struct sim s;
  if (sim_build(&s, &a.o) < 0) {
    fprintf(stderr, "rebalance-bench: out of memory\n");
    return 1;
  }
  FILE *tsv = a.tsv ? fopen(a.tsv, "a") : NULL;
  if (a.tsv && !tsv) {
    perror(a.tsv);
    return 1;
  }
  struct run r = { 0 };
  rounds(&s, &a, tsv, &r);
  report(&s, &a, &r);
  if (tsv)
    fclose(tsv);
  free(r.ms);
  free(r.cpu);
  sim_free(&s);
  return 0;
}
