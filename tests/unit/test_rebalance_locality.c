/* SPDX-License-Identifier: Apache-2.0 */
/* The rebalancer's locality (controller/rebalance): preferred pod affinity
 * pulls two pods together, anti-affinity spreads, a node-affinity or
 * extended-resource preference moves a pod (Hardware) once its node has room
 * and not before, required terms, taints and resources hold, a pod moved for
 * affinity is not moved back for load, and a skewed cluster converges with
 * no move undone. */
#include "test_rebalance.h"

#define INTERVAL_S 30
#define MS 1000
#define HOST "kubernetes.io/hostname"

#define POD_AFFINITY(kind, weight, app)                                                                                \
  ",\"affinity\":{\"" kind "\":{\"preferredDuringSchedulingIgnoredDuringExecution\":[{\"weight\":" #weight             \
  ",\"podAffinityTerm\":{\"labelSelector\":{\"matchLabels\":{\"app\":\"" app "\"}},\"topologyKey\":\"" HOST "\"}}]}}"
#define NODE_AFFINITY(weight, key, op, values)                                                                         \
  ",\"affinity\":{\"nodeAffinity\":{\"preferredDuringSchedulingIgnoredDuringExecution\":[{\"weight\":" #weight         \
  ",\"preference\":{\"matchExpressions\":[{\"key\":\"" key "\",\"operator\":\"" op "\"" values "}]}}]}}"

/* Rounds until one plans nothing, at most limit; the rounds that moved. */
static int settle(struct fx *f, int limit)
{
  int moved = 0;
  for (int r = 0; r < limit; r++, f->now += INTERVAL_S * MS) {
    if (!fx_round(f))
      break;
    fx_execute(f);
    moved++;
  }
  return moved;
}

static void test_affinity_pulls_together(void **state)
{
  (void)state;
  struct fx *f = fx_new();
  fx_node(f, "n1", 0.2);
  fx_node(f, "n2", 0.2);
  fx_node(f, "n3", 0.2);
  size_t a = fx_pod_ex(f, "a", "n1", 0.2, 1, "\"app\":\"a\"", NULL, POD_AFFINITY("podAffinity", 50, "b"));
  size_t b = fx_pod_ex(f, "b", "n2", 0.2, 1, "\"app\":\"b\"", NULL, POD_AFFINITY("podAffinity", 50, "a"));
  assert_int_equal(fx_round(f), 1); /* one of them: not both, crossing over */
  assert_int_equal(f->plan.moves[0].reason, PM_REASON_AFFINITY);
  assert_non_null(strstr(f->plan.moves[0].why, "prefers to run with pods app=b per " HOST " (weight 50)"));
  fx_execute(f);
  assert_string_equal(f->pods[a].node, f->pods[b].node);
  for (int r = 0; r < 40; r++, f->now += 60 * MS)
    assert_int_equal(fx_round(f), 0);
  assert_string_equal(f->pods[a].node, f->pods[b].node);
  fx_free(f);

  /* a weight that does not beat the margin and the cost moves nothing */
  f = fx_new();
  fx_node(f, "n1", 0.2);
  fx_node(f, "n2", 0.2);
  fx_pod_ex(f, "a", "n1", 0.2, 1, "\"app\":\"a\"", NULL, POD_AFFINITY("podAffinity", 6, "b"));
  fx_pod_ex(f, "b", "n2", 0.2, 0, "\"app\":\"b\"", NULL, "");
  assert_int_equal(fx_round(f), 0);
  fx_free(f);
}

static void test_anti_affinity_spreads(void **state)
{
  (void)state;
  struct fx *f = fx_new();
  f->pol.max_moves_per_node = 10; /* the counts, not the limit, keep the third pod where it is */
  fx_node(f, "n1", 0.1);
  fx_node(f, "n2", 0.1);
  fx_node(f, "n3", 0.1);
  size_t w[3];
  for (int i = 0; i < 3; i++) {
    char name[32];
    snprintf(name, sizeof name, "w%d", i);
    w[i] = fx_pod_ex(f, name, "n1", 0.2, 1, "\"app\":\"web\"", NULL, POD_AFFINITY("podAntiAffinity", 40, "web"));
  }
  assert_true(settle(f, 10) >= 1);
  assert_string_not_equal(f->pods[w[0]].node, f->pods[w[1]].node);
  assert_string_not_equal(f->pods[w[0]].node, f->pods[w[2]].node);
  assert_string_not_equal(f->pods[w[1]].node, f->pods[w[2]].node);
  assert_int_equal(f->moves, 2);
  for (int r = 0; r < 40; r++, f->now += 60 * MS)
    assert_int_equal(fx_round(f), 0);
  assert_int_equal(f->oscillations, 0);
  fx_free(f);
}

static void test_hardware_label_waits_for_room(void **state)
{
  (void)state;
  static const char *const hw[] = { "accelerator" };
  struct fx *f = fx_new();
  f->pol.hardware_labels = hw;
  f->pol.n_hardware_labels = 1;
  fx_node(f, "n1", 0.2);
  fx_node_ex(f, "gpu1", 0.1, "\"accelerator\":\"nvidia\"", "", "");
  /* gpu1's CPU is all requested */
  size_t filler = fx_pod_ex(f, "filler", "gpu1", 0.1, 0, "", "\"cpu\":\"4\",\"memory\":\"64Mi\"", "");
  size_t p =
      fx_pod_ex(f, "p", "n1", 0.2, 1, "", NULL, NODE_AFFINITY(80, "accelerator", "In", ",\"values\":[\"nvidia\"]"));
  for (int r = 0; r < 3; r++, f->now += INTERVAL_S * MS)
    assert_int_equal(fx_round(f), 0);
  f->pods[filler].node = NULL; /* its job ended: room appears */
  fx_loads(f);
  assert_int_equal(fx_round(f), 1);
  assert_int_equal(f->plan.moves[0].reason, PM_REASON_HARDWARE);
  assert_non_null(strstr(f->plan.moves[0].why, "prefers nodes with accelerator=nvidia (weight 80) and gpu1 offers it"));
  fx_execute(f);
  assert_true(fx_on(f, p, "gpu1"));
  /* the same label not named hardware by the policy: Affinity */
  f->pol.n_hardware_labels = 0;
  size_t q = fx_pod_ex(f, "q", "n1", 0.2, 1, "", NULL, NODE_AFFINITY(80, "accelerator", "Exists", ""));
  f->now += INTERVAL_S * MS;
  assert_int_equal(fx_round(f), 0); /* both nodes cool down after p's move */
  f->now += 120 * MS;
  assert_int_equal(fx_round(f), 1);
  assert_int_equal(f->plan.moves[0].pod, q);
  assert_int_equal(f->plan.moves[0].reason, PM_REASON_AFFINITY);
  fx_free(f);
}

static void test_extended_resource_waits_for_room(void **state)
{
  (void)state;
  struct fx *f = fx_new();
  fx_node(f, "n1", 0.2);
  fx_node_ex(f, "gpu1", 0.1, "", "", ",\"example.com/gpu\":\"1\"");
  size_t holder = fx_pod_ex(f, "holder", "gpu1", 0.1, 0, "", FX_REQUESTS ",\"example.com/gpu\":\"1\"", "");
  size_t p = fx_pod_ex(f, "p", "n1", 0.2, 1, "", NULL, NODE_AFFINITY(60, "example.com/gpu", "Exists", ""));
  /* a pod that requests the GPU itself fits only where one is free */
  size_t r = fx_pod_ex(f, "r", "n1", 0.2, 1, "", FX_REQUESTS ",\"example.com/gpu\":\"1\"",
                       NODE_AFFINITY(60, "example.com/gpu", "Gt", ",\"values\":[\"0\"]"));
  for (int i = 0; i < 3; i++, f->now += INTERVAL_S * MS)
    assert_int_equal(fx_round(f), 0);
  f->pods[holder].node = NULL;
  fx_loads(f);
  /* p takes no GPU, so one stays free for r */
  assert_int_equal(fx_round(f), 2);
  assert_int_equal(f->plan.moves[0].reason, PM_REASON_HARDWARE);
  assert_int_equal(f->plan.moves[1].reason, PM_REASON_HARDWARE);
  assert_non_null(strstr(f->plan.moves[0].why, "prefers nodes with example.com/gpu (weight 60)"));
  fx_execute(f);
  assert_true(fx_on(f, p, "gpu1") && fx_on(f, r, "gpu1"));
  for (int i = 0; i < 30; i++, f->now += 60 * MS)
    assert_int_equal(fx_round(f), 0);
  assert_int_equal(f->oscillations, 0);
  fx_free(f);
}

static void test_required_terms_and_taints_hold(void **state)
{
  (void)state;
  struct fx *f = fx_new();
  fx_node(f, "n1", 0.2);
  fx_node_ex(f, "ssd1", 0.1, "\"disk\":\"ssd\"",
             "\"taints\":[{\"key\":\"dedicated\",\"value\":\"db\",\"effect\":"
             "\"NoSchedule\"}]",
             "");
  fx_node_ex(f, "ssd2", 0.1, "\"disk\":\"ssd\"", "", "");
  /* on ssd2, a pod that must not share a node with app=p */
  fx_pod_ex(f, "guard", "ssd2", 0.1, 0, "\"app\":\"guard\"", NULL,
            ",\"affinity\":{\"podAntiAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":[{\"labelSelector\""
            ":{\"matchLabels\":{\"app\":\"p\"}},\"topologyKey\":\"" HOST "\"}]}}");
  size_t p =
      fx_pod_ex(f, "p", "n1", 0.2, 1, "\"app\":\"p\"", NULL, NODE_AFFINITY(80, "disk", "In", ",\"values\":[\"ssd\"]"));
  for (int i = 0; i < 3; i++, f->now += INTERVAL_S * MS)
    assert_int_equal(fx_round(f), 0);
  /* its own required anti-affinity keeps another pod off */
  fx_node_ex(f, "ssd3", 0.1, "\"disk\":\"ssd\"", "", "");
  fx_pod_ex(f, "loner", "ssd3", 0.1, 0, "\"app\":\"loner\"", NULL, "");
  struct rb_pod_term avoid = { 0, { NULL, 0 }, NULL, 0, 0, HOST };
  struct rb_requirement app = { "app", RB_OP_IN, (const char *const[]){ "loner" }, 1, 0 };
  avoid.sel.reqs = &app;
  avoid.sel.n = 1;
  f->pods[p].aff.anti_required = &avoid;
  f->pods[p].aff.n_anti_required = 1;
  assert_int_equal(fx_round(f), 0);
  f->pods[p].aff.n_anti_required = 0;
  assert_int_equal(fx_round(f), 1);
  assert_string_equal(f->nodes[f->plan.moves[0].to].name, "ssd3");
  fx_free(f);
}

static void test_affinity_move_not_undone_by_load(void **state)
{
  (void)state;
  struct fx *f = fx_new();
  f->pol.window = 1;
  fx_node(f, "a", 0.1);
  size_t b = fx_node(f, "b", 0.45);
  fx_node(f, "c", 0.1);
  fx_pod_ex(f, "q", "b", 0.2, 0, "\"app\":\"q\"", NULL, "");
  size_t p = fx_pod_ex(f, "p", "a", 0.4, 1, "\"app\":\"p\"", NULL, POD_AFFINITY("podAffinity", 80, "q"));
  size_t r = fx_pod(f, "r", "b", 0.4);
  assert_int_equal(fx_round(f), 1);
  assert_int_equal(f->plan.moves[0].reason, PM_REASON_AFFINITY);
  fx_execute(f);
  assert_true(fx_on(f, p, "b"));
  /* b gets busy; past p's cooldown, load sheds r, not p */
  f->base_cpu[b] = 0.8;
  fx_loads(f);
  f->now += 700 * MS;
  assert_true(fx_round(f) >= 1);
  assert_int_equal(f->plan.moves[0].pod, r);
  for (size_t i = 0; i < f->plan.n_moves; i++)
    assert_int_not_equal(f->plan.moves[i].pod, p);
  fx_execute(f);
  /* r gone, b still above high: p alone is left, its affinity outweighs the load */
  for (int i = 0; i < 20; i++, f->now += 700 * MS) {
    fx_round(f);
    for (size_t m = 0; m < f->plan.n_moves; m++)
      assert_int_not_equal(f->plan.moves[m].pod, p);
    fx_execute(f);
  }
  assert_true(fx_on(f, p, "b"));
  assert_int_equal(f->oscillations, 0);
  fx_free(f);
}

/* xorshift64: the same cluster on every run */
static uint64_t rng_next(uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) / (double)(1ull << 53); }

static void test_convergence(void **state)
{
  (void)state;
  struct fx *f = fx_new();
  f->pol.window = 2;
  f->pol.max_moves = 8;
  uint64_t seed = 0x5eedf00dull;
  char name[32];
  for (int n = 0; n < 16; n++) {
    snprintf(name, sizeof name, "n%02d", n);
    fx_node(f, name, n < 5 ? 0.05 : 0.05 + 0.3 * rng_unit(&seed));
  }
  for (int i = 0; i < 160; i++) {
    int n = i < 60 ? i % 5 : 5 + (int)(rng_next(&seed) % 11);
    double u = rng_unit(&seed), cores = 0.05 + 0.6 * u * u * u; /* heavy-tailed */
    char node[32], labels[64], spec[512] = "";
    snprintf(node, sizeof node, "n%02d", n);
    snprintf(name, sizeof name, "p%03d", i);
    snprintf(labels, sizeof labels, "\"app\":\"pair%d\"", i / 2);
    if (i % 10 < 2) /* pairs that prefer each other's company */
      snprintf(spec, sizeof spec,
               ",\"affinity\":{\"podAffinity\":{\"preferredDuringSchedulingIgnoredDuringExecution\":[{\"weight\":40,"
               "\"podAffinityTerm\":{\"labelSelector\":{\"matchLabels\":{\"app\":\"pair%d\"}},\"topologyKey\":\"" HOST
               "\"}}]}}",
               i / 2);
    fx_pod_ex(f, name, node, cores, i % 7 != 0, labels, NULL, spec);
  }
  int last_move = -1;
  for (int r = 0; r < 120; r++, f->now += INTERVAL_S * MS) {
    if (fx_round(f))
      last_move = r;
    fx_execute(f);
  }
  assert_true(f->moves > 0);
  assert_true(last_move < 80); /* then 40 rounds (20 minutes) with nothing to do */
  assert_int_equal(f->oscillations, 0);
  for (size_t n = 0; n < f->n_nodes; n++)
    if (f->nodes[n].cpu > f->pol.cpu_high)
      fail_msg("%s still at %.0f%%", f->nodes[n].name, f->nodes[n].cpu * 100);
  for (size_t i = 0; i + 1 < 20; i += 10) /* the pairs that both could move are together */
    assert_string_equal(f->pods[i].node, f->pods[i + 1].node);
  fx_free(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_affinity_pulls_together),
    cmocka_unit_test(test_anti_affinity_spreads),
    cmocka_unit_test(test_hardware_label_waits_for_room),
    cmocka_unit_test(test_extended_resource_waits_for_room),
    cmocka_unit_test(test_required_terms_and_taints_hold),
    cmocka_unit_test(test_affinity_move_not_undone_by_load),
    cmocka_unit_test(test_convergence),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
