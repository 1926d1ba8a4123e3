/* SPDX-License-Identifier: Apache-2.0 */
/* Relative paths that come from outside (an image's manifest, a tar stream, a
 * root filesystem diff): one rule for what such a path may be, and opening one
 * below a directory without ever following a symlink out of it. */
#ifndef FERRY_PATH_H
#define FERRY_PATH_H

#include <sys/types.h>

#include "base/error.h"

/* 0 when rel stays below the directory it is relative to: not empty, not
 * absolute, no "." or ".." component, no empty component ("a//b", "a/"), no
 * control character, shorter than PATH_MAX and no component longer than
 * NAME_MAX. Else -1 with err naming why (the caller prefixes which path). */
int ferry_path_rel_ok(const char *rel, ferry_error *err);

/* Opens rel (which must pass ferry_path_rel_ok) below dirfd without following a
 * symlink in any component: openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
 * or ferry_openat_walk where the kernel has no openat2. O_CLOEXEC is added;
 * mode is used with O_CREAT. Returns the fd, or -1 with errno set (ELOOP or
 * ENOTDIR for a symlink, EINVAL for a refused path). */
int ferry_openat_beneath(int dirfd, const char *rel, int flags, mode_t mode);

/* The same one component at a time: every directory opened O_NOFOLLOW |
 * O_DIRECTORY, the last component with flags | O_NOFOLLOW. */
int ferry_openat_walk(int dirfd, const char *rel, int flags, mode_t mode);

/* Makes the directories leading to rel below dirfd (dir_mode, existing ones
 * kept, never through a symlink), then opens rel as ferry_openat_beneath does
 * with flags | O_CREAT. Returns the fd, or -1 with errno set. */
int ferry_createat_beneath(int dirfd, const char *rel, int flags, mode_t mode, mode_t dir_mode);

#endif
