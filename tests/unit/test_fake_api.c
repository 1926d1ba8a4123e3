/* SPDX-License-Identifier: Apache-2.0 */
/* The fake API server the state-machine tests run against: it must answer as
 * the API server does, or those tests prove nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/podmigration.h"
#include "base/cleanup.h"
#include "fake_api.h"
#include "kube/events.h"
#include "kube/informer.h"

static const char *POD =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"namespace\":\"default\","
    "\"labels\":{\"app\":\"web\"}},\"spec\":{\"nodeName\":\"node-a\"}}";
static const char *PM =
    "{\"apiVersion\":\"ferry.dev/v1alpha1\",\"kind\":\"PodMigration\",\"metadata\":{\"name\":\"pm\","
    "\"namespace\":\"default\"},\"spec\":{\"pod\":\"web\"},\"status\":{\"phase\":\"Scheduled\"}}";

static void test_get_create_conflict(void **state)
{
  (void)state;
  struct fake_api *f = fake_api_new();
  struct ferry_kube *k = fake_api_kube(f);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  struct ferry_kube_status st;
  cleanup_json json_object *pod = json_tokener_parse(POD), *got = NULL, *again = json_tokener_parse(POD);
  assert_int_equal(ferry_kube_create(k, &FERRY_KUBE_PODS, "default", pod, &got, &st, &err), 0);
  assert_non_null(ferry_kube_str(got, "metadata.uid"));
  assert_int_equal(ferry_kube_create(k, &FERRY_KUBE_PODS, "default", again, NULL, &st, &err), -1);
  assert_int_equal(st.code, 409);
  assert_string_equal(st.reason, "AlreadyExists");
  ferry_error_clear(&err);
  assert_int_equal(ferry_kube_get(k, &FERRY_KUBE_PODS, "default", "nothere", NULL, &st, &err), -1);
  assert_int_equal(st.code, 404);
  assert_non_null(fake_api_write(f, "POST", "/namespaces/default/pods", 0));
  assert_null(fake_api_write(f, "POST", "/namespaces/default/pods", 2));
  fake_api_free(f);
}

static void test_conditional_status_write(void **state)
{
  (void)state;
  struct fake_api *f = fake_api_new();
  struct ferry_kube *k = fake_api_kube(f);
  json_object *stored = fake_api_put(f, &FERRY_KUBE_PODMIGRATIONS, PM);
  cleanup_json json_object *pm = NULL;
  json_object_deep_copy(stored, &pm, NULL);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  struct ferry_kube_status st;
  cleanup_json json_object *go = pm_status_patch(PM_CHECKPOINTING, "Checkpointing", "go");
  cleanup_json json_object *late = pm_status_patch(PM_FAILED, "Late", "no");
  assert_int_equal(pm_write_status(k, pm, go, 1, NULL, &st, &err), 0);
  /* pm is now stale: a second conditional write must be refused, as the API server does */
  assert_int_equal(pm_write_status(k, pm, late, 1, NULL, &st, &err), -1);
  assert_int_equal(st.code, 409);
  json_object *now = fake_api_obj(f, &FERRY_KUBE_PODMIGRATIONS, "default", "pm");
  assert_int_equal(pm_phase(now), PM_CHECKPOINTING);
  json_object *w = fake_api_write(f, "PATCH", "/podmigrations/pm/status", 0);
  assert_string_equal(ferry_kube_str(w, "status.phase"), "Checkpointing");
  fake_api_free(f);
}

static void count_add(void *ctx, json_object *obj)
{
  (void)obj;
  (*(int *)ctx)++;
}

static void test_informer_relist_selectors_and_events(void **state)
{
  (void)state;
  struct fake_api *f = fake_api_new();
  fake_api_put(f, &FERRY_KUBE_PODS, POD);
  fake_api_put(f, &FERRY_KUBE_PODS,
               "{\"metadata\":{\"name\":\"db\",\"namespace\":\"default\"},\"spec\":{\"nodeName\":\"node-b\"}}");
  struct ferry_informers *g = fake_api_informers(f);
  struct ferry_informer *on_a = NULL;
  int added = 0;
  struct ferry_informer_handlers h = { count_add, NULL, NULL, &added };
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_informer_add(g, &FERRY_KUBE_PODS, NULL, NULL, "spec.nodeName=node-a", &h, &on_a, &err), 0);
  assert_int_equal(ferry_informers_relist(g, &err), 0);
  assert_true(ferry_informer_synced(on_a));
  assert_int_equal(ferry_informer_len(on_a), 1);
  assert_non_null(ferry_informer_get(on_a, "default", "web"));
  assert_int_equal(added, 1);

  struct ferry_recorder *rec = ferry_recorder_new(fake_api_kube(f), "ferry-test", "node-a");
  ferry_event(rec, ferry_informer_get(on_a, "default", "web"), "Normal", "Checkpointed", "image %s", "x");
  assert_int_equal(fake_api_nevents(f), 1);
  assert_string_equal(fake_api_event(f, 0), "Checkpointed: image x");
  assert_int_equal(fake_api_nwrites(f), 0); /* events are counted apart */
  ferry_recorder_free(rec);
  ferry_informers_free(g);
  fake_api_free(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_get_create_conflict),
    cmocka_unit_test(test_conditional_status_write),
    cmocka_unit_test(test_informer_relist_selectors_and_events),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
