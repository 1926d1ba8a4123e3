/* SPDX-License-Identifier: Apache-2.0 */
/* The metrics registry (lib/base/prom.h): the text format as Prometheus parses
 * it (HELP and TYPE lines, label values escaped, cumulative histogram buckets
 * with +Inf, _sum and _count), series made on first use, gauges cleared. */
#include <stdlib.h>

#include "testutil.h"

#include "base/prom.h"

static const double BUCKETS[] = { 0.5, 1, 5 };

static const struct prom_family_desc COUNTER = {
  PROM_COUNTER, "t_events_total", "Events by kind.", { "kind" }, NULL, 0
};
static const struct prom_family_desc GAUGE = { PROM_GAUGE, "t_up", "Up.", { NULL }, NULL, 0 };
static const struct prom_family_desc HIST = {
  PROM_HISTOGRAM, "t_seconds", "Durations.", { "node", "role" }, BUCKETS, 3
};

static void test_counter_and_gauge(void **state)
{
  (void)state;
  struct prom_registry *r = prom_registry_new();
  struct prom_family *c = prom_register(r, &COUNTER), *g = prom_register(r, &GAUGE);
  prom_add(c, (const char *[]){ "a" }, 1);
  prom_add(c, (const char *[]){ "b" }, 2);
  prom_add(c, (const char *[]){ "a" }, 1);
  prom_set(g, NULL, 1);
  char *text = prom_render(r);
  assert_string_equal(text, "# HELP t_events_total Events by kind.\n# TYPE t_events_total counter\n"
                            "t_events_total{kind=\"a\"} 2\nt_events_total{kind=\"b\"} 2\n"
                            "# HELP t_up Up.\n# TYPE t_up gauge\nt_up 1\n");
  free(text);
  prom_clear(c);
  prom_set(g, NULL, 0.25);
  text = prom_render(r);
  assert_string_equal(text, "# HELP t_events_total Events by kind.\n# TYPE t_events_total counter\n"
                            "# HELP t_up Up.\n# TYPE t_up gauge\nt_up 0.25\n");
  free(text);
  prom_registry_free(r);
}

static void test_histogram(void **state)
{
  (void)state;
  struct prom_registry *r = prom_registry_new();
  struct prom_family *h = prom_register(r, &HIST);
  const char *labels[] = { "node-a", "source" };
  prom_observe(h, labels, 0.2);
  prom_observe(h, labels, 0.7);
  prom_observe(h, labels, 9);
  char *text = prom_render(r);
  assert_string_equal(text, "# HELP t_seconds Durations.\n# TYPE t_seconds histogram\n"
                            "t_seconds_bucket{node=\"node-a\",role=\"source\",le=\"0.5\"} 1\n"
                            "t_seconds_bucket{node=\"node-a\",role=\"source\",le=\"1\"} 2\n"
                            "t_seconds_bucket{node=\"node-a\",role=\"source\",le=\"5\"} 2\n"
                            "t_seconds_bucket{node=\"node-a\",role=\"source\",le=\"+Inf\"} 3\n"
                            "t_seconds_sum{node=\"node-a\",role=\"source\"} 9.900000\n"
                            "t_seconds_count{node=\"node-a\",role=\"source\"} 3\n");
  free(text);
  prom_registry_free(r);
}

static void test_escaped_values(void **state)
{
  (void)state;
  struct prom_registry *r = prom_registry_new();
  struct prom_family *c = prom_register(r, &COUNTER);
  prom_add(c, (const char *[]){ "a\"b\\c\nd" }, 1);
  char *text = prom_render(r);
  assert_non_null(strstr(text, "t_events_total{kind=\"a\\\"b\\\\c\\nd\"} 1\n"));
  free(text);
  prom_registry_free(r);
}

static void test_bad_descs_refused(void **state)
{
  (void)state;
  struct prom_registry *r = prom_registry_new();
  static const struct prom_family_desc no_buckets = { PROM_HISTOGRAM, "t_h", "H.", { NULL }, NULL, 0 };
  assert_null(prom_register(r, &no_buckets));
  assert_null(prom_register(NULL, &COUNTER));
  prom_add(NULL, NULL, 1); /* a family that failed to register: nothing happens */
  prom_registry_free(r);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_counter_and_gauge),
    cmocka_unit_test(test_histogram),
    cmocka_unit_test(test_escaped_values),
    cmocka_unit_test(test_bad_descs_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
