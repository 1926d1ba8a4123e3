/* SPDX-License-Identifier: Apache-2.0 */
/* informer-bench: how many watch events per second one informer applies, and
 * what holding N pods in its cache costs in memory. The API server is a
 * synthetic one in this process (libmicrohttpd on 127.0.0.1): a list of N
 * realistic pods, then a watch stream of E MODIFIED events sent as fast as the
 * socket takes them, so the informer itself is what is measured.
 *
 *   informer-bench [PODS [EVENTS]]     default 10000 pods, 100000 events */
#include <arpa/inet.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube/informer.h"
#include "base/util.h"

static int npods, nevents;
static char *list_json;

static char *pod_json(int i, long rv)
{
  return ferry_asprintf(
      "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-%06d\",\"namespace\":\"team-%d\","
      "\"uid\":\"%08x-1d2c-4e5f-8a9b-%012d\",\"resourceVersion\":\"%ld\",\"creationTimestamp\":\"2026-11-25T00:00:"
      "00Z\","
      "\"labels\":{\"app\":\"web\",\"pod-template-hash\":\"7d9f8c6b5\",\"ferry.dev/migratable\":\"true\"},"
      "\"annotations\":{\"ferry.dev/last-migration\":\"none\"},\"ownerReferences\":[{\"apiVersion\":\"apps/v1\","
      "\"kind\":\"ReplicaSet\",\"name\":\"web-7d9f8c6b5\",\"uid\":\"0a1b2c3d\",\"controller\":true}]},"
      "\"spec\":{\"nodeName\":\"node-%d\",\"containers\":[{\"name\":\"web\",\"image\":\"registry.example/web:1.4.2\","
      "\"ports\":[{\"containerPort\":8080,\"protocol\":\"TCP\"}],\"resources\":{\"requests\":{\"cpu\":\"100m\","
      "\"memory\":\"128Mi\"}},\"env\":[{\"name\":\"MODE\",\"value\":\"prod\"}]}],\"restartPolicy\":\"Always\"},"
      "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.244.%d.%d\",\"hostIP\":\"192.0.2.%d\","
      "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],\"containerStatuses\":[{\"name\":\"web\","
      "\"ready\":true,\"restartCount\":0,\"containerID\":\"containerd://%064d\"}]}}",
      i, i % 20, i, i, rv, i % 50, (i / 250) % 256, i % 250, i % 50, i);
}

static ssize_t stream(void *cls, uint64_t pos, char *buf, size_t max)
{
  (void)pos;
  int *sent = cls;
  if (*sent >= nevents)
    return MHD_CONTENT_READER_END_OF_STREAM;
  size_t used = 0;
  while (*sent < nevents) {
    char *pod = pod_json(*sent % npods, 1000000L + *sent);
    char *line = ferry_asprintf("{\"type\":\"MODIFIED\",\"object\":%s}\n", pod);
    size_t l = strlen(line);
    free(pod);
    if (used + l > max) {
      free(line);
      break;
    }
    memcpy(buf + used, line, l);
    used += l;
    free(line);
    (*sent)++;
  }
  return used ? (ssize_t)used : MHD_CONTENT_READER_END_OF_STREAM;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *data, size_t *size, void **con_cls)
{
  (void)cls;
  (void)url;
  (void)method;
  (void)version;
  (void)data;
  (void)size;
  (void)con_cls;
  struct MHD_Response *r;
  if (MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "watch")) {
    int *sent = calloc(1, sizeof *sent);
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1 << 20, stream, sent, free);
  } else {
    r = MHD_create_response_from_buffer(strlen(list_json), list_json, MHD_RESPMEM_PERSISTENT);
  }
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result x = MHD_queue_response(c, 200, r);
  MHD_destroy_response(r);
  return x;
}

static long rss_kib(void)
{
  char *text = NULL;
  ferry_error err = FERRY_ERROR_INIT;
  long v = -1;
  if (ferry_read_file("/proc/self/status", &text, NULL, &err) == 0) {
    const char *p = strstr(text, "VmRSS:");
    if (p)
      v = strtol(p + 6, NULL, 10);
  }
  ferry_error_clear(&err);
  free(text);
  return v;
}

static long events_seen;
static void on_update(void *ctx, json_object *a, json_object *b)
{
  (void)ctx;
  (void)a;
  (void)b;
  events_seen++;
}

int main(int argc, char **argv)
{
  npods = argc > 1 ? atoi(argv[1]) : 10000;
  nevents = argc > 2 ? atoi(argv[2]) : 100000;
  if (npods <= 0 || nevents <= 0) {
    fprintf(stderr, "usage: informer-bench [PODS [EVENTS]]\n");
    return 2;
  }
  /* the list answer */
  size_t cap = (size_t)npods * 1400 + 256, len = 0;
  list_json = malloc(cap);
  if (!list_json)
    return 1;
  len += (size_t)snprintf(
      list_json, cap,
      "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"1000000\"},\"items\":[");
  for (int i = 0; i < npods; i++) {
    char *p = pod_json(i, 1000);
    size_t l = strlen(p);
    if (len + l + 4 > cap) {
      cap = cap * 2 + l;
      char *n = realloc(list_json, cap);
      if (!n)
        return 1;
      list_json = n;
    }
    if (i)
      list_json[len++] = ',';
    memcpy(list_json + len, p, l);
    len += l;
    free(p);
  }
  memcpy(list_json + len, "]}", 3);
  size_t list_bytes = len + 2;

  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
                                          NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &a, MHD_OPTION_END);
  const union MHD_DaemonInfo *info = d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
  if (!info) {
    fprintf(stderr, "informer-bench: cannot start the server\n");
    return 1;
  }
  char server[64];
  snprintf(server, sizeof server, "http://127.0.0.1:%d", info->port);
  struct ferry_kube_config cfg = { 0 };
  cfg.server = server;
  ferry_error err = FERRY_ERROR_INIT;
  struct ferry_informers *g = NULL;
  struct ferry_informer *inf = NULL;
  struct ferry_informer_handlers h = { NULL, on_update, NULL, NULL };
  long rss0 = rss_kib();
  if (ferry_informers_new(&cfg, &g, &err) < 0 ||
      ferry_informer_add(g, &FERRY_KUBE_PODS, NULL, NULL, NULL, &h, &inf, &err) < 0) {
    fprintf(stderr, "informer-bench: %s\n", ferry_error_msg(&err));
    return 1;
  }
  int64_t t0 = ferry_now_mono_ms();
  while (!ferry_informer_synced(inf))
    if (ferry_informers_run(g, 10, &err) < 0)
      return 1;
  int64_t t1 = ferry_now_mono_ms();
  malloc_trim(0); /* what the cache holds, not what parsing the list left in the heap */
  long rss1 = rss_kib();
  while (events_seen < nevents && ferry_now_mono_ms() - t1 < 600000)
    if (ferry_informers_run(g, 10, &err) < 0)
      return 1;
  int64_t t2 = ferry_now_mono_ms();
  printf("| pods | list bytes | list + sync ms | RSS before KiB | RSS holding the pods KiB | per pod bytes | watch "
         "events | events/s |\n");
  printf("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  printf("| %d | %zu | %lld | %ld | %ld | %ld | %ld | %.0f |\n", npods, list_bytes, (long long)(t1 - t0), rss0, rss1,
         (rss1 - rss0) * 1024 / npods, events_seen, events_seen * 1000.0 / (double)(t2 - t1 > 0 ? t2 - t1 : 1));
  ferry_informers_free(g);
  MHD_stop_daemon(d);
  free(list_json);
  return events_seen == nevents ? 0 : 1;
}
