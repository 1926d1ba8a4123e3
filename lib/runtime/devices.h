/* SPDX-License-Identifier: Apache-2.0 */
/* The character devices a container's processes hold open that CRIU cannot
 * dump (CRIU 4.2's dump_chrdev: the memory devices, /dev/net/tun, autofs and
 * the terminals; anything else fails the dump after the freeze, "Can't dump
 * file N of that type [20000] (chr MAJ:MIN)"). Looked at before the freeze,
 * so that such a container is refused while it still runs. */
#ifndef FERRY_RUNTIME_DEVICES_H
#define FERRY_RUNTIME_DEVICES_H

#include <stddef.h>
#include <sys/types.h>

/* 1 when CRIU dumps an open character device of that number, else 0. */
int ferry_criu_dumps_chrdev(unsigned major, unsigned minor);
/* 1 (why filled: the process, the device's path and number) when process pid
 * holds a character device CRIU cannot dump open; 0 when not, or when its
 * descriptors cannot be read (gone meanwhile: nothing to dump). */
int ferry_process_undumpable_device(pid_t pid, char *why, size_t len);
/* The same for every process of the container whose init is pid (its
 * cgroup's), at most max of them; init alone when its cgroup cannot be read. */
int ferry_container_undumpable_device(pid_t init, size_t max, char *why, size_t len);

#endif
