/* SPDX-License-Identifier: Apache-2.0 */
/* The rebalancer's small containers: a hash map from a pair of strings (the
 * second may be NULL) to a number, and a growing array of numbers. The map
 * does not own its keys: they live as long as the round's input or the state
 * entry they name. */
#ifndef FERRY_REBALANCE_MAP_H
#define FERRY_REBALANCE_MAP_H

#include <stddef.h>
#include <stdint.h>

struct rb_slot {
  const char *a, *b;
  size_t value;
  uint32_t hash;
  int used;
};

struct rb_map {
  struct rb_slot *slots;
  size_t cap, n;
};

void rb_map_init(struct rb_map *m, size_t expected);
void rb_map_free(struct rb_map *m);
/* The value stored for (a, b), or NULL. */
size_t *rb_map_get(const struct rb_map *m, const char *a, const char *b);
/* The value slot for (a, b), added (value 0, *added = 1) when missing. The
 * pointer holds until the next rb_map_put. */
size_t *rb_map_put(struct rb_map *m, const char *a, const char *b, int *added);

struct rb_vec {
  size_t *v;
  size_t n, cap;
};

void rb_vec_push(struct rb_vec *v, size_t x);
void rb_vec_free(struct rb_vec *v);

#endif
