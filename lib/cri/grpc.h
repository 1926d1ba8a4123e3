/* SPDX-License-Identifier: Apache-2.0 */
/* A gRPC client for unary calls over a unix socket: each call is an HTTP/2 POST
 * (prior knowledge, no TLS) of one length-prefixed message, answered by one
 * message and a grpc-status in the trailers. libcurl carries it; the connection
 * is kept between calls. One connection is for one thread at a time. */
#ifndef FERRY_CRI_GRPC_H
#define FERRY_CRI_GRPC_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct ferry_grpc;

/* endpoint: "unix:///run/containerd/containerd.sock" (or a plain absolute path). */
struct ferry_grpc *ferry_grpc_open(const char *endpoint, ferry_error *err);
void ferry_grpc_close(struct ferry_grpc *g);

/* Calls path ("/runtime.v1.RuntimeService/Version") with the serialized request
 * req; *resp (heap, caller frees) is the answer's serialized message. timeout_ms
 * bounds the whole call (and is sent as grpc-timeout). On failure -1, with the
 * gRPC status (or FERRY_GRPC_UNAVAILABLE for a transport failure) left for
 * ferry_grpc_last_code. */
int ferry_grpc_call(struct ferry_grpc *g, const char *path, const uint8_t *req, size_t req_len, long timeout_ms,
                    uint8_t **resp, size_t *resp_len, ferry_error *err);

/* The gRPC status code of the last call (0 after a success). */
int ferry_grpc_last_code(const struct ferry_grpc *g);

#endif
