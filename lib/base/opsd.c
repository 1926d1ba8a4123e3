/* SPDX-License-Identifier: Apache-2.0 */
/* Health, readiness and metrics over HTTP (see opsd.h). */
#include "base/opsd.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/httpd.h"
#include "base/util.h"

#define WHY_MAX 256

struct ferry_opsd {
  struct ferry_httpd *httpd;
  struct prom_registry *metrics;
  pthread_mutex_t mu;
  int ready;
  char why[WHY_MAX];
  int64_t stall_ms, beat_ms; /* beat_ms 0: no heartbeat yet (starting counts as live) */
};

struct answer {
  unsigned code;
  char *text;
  const char *ctype;
};

static struct answer live(struct ferry_opsd *s)
{
  pthread_mutex_lock(&s->mu);
  int64_t age = s->beat_ms ? ferry_now_mono_ms() - s->beat_ms : 0;
  pthread_mutex_unlock(&s->mu);
  if (s->stall_ms > 0 && age > s->stall_ms)
    return (struct answer){ 500, ferry_asprintf("the main loop has not turned for %lld ms\n", (long long)age), NULL };
  return (struct answer){ 200, ferry_strdup("ok\n"), NULL };
}

static struct answer ready(struct ferry_opsd *s)
{
  pthread_mutex_lock(&s->mu);
  struct answer a = s->ready ? (struct answer){ 200, ferry_strdup("ok\n"), NULL }
                             : (struct answer){ 503, ferry_asprintf("not ready: %s\n", s->why), NULL };
  pthread_mutex_unlock(&s->mu);
  return a;
}

static struct answer metrics(struct ferry_opsd *s)
{
  char *text = prom_render(s->metrics);
  if (!text)
    return (struct answer){ 500, ferry_strdup("out of memory\n"), NULL };
  return (struct answer){ 200, text, "text/plain; version=0.0.4; charset=utf-8" };
}

static struct answer route(struct ferry_opsd *s, const char *method, const char *url)
{
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
    return (struct answer){ 405, ferry_strdup("method not allowed\n"), NULL };
  if (!strcmp(url, "/healthz") || !strcmp(url, "/livez"))
    return live(s);
  if (!strcmp(url, "/readyz"))
    return ready(s);
  if (!strcmp(url, "/metrics") && s->metrics)
    return metrics(s);
  return (struct answer){ 404, ferry_strdup("not found\n"), NULL };
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **con_cls)
{
  (void)version;
  (void)data;
  (void)size;
  (void)con_cls;
  struct answer a = route(cls, method, url);
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(a.text), a.text, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    free(a.text);
    return MHD_NO;
  }
  if (MHD_add_response_header(r, "Content-Type", a.ctype ? a.ctype : "text/plain; charset=utf-8") != MHD_YES) {
    MHD_destroy_response(r);
    return MHD_NO;
  }
  enum MHD_Result x = MHD_queue_response(c, a.code, r);
  MHD_destroy_response(r);
  return x;
}

int ferry_opsd_start(const struct ferry_opsd_opts *o, struct ferry_opsd **out, int *port, ferry_error *err)
{
  struct ferry_opsd *s = calloc(1, sizeof *s);
  if (!s)
    return ferry_error_set(err, ENOMEM, "%s", o->flag);
  if (pthread_mutex_init(&s->mu, NULL) != 0) {
    free(s);
    return ferry_error_set(err, ENOMEM, "%s: a mutex", o->flag);
  }
  s->metrics = o->metrics;
  s->stall_ms = o->stall_ms;
  snprintf(s->why, sizeof s->why, "starting");
  struct ferry_httpd_opts h = {
    .listen = o->listen, .flag = o->flag, .what = "metrics", .handler = answer, .handler_cls = s
  };
  if (ferry_httpd_start(&h, &s->httpd, port, err) < 0) {
    pthread_mutex_destroy(&s->mu);
    free(s);
    return -1;
  }
  *out = s;
  return 0;
}

void ferry_opsd_stop(struct ferry_opsd *s)
{
  if (!s)
    return;
  ferry_httpd_stop(s->httpd);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

void ferry_opsd_set_ready(struct ferry_opsd *s, int is_ready, const char *why)
{
  if (!s)
    return;
  pthread_mutex_lock(&s->mu);
  s->ready = is_ready;
  snprintf(s->why, sizeof s->why, "%s", why ? why : "");
  pthread_mutex_unlock(&s->mu);
}

void ferry_opsd_heartbeat(struct ferry_opsd *s)
{
  if (!s)
    return;
  pthread_mutex_lock(&s->mu);
  s->beat_ms = ferry_now_mono_ms();
  pthread_mutex_unlock(&s->mu);
}
