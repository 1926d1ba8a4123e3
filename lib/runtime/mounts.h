/* SPDX-License-Identifier: Apache-2.0 */
/* The mounts of a container that CRIU 4.2 cannot dump, found before the freeze
 * so that such a container is refused while it still runs (otherwise the dump
 * fails after the freeze: "FS mnt ./scratch dev 0x50 root / unsupported",
 * "mqueue isn't empty", "doesn't have a proper root mount").
 *
 * What CRIU does (criu/filesystems.c, criu/mount.c): a mount that runc
 * declares external (config.json's bind mounts, its devices, its masked
 * files, the cgroup v1 binds), or a bind of part of one, is left to runc to
 * mount again and never looked into; so is a bind of part of the container's
 * root. Any other mount of a whole filesystem ("root" / in mountinfo) must be
 * of a type in CRIU's table (tmpfs, proc, sysfs, devpts, mqueue, overlay,
 * cgroup ...): ramfs, ext4, xfs, nfs ... are not, fuse is but always fails,
 * mqueue and pstore only when empty. Any other bind needs a mount of its
 * whole filesystem among the container's. */
#ifndef FERRY_RUNTIME_MOUNTS_H
#define FERRY_RUNTIME_MOUNTS_H

#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"

/* What CRIU 4.2 does with a mount of a filesystem type (mountinfo's, a
 * subtype after a dot ignored: "fuse.sshfs" is fuse). */
enum ferry_criu_fs {
  FERRY_CRIU_FS_DUMPS,       /* in its table: dumped (tmpfs's files too) or mounted anew */
  FERRY_CRIU_FS_EMPTY_ONLY,  /* mqueue, pstore: only when nothing is in them */
  FERRY_CRIU_FS_NEVER,       /* fuse: in its table, but its dump always fails */
  FERRY_CRIU_FS_UNSUPPORTED, /* not in its table (ramfs, ext4, nfs, btrfs ...) */
};
enum ferry_criu_fs ferry_criu_fs_of(const char *fstype);

struct ferry_mountinfo_entry {
  int id;                /* mountinfo's mount id */
  int ns;                /* which of the container's mount namespaces: 0 is its init's */
  unsigned major, minor; /* the filesystem's device */
  char *root;            /* the path inside the filesystem that is mounted: "/" for the whole */
  char *mountpoint;      /* where, as the container's processes see it */
  char *fstype;          /* as mountinfo has it ("fuse.sshfs") */
  int not_empty;         /* an mqueue or pstore mount that holds something */
  int declared;          /* runc declares it to CRIU as external */
};

/* The container's mounts, of every mount namespace its processes are in. */
struct ferry_mount_table {
  struct ferry_mountinfo_entry *mounts;
  size_t n, cap;
};

/* The mountpoints runc declares to CRIU as external, from config.json. */
struct ferry_declared {
  char **paths; /* binds, devices (runc's default ones too), masked paths */
  size_t n_paths;
  char **trees; /* every mount at or below one of these (a cgroup mount: v1's binds) */
  size_t n_trees;
};

/* Appends the mounts of a /proc/PID/mountinfo text, of namespace ns. -1 (err)
 * when a line does not parse. */
int ferry_mountinfo_parse(const char *text, int ns, struct ferry_mount_table *t, ferry_error *err);
/* The externals runc declares, from an OCI config.json text. -1 (err) when it
 * does not parse. */
int ferry_declared_parse(const char *config, struct ferry_declared *d, ferry_error *err);
void ferry_declared_free(struct ferry_declared *d);
/* Marks the mounts of namespace 0 that d declares. root_fd: the container's
 * root directory (/proc/PID/root), where a declared path is resolved as runc
 * resolves it (its symbolic links inside the container) to the mount found
 * there; -1, or a path that does not resolve: mountpoints equal to it. */
void ferry_mount_table_mark(struct ferry_mount_table *t, const struct ferry_declared *d, int root_fd);
/* 1 (why: the mount, its type, what can be done) when CRIU cannot dump a
 * mount of the table; 0 when it can dump every one. */
int ferry_mount_table_undumpable(const struct ferry_mount_table *t, char *why, size_t len);
void ferry_mount_table_free(struct ferry_mount_table *t);

/* The same for the container whose init is pid and whose bundle is bundle:
 * the mount namespaces of its cgroup's processes (at most max of them looked
 * at; init's alone when its cgroup cannot be read). 0 when its mounts cannot
 * be read (gone meanwhile: nothing to dump) or its config.json cannot (the
 * checkpoint step says what is wrong with it). */
int ferry_container_undumpable_mount(pid_t init, const char *bundle, size_t max, char *why, size_t len);

#endif
