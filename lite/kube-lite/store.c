/* SPDX-License-Identifier: Apache-2.0 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

void kl_store_init(struct kl_store *s)
{
  memset(s, 0, sizeof *s);
  pthread_mutex_init(&s->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->cv, &ca);
  pthread_condattr_destroy(&ca);
  s->objects = json_object_new_object();
  s->rv = 1;
  s->oldest_rv = 1;
}

void kl_store_free(struct kl_store *s)
{
  for (size_t i = 0; i < s->hist_len; i++) {
    struct kl_event *e = &s->hist[(s->hist_start + i) % KL_HISTORY];
    free(e->kind_key);
    json_object_put(e->obj);
  }
  json_object_put(s->objects);
  pthread_cond_destroy(&s->cv);
  pthread_mutex_destroy(&s->mu);
}

json_object *kl_store_kind(struct kl_store *s, const char *kind_key)
{
  json_object *m;
  if (!json_object_object_get_ex(s->objects, kind_key, &m)) {
    m = json_object_new_object();
    json_object_object_add(s->objects, kind_key, m);
  }
  return m;
}

void kl_store_record(struct kl_store *s, const char *kind_key, const char *type, json_object *obj)
{
  if (s->hist_len == KL_HISTORY) { /* drop the oldest */
    struct kl_event *o = &s->hist[s->hist_start];
    free(o->kind_key);
    json_object_put(o->obj);
    s->hist_start = (s->hist_start + 1) % KL_HISTORY;
    s->hist_len--;
    s->oldest_rv = s->hist[s->hist_start].rv - 1;
  }
  struct kl_event *e = &s->hist[(s->hist_start + s->hist_len) % KL_HISTORY];
  e->rv = s->rv;
  e->kind_key = ferry_strdup(kind_key);
  snprintf(e->type, sizeof e->type, "%s", type);
  e->obj = json_object_get(obj);
  s->hist_len++;
  pthread_cond_broadcast(&s->cv);
}

void kl_store_forget(struct kl_store *s)
{
  for (size_t i = 0; i < s->hist_len; i++) {
    struct kl_event *e = &s->hist[(s->hist_start + i) % KL_HISTORY];
    free(e->kind_key);
    json_object_put(e->obj);
  }
  s->hist_start = s->hist_len = 0;
  /* like a compaction: every version handed out so far is too old now */
  s->oldest_rv = ++s->rv;
  pthread_cond_broadcast(&s->cv);
}
