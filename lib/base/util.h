/* SPDX-License-Identifier: Apache-2.0 */
/* Small file-system and time helpers every binary needs. All return 0 on success
 * and -1 with *err filled on failure. */
#ifndef FERRY_UTIL_H
#define FERRY_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

/* Milliseconds on CLOCK_MONOTONIC (intervals) and CLOCK_REALTIME (wall clock,
 * comparable across nodes with synchronised clocks). */
int64_t ferry_now_mono_ms(void);
int64_t ferry_now_real_ms(void);

/* Formats an RFC 3339 UTC time (second resolution) into buf (>= 21 bytes). */
void ferry_format_time(int64_t unix_ms, char *buf, size_t len);

/* Bytes for people in binary units: "40 MiB", "1.2 GiB", "512 B". */
void ferry_format_bytes(int64_t bytes, char *buf, size_t len);

/* Parses an RFC 3339 UTC time ("2026-11-25T01:22:33.752289713Z") into unix ms;
 * 0 when it cannot. */
int64_t ferry_parse_time_ms(const char *s);

/* Parses a duration as Go (and kubectl) write it, units h, m, s, ms, one or
 * more of them ("24h", "1h30m", "90s"; "0" alone) into ms, at least 0. */
int ferry_parse_duration_ms(const char *s, int64_t *ms, ferry_error *err);

char *ferry_path_join(const char *a, const char *b); /* aborts on OOM, never NULL */
char *ferry_strdup(const char *s);                   /* aborts on OOM */
void *ferry_malloc(size_t n);                        /* aborts on OOM, never NULL */
char *ferry_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* vasprintf: the formatted string (caller frees), or NULL when out of memory. */
char *ferry_vasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

int ferry_mkdir_p(const char *path, mode_t mode, ferry_error *err);
/* Removes a tree without following symlinks and without leaving its file system. */
int ferry_rm_rf(const char *path, ferry_error *err);
int ferry_read_file(const char *path, char **out, size_t *len, ferry_error *err);
/* Writes data to path (0644) and fsyncs it. */
int ferry_write_file(const char *path, const void *data, size_t len, ferry_error *err);
/* The same with the file's mode (set even when the file was there): 0600 for secrets. */
int ferry_write_file_mode(const char *path, const void *data, size_t len, mode_t mode, ferry_error *err);
/* write(2) until all of data went (EINTR retried); -1 with errno set. */
int ferry_write_all(int fd, const void *data, size_t len);
/* n bytes as 2n lowercase hex characters and a NUL into out. */
void ferry_hex(const unsigned char *in, size_t n, char *out);
/* Writes to path.tmp, fsyncs, renames over path, fsyncs the directory. */
int ferry_write_file_atomic(const char *path, const void *data, size_t len, ferry_error *err);
int ferry_copy_file(const char *src, const char *dst, ferry_error *err);
/* Reads path (never through a final symlink) in chunks, calling fn for each;
 * fn returns 0, or -1 with err set to stop. *total (optional): bytes read. */
typedef int (*ferry_chunk_fn)(void *ctx, const void *buf, size_t n, ferry_error *err);
int ferry_read_chunks(const char *path, size_t chunk, ferry_chunk_fn fn, void *ctx, uint64_t *total, ferry_error *err);
int ferry_fsync_path(const char *path, ferry_error *err);
/* fsync every file and directory below path, then path itself. */
int ferry_fsync_tree(const char *path, ferry_error *err);
/* Starts writeback of every file below path without waiting (sync_file_range),
 * so that a later ferry_fsync_tree finds little left to do. */
int ferry_writeback_tree(const char *path, ferry_error *err);
/* Total size in bytes of the regular files below path. */
int ferry_tree_size(const char *path, uint64_t *out, ferry_error *err);
int ferry_path_exists(const char *path);
int ferry_is_dir(const char *path);

#endif
