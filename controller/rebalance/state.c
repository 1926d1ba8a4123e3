/* SPDX-License-Identifier: Apache-2.0 */
/* What the rebalancer remembers between rounds: per node, its observations in
 * a row above a high threshold and its last move; per moved pod, its recent
 * moves, where the last one came from, why, and what it gained. */
#include <stdlib.h>
#include <string.h>

#include "rebalance/internal.h"
#include "base/util.h"

struct rb_state {
  struct {
    void *p;
    size_t cap;
  } bufs[RB_BUF__COUNT];
  struct rb_map node_map, pod_map;
  struct rb_node_hist **nodes;
  struct rb_pod_hist **pods;
  size_t n_nodes, n_pods, cap_nodes, cap_pods;
};

struct rb_state *rb_state_new(void)
{
  struct rb_state *st = ferry_malloc(sizeof *st);
  memset(st, 0, sizeof *st);
  rb_map_init(&st->node_map, 0);
  rb_map_init(&st->pod_map, 0);
  return st;
}

static void node_free(struct rb_node_hist *h)
{
  free(h->name);
  free(h);
}

static void pod_free(struct rb_pod_hist *h)
{
  free(h->uid);
  free(h->from);
  free(h);
}

void rb_state_free(struct rb_state *st)
{
  if (!st)
    return;
  for (size_t i = 0; i < st->n_nodes; i++)
    node_free(st->nodes[i]);
  for (size_t i = 0; i < st->n_pods; i++)
    pod_free(st->pods[i]);
  free(st->nodes);
  free(st->pods);
  for (int i = 0; i < RB_BUF__COUNT; i++)
    free(st->bufs[i].p);
  rb_map_free(&st->node_map);
  rb_map_free(&st->pod_map);
  free(st);
}

void *rb_state_buf(struct rb_state *st, enum rb_buf which, size_t size)
{
  if (st->bufs[which].cap < size) {
    free(st->bufs[which].p);
    st->bufs[which].p = ferry_malloc(size);
    st->bufs[which].cap = size;
  }
  memset(st->bufs[which].p, 0, size);
  return st->bufs[which].p;
}

static void *append(void *v, size_t *n, size_t *cap, void *item)
{
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 16;
    v = realloc(v, *cap * sizeof(void *));
    if (!v)
      abort();
  }
  ((void **)v)[(*n)++] = item;
  return v;
}

struct rb_node_hist *rb_state_node(struct rb_state *st, const char *name)
{
  size_t *at = rb_map_get(&st->node_map, name, NULL);
  if (at)
    return st->nodes[*at];
  struct rb_node_hist *h = ferry_malloc(sizeof *h);
  memset(h, 0, sizeof *h);
  h->name = ferry_strdup(name);
  *rb_map_put(&st->node_map, h->name, NULL, NULL) = st->n_nodes;
  st->nodes = append(st->nodes, &st->n_nodes, &st->cap_nodes, h);
  return h;
}

struct rb_pod_hist *rb_state_pod(struct rb_state *st, const char *uid, int create)
{
  size_t *at = rb_map_get(&st->pod_map, uid, NULL);
  if (at)
    return st->pods[*at];
  if (!create)
    return NULL;
  struct rb_pod_hist *h = ferry_malloc(sizeof *h);
  memset(h, 0, sizeof *h);
  h->uid = ferry_strdup(uid);
  *rb_map_put(&st->pod_map, h->uid, NULL, NULL) = st->n_pods;
  st->pods = append(st->pods, &st->n_pods, &st->cap_pods, h);
  return h;
}

int64_t rb_hist_last(const struct rb_pod_hist *h) { return h && h->n_moves ? h->moves[h->n_moves - 1] : 0; }

int rb_hist_recent(const struct rb_pod_hist *h, int64_t now_ms, int64_t history_ms)
{
  int n = 0;
  for (int i = 0; h && i < h->n_moves; i++)
    n += now_ms - h->moves[i] < history_ms;
  return n;
}

void rb_state_moved(struct rb_state *st, const char *pod_uid, const char *from, const char *to, enum pm_reason reason,
                    double gain, int64_t when_ms)
{
  struct rb_pod_hist *h = rb_state_pod(st, pod_uid, 1);
  free(h->from);
  h->from = ferry_strdup(from);
  h->reason = reason;
  h->gain = gain;
  if (h->n_moves == RB_HIST_MOVES) {
    memmove(h->moves, h->moves + 1, (RB_HIST_MOVES - 1) * sizeof h->moves[0]);
    h->n_moves--;
  }
  h->moves[h->n_moves++] = when_ms;
  rb_state_node(st, from)->last_move_ms = when_ms;
  rb_state_node(st, to)->last_move_ms = when_ms;
}

/* The maps point at the entries' own strings: rebuilt from what is kept. */
void rb_state_sweep(struct rb_state *st, int64_t now_ms, int64_t history_ms)
{
  size_t kept = 0;
  rb_map_free(&st->node_map);
  rb_map_init(&st->node_map, st->n_nodes);
  for (size_t i = 0; i < st->n_nodes; i++) {
    struct rb_node_hist *h = st->nodes[i];
    if (!h->seen) {
      node_free(h);
      continue;
    }
    h->seen = 0;
    *rb_map_put(&st->node_map, h->name, NULL, NULL) = kept;
    st->nodes[kept++] = h;
  }
  st->n_nodes = kept;
  kept = 0;
  rb_map_free(&st->pod_map);
  rb_map_init(&st->pod_map, st->n_pods);
  for (size_t i = 0; i < st->n_pods; i++) {
    struct rb_pod_hist *h = st->pods[i];
    if (now_ms - rb_hist_last(h) >= history_ms) {
      pod_free(h);
      continue;
    }
    *rb_map_put(&st->pod_map, h->uid, NULL, NULL) = kept;
    st->pods[kept++] = h;
  }
  st->n_pods = kept;
}
