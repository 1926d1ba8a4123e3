/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's post-copy threshold (agent/daemon/crossover.c): the least-squares
 * lines, their crossing, the degenerate inputs that keep the default, the kept
 * moves (once each, the latest), their file and the Lease annotation, which
 * the controller's parser (lib/api/threshold.c) reads back. */
#include "testutil.h"

#include <json-c/json.h>
#include <math.h>

#include "api/threshold.h"
#include "base/cleanup.h"
#include "daemon/crossover.h"

#define MIB (INT64_C(1) << 20)
#define DEFAULT_THRESHOLD (256 * MIB)

/* A move of uid "<prefix>N" ending at at_ms: memory MiB, downtime ms. */
static struct crossover_move move(const char *prefix, int n, int64_t at_ms, int64_t mib, int64_t ms)
{
  struct crossover_move m = { .at_ms = at_ms, .memory = mib * MIB, .downtime_ms = ms };
  snprintf(m.uid, sizeof m.uid, "%s%d", prefix, n);
  return m;
}

/* stopAndCopy: 300 ms + 3 ms/MiB; postCopy: 400 ms + 0.05 ms/MiB (exact lines). */
static void add_lines(struct crossover_moves *h, int n_sac, int n_post)
{
  static const int64_t sizes[] = { 64, 128, 256, 512, 1024 };
  for (int i = 0; i < n_sac; i++) {
    struct crossover_move m = move("sac", i, 1000 + i, sizes[i % 5], 300 + 3 * sizes[i % 5]);
    assert_int_equal(crossover_add(h, PM_STRATEGY_STOP_AND_COPY, &m), 1);
  }
  for (int i = 0; i < n_post; i++) {
    struct crossover_move m = move("post", i, 2000 + i, sizes[i % 5] * 20, 400 + sizes[i % 5]);
    assert_int_equal(crossover_add(h, PM_STRATEGY_POST_COPY, &m), 1);
  }
}

static void test_fit_exact_line(void **state)
{
  (void)state;
  struct crossover_moves h = { 0 };
  add_lines(&h, 5, 0);
  struct crossover_fit f;
  crossover_fit(h.stop_and_copy, h.n_stop_and_copy, &f);
  assert_true(f.valid);
  assert_int_equal(f.moves, 5);
  assert_true(fabs(f.fixed_ms - 300) < 1e-6);
  assert_true(fabs(f.ms_per_byte * MIB - 3) < 1e-9);
}

static void test_fit_noisy_least_squares(void **state)
{
  (void)state;
  /* y = 10 + 2x with residuals +1, -1, -1, +1 at x = 1, 2, 3, 4 (MiB): the
   * least-squares line is 10 + 2x exactly (the residuals cancel and are
   * orthogonal to x - mean) */
  struct crossover_move m[4] = {
    move("n", 0, 1, 1, 13),
    move("n", 1, 2, 2, 13),
    move("n", 2, 3, 3, 15),
    move("n", 3, 4, 4, 19),
  };
  struct crossover_fit f;
  crossover_fit(m, 4, &f);
  assert_true(f.valid);
  assert_true(fabs(f.ms_per_byte * MIB - 2) < 1e-9);
  assert_true(fabs(f.fixed_ms - 10) < 1e-6);
}

static void test_fit_degenerate(void **state)
{
  (void)state;
  struct crossover_fit f;
  crossover_fit(NULL, 0, &f); /* nothing */
  assert_false(f.valid);
  assert_non_null(strstr(f.why, "0 of the 3 moves"));
  struct crossover_move two[2] = { move("a", 0, 1, 64, 500), move("a", 1, 2, 512, 1800) };
  crossover_fit(two, 2, &f); /* too few */
  assert_false(f.valid);
  assert_non_null(strstr(f.why, "2 of the 3 moves"));
  struct crossover_move same[3] = { move("s", 0, 1, 64, 500), move("s", 1, 2, 64, 520), move("s", 2, 3, 64, 480) };
  crossover_fit(same, 3, &f); /* one size: no slope at all */
  assert_false(f.valid);
  assert_non_null(strstr(f.why, "not 2x apart"));
  struct crossover_move close[3] = { move("c", 0, 1, 100, 500), move("c", 1, 2, 150, 520), move("c", 2, 3, 199, 600) };
  crossover_fit(close, 3, &f); /* spread less than 2x */
  assert_false(f.valid);
  assert_true(isfinite(f.fixed_ms) && isfinite(f.ms_per_byte));
}

static void test_crossing(void **state)
{
  (void)state;
  struct crossover_moves h = { 0 };
  add_lines(&h, 5, 5);
  struct crossover c;
  crossover_compute(&h, DEFAULT_THRESHOLD, &c);
  assert_true(c.measured);
  /* 300 + 3x = 400 + 0.05x: x = 100 / 2.95 MiB */
  double want = 100.0 / 2.95 * (double)MIB;
  assert_true(fabs((double)c.bytes - want) < 2);
  /* post-copy faster at every size: the threshold is 0, not negative */
  struct crossover_moves fast = { 0 };
  for (int i = 0; i < 3; i++) {
    struct crossover_move s = move("s", i, i, 64 << i, 600 + 3 * (64 << i));
    struct crossover_move p = move("p", i, i, 64 << i, 100 + (64 << i) / 50);
    crossover_add(&fast, PM_STRATEGY_STOP_AND_COPY, &s);
    crossover_add(&fast, PM_STRATEGY_POST_COPY, &p);
  }
  crossover_compute(&fast, DEFAULT_THRESHOLD, &c);
  assert_true(c.measured);
  assert_int_equal(c.bytes, 0);
}

static void test_default_until_measured(void **state)
{
  (void)state;
  struct crossover_moves h = { 0 };
  struct crossover c;
  crossover_compute(&h, DEFAULT_THRESHOLD, &c); /* no moves */
  assert_false(c.measured);
  assert_int_equal(c.bytes, DEFAULT_THRESHOLD);
  assert_non_null(strstr(c.why, "not measured yet"));
  add_lines(&h, 5, 2); /* stopAndCopy's line only */
  crossover_compute(&h, DEFAULT_THRESHOLD, &c);
  assert_false(c.measured);
  assert_int_equal(c.bytes, DEFAULT_THRESHOLD);
  assert_non_null(strstr(c.why, "stopAndCopy: ok; postCopy: 2 of the 3 moves"));
}

static void test_no_crossing(void **state)
{
  (void)state;
  struct crossover c;
  /* stopAndCopy's downtime falls with memory (noise): no crossing */
  struct crossover_moves h = { 0 };
  for (int i = 0; i < 3; i++) {
    struct crossover_move s = move("s", i, i, 64 << i, 900 - 100 * i);
    struct crossover_move p = move("p", i, i, 64 << i, 400);
    crossover_add(&h, PM_STRATEGY_STOP_AND_COPY, &s);
    crossover_add(&h, PM_STRATEGY_POST_COPY, &p);
  }
  crossover_compute(&h, DEFAULT_THRESHOLD, &c);
  assert_false(c.measured);
  assert_int_equal(c.bytes, DEFAULT_THRESHOLD);
  assert_non_null(strstr(c.why, "stopAndCopy's downtime did not grow"));
  /* postCopy's grows faster than stopAndCopy's */
  struct crossover_moves g = { 0 };
  for (int i = 0; i < 3; i++) {
    struct crossover_move s = move("s", i, i, 64 << i, 300 + (64 << i));
    struct crossover_move p = move("p", i, i, 64 << i, 300 + 2 * (64 << i));
    crossover_add(&g, PM_STRATEGY_STOP_AND_COPY, &s);
    crossover_add(&g, PM_STRATEGY_POST_COPY, &p);
  }
  crossover_compute(&g, DEFAULT_THRESHOLD, &c);
  assert_false(c.measured);
  assert_non_null(strstr(c.why, "at least as fast"));
}

static void test_kept_moves(void **state)
{
  (void)state;
  struct crossover_moves h = { 0 };
  struct crossover_move m = move("u", 0, 100, 64, 500);
  assert_int_equal(crossover_add(&h, PM_STRATEGY_STOP_AND_COPY, &m), 1);
  assert_int_equal(crossover_add(&h, PM_STRATEGY_STOP_AND_COPY, &m), 0); /* once */
  assert_int_equal(crossover_add(&h, PM_STRATEGY_POST_COPY, &m), 0);     /* once, whatever the strategy */
  struct crossover_move pre = move("pre", 0, 100, 64, 500);
  assert_int_equal(crossover_add(&h, PM_STRATEGY_PRE_COPY, &pre), 0); /* no line of its own */
  struct crossover_move empty = move("e", 0, 100, 0, 500), fast = move("f", 0, 100, 64, 0);
  assert_int_equal(crossover_add(&h, PM_STRATEGY_STOP_AND_COPY, &empty), 0);
  assert_int_equal(crossover_add(&h, PM_STRATEGY_STOP_AND_COPY, &fast), 0);
  /* full: the latest CROSSOVER_KEEP stay, in order, whatever order they come in */
  struct crossover_moves f = { 0 };
  for (int i = 0; i < CROSSOVER_KEEP + 10; i++) {
    int at = (i * 5) % (CROSSOVER_KEEP + 10); /* a permutation of 0 .. KEEP+9 */
    struct crossover_move x = move("k", at, at, 64 + at, 500);
    crossover_add(&f, PM_STRATEGY_STOP_AND_COPY, &x);
  }
  assert_int_equal(f.n_stop_and_copy, CROSSOVER_KEEP);
  for (size_t i = 0; i < f.n_stop_and_copy; i++)
    assert_int_equal(f.stop_and_copy[i].at_ms, (int64_t)i + 10);
  struct crossover_move old = move("old", 0, 1, 64, 500);
  assert_int_equal(crossover_add(&f, PM_STRATEGY_STOP_AND_COPY, &old), 0); /* older than every kept one */
}

static void test_file(void **state)
{
  (void)state;
  cleanup_free char *dir = tu_mkdtemp();
  cleanup_free char *path = ferry_path_join(dir, "moves.json");
  struct crossover_moves h = { 0 }, back;
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(crossover_load(path, &back, &err), 0); /* missing: no moves */
  assert_int_equal(back.n_stop_and_copy + back.n_post_copy, 0);
  add_lines(&h, 4, 3);
  assert_int_equal(crossover_save(path, &h, &err), 0);
  assert_int_equal(crossover_load(path, &back, &err), 0);
  assert_int_equal(back.n_stop_and_copy, 4);
  assert_int_equal(back.n_post_copy, 3);
  assert_memory_equal(back.stop_and_copy, h.stop_and_copy, sizeof h.stop_and_copy[0] * 4);
  tu_write(dir, "moves.json", "{\"stopAndCopy\": [{\"atMs\": 3}]}");
  assert_int_equal(crossover_load(path, &back, &err), -1); /* a move without uid */
  assert_non_null(strstr(ferry_error_msg(&err), "moves.json"));
  assert_int_equal(back.n_stop_and_copy, 0);
  ferry_error_clear(&err);
  tu_write(dir, "moves.json", "[1, 2");
  assert_int_equal(crossover_load(path, &back, &err), -1);
  ferry_error_clear(&err);
  ferry_rm_rf(dir, &err);
}

static void test_annotation_round_trip(void **state)
{
  (void)state;
  struct crossover_moves h = { 0 };
  struct crossover c;
  struct ferry_postcopy_threshold t;
  ferry_error err = FERRY_ERROR_INIT;
  crossover_compute(&h, DEFAULT_THRESHOLD, &c);
  cleanup_free char *dflt = crossover_annotation(&c);
  assert_int_equal(ferry_postcopy_threshold_parse(dflt, &t, &err), 0);
  assert_int_equal(t.bytes, DEFAULT_THRESHOLD);
  assert_false(t.measured);
  assert_int_equal(t.moves, 0);
  assert_non_null(strstr(dflt, "\"source\":\"default\""));
  assert_non_null(strstr(dflt, "\"threshold\":\"256 MiB\""));
  add_lines(&h, 5, 5);
  crossover_compute(&h, DEFAULT_THRESHOLD, &c);
  cleanup_free char *measured = crossover_annotation(&c);
  assert_int_equal(ferry_postcopy_threshold_parse(measured, &t, &err), 0);
  assert_true(t.measured);
  assert_int_equal(t.moves, 10);
  assert_int_equal(t.bytes, c.bytes);
  assert_non_null(strstr(measured, "\"msPerMiB\":3"));
  /* what the controller refuses */
  static const char *const bad[] = { "",
                                     "[]",
                                     "{\"source\":\"default\"}",
                                     "{\"bytes\":-1,\"source\":\"default\"}",
                                     "{\"bytes\":\"1Gi\",\"source\":\"default\"}",
                                     "{\"bytes\":1,\"source\":\"guess\"}",
                                     "{\"bytes\":1,\"source\":\"measured\",\"moves\":-2}" };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(ferry_postcopy_threshold_parse(bad[i], &t, &err), -1);
    ferry_error_clear(&err);
  }
  assert_int_equal(ferry_postcopy_threshold_parse(NULL, &t, &err), -1);
  ferry_error_clear(&err);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_fit_exact_line),
    cmocka_unit_test(test_fit_noisy_least_squares),
    cmocka_unit_test(test_fit_degenerate),
    cmocka_unit_test(test_crossing),
    cmocka_unit_test(test_default_until_measured),
    cmocka_unit_test(test_no_crossing),
    cmocka_unit_test(test_kept_moves),
    cmocka_unit_test(test_file),
    cmocka_unit_test(test_annotation_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
