/* SPDX-License-Identifier: Apache-2.0 */
/* The rebalancer's containers (map.h) and its arena (rebalance.h): open
 * addressing with linear probing on FNV-1a hashes, at most half full. */
#include "rebalance/map.h"

#include <stdlib.h>
#include <string.h>

#include "rebalance/rebalance.h"
#include "base/util.h"

#define MAP_MIN_CAP 16
#define FNV_OFFSET 2166136261u
#define FNV_PRIME 16777619u
#define PAIR_SEPARATOR 0xffu /* never a byte of UTF-8: "a"+"bc" and "ab"+"c" differ */

static uint32_t fnv(uint32_t h, const char *s)
{
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    h = (h ^ *p) * FNV_PRIME;
  return h;
}

/* FNV-1a's low bits depend only on the keys' low bits: names that differ in
 * a digit cluster. The finalizer of MurmurHash3 spreads every bit. */
static uint32_t mix(uint32_t h)
{
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  return h ^ (h >> 16);
}

static uint32_t pair_hash(const char *a, const char *b)
{
  uint32_t h = fnv(FNV_OFFSET, a);
  if (b)
    h = fnv((h ^ PAIR_SEPARATOR) * FNV_PRIME, b);
  return mix(h);
}

static int same(const struct rb_slot *s, uint32_t h, const char *a, const char *b)
{
  if (s->hash != h || strcmp(s->a, a) != 0)
    return 0;
  if (!s->b || !b)
    return s->b == b;
  return !strcmp(s->b, b);
}

void rb_map_init(struct rb_map *m, size_t expected)
{
  size_t cap = MAP_MIN_CAP;
  while (cap < expected * 2)
    cap *= 2;
  m->slots = calloc(cap, sizeof *m->slots);
  if (!m->slots)
    abort();
  m->cap = cap;
  m->n = 0;
}

void rb_map_free(struct rb_map *m)
{
  free(m->slots);
  m->slots = NULL;
  m->cap = m->n = 0;
}

static struct rb_slot *probe(const struct rb_map *m, uint32_t h, const char *a, const char *b)
{
  size_t mask = m->cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    struct rb_slot *s = &m->slots[i];
    if (!s->used || same(s, h, a, b))
      return s;
  }
}

size_t *rb_map_get(const struct rb_map *m, const char *a, const char *b)
{
  if (!m->cap)
    return NULL;
  struct rb_slot *s = probe(m, pair_hash(a, b), a, b);
  return s->used ? &s->value : NULL;
}

static void grow(struct rb_map *m)
{
  struct rb_map bigger;
  rb_map_init(&bigger, m->cap);
  for (size_t i = 0; i < m->cap; i++)
    if (m->slots[i].used)
      *probe(&bigger, m->slots[i].hash, m->slots[i].a, m->slots[i].b) = m->slots[i];
  bigger.n = m->n;
  free(m->slots);
  *m = bigger;
}

size_t *rb_map_put(struct rb_map *m, const char *a, const char *b, int *added)
{
  if (!m->cap)
    rb_map_init(m, 0);
  if ((m->n + 1) * 2 > m->cap)
    grow(m);
  uint32_t h = pair_hash(a, b);
  struct rb_slot *s = probe(m, h, a, b);
  if (added)
    *added = !s->used;
  if (!s->used) {
    *s = (struct rb_slot){ a, b, 0, h, 1 };
    m->n++;
  }
  return &s->value;
}

void rb_vec_push(struct rb_vec *v, size_t x)
{
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 4;
    size_t *nv = realloc(v->v, cap * sizeof *nv);
    if (!nv)
      abort();
    v->v = nv;
    v->cap = cap;
  }
  v->v[v->n++] = x;
}

void rb_vec_free(struct rb_vec *v)
{
  free(v->v);
  v->v = NULL;
  v->n = v->cap = 0;
}

/* ---------- the arena ---------- */

#define ARENA_CHUNK (64 * 1024)
#define ARENA_ALIGN 16

struct rb_chunk {
  struct rb_chunk *next;
  size_t used, size;
  _Alignas(ARENA_ALIGN) unsigned char data[];
};

void *rb_arena_alloc(struct rb_arena *a, size_t n)
{
  n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
  struct rb_chunk *c = a->head;
  if (!c || c->size - c->used < n) {
    size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;
    c = ferry_malloc(sizeof *c + size);
    c->size = size;
    c->used = 0;
    c->next = a->head;
    a->head = c;
  }
  void *p = c->data + c->used;
  c->used += n;
  memset(p, 0, n);
  return p;
}

void rb_arena_free(struct rb_arena *a)
{
  while (a->head) {
    struct rb_chunk *next = a->head->next;
    free(a->head);
    a->head = next;
  }
}
