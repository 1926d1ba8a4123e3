/* SPDX-License-Identifier: Apache-2.0 */
/* The controller's migration metrics (controller/metrics.c) against the fake
 * API server: PodMigration statuses written as the agents and the controller
 * write them, the caches relisted so the informer delivers the updates to
 * watch.c's hook, and the exposition read back. Each end is counted once, by
 * the leading replica, from what the status says; the agent gauge follows the
 * Leases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/podmigration.h"
#include "base/cleanup.h"
#include "base/util.h"
#include "ctl_env.h"

static int setup(void **state)
{
  struct env *e = ctl_env_new();
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  int port = 0;
  assert_int_equal(ctl_metrics_start(&e->c, "127.0.0.1:0", "test", &port, &err), 0);
  *state = e;
  return 0;
}

static int teardown(void **state)
{
  struct env *e = *state;
  ctl_metrics_stop(&e->c);
  ctl_env_free(e);
  return 0;
}

/* The caches relisted (their handlers run: watch.c's hook among them), then one pass of the main loop's metrics. */
static void relist(struct env *e, int leading)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_informers_relist(e->c.inf, &err), 0);
  ctl_metrics_loop(&e->c, leading, 1);
}

/* The value of one series in the exposition (the whole line's name and labels), or -1 when it is absent. */
static double sample(struct env *e, const char *series)
{
  cleanup_free char *text = ctl_metrics_text(&e->c);
  assert_non_null(text);
  cleanup_free char *needle = ferry_asprintf("\n%s ", series);
  const char *at = strstr(text, needle);
  return at ? strtod(at + strlen(needle), NULL) : -1;
}

static char *iso_time(int64_t ms_ago)
{
  char t[40];
  ferry_format_time(ferry_now_real_ms() - ms_ago, t, sizeof t);
  return ferry_strdup(t);
}

/* default/NAME, status as given (its JSON members, started 10 s ago), spec.reason reason ("" none). */
static void put_pm(struct env *e, const char *name, const char *reason, const char *status)
{
  cleanup_free char *start = iso_time(10000);
  cleanup_free char *pm = ferry_asprintf(
      "{\"apiVersion\":\"ferry.dev/v1alpha1\",\"kind\":\"PodMigration\",\"metadata\":{\"name\":\"%s\",\"namespace\":"
      "\"" NS "\"},\"spec\":{\"pod\":\"web\"%s%s%s},\"status\":{\"startTime\":\"%s\",%s}}",
      name, *reason ? ",\"reason\":\"" : "", reason, *reason ? "\"" : "", start, status);
  fake_api_put(e->f, &FERRY_KUBE_PODMIGRATIONS, pm);
}

/* A status write to default/NAME through the API, as an agent or the controller makes it (patch taken). */
static void write_status(struct env *e, const char *name, json_object *patch)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  json_object *pm = fake_api_obj(e->f, &FERRY_KUBE_PODMIGRATIONS, NS, name);
  assert_non_null(pm);
  struct ferry_kube_status st = { 0 };
  assert_int_equal(pm_write_status(e->c.kube, pm, patch, 0, NULL, &st, &err), 0);
  json_object_put(patch);
}

static void test_succeeded_counted_once(void **state)
{
  struct env *e = *state;
  put_pm(
      e, "pm", "Drain",
      "\"phase\":\"Restoring\",\"strategy\":\"postCopy\",\"bytesMoved\":{\"duringFreeze\":1000,\"afterRestore\":5000}");
  relist(e, 1);
  json_object *patch = pm_status_patch(PM_SUCCEEDED, "Succeeded", "running on node-b");
  pm_patch_set(patch, "freezeMillis", json_object_new_int64(300));
  pm_patch_set(patch, "totalMillis", json_object_new_int64(4000));
  write_status(e, "pm", patch);
  relist(e, 1);
  const char *finished = "ferry_controller_migrations_finished_total{result=\"Succeeded\",strategy=\"postCopy\","
                         "reason=\"Drain\"}";
  assert_true(sample(e, finished) == 1);
  assert_true(sample(e, "ferry_controller_migration_downtime_seconds_count{strategy=\"postCopy\"}") == 1);
  assert_true(sample(e, "ferry_controller_migration_downtime_seconds_sum{strategy=\"postCopy\"}") == 0.3);
  assert_true(sample(e, "ferry_controller_migration_downtime_seconds_bucket{strategy=\"postCopy\",le=\"0.25\"}") == 0);
  assert_true(sample(e, "ferry_controller_migration_downtime_seconds_bucket{strategy=\"postCopy\",le=\"0.5\"}") == 1);
  assert_true(sample(e, "ferry_controller_migration_duration_seconds_count{result=\"Succeeded\"}") == 1);
  assert_true(sample(e, "ferry_controller_migration_duration_seconds_sum{result=\"Succeeded\"}") == 4);
  assert_true(sample(e, "ferry_controller_migration_moved_bytes_total{stage=\"beforeFreeze\"}") == 0);
  assert_true(sample(e, "ferry_controller_migration_moved_bytes_total{stage=\"duringFreeze\"}") == 1000);
  assert_true(sample(e, "ferry_controller_migration_moved_bytes_total{stage=\"afterRestore\"}") == 5000);
  /* the controller's clean-up writes to the ended PodMigration again: no second count */
  json_object *cleaned = pm_status_patch(PM_NONE, NULL, NULL);
  pm_patch_condition(cleaned, fake_api_obj(e->f, &FERRY_KUBE_PODMIGRATIONS, NS, "pm"), "CleanedUp", 1, "Succeeded", "");
  write_status(e, "pm", cleaned);
  relist(e, 1);
  assert_true(sample(e, finished) == 1);
  assert_true(sample(e, "ferry_controller_migration_duration_seconds_count{result=\"Succeeded\"}") == 1);
  assert_true(sample(e, "ferry_controller_migration_moved_bytes_total{stage=\"duringFreeze\"}") == 1000);
}

static void test_rollback_counted_by_cause(void **state)
{
  struct env *e = *state;
  put_pm(e, "pm", "", "\"phase\":\"Transferring\",\"strategy\":\"stopAndCopy\",\"bytesMoved\":{\"duringFreeze\":700}");
  relist(e, 1);
  json_object *patch = pm_status_patch(PM_ROLLING_BACK, "Timeout", "Transferring took longer than its timeout");
  pm_patch_set(patch, "rollbackFrom", json_object_new_string("Transferring"));
  write_status(e, "pm", patch);
  relist(e, 1);
  assert_true(sample(e, "ferry_controller_migration_rollbacks_total{cause=\"Timeout\"}") == 1);
  /* the source agent restored it there: the reason becomes RolledBack, the cause stays counted */
  write_status(e, "pm", pm_status_patch(PM_ROLLED_BACK, "RolledBack", "running again on node-a"));
  relist(e, 1);
  assert_true(sample(e, "ferry_controller_migration_rollbacks_total{cause=\"Timeout\"}") == 1);
  assert_true(sample(e, "ferry_controller_migration_rollbacks_total{cause=\"RolledBack\"}") == -1);
  assert_true(sample(e, "ferry_controller_migrations_finished_total{result=\"RolledBack\",strategy=\"stopAndCopy\","
                        "reason=\"Manual\"}") == 1);
  assert_true(sample(e, "ferry_controller_migrations_finished_total{result=\"Succeeded\",strategy=\"stopAndCopy\","
                        "reason=\"Manual\"}") == 0);
  /* no downtime for a rollback; its duration from startTime to completionTime (about 10 s) */
  assert_true(sample(e, "ferry_controller_migration_downtime_seconds_count{strategy=\"stopAndCopy\"}") == -1);
  assert_true(sample(e, "ferry_controller_migration_duration_seconds_count{result=\"RolledBack\"}") == 1);
  double took = sample(e, "ferry_controller_migration_duration_seconds_sum{result=\"RolledBack\"}");
  assert_true(took >= 9.5 && took < 60);
  assert_true(sample(e, "ferry_controller_migration_moved_bytes_total{stage=\"duringFreeze\"}") == 700);
}

static void test_only_the_leader_counts_what_it_saw(void **state)
{
  struct env *e = *state;
  /* ended before this process listed it (a restart): not counted */
  put_pm(e, "old", "", "\"phase\":\"Succeeded\",\"strategy\":\"stopAndCopy\",\"totalMillis\":900");
  put_pm(e, "mine", "LoadBalance", "\"phase\":\"Pending\"");
  put_pm(e, "theirs", "", "\"phase\":\"Pending\"");
  relist(e, 0);
  /* a standby replica sees an end: not counted (the leader counts it) */
  write_status(e, "theirs", pm_status_patch(PM_FAILED, "NoNodeFits", "0/2 nodes fit"));
  relist(e, 0);
  /* leading now: a failure before it was scheduled ran no strategy */
  relist(e, 1);
  write_status(e, "mine", pm_status_patch(PM_FAILED, "NoNodeFits", "0/2 nodes fit"));
  relist(e, 1);
  assert_true(sample(e, "ferry_controller_migrations_finished_total{result=\"Succeeded\",strategy=\"stopAndCopy\","
                        "reason=\"Manual\"}") == 0);
  assert_true(sample(e, "ferry_controller_migrations_finished_total{result=\"Failed\",strategy=\"none\","
                        "reason=\"Manual\"}") == 0);
  assert_true(sample(e, "ferry_controller_migrations_finished_total{result=\"Failed\",strategy=\"none\","
                        "reason=\"LoadBalance\"}") == 1);
  assert_true(sample(e, "ferry_controller_migration_duration_seconds_count{result=\"Succeeded\"}") == -1);
  /* mine's status has a startTime (put_pm's) but no completion before it: a duration from it */
  assert_true(sample(e, "ferry_controller_migration_duration_seconds_count{result=\"Failed\"}") == 1);
}

static void test_unscheduled_failure_has_no_duration(void **state)
{
  struct env *e = *state;
  fake_api_put(e->f, &FERRY_KUBE_PODMIGRATIONS,
               "{\"apiVersion\":\"ferry.dev/v1alpha1\",\"kind\":\"PodMigration\",\"metadata\":{\"name\":\"pm\","
               "\"namespace\":\"" NS "\"},\"spec\":{\"pod\":\"web\"}}");
  relist(e, 1);
  write_status(e, "pm", pm_status_patch(PM_FAILED, "NotFound", "pod default/web does not exist"));
  relist(e, 1);
  assert_true(sample(e, "ferry_controller_migrations_finished_total{result=\"Failed\",strategy=\"none\","
                        "reason=\"Manual\"}") == 1);
  assert_true(sample(e, "ferry_controller_migration_duration_seconds_count{result=\"Failed\"}") == -1);
}

/* A node and, if renewed_ms_ago >= 0, its agent's Lease renewed that long ago. */
static void put_node(struct env *e, const char *name, int64_t renewed_ms_ago)
{
  cleanup_free char *node = ferry_asprintf("{\"metadata\":{\"name\":\"%s\"}}", name);
  fake_api_put(e->f, &FERRY_KUBE_NODES, node);
  if (renewed_ms_ago < 0)
    return;
  cleanup_free char *when = iso_time(renewed_ms_ago);
  cleanup_free char *lease = ferry_asprintf("{\"metadata\":{\"name\":\"" FERRY_AGENT_LEASE_PREFIX
                                            "%s\",\"namespace\":\"" AGENT_NS "\"},\"spec\":{\"renewTime\":\"%s\"}}",
                                            name, when);
  fake_api_put(e->f, &FERRY_KUBE_LEASES, lease);
}

static void test_agent_ready_per_node(void **state)
{
  struct env *e = *state;
  put_node(e, "node-a", 0);
  put_node(e, "node-b", 600000); /* stale: older than --agent-stale-seconds */
  put_node(e, "node-c", -1);     /* no agent there */
  /* the Lease of a node that is gone */
  fake_api_put(e->f, &FERRY_KUBE_LEASES,
               "{\"metadata\":{\"name\":\"" FERRY_AGENT_LEASE_PREFIX "node-z\",\"namespace\":\"" AGENT_NS "\"},"
               "\"spec\":{\"renewTime\":\"2020-01-01T00:00:00.000000Z\"}}");
  relist(e, 0);
  assert_true(sample(e, "ferry_controller_agent_ready{node=\"node-a\"}") == 1);
  assert_true(sample(e, "ferry_controller_agent_ready{node=\"node-b\"}") == 0);
  assert_true(sample(e, "ferry_controller_agent_ready{node=\"node-c\"}") == -1);
  assert_true(sample(e, "ferry_controller_agent_ready{node=\"node-z\"}") == -1);
}

/* Every series of the counters is there from the start, and the families are typed as their names say. */
static void test_families(void **state)
{
  struct env *e = *state;
  cleanup_free char *text = ctl_metrics_text(&e->c);
  const char *want[] = {
    "# TYPE ferry_controller_migrations_finished_total counter\n",
    "# TYPE ferry_controller_migration_downtime_seconds histogram\n",
    "# TYPE ferry_controller_migration_duration_seconds histogram\n",
    "# TYPE ferry_controller_migration_moved_bytes_total counter\n",
    "# TYPE ferry_controller_migration_rollbacks_total counter\n",
    "# TYPE ferry_controller_agent_ready gauge\n",
    "# TYPE ferry_controller_migrations gauge\n",
    "# TYPE ferry_controller_workqueue_depth gauge\n",
    "# TYPE ferry_controller_reconcile_duration_seconds histogram\n",
    "\nferry_controller_migrations_finished_total{result=\"RolledBack\",strategy=\"preCopy\",reason=\"Drain\"} 0\n",
    "\nferry_controller_migrations_finished_total{result=\"Failed\",strategy=\"none\",reason=\"Hardware\"} 0\n",
    "\nferry_controller_migration_moved_bytes_total{stage=\"afterRestore\"} 0\n",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(text, want[i]))
      fail_msg("missing: %s", want[i]);
  /* 3 results x 4 strategies (none among them) x 7 reasons */
  size_t n = 0;
  for (const char *p = text; (p = strstr(p, "\nferry_controller_migrations_finished_total{")); p++)
    n++;
  assert_int_equal(n, 3 * 4 * PM_REASON_COUNT);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_succeeded_counted_once, setup, teardown),
    cmocka_unit_test_setup_teardown(test_rollback_counted_by_cause, setup, teardown),
    cmocka_unit_test_setup_teardown(test_only_the_leader_counts_what_it_saw, setup, teardown),
    cmocka_unit_test_setup_teardown(test_unscheduled_failure_has_no_duration, setup, teardown),
    cmocka_unit_test_setup_teardown(test_agent_ready_per_node, setup, teardown),
    cmocka_unit_test_setup_teardown(test_families, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
