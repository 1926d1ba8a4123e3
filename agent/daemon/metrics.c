/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's HTTP endpoints and Prometheus counters (see metrics.h). */
#include "metrics.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/httpd.h"
#include "base/util.h"

#define MAX_SERIES 32

static const double DOWNTIME_BUCKETS[] = { 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
static const double BYTES_BUCKETS[] = {
  1 << 20, 16 << 20, 64 << 20, 256 << 20, 1024.0 * (1 << 20), 4096.0 * (1 << 20)
};
#define NDOWN (sizeof DOWNTIME_BUCKETS / sizeof DOWNTIME_BUCKETS[0])
#define NBYTES (sizeof BYTES_BUCKETS / sizeof BYTES_BUCKETS[0])

struct histogram {
  unsigned long buckets[16], count;
  double sum;
};

struct metrics {
  struct ferry_httpd *httpd;
  pthread_mutex_t mu;
  char node[256];
  int ready;
  char why[256];
  struct {
    char role[16], outcome[32];
    unsigned long n;
  } series[MAX_SERIES];
  size_t nseries;
  int ops;
  unsigned long released; /* containers found held (frozen, under a CRIU) and released */
  size_t held;            /* containers the watchdog's last pass left held */
  struct histogram downtime, bytes;
};

static void observe(struct histogram *h, const double *bounds, size_t n, double v)
{
  for (size_t i = 0; i < n; i++)
    if (v <= bounds[i])
      h->buckets[i]++;
  h->count++;
  h->sum += v;
}

static void print_histogram(FILE *f, const char *name, const struct histogram *h, const double *bounds, size_t n,
                            const char *node)
{
  for (size_t i = 0; i < n; i++)
    fprintf(f, "%s_bucket{node=\"%s\",le=\"%g\"} %lu\n", name, node, bounds[i], h->buckets[i]);
  fprintf(f, "%s_bucket{node=\"%s\",le=\"+Inf\"} %lu\n", name, node, h->count);
  fprintf(f, "%s_sum{node=\"%s\"} %.6f\n%s_count{node=\"%s\"} %lu\n", name, node, h->sum, name, node, h->count);
}

static char *render(struct metrics *m)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f)
    return NULL;
  pthread_mutex_lock(&m->mu);
  fprintf(f, "# HELP ferry_agent_info The agent's version and node.\n# TYPE ferry_agent_info gauge\n");
  fprintf(f, "ferry_agent_info{node=\"%s\",version=\"%s\"} 1\n", m->node, FERRY_VERSION);
  fprintf(f, "# HELP ferry_agent_migrations_total Migration steps this agent finished, by role and outcome.\n"
             "# TYPE ferry_agent_migrations_total counter\n");
  for (size_t i = 0; i < m->nseries; i++)
    fprintf(f, "ferry_agent_migrations_total{node=\"%s\",role=\"%s\",outcome=\"%s\"} %lu\n", m->node, m->series[i].role,
            m->series[i].outcome, m->series[i].n);
  fprintf(f,
          "# HELP ferry_agent_operations_in_progress Checkpoints, restores and rollbacks running now.\n"
          "# TYPE ferry_agent_operations_in_progress gauge\nferry_agent_operations_in_progress{node=\"%s\"} %d\n",
          m->node, m->ops);
  fprintf(f,
          "# HELP ferry_agent_containers_released_total Containers found frozen or held by a CRIU that no migration "
          "owned, and released.\n# TYPE ferry_agent_containers_released_total counter\n"
          "ferry_agent_containers_released_total{node=\"%s\"} %lu\n"
          "# HELP ferry_agent_containers_held Containers held stopped that the agent could not release.\n"
          "# TYPE ferry_agent_containers_held gauge\nferry_agent_containers_held{node=\"%s\"} %zu\n",
          m->node, m->released, m->node, m->held);
  fprintf(f, "# HELP ferry_agent_downtime_seconds From the freeze on the source to running here.\n"
             "# TYPE ferry_agent_downtime_seconds histogram\n");
  print_histogram(f, "ferry_agent_downtime_seconds", &m->downtime, DOWNTIME_BUCKETS, NDOWN, m->node);
  fprintf(f, "# HELP ferry_agent_image_bytes Size of the checkpoint images this agent wrote.\n"
             "# TYPE ferry_agent_image_bytes histogram\n");
  print_histogram(f, "ferry_agent_image_bytes", &m->bytes, BYTES_BUCKETS, NBYTES, m->node);
  pthread_mutex_unlock(&m->mu);
  if (fclose(f) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **con_cls)
{
  (void)version;
  (void)data;
  (void)size;
  (void)con_cls;
  struct metrics *m = cls;
  unsigned code = 200;
  char *text = NULL;
  const char *ctype = "text/plain; charset=utf-8";
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    code = 405;
    text = ferry_strdup("method not allowed\n");
  } else if (!strcmp(url, "/healthz") || !strcmp(url, "/livez")) {
    text = ferry_strdup("ok\n");
  } else if (!strcmp(url, "/readyz")) {
    pthread_mutex_lock(&m->mu);
    code = m->ready ? 200 : 503;
    text = m->ready ? ferry_strdup("ok\n") : ferry_asprintf("not ready: %s\n", m->why);
    pthread_mutex_unlock(&m->mu);
  } else if (!strcmp(url, "/metrics")) {
    text = render(m);
    ctype = "text/plain; version=0.0.4; charset=utf-8";
    if (!text) {
      code = 500;
      text = ferry_strdup("out of memory\n");
    }
  } else {
    code = 404;
    text = ferry_strdup("not found\n");
  }
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    free(text);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", ctype);
  enum MHD_Result x = MHD_queue_response(c, code, r);
  MHD_destroy_response(r);
  return x;
}

int metrics_start(const char *listen, const char *node, struct metrics **out, int *port, ferry_error *err)
{
  struct metrics *m = calloc(1, sizeof *m);
  if (!m)
    return ferry_error_set(err, ENOMEM, "metrics");
  pthread_mutex_init(&m->mu, NULL);
  snprintf(m->node, sizeof m->node, "%s", node);
  snprintf(m->why, sizeof m->why, "starting");
  struct ferry_httpd_opts o = {
    .listen = listen, .flag = "--metrics-listen", .what = "metrics", .handler = answer, .handler_cls = m
  };
  if (ferry_httpd_start(&o, &m->httpd, port, err) < 0) {
    pthread_mutex_destroy(&m->mu);
    free(m);
    return -1;
  }
  *out = m;
  return 0;
}

void metrics_stop(struct metrics *m)
{
  if (!m)
    return;
  ferry_httpd_stop(m->httpd);
  pthread_mutex_destroy(&m->mu);
  free(m);
}

void metrics_set_ready(struct metrics *m, int ready, const char *why)
{
  if (!m)
    return;
  pthread_mutex_lock(&m->mu);
  m->ready = ready;
  snprintf(m->why, sizeof m->why, "%s", why ? why : "");
  pthread_mutex_unlock(&m->mu);
}

void metrics_count(struct metrics *m, const char *role, const char *outcome)
{
  if (!m)
    return;
  pthread_mutex_lock(&m->mu);
  size_t i = 0;
  while (i < m->nseries && (strcmp(m->series[i].role, role) || strcmp(m->series[i].outcome, outcome)))
    i++;
  if (i == m->nseries && m->nseries < MAX_SERIES) {
    snprintf(m->series[i].role, sizeof m->series[i].role, "%s", role);
    snprintf(m->series[i].outcome, sizeof m->series[i].outcome, "%s", outcome);
    m->series[i].n = 0;
    m->nseries++;
  }
  if (i < m->nseries)
    m->series[i].n++;
  pthread_mutex_unlock(&m->mu);
}

void metrics_ops(struct metrics *m, int in_progress)
{
  if (!m)
    return;
  pthread_mutex_lock(&m->mu);
  m->ops = in_progress;
  pthread_mutex_unlock(&m->mu);
}

void metrics_observe_downtime(struct metrics *m, double seconds)
{
  if (!m)
    return;
  pthread_mutex_lock(&m->mu);
  observe(&m->downtime, DOWNTIME_BUCKETS, NDOWN, seconds);
  pthread_mutex_unlock(&m->mu);
}

void metrics_observe_bytes(struct metrics *m, double bytes)
{
  if (!m)
    return;
  pthread_mutex_lock(&m->mu);
  observe(&m->bytes, BYTES_BUCKETS, NBYTES, bytes);
  pthread_mutex_unlock(&m->mu);
}

void metrics_released(struct metrics *m)
{
  if (!m)
    return;
  pthread_mutex_lock(&m->mu);
  m->released++;
  pthread_mutex_unlock(&m->mu);
}

void metrics_held(struct metrics *m, size_t held)
{
  if (!m)
    return;
  pthread_mutex_lock(&m->mu);
  m->held = held;
  pthread_mutex_unlock(&m->mu);
}
