/* SPDX-License-Identifier: Apache-2.0 */
/* The rebalancer's fit function: placement's check (node Ready and
 * schedulable, a Ferry agent, nodeSelector, required node affinity, taints
 * against tolerations, CPU, memory and pod count against allocatable) on the
 * pod's and the node's objects, with the round's projected requests. */
#include <stdio.h>

#include "rebalance/rebalance.h"

enum misfit rb_fit_placement(void *ctx, const struct rb_pod *pod, const struct rb_node *node,
                             const struct node_use *used, char *why, size_t why_len)
{
  (void)ctx;
  if (!pod->obj || !node->obj) {
    snprintf(why, why_len, "no object to check the fit on");
    return MISFIT_NOT_READY;
  }
  return placement_fit(pod->obj, node->obj, NULL, used, node->agent, why, why_len);
}
