/* SPDX-License-Identifier: Apache-2.0 */
/* The benchmark's simulated cluster (sim.h): nodes of 8, 16 or 32 cores (4 GiB
 * each), one in twenty with accelerators; a share of them ("hot") given four
 * times the pods; each pod's CPU demand drawn from a Pareto distribution
 * (alpha 1.5, a heavy tail), its memory log-uniform 32 MiB..2 GiB, its
 * requests half of what it uses; one pod in ten not migratable. */
#include "sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rebalance/json.h"

#define MIB (1024.0 * 1024.0)
#define GIB_PER_CORE 4
#define POD_MEAN_CORES_PER_16 0.3 /* a pod's mean demand on a 16-core node */
#define PARETO_ALPHA 1.5
#define HOT_WEIGHT 4.0
#define BACKGROUND 0.03 /* the node's own use besides its pods */
#define GPU_EVERY 20
#define GPUS_PER_NODE 4
#define ZONES 10
#define REPLICAS 30 /* pods per app label */
#define PAIR_WEIGHT 50
#define GPU_WEIGHT 60

static const char *const HARDWARE[] = { "accelerator" };

static uint64_t next(struct sim *s)
{
  s->rng ^= s->rng << 13;
  s->rng ^= s->rng >> 7;
  s->rng ^= s->rng << 17;
  return s->rng;
}

double sim_unit(struct sim *s) { return (double)(next(s) >> 11) / (double)(1ull << 53); }

static json_object *keep(struct sim *s, const char *text)
{
  json_object *o = json_tokener_parse(text);
  if (!o) {
    fprintf(stderr, "sim: bad JSON: %s\n", text);
    abort();
  }
  s->objs[s->n_objs++] = o;
  return o;
}

static void make_node(struct sim *s, size_t i)
{
  static const int CORES[] = { 8, 16, 32 };
  int cores = CORES[next(s) % 3], gpu = i % GPU_EVERY == 0;
  char text[1024];
  snprintf(text, sizeof text,
           "{\"metadata\":{\"name\":\"node-%04zu\",\"labels\":{\"kubernetes.io/hostname\":\"node-%04zu\","
           "\"topology.kubernetes.io/zone\":\"zone-%zu\"%s}},\"spec\":{},\"status\":{\"conditions\":[{\"type\":"
           "\"Ready\",\"status\":\"True\"}],\"capacity\":{\"cpu\":\"%d\",\"memory\":\"%dGi\",\"pods\":\"250\"%s},"
           "\"allocatable\":{\"cpu\":\"%d\",\"memory\":\"%dGi\",\"pods\":\"250\"%s}}}",
           i, i, i % ZONES, gpu ? ",\"accelerator\":\"nvidia\"" : "", cores, cores * GIB_PER_CORE,
           gpu ? ",\"nvidia.com/gpu\":\"4\"" : "", cores, cores * GIB_PER_CORE, gpu ? ",\"nvidia.com/gpu\":\"4\"" : "");
  ferry_error err = FERRY_ERROR_INIT;
  if (rb_node_from_json(&s->arena, keep(s, text), &s->nodes[i], &err) < 0) {
    fprintf(stderr, "sim: %s\n", ferry_error_msg(&err));
    abort();
  }
  s->nodes[i].agent = s->nodes[i].reported = 1;
}

/* The pods each node gets: hot nodes four times as many. */
static void spread(struct sim *s, size_t *count)
{
  double weights = 0;
  for (size_t i = 0; i < s->n_nodes; i++)
    weights += (double)i < s->o.hot * (double)s->n_nodes ? HOT_WEIGHT : 1;
  size_t given = 0;
  for (size_t i = 0; i < s->n_nodes; i++) {
    double w = (double)i < s->o.hot * (double)s->n_nodes ? HOT_WEIGHT : 1;
    count[i] = (size_t)((double)s->n_pods * w / weights);
    given += count[i];
  }
  for (size_t i = 0; given < s->n_pods; i = (i + 1) % s->n_nodes, given++)
    count[i]++;
}

static double pareto(struct sim *s, double mean, double cap)
{
  double xm = mean * (PARETO_ALPHA - 1) / PARETO_ALPHA, u = 1.0 - sim_unit(s);
  double x = xm / pow(u, 1.0 / PARETO_ALPHA);
  return x < cap ? x : cap;
}

/* The pod's affinity: a pair's partner, or accelerator nodes. */
static void affinity_of(struct sim *s, size_t i, char *labels, size_t llen, char *spec, size_t slen)
{
  size_t paired = (size_t)s->o.pairs * 2, pair_every = paired ? s->n_pods / paired : 0;
  snprintf(labels, llen, "\"app\":\"app-%zu\"", i / REPLICAS);
  spec[0] = '\0';
  if (paired && i % pair_every == 0 && i / pair_every < paired) {
    size_t k = i / pair_every / 2;
    snprintf(labels + strlen(labels), llen - strlen(labels), ",\"pair\":\"pair-%zu\"", k);
    snprintf(spec, slen,
             ",\"affinity\":{\"podAffinity\":{\"preferredDuringSchedulingIgnoredDuringExecution\":[{\"weight\":%d,"
             "\"podAffinityTerm\":{\"labelSelector\":{\"matchLabels\":{\"pair\":\"pair-%zu\"}},\"topologyKey\":"
             "\"kubernetes.io/hostname\"}}]}}",
             PAIR_WEIGHT, k);
  } else if (s->o.gpu_pods && i % (s->n_pods / (size_t)s->o.gpu_pods) == 1) {
    snprintf(spec, slen,
             ",\"affinity\":{\"nodeAffinity\":{\"preferredDuringSchedulingIgnoredDuringExecution\":[{\"weight\":%d,"
             "\"preference\":{\"matchExpressions\":[{\"key\":\"accelerator\",\"operator\":\"In\",\"values\":"
             "[\"nvidia\"]}]}}]}}",
             GPU_WEIGHT);
  }
}

static void make_pod(struct sim *s, size_t i, size_t node)
{
  double cpus = s->nodes[node].cpus;
  double cores = pareto(s, POD_MEAN_CORES_PER_16 * cpus / 16, cpus / 4);
  double mem = pow(2.0, 5 + 6 * sim_unit(s)) * MIB; /* 32 MiB .. 2 GiB */
  char labels[128], spec[512], text[2048];
  affinity_of(s, i, labels, sizeof labels, spec, sizeof spec);
  snprintf(text, sizeof text,
           "{\"metadata\":{\"name\":\"pod-%05zu\",\"namespace\":\"bench\",\"uid\":\"uid-%05zu\",\"labels\":{%s},"
           "\"annotations\":{%s}},\"spec\":{\"nodeName\":\"%s\",\"containers\":[{\"name\":\"app\",\"resources\":"
           "{\"requests\":{\"cpu\":\"%dm\",\"memory\":\"%lld\"}}}]%s},\"status\":{\"phase\":\"Running\"}}",
           i, i, labels, i % 10 ? "\"ferry.dev/migratable\":\"true\"" : "", s->nodes[node].name, (int)(cores * 500) + 1,
           (long long)(mem / 2), spec);
  ferry_error err = FERRY_ERROR_INIT;
  if (rb_pod_from_json(&s->arena, keep(s, text), &s->pods[i], &err) < 0) {
    fprintf(stderr, "sim: %s\n", ferry_error_msg(&err));
    abort();
  }
  s->pods[i].mem_bytes = (int64_t)mem;
  s->sp[i].cores = cores;
  s->sp[i].node = node;
}

static double ms_since(clockid_t clock, const struct timespec *t0)
{
  struct timespec t1;
  clock_gettime(clock, &t1);
  return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

int sim_build(struct sim *s, const struct sim_opts *o)
{
  memset(s, 0, sizeof *s);
  s->o = *o;
  s->rng = o->seed ? o->seed : 1;
  s->n_nodes = (size_t)o->nodes;
  s->n_pods = (size_t)o->pods;
  s->objs = calloc(s->n_nodes + s->n_pods, sizeof *s->objs);
  s->nodes = calloc(s->n_nodes, sizeof *s->nodes);
  s->pods = calloc(s->n_pods, sizeof *s->pods);
  s->sp = calloc(s->n_pods, sizeof *s->sp);
  size_t *count = calloc(s->n_nodes, sizeof *count);
  if (!s->objs || !s->nodes || !s->pods || !s->sp || !count)
    return -1;
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (size_t i = 0; i < s->n_nodes; i++)
    make_node(s, i);
  spread(s, count);
  for (size_t n = 0, i = 0; n < s->n_nodes; n++)
    for (size_t k = 0; k < count[n]; k++, i++)
      make_pod(s, i, n);
  s->build_ms = ms_since(CLOCK_MONOTONIC, &t0);
  free(count);
  rb_policy_defaults(&s->pol);
  s->pol.load_enabled = s->pol.locality_enabled = 1;
  s->pol.window = 2;
  s->pol.max_moves = 1000;
  s->pol.max_moves_per_node = 4;
  s->pol.hardware_labels = HARDWARE;
  s->pol.n_hardware_labels = 1;
  s->st = rb_state_new();
  s->now = 1800000000000LL;
  sim_report(s);
  return 0;
}

void sim_free(struct sim *s)
{
  for (size_t i = 0; i < s->n_objs; i++)
    json_object_put(s->objs[i]);
  free(s->objs);
  free(s->nodes);
  free(s->pods);
  free(s->sp);
  rb_arena_free(&s->arena);
  rb_state_free(s->st);
  rb_plan_free(&s->plan);
}

/* Demand per node (cores), noise drawn for each pod. */
static void demand(struct sim *s, double *want, double *noisy)
{
  for (size_t n = 0; n < s->n_nodes; n++)
    want[n] = BACKGROUND * s->nodes[n].cpus;
  for (size_t i = 0; i < s->n_pods; i++) {
    double f = s->o.noise > 0 ? 1 + s->o.noise * (2 * sim_unit(s) - 1) : 1;
    noisy[i] = s->sp[i].cores * f;
    want[s->sp[i].node] += noisy[i];
  }
}

void sim_report(struct sim *s)
{
  double *want = calloc(s->n_nodes, sizeof *want), *noisy = calloc(s->n_pods, sizeof *noisy);
  double *mem = calloc(s->n_nodes, sizeof *mem);
  if (!want || !noisy || !mem)
    abort();
  demand(s, want, noisy);
  for (size_t i = 0; i < s->n_pods; i++) {
    size_t n = s->sp[i].node;
    double cpus = s->nodes[n].cpus, squeeze = want[n] > cpus ? cpus / want[n] : 1;
    s->pods[i].cpu_cores = noisy[i] * squeeze; /* what its cgroup gets on a saturated node */
    mem[n] += (double)s->pods[i].mem_bytes;
  }
  for (size_t n = 0; n < s->n_nodes; n++) {
    double cpu = want[n] / s->nodes[n].cpus;
    s->nodes[n].cpu = cpu < 1 ? cpu : 1;
    s->nodes[n].memory = mem[n] / (double)s->nodes[n].mem_total_bytes;
  }
  free(want);
  free(noisy);
  free(mem);
}

double sim_round(struct sim *s, double *cpu_ms)
{
  struct rb_input in = { s->nodes, s->n_nodes, s->pods, s->n_pods, &s->pol, s->now, rb_fit_placement, NULL };
  ferry_error err = FERRY_ERROR_INIT;
  struct timespec t0, c0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
  int rc = rb_round(s->st, &in, &s->plan, &err);
  *cpu_ms = ms_since(CLOCK_THREAD_CPUTIME_ID, &c0);
  double ms = ms_since(CLOCK_MONOTONIC, &t0);
  if (rc < 0) {
    fprintf(stderr, "sim: %s\n", ferry_error_msg(&err));
    abort();
  }
  return ms;
}

static void remember_left(struct sim_pod *p, int node)
{
  if (p->n_left == SIM_LEFT) {
    memmove(p->left, p->left + 1, (SIM_LEFT - 1) * sizeof p->left[0]);
    p->n_left--;
  }
  p->left[p->n_left++] = node;
}

void sim_execute(struct sim *s)
{
  for (size_t i = 0; i < s->plan.n_moves; i++) {
    const struct rb_move *m = &s->plan.moves[i];
    struct sim_pod *p = &s->sp[m->pod];
    for (int k = 0; k < p->n_left; k++)
      s->oscillations += p->left[k] == (int)m->to;
    remember_left(p, (int)m->from);
    p->node = m->to;
    s->pods[m->pod].node = s->nodes[m->to].name;
    json_object *spec = json_object_object_get(s->pods[m->pod].obj, "spec");
    json_object_object_add(spec, "nodeName", json_object_new_string(s->pods[m->pod].node));
    s->moves++;
    s->by_reason[m->reason]++;
    s->gib_moved += (double)s->pods[m->pod].mem_bytes / (MIB * 1024);
  }
  s->now += (int64_t)s->o.interval_s * 1000;
  sim_report(s);
}

int sim_over(const struct sim *s)
{
  int over = 0;
  double *want = calloc(s->n_nodes, sizeof *want);
  if (!want)
    abort();
  for (size_t i = 0; i < s->n_pods; i++)
    want[s->sp[i].node] += s->sp[i].cores;
  for (size_t n = 0; n < s->n_nodes; n++)
    over += (want[n] / s->nodes[n].cpus + BACKGROUND) > s->pol.cpu_high;
  free(want);
  return over;
}

static int cores_desc(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

long sim_lower_bound(const struct sim *s)
{
  long total = 0;
  double *cores = calloc(s->n_pods, sizeof *cores);
  if (!cores)
    abort();
  for (size_t n = 0; n < s->n_nodes; n++) {
    size_t k = 0;
    double want = BACKGROUND * s->nodes[n].cpus;
    for (size_t i = 0; i < s->n_pods; i++)
      if (s->sp[i].node == n) {
        want += s->sp[i].cores;
        if (s->pods[i].allow & RB_ALLOW_LOAD)
          cores[k++] = s->sp[i].cores;
      }
    if (want / s->nodes[n].cpus <= s->pol.cpu_high)
      continue;
    double excess = want - (s->pol.cpu_high - s->pol.hysteresis) * s->nodes[n].cpus;
    qsort(cores, k, sizeof *cores, cores_desc);
    for (size_t j = 0; j < k && excess > 0; j++, total++)
      excess -= cores[j];
  }
  free(cores);
  return total;
}
