/* SPDX-License-Identifier: Apache-2.0 */
/* A work queue of object keys ("namespace/name") as client-go's rate-limited
 * queue has it: a key is queued once however often it is added; a key that
 * failed comes back after a per-key exponential backoff (5 ms doubling up to
 * a cap) until it is forgotten; a key may also be added after a delay. One
 * thread uses it; times are the caller's monotonic milliseconds. */
#ifndef FERRY_QUEUE_H
#define FERRY_QUEUE_H

#include <stddef.h>
#include <stdint.h>

struct queue;

struct queue *queue_new(int64_t base_ms, int64_t max_ms);
void queue_free(struct queue *q);
/* Due at now (an earlier due time wins over a later one). */
void queue_add(struct queue *q, const char *key, int64_t now);
void queue_add_after(struct queue *q, const char *key, int64_t now, int64_t delay_ms);
/* After a failure: due after base * 2^failures (capped). Returns that delay. */
int64_t queue_add_rate_limited(struct queue *q, const char *key, int64_t now);
/* After a success: the key's failure count goes back to zero. */
void queue_forget(struct queue *q, const char *key);
int queue_failures(const struct queue *q, const char *key);
/* The next due key (caller frees) or NULL; *wait_ms: until the next one is due (-1: none queued). */
char *queue_pop(struct queue *q, int64_t now, int64_t *wait_ms);
size_t queue_len(const struct queue *q);

#endif
