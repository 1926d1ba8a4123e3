/* SPDX-License-Identifier: Apache-2.0 */
/* A container in a user namespace of its own whose other namespaces that
 * user namespace does not own: CRIU 4.2 cannot dump it ("One or more
 * namespaces doesn't belong to the target user namespace": it checks that,
 * as the container's root, it can enter each of them). The usual case is a
 * network namespace the node made, joined by path. Looked at before the
 * freeze, so that such a container is refused while it still runs. (One
 * whose namespaces it owns is dumped here, CAP_SYS_RESOURCE or not: CRIU,
 * root outside, holds every capability inside it.) */
#ifndef FERRY_RUNTIME_USERNS_H
#define FERRY_RUNTIME_USERNS_H

#include <stddef.h>
#include <sys/types.h>

/* 1 (why: which namespace, what can be done) when the container whose init is
 * pid runs in a user namespace of its own that does not own one of its
 * network, UTS, IPC, mount or time namespaces; 0 when it does not (or its
 * namespaces cannot be read: gone meanwhile). */
int ferry_container_undumpable_userns(pid_t init, char *why, size_t len);

#endif
