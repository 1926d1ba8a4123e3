/* SPDX-License-Identifier: Apache-2.0 */
/* A small simulated cluster for the rebalancer's tests: Nodes and Pods made as
 * the API shows them (JSON), turned into the core's structs by json.c, checked
 * by placement's fit; each node's load is its base plus its pods' measured use,
 * as the agents would report it after the moves ran. */
#ifndef FERRY_TEST_REBALANCE_H
#define FERRY_TEST_REBALANCE_H

#include "testutil.h"

#include <json-c/json.h>
#include <stdint.h>

#include "rebalance/json.h"
#include "rebalance/rebalance.h"

#define FX_NODES 64
#define FX_PODS 512
#define FX_START_MS 1800000000000LL
#define FX_MIB (1024LL * 1024)

struct fx {
  struct rb_arena arena;
  json_object *objs[FX_NODES + FX_PODS];
  size_t n_objs;
  struct rb_node nodes[FX_NODES];
  double base_cpu[FX_NODES];
  size_t n_nodes;
  struct rb_pod pods[FX_PODS];
  uint64_t left[FX_PODS]; /* the nodes each pod moved away from */
  size_t n_pods;
  struct rb_policy pol;
  struct rb_state *st;
  struct rb_plan plan;
  int64_t now;
  int moves, oscillations;
};

static inline struct fx *fx_new(void)
{
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  rb_policy_defaults(&f->pol);
  f->pol.load_enabled = f->pol.locality_enabled = 1;
  f->st = rb_state_new();
  f->now = FX_START_MS;
  return f;
}

static inline void fx_free(struct fx *f)
{
  for (size_t i = 0; i < f->n_objs; i++)
    json_object_put(f->objs[i]);
  rb_arena_free(&f->arena);
  rb_state_free(f->st);
  rb_plan_free(&f->plan);
  free(f);
}

static inline json_object *fx_parse(struct fx *f, const char *text)
{
  json_object *o = json_tokener_parse(text);
  assert_non_null(o);
  assert_true(f->n_objs < FX_NODES + FX_PODS);
  f->objs[f->n_objs++] = o;
  return o;
}

/* Recomputes every node's report: base + its pods' cores / cpus, and memory. */
static inline void fx_loads(struct fx *f)
{
  for (size_t n = 0; n < f->n_nodes; n++) {
    double cores = 0, bytes = 0;
    for (size_t p = 0; p < f->n_pods; p++)
      if (f->pods[p].node && !strcmp(f->pods[p].node, f->nodes[n].name)) {
        cores += f->pods[p].cpu_cores;
        bytes += (double)f->pods[p].mem_bytes;
      }
    f->nodes[n].cpu = f->base_cpu[n] + cores / f->nodes[n].cpus;
    f->nodes[n].memory = bytes / (double)f->nodes[n].mem_total_bytes;
  }
}

/* A Ready node with 4 CPUs and 16 GiB; extra: more of status.allocatable
 * (",\"example.com/gpu\":\"1\""), spec: its spec's members. */
static inline size_t fx_node_ex(struct fx *f, const char *name, double base_cpu, const char *labels, const char *spec,
                                const char *extra)
{
  char text[2048];
  snprintf(text, sizeof text,
           "{\"metadata\":{\"name\":\"%s\",\"labels\":{\"kubernetes.io/hostname\":\"%s\"%s%s}},\"spec\":{%s},"
           "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],"
           "\"capacity\":{\"cpu\":\"4\",\"memory\":\"16Gi\",\"pods\":\"110\"%s},"
           "\"allocatable\":{\"cpu\":\"4\",\"memory\":\"16Gi\",\"pods\":\"110\"%s}}}",
           name, name, *labels ? "," : "", labels, spec, extra, extra);
  assert_true(f->n_nodes < FX_NODES);
  size_t i = f->n_nodes++;
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(rb_node_from_json(&f->arena, fx_parse(f, text), &f->nodes[i], &err), 0);
  f->nodes[i].agent = f->nodes[i].reported = 1;
  f->base_cpu[i] = base_cpu;
  fx_loads(f);
  return i;
}

static inline size_t fx_node(struct fx *f, const char *name, double base_cpu)
{
  return fx_node_ex(f, name, base_cpu, "", "", "");
}

#define FX_REQUESTS "\"cpu\":\"100m\",\"memory\":\"64Mi\""

/* A Running pod with 256 MiB in use, using cores; labels: its labels'
 * members; requests: its container's (NULL: FX_REQUESTS); spec: more members
 * of its spec (",\"affinity\":{...}"). */
static inline size_t fx_pod_ex(struct fx *f, const char *name, const char *node, double cores, int migratable,
                               const char *labels, const char *requests, const char *spec)
{
  char text[4096];
  snprintf(text, sizeof text,
           "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\",\"uid\":\"uid-%s\",\"labels\":{%s},"
           "\"annotations\":{%s}},\"spec\":{\"nodeName\":\"%s\",\"containers\":[{\"name\":\"c\","
           "\"resources\":{\"requests\":{%s}}}]%s},"
           "\"status\":{\"phase\":\"Running\"}}",
           name, name, labels, migratable ? "\"ferry.dev/migratable\":\"true\"" : "", node,
           requests ? requests : FX_REQUESTS, spec);
  assert_true(f->n_pods < FX_PODS);
  size_t i = f->n_pods++;
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(rb_pod_from_json(&f->arena, fx_parse(f, text), &f->pods[i], &err), 0);
  f->pods[i].cpu_cores = cores;
  f->pods[i].mem_bytes = 256 * FX_MIB;
  fx_loads(f);
  return i;
}

static inline size_t fx_pod(struct fx *f, const char *name, const char *node, double cores)
{
  return fx_pod_ex(f, name, node, cores, 1, "", NULL, "");
}

static inline size_t fx_round(struct fx *f)
{
  struct rb_input in = { f->nodes, f->n_nodes, f->pods, f->n_pods, &f->pol, f->now, rb_fit_placement, NULL };
  ferry_error err = FERRY_ERROR_INIT;
  int rc = rb_round(f->st, &in, &f->plan, &err);
  if (rc < 0)
    fail_msg("rb_round: %s", ferry_error_msg(&err));
  return f->plan.n_moves;
}

static inline size_t fx_node_index(struct fx *f, const char *name)
{
  for (size_t i = 0; i < f->n_nodes; i++)
    if (!strcmp(f->nodes[i].name, name))
      return i;
  fail_msg("no node %s", name);
  return 0;
}

/* The plan's moves done: the pods on their targets (spec.nodeName too), the
 * loads reported anew; a move to a node the pod left before is an oscillation. */
static inline void fx_execute(struct fx *f)
{
  for (size_t i = 0; i < f->plan.n_moves; i++) {
    const struct rb_move *m = &f->plan.moves[i];
    if (!m->execute)
      continue;
    struct rb_pod *p = &f->pods[m->pod];
    if (f->left[m->pod] & (1ull << m->to))
      f->oscillations++;
    f->left[m->pod] |= 1ull << m->from;
    p->node = f->nodes[m->to].name;
    json_object *spec = json_object_object_get(p->obj, "spec");
    json_object_object_add(spec, "nodeName", json_object_new_string(p->node));
    f->moves++;
  }
  fx_loads(f);
}

/* Rounds every interval_s until rounds ran, moves executed. */
static inline void fx_run(struct fx *f, int rounds, int interval_s)
{
  for (int r = 0; r < rounds; r++) {
    fx_round(f);
    fx_execute(f);
    f->now += (int64_t)interval_s * 1000;
  }
}

static inline int fx_on(struct fx *f, size_t pod, const char *node) { return !strcmp(f->pods[pod].node, node); }

#endif
