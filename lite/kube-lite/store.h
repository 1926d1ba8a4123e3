/* SPDX-License-Identifier: Apache-2.0 */
/* kube-lite's objects: one resourceVersion sequence for the whole server, a
 * bounded history of changes for watches (older versions answer 410 Gone), and
 * a condition variable that wakes every open watch. */
#ifndef KL_STORE_H
#define KL_STORE_H

#include <json-c/json.h>
#include <pthread.h>
#include <stdint.h>

#define KL_HISTORY 4096

struct kl_event {
  int64_t rv;
  char *kind_key; /* "group/plural" */
  char type[12];  /* ADDED, MODIFIED, DELETED */
  json_object *obj;
};

struct kl_store {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int64_t rv;
  json_object *objects; /* "group/plural" -> { "ns/name" -> object } */
  struct kl_event hist[KL_HISTORY];
  size_t hist_start, hist_len;
  int64_t oldest_rv;    /* watches from before this get 410 */
  unsigned watch_epoch; /* bumped to end every open watch (fault injection) */
};

void kl_store_init(struct kl_store *s);
void kl_store_free(struct kl_store *s);
/* With s->mu held: the map of one resource type (created when missing). */
json_object *kl_store_kind(struct kl_store *s, const char *kind_key);
/* With s->mu held: records a change (takes a reference to obj) and wakes watchers. */
void kl_store_record(struct kl_store *s, const char *kind_key, const char *type, json_object *obj);
/* With s->mu held: forgets the history (the next watch from an older version gets 410). */
void kl_store_forget(struct kl_store *s);

#endif
