/* SPDX-License-Identifier: Apache-2.0 */
/* The libmicrohttpd start-up every Ferry HTTP endpoint shares (see httpd.h). */
#include "base/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/util.h"

#define HOST_MAX 64

struct ferry_httpd {
  struct MHD_Daemon *d;
  char *cert, *key; /* libmicrohttpd reads them from memory */
};

/* "IPv4:PORT" into *sin. */
static int parse_listen(const struct ferry_httpd_opts *o, struct sockaddr_in *sin, ferry_error *err)
{
  char host[HOST_MAX];
  const char *colon = strrchr(o->listen, ':');
  if (!colon || (size_t)(colon - o->listen) >= sizeof host)
    return ferry_error_set(err, 0, "%s %s: want IPv4:PORT", o->flag, o->listen);
  memcpy(host, o->listen, (size_t)(colon - o->listen));
  host[colon - o->listen] = '\0';
  memset(sin, 0, sizeof *sin);
  sin->sin_family = AF_INET;
  char *end;
  long p = strtol(colon + 1, &end, 10);
  if (*end || p < 0 || p > 65535 || inet_pton(AF_INET, host, &sin->sin_addr) != 1)
    return ferry_error_set(err, 0, "%s %s: want IPv4:PORT", o->flag, o->listen);
  sin->sin_port = htons((uint16_t)p);
  return 0;
}

static struct MHD_Daemon *start_daemon(const struct ferry_httpd_opts *o, struct ferry_httpd *h, struct sockaddr_in *sin)
{
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
  MHD_RequestCompletedCallback completed = o->completed;
  void *completed_cls = o->completed_cls;
  if (!h->cert)
    return MHD_start_daemon(flags, 0, NULL, NULL, o->handler, o->handler_cls, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)sin, MHD_OPTION_NOTIFY_COMPLETED, completed, completed_cls,
                            MHD_OPTION_END);
  return MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, o->handler, o->handler_cls, MHD_OPTION_HTTPS_MEM_CERT,
                          h->cert, MHD_OPTION_HTTPS_MEM_KEY, h->key, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)sin,
                          MHD_OPTION_NOTIFY_COMPLETED, completed, completed_cls, MHD_OPTION_END);
}

int ferry_httpd_start(const struct ferry_httpd_opts *o, struct ferry_httpd **out, int *port, ferry_error *err)
{
  int tls = o->cert_file != NULL;
  if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
    return ferry_error_set(err, ENOTSUP, "this libmicrohttpd has no TLS: %s cannot be served", o->what);
  struct sockaddr_in sin;
  if (parse_listen(o, &sin, err) < 0)
    return -1;
  cleanup_free struct ferry_httpd *h = calloc(1, sizeof *h);
  if (!h)
    return ferry_error_set(err, ENOMEM, "%s", o->what);
  size_t len;
  if (tls && (ferry_read_file(o->cert_file, &h->cert, &len, err) < 0 ||
              ferry_read_file(o->key_file, &h->key, &len, err) < 0)) {
    free(h->cert);
    free(h->key);
    return -1;
  }
  h->d = start_daemon(o, h, &sin);
  if (!h->d) {
    free(h->cert);
    free(h->key);
    if (tls)
      return ferry_error_set(err, 0, "cannot serve %s on %s (address, certificate or key)", o->what, o->listen);
    return ferry_error_set(err, 0, "cannot listen on %s", o->listen);
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
  if (port)
    *port = info ? (int)info->port : (int)ntohs(sin.sin_port);
  *out = ferry_steal(&h);
  return 0;
}

void ferry_httpd_stop(struct ferry_httpd *h)
{
  if (!h)
    return;
  MHD_stop_daemon(h->d);
  free(h->cert);
  free(h->key);
  free(h);
}
