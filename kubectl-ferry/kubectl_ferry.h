/* SPDX-License-Identifier: Apache-2.0 */
/* kubectl-ferry: the kubectl plugin (kubectl ferry drain | plan). */
#ifndef KUBECTL_FERRY_H
#define KUBECTL_FERRY_H

#include "kube/kube.h"

enum ferry_output { FERRY_OUTPUT_TABLE, FERRY_OUTPUT_JSON };

/* 0 when the node is drained; 1 otherwise (what failed is on stderr). */
int ferry_drain(struct ferry_kube *k, const char *node, int timeout_s);

/* Prints the rebalancer's last plan of each MigrationPolicy (policy NULL) or
 * of one. 0 when read; 1 on an API error or an unknown policy (on stderr). */
int ferry_plan(struct ferry_kube *k, const char *policy, enum ferry_output output);

#endif
