/* SPDX-License-Identifier: Apache-2.0 */
/* kubectl-ferry: the kubectl plugin (kubectl ferry ...). */
#ifndef KUBECTL_FERRY_H
#define KUBECTL_FERRY_H

#include "kube/kube.h"

/* 0 when the node is drained; 1 otherwise (what failed is on stderr). */
int ferry_drain(struct ferry_kube *k, const char *node, int timeout_s);

#endif
