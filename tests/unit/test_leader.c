/* SPDX-License-Identifier: Apache-2.0 */
/* Leader election against a scripted API server holding one Lease with real
 * resourceVersion semantics (409 on a stale write). Time is passed in, so no
 * test sleeps. */
#include <pthread.h>

#include "testutil.h"
#include "scripted_server.h"

#include "kube/leader.h"

#define LEASE_PATH "/apis/coordination.k8s.io/v1/namespaces/ferry-system/leases/ferry-controller"

static struct {
  pthread_mutex_t mu;
  json_object *lease; /* NULL: none */
  long rv;
  int bump_before_put; /* someone else writes first */
  int fail_all;        /* API server unavailable */
  struct MHD_Daemon *d;
  int port;
} S = { .mu = PTHREAD_MUTEX_INITIALIZER };

static enum MHD_Result status(struct MHD_Connection *c, unsigned code, const char *reason)
{
  return fa_status(c, code, reason, reason);
}

/* Stores obj as the lease with a new resourceVersion; answers it. */
static enum MHD_Result store(struct MHD_Connection *c, json_object *obj, unsigned code)
{
  json_object *meta;
  json_object_object_get_ex(obj, "metadata", &meta);
  char rv[32];
  snprintf(rv, sizeof rv, "%ld", ++S.rv);
  json_object_object_add(meta, "resourceVersion", json_object_new_string(rv));
  json_object_put(S.lease);
  S.lease = obj;
  return fa_reply(c, code, json_object_to_json_string(obj));
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *data, size_t *size, void **con_cls)
{
  (void)cls;
  (void)version;
  struct fa_upload *u;
  if (!fa_body(con_cls, data, size, &u))
    return MHD_YES;
  json_object *body = u->len ? json_tokener_parse(u->body) : NULL;
  free(u);
  pthread_mutex_lock(&S.mu);
  enum MHD_Result r;
  if (S.fail_all) {
    r = status(c, 503, "ServiceUnavailable");
  } else if (!strcmp(method, "GET") && !strcmp(url, LEASE_PATH)) {
    r = S.lease ? fa_reply(c, 200, json_object_to_json_string(S.lease)) : status(c, 404, "NotFound");
  } else if (!strcmp(method, "POST") && !strcmp(url, "/apis/coordination.k8s.io/v1/namespaces/ferry-system/leases")) {
    r = S.lease ? status(c, 409, "AlreadyExists") : store(c, json_object_get(body), 201);
  } else if (!strcmp(method, "PUT") && !strcmp(url, LEASE_PATH)) {
    if (S.bump_before_put) {
      S.bump_before_put = 0;
      S.rv++;
      json_object *meta;
      json_object_object_get_ex(S.lease, "metadata", &meta);
      char rv[32];
      snprintf(rv, sizeof rv, "%ld", S.rv);
      json_object_object_add(meta, "resourceVersion", json_object_new_string(rv));
    }
    const char *want = ferry_kube_str(body, "metadata.resourceVersion");
    const char *have = S.lease ? ferry_kube_str(S.lease, "metadata.resourceVersion") : NULL;
    if (!S.lease)
      r = status(c, 404, "NotFound");
    else if (want && have && strcmp(want, have) != 0)
      r = status(c, 409, "Conflict");
    else
      r = store(c, json_object_get(body), 200);
  } else {
    r = status(c, 405, "MethodNotAllowed");
  }
  pthread_mutex_unlock(&S.mu);
  json_object_put(body);
  return r;
}

static int setup(void **state)
{
  (void)state;
  S.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR,
                         fa_loopback(), MHD_OPTION_END);
  S.port = fa_port(S.d);
  return S.port ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  MHD_stop_daemon(S.d);
  json_object_put(S.lease);
  return 0;
}

static const char *holder(void) { return S.lease ? ferry_kube_str(S.lease, "spec.holderIdentity") : NULL; }

static void test_acquire_renew_takeover_release(void **state)
{
  (void)state;
  char server[64];
  snprintf(server, sizeof server, "http://127.0.0.1:%d", S.port);
  struct ferry_kube_config cfg = { 0 };
  cfg.server = server;
  struct ferry_kube *ka, *kb;
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_kube_open(&cfg, &ka, &err), 0);
  assert_int_equal(ferry_kube_open(&cfg, &kb, &err), 0);
  struct ferry_leader a, b;
  ferry_leader_init(&a, ka, "ferry-system", "ferry-controller", "controller-a", 15);
  ferry_leader_init(&b, kb, "ferry-system", "ferry-controller", "controller-b", 15);
  const int64_t deadline = 10000;

  /* A creates the lease and leads; B follows */
  assert_int_equal(ferry_leader_tick(&a, 0, deadline, &err), 1);
  assert_string_equal(holder(), "controller-a");
  assert_int_equal(ferry_leader_tick(&b, 0, deadline, &err), 0);
  /* A renews; B sees the record move and keeps waiting */
  assert_int_equal(ferry_leader_tick(&a, 5000, deadline, &err), 1);
  assert_int_equal(ferry_leader_tick(&b, 5000, deadline, &err), 0);
  /* A stops renewing (killed). B waits a full lease duration from the last change it saw ... */
  assert_int_equal(ferry_leader_tick(&b, 19000, deadline, &err), 0);
  /* ... then takes over */
  assert_int_equal(ferry_leader_tick(&b, 21000, deadline, &err), 1);
  assert_string_equal(holder(), "controller-b");
  assert_int_equal(
      json_object_get_int(json_object_object_get(json_object_object_get(S.lease, "spec"), "leaseTransitions")), 1);
  /* A comes back: it sees B holding the lease and does not lead */
  assert_int_equal(ferry_leader_tick(&a, 21000, deadline, &err), 0);
  assert_false(a.leading);
  /* B hands over on shutdown: A need not wait for expiry */
  assert_int_equal(ferry_leader_release(&b, &err), 0);
  assert_string_equal(holder(), "");
  assert_int_equal(ferry_leader_tick(&a, 22000, deadline, &err), 1);
  assert_string_equal(holder(), "controller-a");

  /* Two candidates race for an expired lease: the write that comes second gets 409 */
  assert_int_equal(ferry_leader_tick(&b, 22000, deadline, &err), 0);
  S.bump_before_put = 1; /* someone writes between B's read and B's write */
  assert_int_equal(ferry_leader_tick(&b, 40000, deadline, &err), 0);
  assert_string_equal(holder(), "controller-a");

  /* The API server goes away: A keeps leading until its renew deadline, then gives up */
  S.fail_all = 1;
  assert_int_equal(ferry_leader_tick(&a, 23000, deadline, &err), -1);
  assert_non_null(strstr(err.msg, "503"));
  ferry_error_clear(&err);
  assert_true(a.leading);
  assert_int_equal(ferry_leader_tick(&a, 33000, deadline, &err), -1);
  ferry_error_clear(&err);
  assert_false(a.leading);
  S.fail_all = 0;

  ferry_leader_free(&a);
  ferry_leader_free(&b);
  ferry_kube_close(ka);
  ferry_kube_close(kb);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_acquire_renew_takeover_release),
  };
  return cmocka_run_group_tests_name("leader election", tests, setup, teardown);
}
