/* SPDX-License-Identifier: Apache-2.0 */
/* Strategy auto's choice (controller/strategy.c): the pod's memory against the
 * source node's threshold, the pods and nodes that cannot post-copy, missing
 * or bad inputs; the strategy names (lib/api) and the byte figures in notes. */
#include "testutil.h"

#include "strategy.h"
#include "api/podmigration.h"

#define MIB (INT64_C(1) << 20)

/* 1.2 GiB measured on node-a, 300 MiB measured over 12 moves. */
static struct auto_inputs base(void)
{
  struct auto_inputs in = {
    .source = "node-a",
    .target = "node-b",
    .memory = 1288490189, /* 1.2 GiB */
    .memory_from = AUTO_MEMORY_USAGE,
    .threshold = { .bytes = 300 * MIB, .measured = 1, .moves = 12 },
  };
  return in;
}

static void test_above_measured(void **state)
{
  (void)state;
  struct auto_inputs in = base();
  char why[1024];
  assert_int_equal(auto_choose(&in, why, sizeof why), PM_STRATEGY_POST_COPY);
  assert_string_equal(why,
                      "auto: postCopy, the pod's 1.2 GiB is above node-a's measured threshold of 300 MiB (12 moves)");
  in.source_postcopy = in.target_postcopy = "ok"; /* both say they can */
  assert_int_equal(auto_choose(&in, why, sizeof why), PM_STRATEGY_POST_COPY);
}

static void test_below_default(void **state)
{
  (void)state;
  struct auto_inputs in = base();
  in.memory = 40 * MIB;
  in.threshold = (struct ferry_postcopy_threshold){ .bytes = 256 * MIB, .measured = 0, .moves = 2 };
  char why[1024];
  assert_int_equal(auto_choose(&in, why, sizeof why), PM_STRATEGY_STOP_AND_COPY);
  assert_string_equal(why, "auto: stopAndCopy, the pod's 40 MiB is below node-a's default threshold of 256 MiB (not "
                           "measured yet)");
  in.memory = 256 * MIB; /* at the threshold: not above it */
  assert_int_equal(auto_choose(&in, why, sizeof why), PM_STRATEGY_STOP_AND_COPY);
  assert_non_null(strstr(why, "256 MiB is at node-a's default threshold"));
  in.memory = 256 * MIB + 1;
  assert_int_equal(auto_choose(&in, why, sizeof why), PM_STRATEGY_POST_COPY);
  in.threshold.bytes = 0; /* measured: post-copy pays at every size */
  in.threshold.measured = 1;
  in.memory = 1;
  assert_int_equal(auto_choose(&in, why, sizeof why), PM_STRATEGY_POST_COPY);
}

static void test_cannot_postcopy(void **state)
{
  (void)state;
  char why[1024];
  struct auto_inputs in = base();
  in.statefulset = 1;
  assert_int_equal(auto_choose(&in, why, sizeof why), PM_STRATEGY_STOP_AND_COPY);
  assert_non_null(strstr(why, "auto: stopAndCopy, the pod's 1.2 GiB is above node-a's measured threshold of 300 MiB "
                              "(12 moves), but a StatefulSet's pod cannot move by postCopy"));
  in = base();
  in.source_postcopy = "the kernel has no usable userfaultfd";
  assert_int_equal(auto_choose(&in, why, sizeof why), PM_STRATEGY_STOP_AND_COPY);
  assert_non_null(strstr(why, "but node-a cannot post-copy: the kernel has no usable userfaultfd"));
  in = base();
  in.source_postcopy = "ok";
  in.target_postcopy = "fs.pipe-max-size is 1048576";
  assert_int_equal(auto_choose(&in, why, sizeof why), PM_STRATEGY_STOP_AND_COPY);
  assert_non_null(strstr(why, "but node-b cannot post-copy: fs.pipe-max-size"));
  /* below the threshold the support does not matter: it says why by size */
  in.memory = 10 * MIB;
  assert_int_equal(auto_choose(&in, why, sizeof why), PM_STRATEGY_STOP_AND_COPY);
  assert_non_null(strstr(why, "is below"));
}

static void test_memory_sources(void **state)
{
  (void)state;
  char why[1024];
  struct auto_inputs in = base();
  in.memory = 512 * MIB;
  in.memory_from = AUTO_MEMORY_REQUEST;
  assert_int_equal(auto_choose(&in, why, sizeof why), PM_STRATEGY_POST_COPY);
  assert_non_null(strstr(why, "the pod's 512 MiB (its memory request: node-a reports no use for it) is above"));
  in.memory_from = AUTO_MEMORY_LIMIT;
  assert_int_equal(auto_choose(&in, why, sizeof why), PM_STRATEGY_POST_COPY);
  assert_non_null(strstr(why, "(its memory limit: node-a reports no use for it and it requests none)"));
  in.memory_from = AUTO_MEMORY_UNKNOWN;
  in.memory = 0;
  assert_int_equal(auto_choose(&in, why, sizeof why), PM_STRATEGY_STOP_AND_COPY);
  assert_non_null(strstr(why, "auto: stopAndCopy, the pod's memory is unknown"));
  in.memory_from = AUTO_MEMORY_USAGE; /* a report of 0 bytes is no figure either */
  assert_int_equal(auto_choose(&in, why, sizeof why), PM_STRATEGY_STOP_AND_COPY);
  assert_non_null(strstr(why, "unknown"));
}

static void test_no_threshold(void **state)
{
  (void)state;
  char why[1024];
  struct auto_inputs in = base();
  in.threshold_error = "its Lease's ferry.dev/postcopy-threshold is malformed: not a JSON object";
  assert_int_equal(auto_choose(&in, why, sizeof why), PM_STRATEGY_STOP_AND_COPY);
  assert_string_equal(why, "auto: stopAndCopy, node-a has no usable post-copy threshold (its Lease's "
                           "ferry.dev/postcopy-threshold is malformed: not a JSON object)");
  char small[16]; /* a short buffer is cut, never overrun */
  assert_int_equal(auto_choose(&in, small, sizeof small), PM_STRATEGY_STOP_AND_COPY);
  assert_int_equal(strlen(small), sizeof small - 1);
}

static void test_names_and_bytes(void **state)
{
  (void)state;
  static const char *const names[] = { "stopAndCopy", "preCopy", "postCopy", "auto" };
  for (enum pm_strategy s = PM_STRATEGY_STOP_AND_COPY; s < PM_STRATEGY_COUNT; s++) {
    enum pm_strategy back = PM_STRATEGY_COUNT;
    assert_string_equal(pm_strategy_name(s), names[s]);
    assert_int_equal(pm_strategy_parse(names[s], &back), 0);
    assert_int_equal(back, s);
  }
  enum pm_strategy out = PM_STRATEGY_AUTO;
  assert_int_equal(pm_strategy_parse("Auto", &out), -1);
  assert_int_equal(pm_strategy_parse("", &out), -1);
  assert_int_equal(pm_strategy_parse(NULL, &out), -1);
  assert_int_equal(out, PM_STRATEGY_AUTO); /* untouched */
  assert_null(pm_strategy_name(PM_STRATEGY_COUNT));
  char b[32];
  ferry_format_bytes(512, b, sizeof b);
  assert_string_equal(b, "512 B");
  ferry_format_bytes(40 * MIB, b, sizeof b);
  assert_string_equal(b, "40 MiB");
  ferry_format_bytes(1536, b, sizeof b);
  assert_string_equal(b, "1.5 KiB");
  ferry_format_bytes(INT64_C(3) << 40, b, sizeof b);
  assert_string_equal(b, "3 TiB");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_above_measured), cmocka_unit_test(test_below_default), cmocka_unit_test(test_cannot_postcopy),
    cmocka_unit_test(test_memory_sources), cmocka_unit_test(test_no_threshold),  cmocka_unit_test(test_names_and_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
