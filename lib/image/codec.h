/* SPDX-License-Identifier: Apache-2.0 */
/* How an image's files are stored: optionally compressed (zstd or lz4 frames)
 * and then encrypted (AES-256-GCM with a key from a file, e.g. a mounted
 * Secret). The manifest records the encoding, the key's ID (never the key) and
 * every file's size and SHA-256 both as stored and as decoded; a decode checks
 * the GCM tag and the decoded bytes, so a wrong key or any altered byte fails.
 *
 * Stored layout of an encrypted file: "FRYE" 0x01, a 12-byte random nonce, the
 * ciphertext, the 16-byte tag. */
#ifndef FERRY_CODEC_H
#define FERRY_CODEC_H

#include <stdint.h>

#include "base/error.h"

enum ferry_compression { FERRY_COMP_NONE, FERRY_COMP_ZSTD, FERRY_COMP_LZ4 };

struct ferry_codec {
  enum ferry_compression comp;
  int level; /* zstd level (default 3), lz4: 0 fast */
  int encrypt;
  unsigned char key[32];
  char key_id[17]; /* 16 hex characters of SHA-256("ferry-key:" key) */
};

/* "none", "zstd", "lz4" (with an optional ":LEVEL"). */
int ferry_codec_parse_compression(const char *text, struct ferry_codec *c, ferry_error *err);
const char *ferry_codec_compression_name(enum ferry_compression c);
/* The key: a file of 32 raw bytes, 64 hex characters or 44 base64 characters
 * (a trailing newline is ignored). Sets encrypt and key_id. */
int ferry_codec_load_key(const char *path, struct ferry_codec *c, ferry_error *err);
/* 1 when files are stored other than as they are. */
int ferry_codec_active(const struct ferry_codec *c);

/* src into dst (created 0600, fsynced): compressed, then encrypted. raw_sha256
 * and raw_size describe src. */
int ferry_codec_encode_file(const struct ferry_codec *c, const char *src, const char *dst, char raw_sha256[65],
                            uint64_t *raw_size, ferry_error *err);
/* src (encoded by encode_file with the same settings) into dst; fails unless the
 * tag verifies and the decoded bytes have raw_size and raw_sha256. */
int ferry_codec_decode_file(const struct ferry_codec *c, const char *src, const char *dst, const char *raw_sha256,
                            uint64_t raw_size, ferry_error *err);

struct ferry_manifest;
/* Encodes every regular file below src_dir into the same path below dst_dir
 * (directories made as needed); raw gets one entry per file (path, raw_size,
 * raw_sha256) to merge into the manifest of dst_dir. */
int ferry_codec_encode_tree(const struct ferry_codec *c, const char *src_dir, const char *dst_dir,
                            struct ferry_manifest *raw, ferry_error *err);
/* Decodes every file the manifest lists from src_dir into dst_dir, each checked
 * against its raw size and SHA-256 as it is written. The codec must match the
 * manifest's encoding (and key ID): else a clear error, nothing decoded. An
 * image that is not encoded is copied, each file checked against its size and
 * SHA-256 (c may be NULL). */
int ferry_codec_decode_tree(const struct ferry_codec *c, const struct ferry_manifest *m, const char *src_dir,
                            const char *dst_dir, ferry_error *err);

#endif
