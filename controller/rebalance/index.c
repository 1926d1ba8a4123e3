/* SPDX-License-Identifier: Apache-2.0 */
/* A round's indexes, built once from the input in O(nodes + pods): nodes by
 * name, pods by node, what each node's pods request (extended resources
 * included), each node's load and cooldown, each pod's cooldown and cost. */
#include <stdlib.h>
#include <string.h>

#include "rebalance/internal.h"
#include "base/util.h"

#define MILLI 1000
#define PREFETCH_AHEAD 8

static void *zalloc(size_t n, size_t size)
{
  void *p = calloc(n ? n : 1, size);
  if (!p)
    abort();
  return p;
}

/* The round's large arrays come from the state, kept from round to round:
 * no fresh pages to fault in and zero each time. */
static void *scratch(struct rb_ctx *c, enum rb_buf which, size_t n, size_t size)
{
  return rb_state_buf(c->st, which, (n ? n : 1) * size);
}

static int index_nodes(struct rb_ctx *c, ferry_error *err)
{
  const struct rb_input *in = c->in;
  rb_map_init(&c->node_by_name, in->n_nodes);
  c->node = scratch(c, RB_BUF_NODES, in->n_nodes, sizeof *c->node);
  for (size_t i = 0; i < in->n_nodes; i++) {
    const struct rb_node *n = &in->nodes[i];
    if (!n->name || !*n->name)
      return ferry_error_set(err, 0, "node %zu has no name", i);
    int added;
    size_t *slot = rb_map_put(&c->node_by_name, n->name, NULL, &added);
    if (!added)
      return ferry_error_set(err, 0, "node %s is listed twice", n->name);
    *slot = i;
    struct rb_node_round *r = &c->node[i];
    r->cpu = n->reported ? n->cpu : 0;
    r->mem = n->reported ? n->memory : 0;
    r->hist = rb_state_node(c->st, n->name);
    r->hist->seen = 1;
    r->cooling = r->hist->last_move_ms && in->now_ms - r->hist->last_move_ms < c->pol->node_cooldown_ms;
  }
  return 0;
}

static void index_ext(struct rb_ctx *c)
{
  const struct rb_input *in = c->in;
  size_t total = 0;
  for (size_t i = 0; i < in->n_nodes; i++)
    total += in->nodes[i].n_ext;
  rb_map_init(&c->ext, total);
  rb_map_init(&c->ext_names, 0);
  c->ext_alloc = zalloc(total, sizeof *c->ext_alloc);
  c->ext_used = zalloc(total, sizeof *c->ext_used);
  for (size_t i = 0; i < in->n_nodes; i++)
    for (size_t r = 0; r < in->nodes[i].n_ext; r++) {
      const struct rb_resource *res = &in->nodes[i].ext[r];
      int added;
      size_t *slot = rb_map_put(&c->ext, res->name, in->nodes[i].name, &added);
      if (added)
        *slot = c->n_ext++;
      c->ext_alloc[*slot] = res->amount;
      rb_map_put(&c->ext_names, res->name, NULL, NULL);
    }
}

static void ext_add(struct rb_ctx *c, size_t pod, size_t node, int sign)
{
  const struct rb_pod *p = &c->in->pods[pod];
  for (size_t r = 0; r < p->n_ext; r++) {
    size_t *slot = rb_map_get(&c->ext, p->ext[r].name, c->in->nodes[node].name);
    if (slot)
      c->ext_used[*slot] += sign * p->ext[r].amount;
  }
}

static double pod_cost(const struct rb_ctx *c, const struct rb_pod *p, const struct rb_pod_hist *h)
{
  const struct rb_policy *pol = c->pol;
  int recent = rb_hist_recent(h, c->in->now_ms, pol->history_ms);
  if (p->recent_moves > recent)
    recent = p->recent_moves;
  double gib = p->mem_bytes > 0 ? (double)p->mem_bytes / RB_GIB : 0;
  return pol->move_cost + pol->cost_per_gib * gib + pol->recent_move_cost * recent;
}

static int pod_cooling(const struct rb_ctx *c, const struct rb_pod *p, const struct rb_pod_hist *h)
{
  int64_t last = rb_hist_last(h);
  if (p->last_moved_ms > last)
    last = p->last_moved_ms;
  int64_t cooldown = p->cooldown_ms > 0 ? p->cooldown_ms : c->pol->pod_cooldown_ms;
  return last > 0 && c->in->now_ms - last < cooldown;
}

static void index_pods(struct rb_ctx *c)
{
  const struct rb_input *in = c->in;
  c->pod = scratch(c, RB_BUF_PODS, in->n_pods, sizeof *c->pod);
  c->by_node_start = zalloc(in->n_nodes + 1, sizeof *c->by_node_start);
  c->by_node = scratch(c, RB_BUF_BY_NODE, in->n_pods, sizeof *c->by_node);
  for (size_t i = 0; i < in->n_pods; i++) {
    const struct rb_pod *p = &in->pods[i];
    struct rb_pod_round *r = &c->pod[i];
    if (i + PREFETCH_AHEAD < in->n_pods) { /* the names live all over the heap: fetch ahead */
      __builtin_prefetch(in->pods[i + PREFETCH_AHEAD].node);
      __builtin_prefetch(in->pods[i + PREFETCH_AHEAD].uid);
    }
    size_t *at = p->node ? rb_map_get(&c->node_by_name, p->node, NULL) : NULL;
    r->node = r->start = at ? *at : RB_NO_NODE;
    if (r->node == RB_NO_NODE)
      continue;
    if (p->allow && p->uid) { /* what only a pod that may move needs */
      r->hist = rb_state_pod(c->st, p->uid, 0);
      r->cooling = pod_cooling(c, p, r->hist);
      r->cost = pod_cost(c, p, r->hist);
      if ((p->allow & RB_ALLOW_LOCALITY) && rb_has_preferences(p))
        rb_vec_push(&c->locality, i);
    }
    struct node_use *u = &c->node[r->node].use;
    u->cpu_milli += p->req_cpu_milli;
    u->mem_milli += p->req_mem_bytes * MILLI;
    u->pods++;
    ext_add(c, i, r->node, 1);
    c->by_node_start[r->node + 1]++;
  }
  for (size_t n = 0; n < in->n_nodes; n++)
    c->by_node_start[n + 1] += c->by_node_start[n];
  size_t *fill = zalloc(in->n_nodes, sizeof *fill);
  for (size_t i = 0; i < in->n_pods; i++)
    if (c->pod[i].node != RB_NO_NODE) {
      size_t n = c->pod[i].node;
      c->by_node[c->by_node_start[n] + fill[n]++] = i;
    }
  free(fill);
}

int rb_index_build(struct rb_ctx *c, ferry_error *err)
{
  if (index_nodes(c, err) < 0)
    return -1;
  index_ext(c);
  index_pods(c);
  return 0;
}

void rb_index_free(struct rb_ctx *c)
{
  rb_map_free(&c->node_by_name);
  rb_map_free(&c->ext);
  rb_map_free(&c->ext_names);

  free(c->by_node_start);
  rb_vec_free(&c->locality);
  free(c->ext_alloc);
  free(c->ext_used);
}

int64_t rb_ext_free(const struct rb_ctx *c, size_t pod, size_t node, const char *name)
{
  size_t *slot = rb_map_get(&c->ext, name, c->in->nodes[node].name);
  if (!slot)
    return -1;
  int64_t free_now = c->ext_alloc[*slot] - c->ext_used[*slot];
  const struct rb_pod *p = &c->in->pods[pod];
  if (c->pod[pod].node == node)
    for (size_t r = 0; r < p->n_ext; r++)
      if (!strcmp(p->ext[r].name, name))
        free_now += p->ext[r].amount;
  return free_now;
}

int rb_ext_fits(const struct rb_ctx *c, size_t pod, size_t node)
{
  const struct rb_pod *p = &c->in->pods[pod];
  for (size_t r = 0; r < p->n_ext; r++)
    if (p->ext[r].amount > 0 && rb_ext_free(c, pod, node, p->ext[r].name) < p->ext[r].amount)
      return 0;
  return 1;
}

/* Moves the pod's requests (extended resources included) from one node to another. */
void rb_index_move(struct rb_ctx *c, size_t pod, size_t from, size_t to)
{
  const struct rb_pod *p = &c->in->pods[pod];
  struct node_use *f = &c->node[from].use, *t = &c->node[to].use;
  f->cpu_milli -= p->req_cpu_milli;
  f->mem_milli -= p->req_mem_bytes * MILLI;
  f->pods--;
  t->cpu_milli += p->req_cpu_milli;
  t->mem_milli += p->req_mem_bytes * MILLI;
  t->pods++;
  ext_add(c, pod, from, -1);
  ext_add(c, pod, to, 1);
}
