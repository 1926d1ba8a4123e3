/* SPDX-License-Identifier: Apache-2.0 */
/* The controller's pure parts: resource quantities, node fit (selectors,
 * affinity, taints and tolerations, requests), the summary of misfits, the
 * rate-limited work queue, and PodMigration status patches. */
#include "testutil.h"

#include <json-c/json.h>

#include "placement.h"
#include "api/podmigration.h"
#include "kube/quantity.h"
#include "kube/queue.h"

static json_object *J(const char *text)
{
  json_object *o = json_tokener_parse(text);
  assert_non_null(o);
  return o;
}

static void test_quantities(void **state)
{
  (void)state;
  static const struct {
    const char *in;
    int64_t milli;
  } ok[] = { { "100m", 100 },
             { "1", 1000 },
             { "1.5", 1500 },
             { "2k", 2000000 },
             { "128Mi", 134217728000LL },
             { "1Gi", 1073741824000LL },
             { "1e3", 1000000 },
             { "0.1", 100 },
             { "1n", 1 },
             { "+3", 3000 } };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    int64_t m = -1;
    ferry_error err = FERRY_ERROR_INIT;
    assert_int_equal(ferry_quantity_milli(ok[i].in, &m, &err), 0);
    assert_int_equal(m, ok[i].milli);
  }
  static const char *const bad[] = { "", "Mi", "1Q", "1.2.3", "abc", "1e", "9999999Ei" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t m;
    ferry_error err = FERRY_ERROR_INIT;
    assert_int_equal(ferry_quantity_milli(bad[i], &m, &err), -1);
    assert_non_null(strstr(ferry_error_msg(&err), "quantity"));
    ferry_error_clear(&err);
  }
}

#define READY_NODE(extra)                                                                                              \
  "{\"metadata\":{\"name\":\"n1\",\"labels\":{\"disk\":\"ssd\",\"gen\":\"5\"}},\"spec\":{" extra "},"                  \
  "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],"                                             \
  "\"allocatable\":{\"cpu\":\"2\",\"memory\":\"1Gi\",\"pods\":\"3\"}}}"

static enum misfit fit(const char *pod, const char *node, const char *sel, struct node_use u, int agent, char *why)
{
  json_object *p = J(pod), *n = J(node), *s = sel ? J(sel) : NULL;
  enum misfit m = placement_fit(p, n, s, &u, agent, why, 256);
  json_object_put(p);
  json_object_put(n);
  json_object_put(s);
  return m;
}

static void test_fit(void **state)
{
  (void)state;
  char why[256];
  struct node_use none = { 0, 0, 0 };
  const char *pod = "{\"spec\":{\"nodeName\":\"n0\",\"containers\":[{\"resources\":{\"requests\":{\"cpu\":\"500m\","
                    "\"memory\":\"256Mi\"}}}]}}";
  assert_int_equal(fit(pod, READY_NODE(""), NULL, none, 1, why), FIT);
  /* the source, not ready, cordoned, no agent */
  assert_int_equal(fit("{\"spec\":{\"nodeName\":\"n1\"}}", READY_NODE(""), NULL, none, 1, why), MISFIT_SOURCE);
  assert_int_equal(fit(pod,
                       "{\"metadata\":{\"name\":\"n1\"},\"status\":{\"conditions\":[{\"type\":\"Ready\","
                       "\"status\":\"False\"}]}}",
                       NULL, none, 1, why),
                   MISFIT_NOT_READY);
  assert_int_equal(fit(pod, READY_NODE("\"unschedulable\":true"), NULL, none, 1, why), MISFIT_UNSCHEDULABLE);
  assert_int_equal(fit(pod, READY_NODE(""), NULL, none, 0, why), MISFIT_NO_AGENT);
  /* selectors: the pod's and the PodMigration's */
  assert_int_equal(fit("{\"spec\":{\"nodeSelector\":{\"disk\":\"hdd\"}}}", READY_NODE(""), NULL, none, 1, why),
                   MISFIT_SELECTOR);
  assert_int_equal(fit(pod, READY_NODE(""), "{\"disk\":\"ssd\"}", none, 1, why), FIT);
  assert_int_equal(fit(pod, READY_NODE(""), "{\"zone\":\"b\"}", none, 1, why), MISFIT_SELECTOR);
  /* required node affinity: terms ORed, expressions ANDed */
  const char *aff = "{\"spec\":{\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":"
                    "{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"disk\",\"operator\":\"In\",\"values\":"
                    "[\"nvme\"]}]},{\"matchExpressions\":[{\"key\":\"gen\",\"operator\":\"Gt\",\"values\":[\"4\"]},"
                    "{\"key\":\"gpu\",\"operator\":\"DoesNotExist\"}]}]}}}}}";
  assert_int_equal(fit(aff, READY_NODE(""), NULL, none, 1, why), FIT);
  const char *aff2 = "{\"spec\":{\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":"
                     "{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"gen\",\"operator\":\"Lt\",\"values\":"
                     "[\"5\"]}]},{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"NotIn\",\"values\":"
                     "[\"n1\"]}]}]}}}}}";
  assert_int_equal(fit(aff2, READY_NODE(""), NULL, none, 1, why), MISFIT_AFFINITY);
  /* taints: NoSchedule refuses unless tolerated; PreferNoSchedule never does */
  const char *tainted = READY_NODE("\"taints\":[{\"key\":\"dedicated\",\"value\":\"gpu\",\"effect\":\"NoSchedule\"},"
                                   "{\"key\":\"soft\",\"effect\":\"PreferNoSchedule\"}]");
  assert_int_equal(fit(pod, tainted, NULL, none, 1, why), MISFIT_TAINT);
  assert_string_equal(why, "taint dedicated=gpu:NoSchedule");
  assert_int_equal(
      fit("{\"spec\":{\"tolerations\":[{\"key\":\"dedicated\",\"operator\":\"Equal\",\"value\":\"gpu\"}]}}", tainted,
          NULL, none, 1, why),
      FIT);
  assert_int_equal(fit("{\"spec\":{\"tolerations\":[{\"operator\":\"Exists\"}]}}", tainted, NULL, none, 1, why), FIT);
  assert_int_equal(
      fit("{\"spec\":{\"tolerations\":[{\"key\":\"dedicated\",\"value\":\"cpu\"}]}}", tainted, NULL, none, 1, why),
      MISFIT_TAINT);
  assert_int_equal(fit("{\"spec\":{\"tolerations\":[{\"key\":\"dedicated\",\"operator\":\"Exists\",\"effect\":"
                       "\"NoExecute\"}]}}",
                       tainted, NULL, none, 1, why),
                   MISFIT_TAINT);
  /* requests against allocatable minus what is there */
  struct node_use busy_cpu = { 1600, 0, 1 }, busy_mem = { 0, 900LL * 1048576 * 1000, 1 }, full = { 0, 0, 3 };
  assert_int_equal(fit(pod, READY_NODE(""), NULL, busy_cpu, 1, why), MISFIT_CPU);
  assert_string_equal(why, "cpu: 500m requested, 400m of 2000m free");
  assert_int_equal(fit(pod, READY_NODE(""), NULL, busy_mem, 1, why), MISFIT_MEMORY);
  assert_int_equal(fit(pod, READY_NODE(""), NULL, full, 1, why), MISFIT_PODS);
  /* limits stand in for missing requests; init containers count by their maximum */
  json_object *p = J("{\"spec\":{\"initContainers\":[{\"resources\":{\"requests\":{\"cpu\":\"3\"}}}],"
                     "\"containers\":[{\"resources\":{\"limits\":{\"cpu\":\"1\"}}},{\"resources\":{\"requests\":"
                     "{\"cpu\":\"250m\"}}}]}}");
  assert_int_equal(placement_pod_request(p, "cpu"), 3000);
  json_object_object_del(json_object_object_get(p, "spec"), "initContainers");
  assert_int_equal(placement_pod_request(p, "cpu"), 1250);
  json_object_put(p);
}

static void test_score_and_summary(void **state)
{
  (void)state;
  json_object *pod =
      J("{\"spec\":{\"containers\":[{\"resources\":{\"requests\":{\"cpu\":\"1\",\"memory\":\"512Mi\"}}}]}}");
  json_object *node = J(READY_NODE(""));
  struct node_use idle = { 0, 0, 0 }, half = { 1000, 0, 1 };
  double a = placement_score(pod, node, &idle, 0), b = placement_score(pod, node, &half, 0);
  assert_true(a < b);
  assert_true(placement_score(pod, node, &idle, 0.5) > a);
  json_object_put(pod);
  json_object_put(node);
  int counts[MISFIT__COUNT] = { 0 };
  counts[MISFIT_SOURCE] = 1;
  counts[MISFIT_TAINT] = 3;
  counts[MISFIT_MEMORY] = 1;
  char buf[256];
  placement_summary(counts, 5, buf, sizeof buf);
  assert_string_equal(buf, "0/5 nodes fit: 1 is the source, 3 tainted, 1 not enough memory");
}

static void test_queue(void **state)
{
  (void)state;
  struct queue *q = queue_new(5, 40);
  int64_t wait;
  assert_null(queue_pop(q, 0, &wait));
  assert_int_equal(wait, -1);
  /* once, however often added; an earlier due time wins */
  queue_add_after(q, "a", 0, 100);
  queue_add(q, "a", 0);
  queue_add_after(q, "b", 0, 10);
  assert_int_equal(queue_len(q), 2);
  char *k = queue_pop(q, 0, &wait);
  assert_string_equal(k, "a");
  free(k);
  assert_null(queue_pop(q, 5, &wait));
  assert_int_equal(wait, 5);
  k = queue_pop(q, 10, &wait);
  assert_string_equal(k, "b");
  free(k);
  /* failures back off 5, 10, 20, 40, 40 (the cap); forget resets */
  int64_t expect[] = { 5, 10, 20, 40, 40 };
  for (int i = 0; i < 5; i++) {
    assert_int_equal(queue_add_rate_limited(q, "c", 1000), expect[i]);
    k = queue_pop(q, 1000 + expect[i], &wait);
    assert_string_equal(k, "c");
    free(k);
  }
  assert_int_equal(queue_failures(q, "c"), 5);
  queue_forget(q, "c");
  assert_int_equal(queue_failures(q, "c"), 0);
  assert_int_equal(queue_add_rate_limited(q, "c", 0), 5);
  queue_free(q);
}

static void test_status_patch(void **state)
{
  (void)state;
  json_object *pm = J("{\"status\":{\"phase\":\"Restoring\",\"conditions\":[{\"type\":\"Restored\",\"status\":"
                      "\"False\",\"lastTransitionTime\":\"2026-01-01T00:00:00Z\"},{\"type\":\"X\",\"status\":\"True\","
                      "\"lastTransitionTime\":\"2026-01-02T00:00:00Z\"}]}}");
  assert_int_equal(pm_phase(pm), PM_RESTORING);
  assert_string_equal(pm_phase_name(pm_phase(pm)), "Restoring");
  assert_int_equal(pm_phase_parse("Bogus"), PM_UNKNOWN);
  assert_int_equal(pm_phase_parse(""), PM_PENDING);
  assert_false(pm_condition_true(pm, "Restored"));
  assert_true(pm_condition_true(pm, "X"));
  assert_true(pm_phase_is_active(PM_RESTORING));
  assert_false(pm_phase_is_active(PM_PENDING));
  assert_true(pm_phase_is_terminal(PM_ROLLED_BACK));
  json_object *patch = pm_status_patch(PM_SUCCEEDED, "Done", "moved %d", 1);
  pm_patch_condition(patch, pm, "Restored", 1, "Restored", "b");
  pm_patch_condition(patch, pm, "X", 1, "Again", "");
  json_object *st = json_object_object_get(patch, "status");
  assert_string_equal(json_object_get_string(json_object_object_get(st, "phase")), "Succeeded");
  assert_string_equal(json_object_get_string(json_object_object_get(st, "message")), "moved 1");
  assert_non_null(json_object_object_get(st, "completionTime"));
  json_object *conds = json_object_object_get(st, "conditions");
  assert_int_equal(json_object_array_length(conds), 2); /* the whole list: merge patches replace lists */
  json_object *x = json_object_array_get_idx(conds, 1);
  /* unchanged status keeps its transition time */
  assert_string_equal(json_object_get_string(json_object_object_get(x, "lastTransitionTime")), "2026-01-02T00:00:00Z");
  json_object *r = json_object_array_get_idx(conds, 0);
  assert_string_equal(json_object_get_string(json_object_object_get(r, "status")), "True");
  assert_string_not_equal(json_object_get_string(json_object_object_get(r, "lastTransitionTime")),
                          "2026-01-01T00:00:00Z");
  json_object_put(patch);
  json_object_put(pm);
  char d[32];
  pm_format_duration(312, d, sizeof d);
  assert_string_equal(d, "312ms");
  pm_format_duration(12345, d, sizeof d);
  assert_string_equal(d, "12.3s");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_quantities), cmocka_unit_test(test_fit),          cmocka_unit_test(test_score_and_summary),
    cmocka_unit_test(test_queue),      cmocka_unit_test(test_status_patch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
