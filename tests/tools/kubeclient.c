/* SPDX-License-Identifier: Apache-2.0 */
/* kubeclient: drives Ferry's Kubernetes client library from the command line,
 * for the tests against kube-lite (tests/kube/client.bats). Reads the kubeconfig
 * from --kubeconfig or $KUBECONFIG.
 *
 *   kubeclient verbs NAMESPACE      every verb once, with the answers a real API server gives
 *   kubeclient watch SECONDS [NS]   an informer on pods: prints ADD/UPDATE/DELETE lines, then
 *                                   "CACHE n name..." and the informer's counters
 *   kubeclient lead ID SECONDS      leader election on lease ferry-system/kubeclient-test:
 *                                   prints "leading"/"following" on each change; SIGTERM releases
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube/informer.h"
#include "kube/kube.h"
#include "kube/kubeconfig.h"
#include "kube/leader.h"
#include "base/log.h"
#include "base/util.h"

static volatile sig_atomic_t stop;
static void on_term(int sig)
{
  (void)sig;
  stop = 1;
}

static int failures;
#define CHECK(cond, ...)                                                                                               \
  do {                                                                                                                 \
    if (cond) {                                                                                                        \
      printf("ok - " __VA_ARGS__);                                                                                     \
    } else {                                                                                                           \
      printf("not ok - " __VA_ARGS__);                                                                                 \
      printf("\n# %s", ferry_error_msg(&err));                                                                         \
      failures++;                                                                                                      \
    }                                                                                                                  \
    printf("\n");                                                                                                      \
    fflush(stdout);                                                                                                    \
  } while (0)

static int add_label(json_object *obj, void *ctx, ferry_error *err)
{
  (void)ctx;
  (void)err;
  json_object *meta, *labels;
  json_object_object_get_ex(obj, "metadata", &meta);
  if (!json_object_object_get_ex(meta, "labels", &labels) || !labels) {
    labels = json_object_new_object();
    json_object_object_add(meta, "labels", labels);
  }
  json_object_object_add(labels, "retried", json_object_new_string("yes"));
  return 0;
}

static int verbs(struct ferry_kube *k, const char *ns)
{
  ferry_error err = FERRY_ERROR_INIT;
  struct ferry_kube_status st;
  json_object *out = NULL, *items = NULL;
  char *rv = NULL;
  json_object *nsobj = json_object_new_object(), *meta = json_object_new_object();
  json_object_object_add(nsobj, "apiVersion", json_object_new_string("v1"));
  json_object_object_add(nsobj, "kind", json_object_new_string("Namespace"));
  json_object_object_add(meta, "name", json_object_new_string(ns));
  json_object_object_add(nsobj, "metadata", meta);
  CHECK(ferry_kube_create(k, &FERRY_KUBE_NAMESPACES, NULL, nsobj, NULL, &st, &err) == 0, "create namespace %s", ns);
  ferry_error_clear(&err);
  json_object_put(nsobj);
  for (int i = 0; i < 3; i++) {
    char text[512];
    snprintf(text, sizeof text,
             "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p%d\",\"labels\":{\"app\":\"%s\"}},"
             "\"spec\":{\"nodeName\":\"node-%c\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}",
             i, i < 2 ? "web" : "db", i ? 'b' : 'a');
    json_object *pod = json_tokener_parse(text);
    CHECK(ferry_kube_create(k, &FERRY_KUBE_PODS, ns, pod, NULL, &st, &err) == 0, "create pod p%d", i);
    ferry_error_clear(&err);
    json_object_put(pod);
  }
  json_object *dup = json_tokener_parse("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p0\"},"
                                        "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}");
  CHECK(ferry_kube_create(k, &FERRY_KUBE_PODS, ns, dup, NULL, &st, &err) < 0 && st.code == 409 &&
            !strcmp(st.reason, "AlreadyExists"),
        "a second create is 409 AlreadyExists (%ld %s)", st.code, st.reason);
  ferry_error_clear(&err);
  json_object_put(dup);
  CHECK(ferry_kube_get(k, &FERRY_KUBE_PODS, ns, "nope", &out, &st, &err) < 0 && st.code == 404 &&
            !strcmp(st.reason, "NotFound"),
        "get of a missing pod is 404 NotFound");
  ferry_error_clear(&err);
  CHECK(ferry_kube_list(k, &FERRY_KUBE_PODS, ns, "app=web", NULL, 0, &items, &rv, &err) == 0 &&
            json_object_array_length(items) == 2 && rv && *rv,
        "list with a label selector: 2 pods");
  json_object_put(items);
  free(rv);
  rv = NULL;
  CHECK(ferry_kube_list(k, &FERRY_KUBE_PODS, ns, NULL, "spec.nodeName=node-b", 0, &items, &rv, &err) == 0 &&
            json_object_array_length(items) == 2,
        "list with a field selector: 2 pods");
  json_object_put(items);
  free(rv);
  rv = NULL;
  CHECK(ferry_kube_list(k, &FERRY_KUBE_PODS, ns, NULL, NULL, 1, &items, &rv, &err) == 0 &&
            json_object_array_length(items) == 3,
        "list in pages of 1: 3 pods");
  json_object_put(items);
  free(rv);
  rv = NULL;
  CHECK(ferry_kube_patch(k, &FERRY_KUBE_PODS, ns, "p0", FERRY_PATCH_MERGE,
                         "{\"metadata\":{\"annotations\":{\"a\":\"1\"}}}", NULL, &out, &st, &err) == 0 &&
            !strcmp(ferry_kube_str(out, "metadata.annotations.a") ?: "", "1"),
        "merge patch");
  json_object_put(out);
  CHECK(ferry_kube_patch(k, &FERRY_KUBE_PODS, ns, "p0", FERRY_PATCH_JSON,
                         "[{\"op\":\"add\",\"path\":\"/metadata/annotations/b\",\"value\":\"2\"}]", NULL, &out, &st,
                         &err) == 0 &&
            !strcmp(ferry_kube_str(out, "metadata.annotations.b") ?: "", "2"),
        "JSON patch");
  json_object_put(out);
  CHECK(ferry_kube_patch(k, &FERRY_KUBE_PODS, ns, "p0", FERRY_PATCH_STRATEGIC,
                         "{\"metadata\":{\"labels\":{\"tier\":\"front\"}}}", NULL, &out, &st, &err) == 0 &&
            !strcmp(ferry_kube_str(out, "metadata.labels.tier") ?: "", "front"),
        "strategic merge patch");
  ferry_error_clear(&err);
  /* a stale resourceVersion is a conflict; the retry helper reads again */
  json_object *stale = out;
  out = NULL;
  CHECK(ferry_kube_patch(k, &FERRY_KUBE_PODS, ns, "p0", FERRY_PATCH_MERGE, "{\"metadata\":{\"labels\":{\"x\":\"y\"}}}",
                         NULL, NULL, &st, &err) == 0,
        "another writer changes p0");
  CHECK(ferry_kube_update(k, &FERRY_KUBE_PODS, ns, stale, NULL, NULL, &st, &err) < 0 && st.code == 409,
        "update with a stale resourceVersion is 409 Conflict (%ld %s)", st.code, st.reason);
  ferry_error_clear(&err);
  json_object_put(stale);
  CHECK(ferry_kube_update_retry(k, &FERRY_KUBE_PODS, ns, "p0", NULL, add_label, NULL, 5, &out, &err) == 0 &&
            !strcmp(ferry_kube_str(out, "metadata.labels.retried") ?: "", "yes"),
        "read-modify-write retried past the conflict");
  json_object_put(out);
  ferry_error_clear(&err);
  CHECK(ferry_kube_patch(k, &FERRY_KUBE_PODS, ns, "p0", FERRY_PATCH_MERGE, "{\"status\":{\"phase\":\"Running\"}}",
                         "status", &out, &st, &err) == 0 &&
            !strcmp(ferry_kube_str(out, "status.phase") ?: "", "Running"),
        "status subresource");
  json_object_put(out);
  ferry_error_clear(&err);
  struct ferry_kube_delete_opts d = FERRY_KUBE_DELETE_OPTS_INIT;
  d.uid = "not-the-uid";
  CHECK(ferry_kube_delete(k, &FERRY_KUBE_PODS, ns, "p1", &d, &st, &err) < 0 && st.code == 409,
        "delete with a wrong uid precondition is 409 (%ld)", st.code);
  ferry_error_clear(&err);
  d.uid = NULL;
  d.grace_period_seconds = 0;
  CHECK(ferry_kube_delete(k, &FERRY_KUBE_PODS, ns, "p1", &d, &st, &err) == 0, "delete p1");
  ferry_error_clear(&err);
  CHECK(ferry_kube_evict(k, ns, "p2", &st, &err) == 0, "evict p2");
  ferry_error_clear(&err);
  /* p2 is bound to a node: evicted, it terminates (its kubelet would finish the delete) */
  CHECK(ferry_kube_get(k, &FERRY_KUBE_PODS, ns, "p2", &out, &st, &err) == 0 &&
            ferry_kube_str(out, "metadata.deletionTimestamp"),
        "p2 is terminating");
  json_object_put(out);
  out = NULL;
  ferry_error_clear(&err);
  d.grace_period_seconds = 0;
  CHECK(ferry_kube_delete(k, &FERRY_KUBE_PODS, ns, "p2", &d, &st, &err) == 0, "the kubelet's delete with grace 0");
  ferry_error_clear(&err);
  CHECK(ferry_kube_get(k, &FERRY_KUBE_PODS, ns, "p2", &out, &st, &err) < 0 && st.code == 404, "p2 is gone");
  ferry_error_clear(&err);
  return failures ? 1 : 0;
}

static void print_obj(const char *what, json_object *o)
{
  printf("%s %s/%s %s\n", what, ferry_kube_str(o, "metadata.namespace") ?: "", ferry_kube_str(o, "metadata.name") ?: "",
         ferry_kube_str(o, "metadata.resourceVersion") ?: "");
  fflush(stdout);
}
static void on_add(void *ctx, json_object *o)
{
  (void)ctx;
  print_obj("ADD", o);
}
static void on_update(void *ctx, json_object *a, json_object *b)
{
  (void)ctx;
  (void)a;
  print_obj("UPDATE", b);
}
static void on_delete(void *ctx, json_object *o)
{
  (void)ctx;
  print_obj("DELETE", o);
}
static void print_name(void *ctx, json_object *o)
{
  (void)ctx;
  printf(" %s", ferry_kube_str(o, "metadata.name"));
}

static int watch(const struct ferry_kube_config *cfg, int seconds, const char *ns)
{
  ferry_error err = FERRY_ERROR_INIT;
  struct ferry_informers *g = NULL;
  struct ferry_informer *inf = NULL;
  struct ferry_informer_handlers h = { on_add, on_update, on_delete, NULL };
  if (ferry_informers_new(cfg, &g, &err) < 0 ||
      ferry_informer_add(g, &FERRY_KUBE_PODS, ns, NULL, NULL, &h, &inf, &err) < 0) {
    fprintf(stderr, "kubeclient: %s\n", ferry_error_msg(&err));
    ferry_informers_free(g);
    return 1;
  }
  int64_t end = ferry_now_mono_ms() + seconds * 1000L;
  int synced = 0;
  while (!stop && ferry_now_mono_ms() < end) {
    if (ferry_informers_run(g, 100, &err) < 0) {
      fprintf(stderr, "kubeclient: %s\n", ferry_error_msg(&err));
      break;
    }
    if (!synced && ferry_informer_synced(inf)) {
      synced = 1;
      printf("SYNCED\n");
      fflush(stdout);
    }
  }
  printf("CACHE %zu", ferry_informer_len(inf));
  ferry_informer_each(inf, print_name, NULL);
  struct ferry_informer_stats s;
  ferry_informer_stats(inf, &s);
  printf("\nSTATS lists=%lu watches=%lu events=%lu bookmarks=%lu relists=%lu reconnects=%lu\n", s.lists, s.watches,
         s.events, s.bookmarks, s.relists_410, s.reconnects);
  ferry_informers_free(g);
  return 0;
}

static int lead(struct ferry_kube *k, const char *id, int seconds)
{
  struct ferry_leader l;
  ferry_error err = FERRY_ERROR_INIT;
  ferry_leader_init(&l, k, "ferry-system", "kubeclient-test", id, seconds);
  int was = -1;
  while (!stop) {
    int r = ferry_leader_tick(&l, ferry_now_mono_ms(), (int64_t)seconds * 1000 * 2 / 3, &err);
    if (r < 0) {
      fprintf(stderr, "kubeclient: %s\n", ferry_error_msg(&err));
      ferry_error_clear(&err);
    }
    if (l.leading != was) {
      printf("%s %s\n", id, l.leading ? "leading" : "following");
      fflush(stdout);
      was = l.leading;
    }
    usleep(300000);
  }
  if (ferry_leader_release(&l, &err) < 0)
    fprintf(stderr, "kubeclient: release: %s\n", ferry_error_msg(&err));
  ferry_leader_free(&l);
  return 0;
}

int main(int argc, char **argv)
{
  const char *kubeconfig = NULL;
  if (argc > 2 && !strcmp(argv[1], "--kubeconfig")) {
    kubeconfig = argv[2];
    argv += 2;
    argc -= 2;
  }
  if (argc < 2) {
    fprintf(stderr, "usage: kubeclient [--kubeconfig F] verbs NS | watch SECONDS [NS] | lead ID SECONDS\n");
    return 2;
  }
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  ferry_log_set_level(FERRY_LOG_WARN);
  ferry_error err = FERRY_ERROR_INIT;
  struct ferry_kube_config cfg;
  if (ferry_kube_config_auto(kubeconfig, NULL, &cfg, &err) < 0) {
    fprintf(stderr, "kubeclient: %s\n", ferry_error_msg(&err));
    ferry_error_clear(&err);
    return 1;
  }
  struct ferry_kube *k = NULL;
  int rc = 2;
  if (ferry_kube_open(&cfg, &k, &err) < 0) {
    fprintf(stderr, "kubeclient: %s\n", ferry_error_msg(&err));
    rc = 1;
  } else if (!strcmp(argv[1], "verbs") && argc == 3) {
    rc = verbs(k, argv[2]);
  } else if (!strcmp(argv[1], "watch") && argc >= 3) {
    rc = watch(&cfg, atoi(argv[2]), argc > 3 ? argv[3] : NULL);
  } else if (!strcmp(argv[1], "lead") && argc == 4) {
    rc = lead(k, argv[2], atoi(argv[3]));
  } else {
    fprintf(stderr, "kubeclient: unknown command\n");
  }
  ferry_error_clear(&err);
  ferry_kube_close(k);
  ferry_kube_config_free(&cfg);
  return rc;
}
