/* SPDX-License-Identifier: Apache-2.0 */
/* Informers against a scripted API server that streams watch events
 * (libmicrohttpd, a thread per connection). */
#include <pthread.h>
#include <unistd.h>

#include "testutil.h"
#include "scripted_server.h"

#include "kube/informer.h"

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char *list;       /* the next list answer */
  char *events[64]; /* queued watch lines: events[head..nevents) */
  int head, nevents;
  int end_stream;      /* end the open watch normally */
  int fail_next_watch; /* answer the next watch with 500 */
  int stopping;
  intptr_t gen; /* the newest watch connection; older ones only end */
  char watch_query[16][512];
  int nwatches;
  struct MHD_Daemon *d;
  int port;
} S = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void push(const char *line)
{
  pthread_mutex_lock(&S.mu);
  S.events[S.nevents++] = ferry_strdup(line);
  pthread_cond_broadcast(&S.cv);
  pthread_mutex_unlock(&S.mu);
}

static void set_list(const char *json)
{
  pthread_mutex_lock(&S.mu);
  free(S.list);
  S.list = ferry_strdup(json);
  pthread_mutex_unlock(&S.mu);
}

static ssize_t stream(void *cls, uint64_t pos, char *buf, size_t max)
{
  (void)pos;
  intptr_t gen = (intptr_t)cls;
  pthread_mutex_lock(&S.mu);
  while (gen == S.gen && S.head == S.nevents && !S.end_stream && !S.stopping) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&S.cv, &S.mu, &ts);
  }
  ssize_t r;
  if (gen != S.gen) {
    r = MHD_CONTENT_READER_END_OF_STREAM; /* a stream the client already left */
  } else if (S.head < S.nevents) {
    char *line = S.events[S.head++];
    r = snprintf(buf, max, "%s\n", line);
    free(line);
  } else {
    S.end_stream = 0;
    r = MHD_CONTENT_READER_END_OF_STREAM;
  }
  pthread_mutex_unlock(&S.mu);
  return r;
}

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
  (void)kind;
  char *q = cls;
  size_t l = strlen(q);
  snprintf(q + l, 512 - l, "%s%s=%s", l ? "&" : "", key, value ? value : "");
  return MHD_YES;
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
  const char *watch = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "watch");
  struct MHD_Response *resp;
  unsigned code = 200;
  if (watch) {
    pthread_mutex_lock(&S.mu);
    int fail = S.fail_next_watch;
    S.fail_next_watch = 0;
    intptr_t gen = ++S.gen;
    pthread_cond_broadcast(&S.cv);
    if (S.nwatches < 16) {
      S.watch_query[S.nwatches][0] = '\0';
      MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect, S.watch_query[S.nwatches]);
      S.nwatches++;
    }
    pthread_mutex_unlock(&S.mu);
    if (fail) {
      static const char st[] = "{\"kind\":\"Status\",\"code\":500,\"reason\":\"InternalError\",\"message\":\"boom\"}";
      resp = MHD_create_response_from_buffer(sizeof st - 1, (void *)st, MHD_RESPMEM_PERSISTENT);
      code = 500;
    } else {
      resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream, (void *)gen, NULL);
    }
  } else {
    pthread_mutex_lock(&S.mu);
    resp = MHD_create_response_from_buffer(strlen(S.list), S.list, MHD_RESPMEM_MUST_COPY);
    pthread_mutex_unlock(&S.mu);
  }
  MHD_add_response_header(resp, "Content-Type", "application/json");
  enum MHD_Result r = MHD_queue_response(c, code, resp);
  MHD_destroy_response(resp);
  return r;
}

static int setup(void **state)
{
  (void)state;
  S.d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, NULL,
                         MHD_OPTION_SOCK_ADDR, fa_loopback(), MHD_OPTION_END);
  S.port = fa_port(S.d);
  return S.port ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  pthread_mutex_lock(&S.mu);
  S.stopping = 1;
  pthread_cond_broadcast(&S.cv);
  pthread_mutex_unlock(&S.mu);
  MHD_stop_daemon(S.d);
  free(S.list);
  for (int i = S.head; i < S.nevents; i++)
    free(S.events[i]);
  return 0;
}

struct counts {
  int adds, updates, deletes;
};
static void on_add(void *ctx, json_object *o)
{
  (void)o;
  ((struct counts *)ctx)->adds++;
}
static void on_update(void *ctx, json_object *a, json_object *b)
{
  (void)a;
  (void)b;
  ((struct counts *)ctx)->updates++;
}
static void on_delete(void *ctx, json_object *o)
{
  (void)o;
  ((struct counts *)ctx)->deletes++;
}

#define POD(name, rv) "{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"ns\",\"resourceVersion\":\"" rv "\"}}"
#define EV(type, obj) "{\"type\":\"" type "\",\"object\":" obj "}"

/* Drives the informers until cond holds (bounded: fails after 200 rounds). */
#define RUN_UNTIL(cond)                                                                                                \
  do {                                                                                                                 \
    int ok_ = 0;                                                                                                       \
    for (int i_ = 0; i_ < 200 && !ok_; i_++) {                                                                         \
      if (ferry_informers_run(g, 50, &err) < 0)                                                                        \
        fail_msg("run: %s", err.msg);                                                                                  \
      ok_ = (cond);                                                                                                    \
    }                                                                                                                  \
    if (!ok_)                                                                                                          \
      fail_msg("never true: %s", #cond);                                                                               \
  } while (0)

static void test_list_watch_bookmark_410_reconnect(void **state)
{
  (void)state;
  ferry_error err = FERRY_ERROR_INIT;
  char server[64];
  snprintf(server, sizeof server, "http://127.0.0.1:%d", S.port);
  struct ferry_kube_config cfg = { 0 };
  cfg.server = server;
  struct ferry_informers *g = NULL;
  assert_int_equal(ferry_informers_new(&cfg, &g, &err), 0);
  struct counts n = { 0 };
  struct ferry_informer_handlers h = { on_add, on_update, on_delete, &n };
  struct ferry_informer *inf = NULL;
  assert_int_equal(ferry_informer_add(g, &FERRY_KUBE_PODS, NULL, "app=web", NULL, &h, &inf, &err), 0);
  struct ferry_informer_stats st;

  /* list, then watch from the list's resourceVersion */
  set_list("{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"10\"},\"items\":[" POD("a", "10") "," POD(
      "b", "10") "]}");
  RUN_UNTIL(ferry_informer_synced(inf) && S.nwatches == 1);
  assert_int_equal(n.adds, 2);
  assert_int_equal(ferry_informer_len(inf), 2);
  assert_non_null(strstr(S.watch_query[0], "resourceVersion=10"));
  assert_non_null(strstr(S.watch_query[0], "allowWatchBookmarks=true"));
  assert_non_null(strstr(S.watch_query[0], "labelSelector=app=web"));

  /* events change the cache; a bookmark moves the resourceVersion */
  push(EV("MODIFIED", POD("a", "11")));
  push(EV("ADDED", POD("c", "12")));
  push(EV("DELETED", POD("b", "13")));
  push(EV("BOOKMARK", "{\"metadata\":{\"resourceVersion\":\"20\"}}"));
  RUN_UNTIL((ferry_informer_stats(inf, &st), st.events == 4));
  assert_int_equal(n.adds, 3);
  assert_int_equal(n.updates, 1);
  assert_int_equal(n.deletes, 1);
  assert_null(ferry_informer_get(inf, "ns", "b"));
  assert_string_equal(ferry_kube_str(ferry_informer_get(inf, "ns", "a"), "metadata.resourceVersion"), "11");
  assert_string_equal(ferry_informer_resource_version(inf), "20");
  assert_int_equal(st.bookmarks, 1);

  /* the server ends the stream: the next watch starts from the bookmark */
  pthread_mutex_lock(&S.mu);
  S.end_stream = 1;
  pthread_cond_broadcast(&S.cv);
  pthread_mutex_unlock(&S.mu);
  RUN_UNTIL(S.nwatches == 2);
  assert_non_null(strstr(S.watch_query[1], "resourceVersion=20"));

  /* 410 Gone: list again and reconcile (a changed, c gone, d new) */
  set_list("{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"31\"},\"items\":[" POD("a", "30") "," POD(
      "d", "31") "]}");
  push(EV("ERROR",
          "{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\",\"message\":\"too old resource version\"}"));
  RUN_UNTIL(S.nwatches == 3);
  ferry_informer_stats(inf, &st);
  assert_int_equal(st.relists_410, 1);
  assert_int_equal(st.lists, 2);
  assert_int_equal(n.updates, 2);
  assert_int_equal(n.adds, 4);
  assert_int_equal(n.deletes, 2);
  assert_null(ferry_informer_get(inf, "ns", "c"));
  assert_non_null(ferry_informer_get(inf, "ns", "d"));
  assert_non_null(strstr(S.watch_query[2], "resourceVersion=31"));

  /* a failing watch is retried with backoff, from the same resourceVersion */
  pthread_mutex_lock(&S.mu);
  S.fail_next_watch = 1;
  S.end_stream = 1;
  pthread_cond_broadcast(&S.cv);
  pthread_mutex_unlock(&S.mu);
  RUN_UNTIL(S.nwatches == 5);
  ferry_informer_stats(inf, &st);
  assert_int_equal(st.reconnects, 1);
  assert_non_null(strstr(S.watch_query[4], "resourceVersion=31"));
  push(EV("ADDED", POD("e", "32")));
  RUN_UNTIL(ferry_informer_get(inf, "ns", "e") != NULL);
  ferry_informers_free(g);
}

static void test_event_parse(void **state)
{
  (void)state;
  char type[16];
  json_object *o = NULL;
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_watch_event_parse(EV("ADDED", POD("a", "1")), type, sizeof type, &o, &err), 0);
  assert_string_equal(type, "ADDED");
  assert_string_equal(ferry_kube_str(o, "metadata.name"), "a");
  json_object_put(o);
  assert_int_equal(ferry_watch_event_parse("{\"type\":\"ADDED\"}", type, sizeof type, &o, &err), -1);
  ferry_error_clear(&err);
  assert_int_equal(ferry_watch_event_parse("{nope", type, sizeof type, &o, &err), -1);
  ferry_error_clear(&err);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_list_watch_bookmark_410_reconnect),
    cmocka_unit_test(test_event_parse),
  };
  return cmocka_run_group_tests_name("informer", tests, setup, teardown);
}
