/* SPDX-License-Identifier: Apache-2.0 */
#include "kube/queue.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

struct entry {
  char *key;
  int64_t due; /* -1: not queued */
  int failures;
};

struct queue {
  struct entry *e;
  size_t n, cap;
  int64_t base_ms, max_ms;
};

struct queue *queue_new(int64_t base_ms, int64_t max_ms)
{
  struct queue *q = calloc(1, sizeof *q);
  if (q) {
    q->base_ms = base_ms;
    q->max_ms = max_ms;
  }
  return q;
}

void queue_free(struct queue *q)
{
  if (!q)
    return;
  for (size_t i = 0; i < q->n; i++)
    free(q->e[i].key);
  free(q->e);
  free(q);
}

static struct entry *find(const struct queue *q, const char *key)
{
  for (size_t i = 0; i < q->n; i++)
    if (!strcmp(q->e[i].key, key))
      return &q->e[i];
  return NULL;
}

static struct entry *find_or_add(struct queue *q, const char *key)
{
  struct entry *e = find(q, key);
  if (e)
    return e;
  if (q->n == q->cap) {
    size_t cap = q->cap ? q->cap * 2 : 16;
    struct entry *ne = realloc(q->e, cap * sizeof *ne);
    if (!ne)
      return NULL;
    q->e = ne;
    q->cap = cap;
  }
  e = &q->e[q->n++];
  e->key = ferry_strdup(key);
  e->due = -1;
  e->failures = 0;
  return e;
}

void queue_add_after(struct queue *q, const char *key, int64_t now, int64_t delay_ms)
{
  struct entry *e = find_or_add(q, key);
  if (!e)
    return;
  int64_t due = now + (delay_ms > 0 ? delay_ms : 0);
  if (e->due < 0 || due < e->due)
    e->due = due;
}

void queue_add(struct queue *q, const char *key, int64_t now) { queue_add_after(q, key, now, 0); }

int64_t queue_add_rate_limited(struct queue *q, const char *key, int64_t now)
{
  struct entry *e = find_or_add(q, key);
  if (!e)
    return 0;
  int64_t delay = q->base_ms;
  for (int i = 0; i < e->failures && delay < q->max_ms; i++)
    delay *= 2;
  if (delay > q->max_ms)
    delay = q->max_ms;
  e->failures++;
  queue_add_after(q, key, now, delay);
  return delay;
}

/* Drops entries with nothing queued and no failures to remember. */
static void compact(struct queue *q)
{
  size_t j = 0;
  for (size_t i = 0; i < q->n; i++) {
    if (q->e[i].due < 0 && q->e[i].failures == 0) {
      free(q->e[i].key);
      continue;
    }
    q->e[j++] = q->e[i];
  }
  q->n = j;
}

void queue_forget(struct queue *q, const char *key)
{
  struct entry *e = find(q, key);
  if (e)
    e->failures = 0;
  compact(q);
}

int queue_failures(const struct queue *q, const char *key)
{
  struct entry *e = find(q, key);
  return e ? e->failures : 0;
}

char *queue_pop(struct queue *q, int64_t now, int64_t *wait_ms)
{
  struct entry *best = NULL;
  for (size_t i = 0; i < q->n; i++)
    if (q->e[i].due >= 0 && (!best || q->e[i].due < best->due))
      best = &q->e[i];
  if (!best) {
    *wait_ms = -1;
    return NULL;
  }
  if (best->due > now) {
    *wait_ms = best->due - now;
    return NULL;
  }
  *wait_ms = 0;
  char *key = ferry_strdup(best->key);
  best->due = -1;
  compact(q);
  return key;
}

size_t queue_len(const struct queue *q)
{
  size_t n = 0;
  for (size_t i = 0; i < q->n; i++)
    n += q->e[i].due >= 0;
  return n;
}
