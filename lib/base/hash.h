/* SPDX-License-Identifier: Apache-2.0 */
/* SHA-256 as 64 lowercase hex characters (+ NUL). */
#ifndef FERRY_HASH_H
#define FERRY_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

void ferry_sha256_hex(const void *data, size_t len, char out[65]);
/* Of a file's contents; *size (optional): its length. */
int ferry_sha256_file(const char *path, char out[65], uint64_t *size, ferry_error *err);

#endif
