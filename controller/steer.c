/* SPDX-License-Identifier: Apache-2.0 */
/* A new owned pod matched to the migration it belongs to (see steer.h). */
#include "steer.h"

#include <string.h>

int steer_pick(struct steer *s, int n, const char *owner_uid, const char *pod_name, int64_t now_ms, int *restore)
{
  int hold = -1;
  *restore = 0;
  for (int j = 0; j < n; j++) {
    if (strcmp(s[j].owner_uid, owner_uid) != 0)
      continue;
    if (s[j].statefulset) {
      /* the pod by the source's name: restored where the migration says (its target, or the source when
       * rolling back: the agent there binds it); the StatefulSet's other pods are not ours */
      if (!strcmp(pod_name, s[j].pod)) {
        *restore = 1;
        return j;
      }
    } else if (s[j].rolling_back) {
      if (hold < 0)
        hold = j;
    } else if (!s[j].claimed_ms) {
      s[j].claimed_ms = now_ms > 0 ? now_ms : 1;
      *restore = 1;
      return j;
    }
  }
  return hold;
}

int steer_release(struct steer *s, int n, const char *pm, int64_t now_ms, int64_t grace_ms)
{
  for (int j = 0; j < n; j++)
    if (!strcmp(s[j].pm, pm) && s[j].claimed_ms && now_ms - s[j].claimed_ms >= grace_ms) {
      s[j].claimed_ms = 0;
      return 1;
    }
  return 0;
}
