/* SPDX-License-Identifier: Apache-2.0 */
/* Hashing an image's memory files while CRIU writes them. A thread follows
 * the directory CRIU dumps into (inotify) and hashes each memory file's new
 * bytes as they land in the page cache, so that their SHA-256 is ready when the
 * dump ends instead of taking a second pass over them while the workload is
 * frozen. CRIU writes a memory file once, front to back; a file changed in
 * place behind the follower would get a hash it does not have, which the
 * target's verification refuses: never a wrong image accepted. */
#ifndef FERRY_IMAGE_FOLLOW_H
#define FERRY_IMAGE_FOLLOW_H

#include "base/error.h"
#include "image/manifest.h"

struct ferry_follow;

/* Follows dir (which exists), whose files are PREFIX/NAME in the image. */
int ferry_follow_start(const char *dir, const char *prefix, struct ferry_follow **out, ferry_error *err);
/* The writer ended: hashes what is left, ends the thread, adds each followed
 * memory file (path, size, SHA-256) to known, and frees f. -1 when following
 * failed (known is then left as it was: hash the files the ordinary way). */
int ferry_follow_finish(struct ferry_follow *f, struct ferry_manifest *known, ferry_error *err);
/* Ends the thread and frees f without a result (the dump failed). NULL: nothing. */
void ferry_follow_cancel(struct ferry_follow *f);

#endif
