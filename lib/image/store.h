/* SPDX-License-Identifier: Apache-2.0 */
/* Image stores. dir://PATH: a directory every node mounts (a ReadWriteMany
 * volume). Images are published atomically: written under a temporary name,
 * fsynced, then renamed into place, never over an existing image.
 *
 * s3://BUCKET[/PREFIX]: objects PREFIX/NAME/FILE on any S3-compatible service
 * (lib/image/s3.h for its configuration). The node keeps a local copy of each image
 * under FERRY_S3_CACHE (default /var/lib/ferry/s3-cache): an image is written
 * there, then uploaded file by file, manifest.json and manifest.sha256 last (an
 * image without manifest.sha256 is not published); opening an image downloads
 * it there. The caller verifies what it opened, as with dir://. */
#ifndef FERRY_STORE_H
#define FERRY_STORE_H

#include <stdint.h>

#include "base/error.h"

struct ferry_s3;

struct ferry_store {
  char *url;
  char *path;          /* dir://: the store; s3://: this node's local copies */
  struct ferry_s3 *s3; /* NULL for dir:// */
  char *prefix;        /* s3://: the key prefix ("" or "PREFIX/") */
};

int ferry_store_parse(const char *url, struct ferry_store *s, ferry_error *err);
void ferry_store_free(struct ferry_store *s);
/* 1..128 of [A-Za-z0-9._-], not starting with '.' or '-'. */
int ferry_image_name_valid(const char *name, ferry_error *err);
/* The directory of a published image (which may not exist). Caller frees. */
char *ferry_store_image_dir(const struct ferry_store *s, const char *name);
/* Checks the store is a writable directory and NAME is free, then creates the
 * temporary directory to write the image into. */
int ferry_store_begin(const struct ferry_store *s, const char *name, char **tmpdir, ferry_error *err);
/* How a published image must outlive a crash of this node. DURABLE: its files
 * and directories fsynced before and after the rename (an image that is the
 * workload's only copy). CACHED: renamed only, left to the kernel's writeback
 * (the workload still exists elsewhere, e.g. a source held frozen until the
 * target runs); a torn image after a crash fails its verification. */
enum ferry_publish { FERRY_PUBLISH_DURABLE, FERRY_PUBLISH_CACHED };
/* Renames tmpdir to NAME (failing if NAME appeared meanwhile), with the fsyncs
 * DURABLE asks for; uploads it to S3 stores. */
int ferry_store_publish(const struct ferry_store *s, const char *name, const char *tmpdir, enum ferry_publish how,
                        ferry_error *err);
/* The temporary directory of NAME that a checkpoint process left when it died
 * (the newest, when there are several): *tmpdir, or -1 (ENOENT: none). */
int ferry_store_find_unpublished(const struct ferry_store *s, const char *name, char **tmpdir, ferry_error *err);
/* Removes a temporary directory left by a failed checkpoint (errors logged). */
void ferry_store_abort(const char *tmpdir);
/* The free and total bytes of the file system the store's directory (s3://:
 * this node's local copies) is on, as an unprivileged writer sees them. */
int ferry_store_space(const struct ferry_store *s, uint64_t *free_bytes, uint64_t *total_bytes, ferry_error *err);
/* Checks a published image exists. */
int ferry_store_open(const struct ferry_store *s, const char *name, char **dir, ferry_error *err);

#endif
