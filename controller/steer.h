/* SPDX-License-Identifier: Apache-2.0 */
/* Which migration a pod an owner just made belongs to (the admission webhook's
 * choice, steer.c): the migrations of owned pods the webhook knows, and the
 * pick for one new pod. */
#ifndef FERRY_CTL_STEER_H
#define FERRY_CTL_STEER_H

struct steer {
  char pm[300]; /* NS/NAME */
  char owner_uid[64];
  char pod[254];    /* the source pod's name */
  int statefulset;  /* replacements have the source's name */
  int rolling_back; /* 1: hold replacements (unbound, never run) */
  int claimed;      /* a replacement was steered to the restore already */
};

/* The migration (an index into s, -1: none) a new pod named pod_name of the
 * owner owner_uid belongs to, and whether it is its target to restore
 * (*restore = 1, the migration then claimed) or a replacement to hold unbound:
 * a StatefulSet's pod by the source's name; else the first migration of that
 * owner still waiting for its target pod; else one rolling back holds it.
 * Several migrations of one ReplicaSet each get a pod of their own. */
int steer_pick(struct steer *s, int n, const char *owner_uid, const char *pod_name, int *restore);

#endif
