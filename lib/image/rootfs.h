/* SPDX-License-Identifier: Apache-2.0 */
/* The container's writable layer: the files it changed in its root filesystem,
 * carried in the image as a tar (rootfs-diff.tar) because CRIU saves memory and
 * open files, not file contents. */
#ifndef FERRY_ROOTFS_H
#define FERRY_ROOTFS_H

#include <stdint.h>

#include <stddef.h>

#include "base/error.h"

struct ferry_mount {
  char *mountpoint;
  char *fstype;
  char *upperdir; /* overlay only, else NULL */
  char *superopts;
};

/* Finds the (topmost) mount at mountpoint in mountinfo text. Returns 0 and fills
 * m, or -1 when there is none. Octal escapes (\040, \054, ...) are decoded. */
int ferry_mountinfo_find(const char *mountinfo, const char *mountpoint, struct ferry_mount *m);
void ferry_mount_free(struct ferry_mount *m);
/* The mount points at dir or under it in mountinfo text, in mount order (*n of
 * them; each and the array freed by the caller; NULL when none). */
char **ferry_mountinfo_under(const char *mountinfo, const char *dir, size_t *n);

/* method: "auto" (overlay when rootfs is an overlay mount, else scan), "overlay"
 * (the upper directory, deletions as whiteouts), "scan" (entries whose ctime is
 * at or after since_ms; deletions are not seen), "none" (an empty archive).
 * *used is set to the method applied (static string). */
int ferry_rootfs_diff_create(const char *rootfs, const char *method, int64_t since_ms, const char *tar_path,
                             const char **used, uint64_t *entries, ferry_error *err);
/* Applies a diff to rootfs: files written, whiteouts deleted, opaque directories
 * emptied first. Never follows a symlink out of rootfs, never writes outside it. */
int ferry_rootfs_diff_apply(const char *tar_path, const char *rootfs, uint64_t *entries, ferry_error *err);

#endif
