/* SPDX-License-Identifier: Apache-2.0 */
/* The RBAC objects every API server makes at start (its bootstrap policy) that
 * clients rely on: cluster-admin bound to system:masters, system:discovery and
 * system:basic-user bound to system:authenticated, system:public-info-viewer
 * bound to everyone. Made when missing; a changed one is left as it is. */
#ifndef KL_BOOTSTRAP_H
#define KL_BOOTSTRAP_H

#include <stddef.h>

#include "store.h"

/* A random (version 4) uid. */
void kl_random_uid(char *buf, size_t len);
/* Stores the bootstrap ClusterRoles and ClusterRoleBindings that are missing (takes s->mu). */
void kl_rbac_bootstrap(struct kl_store *s);

#endif
