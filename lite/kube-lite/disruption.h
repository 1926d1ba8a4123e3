/* SPDX-License-Identifier: Apache-2.0 */
/* PodDisruptionBudgets at eviction, as the API server's eviction subresource
 * applies them (kube-lite has no disruption controller: the budget is worked
 * out from the pods at the time of the eviction). */
#ifndef KL_DISRUPTION_H
#define KL_DISRUPTION_H

#include <json-c/json.h>
#include <stddef.h>

/* 0 when evicting pod is allowed; 1 when a budget forbids it (why: which budget
 * and its numbers). pods and pdbs are the store's maps (key -> object). */
int kl_eviction_blocked(json_object *pods, json_object *pdbs, json_object *pod, char *why, size_t why_len);

#endif
