/* SPDX-License-Identifier: Apache-2.0 */
/* Images sent directly from node to node, so they need not touch shared
 * storage: the source's agent streams the image directory as a tar over TCP to
 * the target's agent, at most at a given bandwidth; the target unpacks it into
 * its own store (regular files and directories only, never outside the
 * destination) and publishes it only once it verifies against its manifest.
 *
 * The connection starts with "FERRY-IMAGE/1 TOKEN NAME\n": the token is a
 * secret for this one transfer (a migration's is derived by both agents from
 * the key the nodes share, so it never travels through the API); anything else
 * is refused. The target answers "OK\n" or
 * "ERROR reason\n" once the image is published or refused. */
#ifndef FERRY_STREAM_H
#define FERRY_STREAM_H

#include <stdint.h>

#include "base/error.h"
#include "image/store.h"

/* 32 random bytes as 64 hex characters (+ NUL). */
int ferry_stream_token(char out[65], ferry_error *err);

/* A migration's transfer token: HMAC-SHA256 of its UID under the transfer key
 * the nodes share (32 bytes), as 64 hex characters (+ NUL). */
int ferry_stream_token_for(const unsigned char key[32], const char *migration_uid, char out[65], ferry_error *err);

/* Sends the image dir (NAME is its name) to addr ("ADDR:PORT"). *bytes: what went over the wire. */
int ferry_stream_send(const char *dir, const char *name, const char *addr, const char *token, uint64_t bytes_per_s,
                      uint64_t *bytes, ferry_error *err);

/* Accepts one sender on listen_fd (waiting at most timeout_ms), checks its token,
 * unpacks the image into the store and publishes it after verifying it. *name
 * (caller frees): the image received. */
int ferry_stream_receive(int listen_fd, const char *token, const struct ferry_store *store, int timeout_ms, char **name,
                         uint64_t *bytes, ferry_error *err);

#endif
