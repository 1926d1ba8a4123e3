/* SPDX-License-Identifier: Apache-2.0 */
/* The Kubernetes REST client against a scripted HTTPS server (libmicrohttpd):
 * what it sends (paths, queries, content types, bodies, token) and how it reads
 * answers (Status errors, paging, conflicts). Its behaviour against a real API
 * server's semantics is tested with kube-lite (tests/kube). */
#include <pthread.h>
#include <unistd.h>

#include "testutil.h"
#include "scripted_server.h"

#include "kube/events.h"
#include "kube/kube.h"

#define TOKEN "t0ken"

struct req {
  char method[16], url[512], query[512], ctype[96], auth[96], body[2048];
};

static struct {
  pthread_mutex_t mu;
  struct req log[32];
  int n;
  int conflicts_left; /* PUTs to answer 409 */
  char *dir, *ca_pem, *cert_pem, *key_pem;
  struct MHD_Daemon *d;
  int port;
} S = { .mu = PTHREAD_MUTEX_INITIALIZER };

static enum MHD_Result collect_args(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
  (void)kind;
  struct req *r = cls;
  size_t l = strlen(r->query);
  snprintf(r->query + l, sizeof r->query - l, "%s%s=%s", l ? "&" : "", key, value ? value : "");
  return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *data, size_t *size, void **con_cls)
{
  (void)cls;
  (void)version;
  struct fa_upload *u;
  if (!fa_body(con_cls, data, size, &u))
    return MHD_YES;
  struct req r = { 0 };
  snprintf(r.method, sizeof r.method, "%s", method);
  snprintf(r.url, sizeof r.url, "%s", url);
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_args, &r);
  const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
  const char *au = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  snprintf(r.ctype, sizeof r.ctype, "%s", ct ? ct : "");
  snprintf(r.auth, sizeof r.auth, "%s", au ? au : "");
  memcpy(r.body, u->body, u->len < sizeof r.body - 1 ? u->len : sizeof r.body - 1);
  free(u);
  pthread_mutex_lock(&S.mu);
  if (S.n < 32)
    S.log[S.n++] = r;
  int conflict = !strcmp(method, "PUT") && S.conflicts_left > 0 ? S.conflicts_left-- : 0;
  pthread_mutex_unlock(&S.mu);
  if (strcmp(r.auth, "Bearer " TOKEN) != 0)
    return fa_status(c, 401, "Unauthorized", "Unauthorized");
  if (!strcmp(url, "/api/v1/namespaces/ns/pods/missing"))
    return fa_status(c, 404, "NotFound", "pods \\\"missing\\\" not found");
  if (conflict)
    return fa_status(c, 409, "Conflict", "the object has been modified");
  if (!strcmp(url, "/api/v1/nodes") && !strcmp(method, "GET")) {
    if (!strstr(r.query, "continue="))
      return fa_reply(c, 200,
                      "{\"kind\":\"NodeList\",\"metadata\":{\"resourceVersion\":\"7\",\"continue\":\"page 2\"},"
                      "\"items\":[{\"metadata\":{\"name\":\"n1\"}}]}");
    return fa_reply(c, 200,
                    "{\"kind\":\"NodeList\",\"metadata\":{\"resourceVersion\":\"9\"},"
                    "\"items\":[{\"metadata\":{\"name\":\"n2\"}},{\"metadata\":{\"name\":\"n3\"}}]}");
  }
  if (!strcmp(url, "/garbage"))
    return fa_reply(c, 200, "<html>not json");
  return fa_reply(c, 200,
                  "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"resourceVersion\":\"5\"},"
                  "\"spec\":{\"nodeName\":\"n1\"}}");
}

static int sh(const char *cmd)
{
  int r = system(cmd);
  return r;
}

static int setup(void **state)
{
  (void)state;
  S.dir = tu_mkdtemp();
  char *cmd = ferry_asprintf(
      "cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=test-ca "
      ">/dev/null 2>&1 && openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 "
      ">/dev/null 2>&1 && printf 'subjectAltName=IP:127.0.0.1' > ext && openssl x509 -req -in srv.csr -CA ca.crt "
      "-CAkey ca.key -CAcreateserial -out srv.crt -days 1 -extfile ext >/dev/null 2>&1",
      S.dir);
  int r = sh(cmd);
  free(cmd);
  if (r != 0)
    return -1;
  S.ca_pem = tu_read(S.dir, "ca.crt");
  S.cert_pem = tu_read(S.dir, "srv.crt");
  S.key_pem = tu_read(S.dir, "srv.key");
  S.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS, 0, NULL, NULL, handler, NULL,
                         MHD_OPTION_HTTPS_MEM_KEY, S.key_pem, MHD_OPTION_HTTPS_MEM_CERT, S.cert_pem,
                         MHD_OPTION_SOCK_ADDR, fa_loopback(), MHD_OPTION_END);
  S.port = fa_port(S.d);
  return S.port ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  MHD_stop_daemon(S.d);
  free(S.ca_pem);
  free(S.cert_pem);
  free(S.key_pem);
  tu_rm(S.dir);
  return 0;
}

static struct ferry_kube *open_client(const char *token, int with_ca, int insecure)
{
  struct ferry_kube_config cfg = { 0 };
  char server[64];
  snprintf(server, sizeof server, "https://127.0.0.1:%d", S.port);
  cfg.server = server;
  cfg.token = (char *)token;
  if (with_ca) {
    cfg.ca_pem = S.ca_pem;
    cfg.ca_pem_len = strlen(S.ca_pem);
  }
  cfg.insecure_skip_tls_verify = insecure;
  struct ferry_kube *k = NULL;
  ferry_error err = FERRY_ERROR_INIT;
  if (ferry_kube_open(&cfg, &k, &err) < 0)
    fail_msg("%s", err.msg);
  ferry_kube_set_timeout_ms(k, 10000);
  return k;
}

static struct req last(void)
{
  pthread_mutex_lock(&S.mu);
  struct req r = S.log[S.n - 1];
  pthread_mutex_unlock(&S.mu);
  return r;
}

static void test_tls_and_token(void **state)
{
  (void)state;
  ferry_error err = FERRY_ERROR_INIT;
  json_object *o = NULL;
  struct ferry_kube_status st;
  /* the right CA and token */
  struct ferry_kube *k = open_client(TOKEN, 1, 0);
  assert_int_equal(ferry_kube_get(k, &FERRY_KUBE_PODS, "ns", "p", &o, &st, &err), 0);
  assert_string_equal(ferry_kube_str(o, "spec.nodeName"), "n1");
  assert_string_equal(last().auth, "Bearer " TOKEN);
  json_object_put(o);
  ferry_kube_close(k);
  /* no CA: the server's certificate is not trusted */
  k = open_client(TOKEN, 0, 0);
  assert_int_equal(ferry_kube_get(k, &FERRY_KUBE_PODS, "ns", "p", &o, &st, &err), -1);
  assert_non_null(strstr(err.msg, "https://127.0.0.1"));
  ferry_error_clear(&err);
  ferry_kube_close(k);
  /* insecure-skip-tls-verify, but a wrong token: the Status comes back */
  k = open_client("wrong", 0, 1);
  assert_int_equal(ferry_kube_get(k, &FERRY_KUBE_PODS, "ns", "p", &o, &st, &err), -1);
  assert_int_equal(st.code, 401);
  assert_string_equal(st.reason, "Unauthorized");
  assert_non_null(strstr(err.msg, "GET /api/v1/namespaces/ns/pods/p: 401 Unauthorized"));
  ferry_error_clear(&err);
  ferry_kube_close(k);
}

static void test_paths_and_errors(void **state)
{
  (void)state;
  char *p = ferry_kube_path(&FERRY_KUBE_PODMIGRATIONS, "team-a", "pm1", "status", NULL);
  assert_string_equal(p, "/apis/ferry.dev/v1alpha1/namespaces/team-a/podmigrations/pm1/status");
  free(p);
  p = ferry_kube_path(&FERRY_KUBE_NODES, "ignored", NULL, NULL, "watch=true");
  assert_string_equal(p, "/api/v1/nodes?watch=true");
  free(p);
  p = ferry_kube_path(&FERRY_KUBE_PODS, NULL, NULL, NULL, NULL);
  assert_string_equal(p, "/api/v1/pods");
  free(p);
  char *e = ferry_kube_escape("app in (a,b),!x");
  assert_string_equal(e, "app%20in%20%28a%2Cb%29%2C%21x");
  free(e);

  struct ferry_kube *k = open_client(TOKEN, 1, 0);
  ferry_error err = FERRY_ERROR_INIT;
  json_object *o = NULL;
  struct ferry_kube_status st;
  assert_int_equal(ferry_kube_get(k, &FERRY_KUBE_PODS, "ns", "missing", &o, &st, &err), -1);
  assert_int_equal(st.code, 404);
  assert_string_equal(st.reason, "NotFound");
  assert_string_equal(err.msg, "GET /api/v1/namespaces/ns/pods/missing: 404 NotFound: pods \"missing\" not found");
  ferry_error_clear(&err);
  assert_int_equal(ferry_kube_request(k, "GET", "/garbage", NULL, NULL, &o, &st, &err), -1);
  assert_non_null(strstr(err.msg, "not JSON"));
  ferry_error_clear(&err);
  ferry_kube_close(k);
}

static void test_list_pages_and_selectors(void **state)
{
  (void)state;
  struct ferry_kube *k = open_client(TOKEN, 1, 0);
  ferry_error err = FERRY_ERROR_INIT;
  json_object *items = NULL;
  char *rv = NULL;
  int before = S.n;
  assert_int_equal(
      ferry_kube_list(k, &FERRY_KUBE_NODES, NULL, "ferry.dev/agent=true", "metadata.name!=x", 1, &items, &rv, &err), 0);
  assert_int_equal(json_object_array_length(items), 3);
  /* the list's resourceVersion is its first page's (a server whose later pages
   * say a newer one would have a watch from there miss what changed between) */
  assert_string_equal(rv, "7");
  assert_int_equal(S.n - before, 2); /* two pages */
  assert_non_null(strstr(S.log[before].query, "labelSelector=ferry.dev/agent=true"));
  assert_non_null(strstr(S.log[before].query, "fieldSelector=metadata.name!=x"));
  assert_non_null(strstr(S.log[before + 1].query, "continue=page 2"));
  json_object_put(items);
  free(rv);
  ferry_kube_close(k);
}

static void test_writes(void **state)
{
  (void)state;
  struct ferry_kube *k = open_client(TOKEN, 1, 0);
  ferry_error err = FERRY_ERROR_INIT;
  json_object *pod = json_tokener_parse("{\"metadata\":{\"name\":\"p\",\"resourceVersion\":\"5\"}}"), *out = NULL;
  assert_int_equal(ferry_kube_create(k, &FERRY_KUBE_PODS, "ns", pod, &out, NULL, &err), 0);
  struct req r = last();
  assert_string_equal(r.method, "POST");
  assert_string_equal(r.url, "/api/v1/namespaces/ns/pods");
  assert_string_equal(r.ctype, "application/json");
  assert_non_null(strstr(r.body, "\"resourceVersion\":\"5\""));
  json_object_put(out);
  assert_int_equal(ferry_kube_update(k, &FERRY_KUBE_PODS, "ns", pod, "status", &out, NULL, &err), 0);
  r = last();
  assert_string_equal(r.method, "PUT");
  assert_string_equal(r.url, "/api/v1/namespaces/ns/pods/p/status");
  json_object_put(out);
  const char *types[] = { "application/merge-patch+json", "application/json-patch+json",
                          "application/strategic-merge-patch+json" };
  for (int t = 0; t < 3; t++) {
    assert_int_equal(
        ferry_kube_patch(k, &FERRY_KUBE_PODS, "ns", "p", (enum ferry_kube_patch)t, "{}", NULL, NULL, NULL, &err), 0);
    r = last();
    assert_string_equal(r.method, "PATCH");
    assert_string_equal(r.ctype, types[t]);
  }
  struct ferry_kube_delete_opts d = FERRY_KUBE_DELETE_OPTS_INIT;
  d.uid = "u-1";
  d.grace_period_seconds = 0;
  d.propagation = "Background";
  assert_int_equal(ferry_kube_delete(k, &FERRY_KUBE_PODS, "ns", "p", &d, NULL, &err), 0);
  r = last();
  assert_string_equal(r.method, "DELETE");
  assert_non_null(strstr(r.body, "\"preconditions\":{\"uid\":\"u-1\"}"));
  assert_non_null(strstr(r.body, "\"gracePeriodSeconds\":0"));
  assert_non_null(strstr(r.body, "\"propagationPolicy\":\"Background\""));
  assert_int_equal(ferry_kube_evict(k, "ns", "p", NULL, &err), 0);
  r = last();
  assert_string_equal(r.url, "/api/v1/namespaces/ns/pods/p/eviction");
  assert_non_null(strstr(r.body, "\"kind\":\"Eviction\""));
  json_object_put(pod);
  ferry_kube_close(k);
}

static int set_label(json_object *obj, void *ctx, ferry_error *err)
{
  (void)err;
  (*(int *)ctx)++;
  json_object *meta;
  json_object_object_get_ex(obj, "metadata", &meta);
  json_object_object_add(meta, "labels", json_tokener_parse("{\"moved\":\"yes\"}"));
  return 0;
}

static void test_conflict_retry(void **state)
{
  (void)state;
  struct ferry_kube *k = open_client(TOKEN, 1, 0);
  ferry_error err = FERRY_ERROR_INIT;
  int calls = 0;
  S.conflicts_left = 2;
  assert_int_equal(ferry_kube_update_retry(k, &FERRY_KUBE_PODS, "ns", "p", NULL, set_label, &calls, 5, NULL, &err), 0);
  assert_int_equal(calls, 3); /* read and changed again after each 409 */
  assert_non_null(strstr(last().body, "\"moved\":\"yes\""));
  S.conflicts_left = 10;
  calls = 0;
  assert_int_equal(ferry_kube_update_retry(k, &FERRY_KUBE_PODS, "ns", "p", NULL, set_label, &calls, 3, NULL, &err), -1);
  assert_non_null(strstr(err.msg, "still conflicting after 3 attempts"));
  ferry_error_clear(&err);
  S.conflicts_left = 0;
  ferry_kube_close(k);
}

static void test_events(void **state)
{
  (void)state;
  struct ferry_kube *k = open_client(TOKEN, 1, 0);
  ferry_error err = FERRY_ERROR_INIT;
  struct ferry_recorder *rec = ferry_recorder_new(k, "ferry-controller", "node-a");
  json_object *pm = json_tokener_parse("{\"apiVersion\":\"ferry.dev/v1alpha1\",\"kind\":\"PodMigration\","
                                       "\"metadata\":{\"name\":\"pm1\",\"namespace\":\"ns\",\"uid\":\"u1\"}}");
  assert_int_equal(ferry_record_event(rec, pm, "Normal", "Checkpointed", &err, "checkpointed %s in %d ms", "web", 42),
                   0);
  struct req r = last();
  assert_string_equal(r.method, "POST");
  assert_string_equal(r.url, "/api/v1/namespaces/ns/events");
  assert_non_null(
      strstr(r.body, "\"involvedObject\":{\"apiVersion\":\"ferry.dev/v1alpha1\",\"kind\":\"PodMigration\""));
  assert_non_null(strstr(r.body, "\"reason\":\"Checkpointed\""));
  assert_non_null(strstr(r.body, "\"message\":\"checkpointed web in 42 ms\""));
  assert_non_null(strstr(r.body, "\"source\":{\"component\":\"ferry-controller\",\"host\":\"node-a\"}"));
  assert_non_null(strstr(r.body, "\"count\":1"));
  /* the same event again: counted on the stored Event (named "p" by this server) */
  assert_int_equal(ferry_record_event(rec, pm, "Normal", "Checkpointed", &err, "checkpointed %s in %d ms", "web", 42),
                   0);
  r = last();
  assert_string_equal(r.method, "PATCH");
  assert_string_equal(r.url, "/api/v1/namespaces/ns/events/p");
  assert_string_equal(r.ctype, "application/merge-patch+json");
  assert_non_null(strstr(r.body, "\"count\":2"));
  /* another message is another event; a cluster-scoped object's events go to default */
  json_object *node = json_tokener_parse("{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\"}}");
  assert_int_equal(ferry_record_event(rec, node, "Warning", "DrainBlocked", &err, "pod %s is not migratable", "db-0"),
                   0);
  r = last();
  assert_string_equal(r.method, "POST");
  assert_string_equal(r.url, "/api/v1/namespaces/default/events");
  assert_non_null(strstr(r.body, "\"type\":\"Warning\""));
  json_object_put(pm);
  json_object_put(node);
  ferry_recorder_free(rec);
  ferry_kube_close(k);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_tls_and_token),
    cmocka_unit_test(test_paths_and_errors),
    cmocka_unit_test(test_list_pages_and_selectors),
    cmocka_unit_test(test_writes),
    cmocka_unit_test(test_conflict_retry),
    cmocka_unit_test(test_events),
  };
  return cmocka_run_group_tests_name("kubernetes client", tests, setup, teardown);
}
