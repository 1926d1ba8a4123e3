/* SPDX-License-Identifier: Apache-2.0 */
/* manifest.json: what an image holds (every file with its size and SHA-256) and
 * how it was made. Written last, verified first. manifest.sha256 holds the
 * SHA-256 of manifest.json itself, so no byte of the image goes unchecked. */
#ifndef FERRY_MANIFEST_H
#define FERRY_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/hash.h"

#define FERRY_MANIFEST_FILE "manifest.json"
#define FERRY_MANIFEST_SUM_FILE "manifest.sha256"

/* "sha256:" and 64 hex characters, and the NUL. */
#define FERRY_DIGEST_PREFIX "sha256:"
#define FERRY_DIGEST_LEN 72

struct ferry_manifest_file {
  char *path; /* relative to the image directory */
  uint64_t size;
  char sha256[65];
  /* When the image is encoded (compressed and/or encrypted): the file as it was
   * before (raw_sha256[0] == 0 otherwise). */
  uint64_t raw_size;
  char raw_sha256[65];
};

struct ferry_manifest {
  char *name, *container_id, *source_node, *strategy;
  char *criu_version, *runc_version, *kernel;
  char *rootfs_diff; /* overlay, scan, none */
  int leave_running, tcp_established, tcp_close, file_locks, ext_unix_sk, shell_job;
  /* Post-copy: the memory is not in the image; the source's page server
   * (page_server, through its relay) serves it while the migration runs. */
  int lazy_pages;
  char *page_server;
  /* How the files are stored (lib/image/codec.h): NULL when as they are. */
  char *compression; /* zstd, lz4 */
  char *encryption;  /* aes-256-gcm */
  char *key_id;      /* the key's ID (16 hex characters), never the key */
  int64_t created_ms, freeze_start_ms;
  int64_t dump_ms, rootfs_ms, write_ms;
  struct ferry_manifest_file *files;
  size_t nfiles;
  uint64_t total_bytes;
};

/* Lists and hashes every file below dir (but the manifest's own two files) into m. */
int ferry_manifest_scan(const char *dir, struct ferry_manifest *m, ferry_error *err);
/* The same, taking the SHA-256 of a file known lists with the size it has now
 * (hashed while it was written: image/follow.h) instead of reading it again. */
int ferry_manifest_scan_known(const char *dir, const struct ferry_manifest *known, struct ferry_manifest *m,
                              ferry_error *err);
char *ferry_manifest_to_json(const struct ferry_manifest *m);
int ferry_manifest_from_json(const char *text, struct ferry_manifest *m, ferry_error *err);
/* Writes manifest.json and manifest.sha256 into dir (fsynced); digest (NULL:
 * not wanted) gets the image's digest, "sha256:" and the manifest's SHA-256. */
int ferry_manifest_write(const char *dir, const struct ferry_manifest *m, char digest[FERRY_DIGEST_LEN],
                         ferry_error *err);
/* Reads manifest.json after checking it against manifest.sha256. */
int ferry_manifest_load(const char *dir, struct ferry_manifest *m, ferry_error *err);
/* The same, and the image's digest ("sha256:" and the manifest's SHA-256). */
int ferry_manifest_load_digest(const char *dir, struct ferry_manifest *m, char digest[FERRY_DIGEST_LEN],
                               ferry_error *err);
/* Reads manifest.json after checking it against digest, the image's digest as
 * recorded elsewhere (a PodMigration's status.imageDigest): the store's own
 * manifest.sha256 is then not trusted. */
int ferry_manifest_load_pinned(const char *dir, const char *digest, struct ferry_manifest *m, ferry_error *err);
/* Checks dir against m: every listed file present with its size and SHA-256,
 * nothing else. On failure err names every problem (up to a few). */
int ferry_manifest_verify(const char *dir, const struct ferry_manifest *m, ferry_error *err);
/* What a verification covers. ALL: as ferry_manifest_verify. ALL_BUT_MEMORY:
 * the same, except that the memory files (criu/pages-*.img) are checked for
 * their size only. MEMORY: only the memory files, their size and SHA-256 (for
 * a check that runs while CRIU restores: other files may have appeared). */
enum ferry_verify_scope { FERRY_VERIFY_ALL, FERRY_VERIFY_ALL_BUT_MEMORY, FERRY_VERIFY_MEMORY };
int ferry_manifest_verify_scope(const char *dir, const struct ferry_manifest *m, enum ferry_verify_scope scope,
                                ferry_error *err);
/* 1 for a file of the process's memory pages (criu/pages-N.img): data CRIU
 * copies into the restored process, never parses. */
int ferry_manifest_is_memory(const char *path);
/* 1 when the image's files are stored compressed or encrypted. */
int ferry_manifest_encoded(const struct ferry_manifest *m);
/* A new entry for path (all else zero) at the end of m's files. */
struct ferry_manifest_file *ferry_manifest_add(struct ferry_manifest *m, const char *path);
/* The entry for path, or NULL. */
struct ferry_manifest_file *ferry_manifest_find(const struct ferry_manifest *m, const char *path);
void ferry_manifest_free(struct ferry_manifest *m);

#endif
