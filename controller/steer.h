/* SPDX-License-Identifier: Apache-2.0 */
/* Which migration a pod an owner just made belongs to (the admission webhook's
 * choice, steer.c): the migrations of owned pods the webhook knows, and the
 * pick for one new pod. */
#ifndef FERRY_CTL_STEER_H
#define FERRY_CTL_STEER_H

#include <stdint.h>

struct steer {
  char pm[300]; /* NS/NAME */
  char owner_uid[64];
  char pod[254];      /* the source pod's name */
  int statefulset;    /* replacements have the source's name */
  int rolling_back;   /* 1: hold replacements (unbound, never run) */
  int64_t claimed_ms; /* when a replacement was steered to the restore (monotonic ms), 0: not yet */
};

/* The migration (an index into s, -1: none) a new pod named pod_name of the
 * owner owner_uid belongs to, and whether it is its target to restore
 * (*restore = 1, the migration then claimed) or a replacement to hold unbound:
 * a StatefulSet's pod by the source's name; else the first migration of that
 * owner still waiting for its target pod; else one rolling back holds it.
 * Several migrations of one ReplicaSet each get a pod of their own. */
int steer_pick(struct steer *s, int n, const char *owner_uid, const char *pod_name, int64_t now_ms, int *restore);
/* Migration pm's claim released when it was made grace_ms or more before
 * now_ms: the pod it steered has not appeared (its create failed after the
 * webhook answered), so the owner's next pod is steered. 1 when released. */
int steer_release(struct steer *s, int n, const char *pm, int64_t now_ms, int64_t grace_ms);

#endif
