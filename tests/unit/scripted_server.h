/* SPDX-License-Identifier: Apache-2.0 */
/* Scripted HTTP servers for the client's own unit tests (libmicrohttpd): answers and request
 * bodies. The real API semantics are tested against kube-lite. */
#ifndef FERRY_SCRIPTED_SERVER_H
#define FERRY_SCRIPTED_SERVER_H

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 127.0.0.1, any port: test servers listen on loopback only. */
static inline struct sockaddr *fa_loopback(void)
{
  static struct sockaddr_in a;
  a.sin_family = AF_INET;
  a.sin_port = 0;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return (struct sockaddr *)&a;
}

/* The port a started daemon listens on (0 if it did not start). */
static inline int fa_port(struct MHD_Daemon *d)
{
  const union MHD_DaemonInfo *info = d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
  return info ? info->port : 0;
}

struct fa_upload {
  char body[8192];
  size_t len;
};

static inline enum MHD_Result fa_reply(struct MHD_Connection *c, unsigned code, const char *json)
{
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result x = MHD_queue_response(c, code, r);
  MHD_destroy_response(r);
  return x;
}

/* A Kubernetes Status answer. */
static inline enum MHD_Result fa_status(struct MHD_Connection *c, unsigned code, const char *reason,
                                        const char *message)
{
  char buf[512];
  snprintf(buf, sizeof buf,
           "{\"kind\":\"Status\",\"status\":\"Failure\",\"code\":%u,\"reason\":\"%s\",\"message\":\"%s\"}", code,
           reason, message);
  return fa_reply(c, code, buf);
}

/* Gathers the request body across the handler's calls. Returns 1 when the
 * request is complete (*body then holds it; free it), 0 to return MHD_YES. */
static inline int fa_body(void **con_cls, const char *data, size_t *size, struct fa_upload **body)
{
  struct fa_upload *u = *con_cls;
  if (!u) {
    *con_cls = calloc(1, sizeof *u);
    return 0;
  }
  if (*size) {
    size_t n = *size < sizeof u->body - 1 - u->len ? *size : sizeof u->body - 1 - u->len;
    memcpy(u->body + u->len, data, n);
    u->len += n;
    *size = 0;
    return 0;
  }
  *con_cls = NULL;
  *body = u;
  return 1;
}

#endif
