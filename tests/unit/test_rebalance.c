/* SPDX-License-Identifier: Apache-2.0 */
/* The rebalancer's load sharing (controller/rebalance): the window above high,
 * hysteresis, pod and node cooldowns, move limits, no target left busier than
 * its source, pods not opted in, memory pressure, the dry run; the policy's
 * checks, the reasons' names and the structs made from JSON. */
#include "test_rebalance.h"

#define INTERVAL_S 30
#define MS 1000

static void test_policy_and_reasons(void **state)
{
  (void)state;
  struct rb_policy p;
  rb_policy_defaults(&p);
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(rb_policy_check(&p, &err), 0);
  p.cpu_low = 0.9;
  assert_int_equal(rb_policy_check(&p, &err), -1);
  assert_string_equal(ferry_error_msg(&err), "cpuLowPercent 90 is not below cpuHighPercent 85");
  rb_policy_defaults(&p);
  p.hysteresis = 0.3;
  assert_int_equal(rb_policy_check(&p, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "hysteresisPercent 30 falls below cpuLowPercent 60"));
  rb_policy_defaults(&p);
  p.window = 0;
  assert_int_equal(rb_policy_check(&p, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "windowObservations 0"));
  ferry_error_clear(&err);
}

/* n1 at 100% CPU (base 50% and five pods of 10%), n2 at 10%. */
static struct fx *overloaded(int window)
{
  struct fx *f = fx_new();
  f->pol.window = window;
  fx_node(f, "n1", 0.5);
  fx_node(f, "n2", 0.1);
  char name[32];
  for (int i = 0; i < 5; i++) {
    snprintf(name, sizeof name, "p%d", i);
    fx_pod(f, name, "n1", 0.4);
  }
  return f;
}

static void test_window(void **state)
{
  (void)state;
  struct fx *f = overloaded(3);
  for (int r = 0; r < 2; r++, f->now += INTERVAL_S * MS)
    assert_int_equal(fx_round(f), 0); /* above high, not yet for the window */
  assert_int_equal(f->plan.over, 1);
  assert_int_equal(f->plan.sources, 0);
  assert_true(fx_round(f) > 0);
  assert_int_equal(f->plan.moves[0].reason, PM_REASON_LOAD_BALANCE);
  assert_non_null(strstr(f->plan.moves[0].why, "n1's CPU has been above 85% for 3 observations (100% reported)"));
  fx_free(f);

  /* one observation below high starts the window over */
  f = overloaded(3);
  fx_round(f);
  f->now += INTERVAL_S * MS;
  f->base_cpu[0] = 0.3;
  fx_loads(f);
  assert_int_equal(fx_round(f), 0);
  f->base_cpu[0] = 0.5;
  fx_loads(f);
  for (int r = 0; r < 2; r++) {
    f->now += INTERVAL_S * MS;
    assert_int_equal(fx_round(f), 0);
  }
  f->now += INTERVAL_S * MS;
  assert_true(fx_round(f) > 0);
  fx_free(f);
}

static void test_hysteresis(void **state)
{
  (void)state;
  /* sheds to high - hysteresis (80%), not just below high: 92% -> 72% */
  struct fx *f = fx_new();
  f->pol.window = 1;
  f->pol.max_moves_per_node = 10;
  fx_node(f, "n1", 0.22);
  fx_node(f, "n2", 0.1);
  fx_node(f, "n3", 0.1);
  char name[32];
  for (int i = 0; i < 7; i++) {
    snprintf(name, sizeof name, "p%d", i);
    fx_pod(f, name, "n1", 0.4);
  }
  assert_int_equal(fx_round(f), 2);
  fx_execute(f);
  assert_true(f->nodes[0].cpu > 0.71 && f->nodes[0].cpu < 0.73);
  for (int r = 0; r < 20; r++) {
    f->now += INTERVAL_S * MS;
    assert_int_equal(fx_round(f), 0); /* 80% is below high: nothing more */
  }
  fx_free(f);

  /* a node between low and high neither sheds nor receives */
  f = fx_new();
  f->pol.window = 1;
  fx_node(f, "busy", 0.6);
  fx_node(f, "middle", 0.65);
  for (int i = 0; i < 4; i++) {
    snprintf(name, sizeof name, "p%d", i);
    fx_pod(f, name, "busy", 0.4);
  }
  assert_int_equal(fx_round(f), 0);
  assert_int_equal(f->plan.sources, 1);
  assert_int_equal(f->plan.targets, 0);
  assert_int_equal(f->plan.stuck, 1);
  fx_free(f);
}

static void test_cooldowns(void **state)
{
  (void)state;
  /* the pod's own cooldown, from what the wiring knows */
  struct fx *f = fx_new();
  f->pol.window = 1;
  fx_node(f, "n1", 0.6);
  fx_node(f, "n2", 0.1);
  size_t p = fx_pod(f, "p", "n1", 1.2);
  fx_pod_ex(f, "fixed", "n1", 0.4, 0, "", NULL, "");
  f->pods[p].last_moved_ms = f->now - 60 * MS;
  assert_int_equal(fx_round(f), 0);
  f->now += 600 * MS;
  assert_int_equal(fx_round(f), 1);
  fx_free(f);

  /* node cooldowns, and the pod's from the core's own record */
  f = fx_new();
  f->pol.window = 1;
  f->pol.max_moves_per_node = 1;
  fx_node(f, "n1", 0.5);
  fx_node(f, "n2", 0.1);
  fx_node(f, "n3", 0.1);
  p = fx_pod(f, "x", "n1", 0.8);
  for (int i = 0; i < 4; i++) {
    char name[32];
    snprintf(name, sizeof name, "p%d", i);
    fx_pod(f, name, "n1", 0.4);
  }
  assert_int_equal(fx_round(f), 1);
  assert_int_equal(f->plan.moves[0].pod, p); /* the most load for its cost */
  fx_execute(f);
  f->now += INTERVAL_S * MS;
  assert_int_equal(fx_round(f), 0); /* n1 still above high, cooling */
  f->now += 120 * MS;
  assert_int_equal(fx_round(f), 1);
  assert_int_not_equal(f->plan.moves[0].pod, p);
  fx_execute(f);
  /* x's node gets busy: x moved 150 s ago, its cooldown holds it */
  size_t at = fx_node_index(f, f->pods[p].node);
  f->base_cpu[at] = 0.9;
  fx_loads(f);
  f->now += INTERVAL_S * MS;
  fx_round(f);
  for (size_t i = 0; i < f->plan.n_moves; i++)
    assert_int_not_equal(f->plan.moves[i].pod, p);
  f->now += 600 * MS;
  fx_round(f);
  int moved = 0;
  for (size_t i = 0; i < f->plan.n_moves; i++)
    moved |= f->plan.moves[i].pod == p;
  assert_true(moved);
  fx_free(f);
}

static void test_cost_and_undo(void **state)
{
  (void)state;
  /* 10% of CPU does not pay for copying 8 GiB (cost 1 + 2 per GiB = 17 points) */
  struct fx *f = fx_new();
  f->pol.window = 1;
  fx_node(f, "n1", 0.8);
  fx_node(f, "n2", 0.1);
  size_t fat = fx_pod(f, "fat", "n1", 0.4);
  f->pods[fat].mem_bytes = 8192 * FX_MIB;
  fx_loads(f);
  assert_int_equal(fx_round(f), 0);
  assert_int_equal(f->plan.stuck, 1);
  size_t lean = fx_pod(f, "lean", "n1", 0.4);
  f->now += INTERVAL_S * MS;
  assert_int_equal(fx_round(f), 1);
  assert_int_equal(f->plan.moves[0].pod, lean);
  fx_free(f);

  /* a pod does not go back where its last move came from for less than that move gained */
  f = fx_new();
  f->pol.window = 1;
  fx_node(f, "n1", 0.1);
  fx_node(f, "n2", 0.8);
  fx_node(f, "n3", 0.3);
  size_t p = fx_pod(f, "p", "n2", 0.8); /* 20 points, above its cost with one recent move (11.5) */
  rb_state_moved(f->st, "uid-p", "n1", "n2", PM_REASON_AFFINITY, 30, f->now - 700 * MS);
  assert_int_equal(fx_round(f), 1);
  assert_int_equal(f->plan.moves[0].pod, p);
  assert_string_equal(f->nodes[f->plan.moves[0].to].name, "n3"); /* n1 is less busy */
  fx_free(f);
}

static void test_move_limits(void **state)
{
  (void)state;
  struct fx *f = fx_new();
  f->pol.window = 1;
  f->pol.max_moves = 2;
  f->pol.max_moves_per_node = 1;
  char name[32];
  for (int n = 0; n < 3; n++) {
    snprintf(name, sizeof name, "hot%d", n);
    fx_node(f, name, 0.5);
    for (int i = 0; i < 5; i++) {
      char pod[32];
      snprintf(pod, sizeof pod, "p%d-%d", n, i);
      fx_pod(f, pod, name, 0.4);
    }
  }
  for (int n = 0; n < 3; n++) {
    snprintf(name, sizeof name, "cold%d", n);
    fx_node(f, name, 0.1);
  }
  assert_int_equal(fx_round(f), 2);
  int per_node[FX_NODES] = { 0 };
  for (size_t i = 0; i < f->plan.n_moves; i++) {
    per_node[f->plan.moves[i].from]++;
    per_node[f->plan.moves[i].to]++;
  }
  for (size_t n = 0; n < f->n_nodes; n++)
    assert_true(per_node[n] <= 1);
  fx_free(f);
}

static void test_target_never_busier(void **state)
{
  (void)state;
  /* n1 88% with one pod of 20%: after the move n1 is at 68%; a target at 50%
   * would be at 70% (below the settle level of 80%, still busier): refused */
  struct fx *f = fx_new();
  f->pol.window = 1;
  fx_node(f, "n1", 0.68);
  size_t t = fx_node(f, "n2", 0.5);
  fx_pod(f, "big", "n1", 0.8);
  assert_int_equal(fx_round(f), 0);
  assert_int_equal(f->plan.stuck, 1);
  f->base_cpu[t] = 0.45; /* 65% after the move: below n1's 68% */
  fx_loads(f);
  f->now += INTERVAL_S * MS;
  assert_int_equal(fx_round(f), 1);
  fx_execute(f);
  assert_true(f->nodes[t].cpu <= f->nodes[0].cpu);
  fx_free(f);
}

static void test_not_migratable(void **state)
{
  (void)state;
  struct fx *f = fx_new();
  f->pol.window = 1;
  fx_node(f, "n1", 0.2);
  fx_node(f, "n2", 0.1);
  char name[32];
  for (int i = 0; i < 6; i++) {
    snprintf(name, sizeof name, "p%d", i);
    fx_pod_ex(f, name, "n1", 0.6, 0, "", NULL, "");
  }
  for (int r = 0; r < 5; r++, f->now += 700 * MS)
    assert_int_equal(fx_round(f), 0);
  assert_int_equal(f->plan.sources, 1);
  assert_int_equal(f->plan.stuck, 1);
  /* a policy that does not enable load leaves a migratable pod alone too */
  size_t p = fx_pod(f, "opted", "n1", 0.6);
  f->pods[p].allow = RB_ALLOW_LOCALITY;
  assert_int_equal(fx_round(f), 0);
  f->pods[p].allow = RB_ALLOW_LOAD;
  assert_int_equal(fx_round(f), 1);
  assert_int_equal(f->plan.moves[0].pod, p);
  fx_free(f);
}

static void test_memory_pressure(void **state)
{
  (void)state;
  struct fx *f = fx_new();
  f->pol.window = 1;
  fx_node(f, "n1", 0.1);
  fx_node(f, "n2", 0.1);
  char name[32];
  for (int i = 0; i < 5; i++) {
    snprintf(name, sizeof name, "m%d", i);
    size_t p = fx_pod(f, name, "n1", 0.05);
    f->pods[p].mem_bytes = 3072 * FX_MIB; /* 15 GiB of 16: 94% */
  }
  fx_loads(f);
  assert_int_equal(fx_round(f), 1);
  assert_non_null(strstr(f->plan.moves[0].why, "n1's memory has been above 90%"));
  assert_non_null(strstr(f->plan.moves[0].why, "holds 3.0 GiB"));
  fx_execute(f);
  assert_true(f->nodes[0].memory <= 0.85);
  fx_free(f);
}

static void test_dry_run(void **state)
{
  (void)state;
  struct fx *run = overloaded(1), *dry = overloaded(1);
  dry->pol.dry_run = 1;
  size_t n = fx_round(run);
  assert_true(n > 0);
  assert_int_equal(fx_round(dry), n);
  for (size_t i = 0; i < n; i++) {
    const struct rb_move *a = &run->plan.moves[i], *b = &dry->plan.moves[i];
    assert_int_equal(a->pod, b->pod);
    assert_int_equal(a->to, b->to);
    assert_int_equal(a->reason, b->reason);
    assert_string_equal(a->why, b->why);
    assert_int_equal(a->execute, 1);
    assert_int_equal(b->execute, 0);
  }
  assert_non_null(strstr(dry->plan.summary, "dry run: nothing moves"));
  /* nothing recorded: the next dry round plans the same, the real one cools */
  run->now += INTERVAL_S * MS;
  dry->now += INTERVAL_S * MS;
  assert_int_equal(fx_round(dry), n);
  assert_int_equal(fx_round(run), 0);
  fx_free(run);
  fx_free(dry);
}

static void test_from_json(void **state)
{
  (void)state;
  struct fx *f = fx_new();
  size_t g =
      fx_node_ex(f, "g1", 0.1, "\"accelerator\":\"nvidia\"", "\"unschedulable\":true", ",\"example.com/gpu\":\"2\"");
  assert_int_equal(f->nodes[g].n_ext, 1);
  assert_string_equal(f->nodes[g].ext[0].name, "example.com/gpu");
  assert_int_equal(f->nodes[g].ext[0].amount, 2);
  assert_int_equal(f->nodes[g].schedulable, 0);
  assert_true(f->nodes[g].cpus == 4 && f->nodes[g].mem_total_bytes == 16 * 1024 * FX_MIB);
  size_t p = fx_pod_ex(f, "p", "g1", 0.1, 1, "\"app\":\"x\"", FX_REQUESTS ",\"example.com/gpu\":\"1\"", "");
  assert_int_equal(f->pods[p].n_ext, 1);
  assert_int_equal(f->pods[p].ext[0].amount, 1);
  assert_int_equal(f->pods[p].req_cpu_milli, 100);
  assert_int_equal(f->pods[p].req_mem_bytes, 64 * FX_MIB);
  assert_int_equal(f->pods[p].allow, RB_ALLOW_LOAD | RB_ALLOW_LOCALITY);

  ferry_error err = FERRY_ERROR_INIT;
  struct rb_node n = { .name = "g1" };
  assert_int_equal(rb_node_load_from_report(&n, "{\"cpu\":0.25,\"cpus\":8,\"memory\":0.5}", &err), 0);
  assert_true(n.reported && n.cpu == 0.25 && n.cpus == 8 && n.memory == 0.5);
  /* the pods' sums over what the node has */
  n.cpus = 4;
  n.mem_total_bytes = 1024 * FX_MIB;
  assert_int_equal(rb_node_load_from_report(&n,
                                            "{\"cpu\":0.9,\"cpus\":8,\"memory\":0.9,\"podsCpu\":1,"
                                            "\"podsMemory\":268435456}",
                                            &err),
                   0);
  assert_true(n.cpus == 4 && n.cpu == 0.25 && n.memory == 0.25);
  assert_int_equal(rb_node_load_from_report(&n, "not json", &err), -1);
  assert_int_equal(n.reported, 0);
  assert_non_null(strstr(ferry_error_msg(&err), "node g1: the load report"));

  static const struct {
    const char *affinity, *error;
  } bad[] = {
    { "{\"podAffinity\":{\"preferredDuringSchedulingIgnoredDuringExecution\":[{\"weight\":0,\"podAffinityTerm\":"
      "{\"topologyKey\":\"kubernetes.io/hostname\"}}]}}",
      "pod default/bad: spec.affinity: podAffinity: term 0: weight 0 is not within 1..100" },
    { "{\"podAntiAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":[{\"labelSelector\":"
      "{\"matchExpressions\":[{\"key\":\"n\",\"operator\":\"Gt\",\"values\":[\"1\"]}]},\"topologyKey\":\"zone\"}]}}",
      "operator Gt is not one of In, NotIn, Exists, DoesNotExist" },
    { "{\"nodeAffinity\":{\"preferredDuringSchedulingIgnoredDuringExecution\":[{\"weight\":5,\"preference\":"
      "{\"matchExpressions\":[{\"key\":\"disk\",\"operator\":\"In\",\"values\":[]}]}}]}}",
      "nodeAffinity preferred term 0: disk In: 0 values" },
    { "{\"podAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":[{\"labelSelector\":{}}]}}",
      "term 0: no topologyKey" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char text[1024];
    snprintf(text, sizeof text,
             "{\"metadata\":{\"name\":\"bad\",\"namespace\":\"default\"},\"spec\":{\"affinity\":%s}}", bad[i].affinity);
    struct rb_pod pod;
    assert_int_equal(rb_pod_from_json(&f->arena, fx_parse(f, text), &pod, &err), -1);
    if (!strstr(ferry_error_msg(&err), bad[i].error))
      fail_msg("%s: %s", bad[i].error, ferry_error_msg(&err));
  }
  ferry_error_clear(&err);
  fx_free(f);
}

static void test_bad_input(void **state)
{
  (void)state;
  struct fx *f = overloaded(1);
  ferry_error err = FERRY_ERROR_INIT;
  struct rb_input in = { f->nodes, f->n_nodes, f->pods, f->n_pods, &f->pol, f->now, NULL, NULL };
  assert_int_equal(rb_round(f->st, &in, &f->plan, &err), -1);
  assert_string_equal(ferry_error_msg(&err), "rebalance: no fit function");
  in.fit = rb_fit_placement;
  f->pol.window = 0;
  assert_int_equal(rb_round(f->st, &in, &f->plan, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "rebalance policy: windowObservations 0"));
  f->pol.window = 1;
  f->nodes[1].name = f->nodes[0].name;
  assert_int_equal(rb_round(f->st, &in, &f->plan, &err), -1);
  assert_string_equal(ferry_error_msg(&err), "node n1 is listed twice");
  f->nodes[1].name = "n2";
  f->pods[0].node = "gone"; /* a pod on an unknown node is left out */
  assert_int_equal(rb_round(f->st, &in, &f->plan, &err), 0);
  for (size_t i = 0; i < f->plan.n_moves; i++)
    assert_int_not_equal(f->plan.moves[i].pod, 0);
  ferry_error_clear(&err);
  fx_free(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_policy_and_reasons),  cmocka_unit_test(test_window),
    cmocka_unit_test(test_hysteresis),          cmocka_unit_test(test_cooldowns),
    cmocka_unit_test(test_cost_and_undo),       cmocka_unit_test(test_move_limits),
    cmocka_unit_test(test_target_never_busier), cmocka_unit_test(test_not_migratable),
    cmocka_unit_test(test_memory_pressure),     cmocka_unit_test(test_dry_run),
    cmocka_unit_test(test_from_json),           cmocka_unit_test(test_bad_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
