/* SPDX-License-Identifier: Apache-2.0 */
/* An HTTP or HTTPS server on its own thread (libmicrohttpd), as the controller's
 * admission webhook and the agent's metrics endpoint run one: a "IPv4:PORT"
 * listen address (port 0 picks a free one), optional PEM certificate and key
 * files for TLS, and the caller's request handler. */
#ifndef FERRY_HTTPD_H
#define FERRY_HTTPD_H

#include <microhttpd.h>

#include "base/error.h"

struct ferry_httpd_opts {
  const char *listen;    /* "IPv4:PORT" */
  const char *flag;      /* the option listen came from, for its errors: "--webhook-listen" */
  const char *what;      /* what is served, for the TLS errors: "the webhook" */
  const char *cert_file; /* both set: HTTPS with these PEM files; both NULL: plain HTTP */
  const char *key_file;
  MHD_AccessHandlerCallback handler; /* called with handler_cls */
  void *handler_cls;
  MHD_RequestCompletedCallback completed; /* may be NULL: frees a request's state (*con_cls) */
  void *completed_cls;
};

struct ferry_httpd;

/* Starts serving; *port (may be NULL) receives the port bound. */
int ferry_httpd_start(const struct ferry_httpd_opts *o, struct ferry_httpd **out, int *port, ferry_error *err);
/* Stops the thread and frees h (NULL: nothing). */
void ferry_httpd_stop(struct ferry_httpd *h);

#endif
