/* SPDX-License-Identifier: Apache-2.0 */
/* Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the
 * holder renews spec.renewTime; a candidate takes over when it has seen no
 * change of the record for leaseDurationSeconds (by its own clock: clocks of
 * different nodes are never compared); every write is conditional on the
 * resourceVersion read, so two candidates cannot both win. */
#ifndef FERRY_LEADER_H
#define FERRY_LEADER_H

#include <stdint.h>

#include "base/error.h"
#include "kube/kube.h"

struct ferry_leader {
  struct ferry_kube *kube; /* borrowed */
  char *ns, *name, *identity;
  int lease_seconds;
  /* state */
  int leading;
  char *observed_rv;      /* the record's resourceVersion when last seen */
  int64_t observed_at_ms; /* our monotonic clock when it last changed */
  int64_t last_renew_ms;  /* our clock at our last successful renewal */
  unsigned transitions;
};

void ferry_leader_init(struct ferry_leader *l, struct ferry_kube *kube, const char *ns, const char *name,
                       const char *identity, int lease_seconds);
void ferry_leader_free(struct ferry_leader *l);
/* One round at time now_ms (monotonic): acquire or renew. Returns 1 when this
 * candidate leads after the round, 0 when another does, -1 on an API error
 * (err set; leading then stays as it was until renew_deadline_ms has passed
 * since the last renewal, after which leadership is given up). */
int ferry_leader_tick(struct ferry_leader *l, int64_t now_ms, int64_t renew_deadline_ms, ferry_error *err);
/* Gives the lease up at once (holderIdentity emptied) so another candidate
 * need not wait for it to expire. */
int ferry_leader_release(struct ferry_leader *l, ferry_error *err);

#endif
