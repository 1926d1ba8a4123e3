/* SPDX-License-Identifier: Apache-2.0 */
/* The webhook's choice of migration for a new owned pod (controller/steer.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "steer.h"

static struct steer make(const char *pm, const char *owner, const char *pod, int statefulset, int rolling_back)
{
  struct steer s;
  memset(&s, 0, sizeof s);
  snprintf(s.pm, sizeof s.pm, "%s", pm);
  snprintf(s.owner_uid, sizeof s.owner_uid, "%s", owner);
  snprintf(s.pod, sizeof s.pod, "%s", pod);
  s.statefulset = statefulset;
  s.rolling_back = rolling_back;
  return s;
}

/* A drain of one ReplicaSet's pods: each replacement becomes another move's target. */
static void test_each_move_of_a_replicaset_gets_its_own_pod(void **state)
{
  (void)state;
  struct steer s[] = { make("ns/a", "other", "x", 0, 0), make("ns/b", "rs", "web-1", 0, 0),
                       make("ns/c", "rs", "web-2", 0, 0) };
  int restore;
  assert_int_equal(steer_pick(s, 3, "rs", "web-9", 1000, &restore), 1);
  assert_int_equal(restore, 1);
  assert_int_equal(steer_pick(s, 3, "rs", "web-8", 1000, &restore), 2);
  assert_int_equal(restore, 1);
  /* every move has its pod: the next replacement is the ReplicaSet's own */
  assert_int_equal(steer_pick(s, 3, "rs", "web-7", 1000, &restore), -1);
  assert_int_equal(restore, 0);
  assert_int_equal(steer_pick(s, 3, "nobody", "p", 1000, &restore), -1);
}

/* A move rolling back holds a replacement unbound, but not one another move waits for. */
static void test_rolling_back_holds_what_no_move_waits_for(void **state)
{
  (void)state;
  struct steer s[] = { make("ns/a", "rs", "web-1", 0, 1), make("ns/b", "rs", "web-2", 0, 0) };
  int restore;
  assert_int_equal(steer_pick(s, 2, "rs", "web-9", 1000, &restore), 1);
  assert_int_equal(restore, 1);
  assert_int_equal(steer_pick(s, 2, "rs", "web-8", 1000, &restore), 0);
  assert_int_equal(restore, 0);
}

/* A StatefulSet's pods are matched by name, whichever move comes first. */
static void test_statefulset_pods_by_name(void **state)
{
  (void)state;
  struct steer s[] = { make("ns/a", "sts", "db-0", 1, 0), make("ns/b", "sts", "db-1", 1, 0) };
  int restore;
  assert_int_equal(steer_pick(s, 2, "sts", "db-1", 1000, &restore), 1);
  assert_int_equal(restore, 1);
  assert_int_equal(steer_pick(s, 2, "sts", "db-0", 1000, &restore), 0);
  assert_int_equal(steer_pick(s, 2, "sts", "db-2", 1000, &restore), -1);
  assert_int_equal(restore, 0);
}

/* A claim whose pod never appeared is released after the grace: the owner's next pod is steered again. */
static void test_a_lost_replacement_releases_its_claim(void **state)
{
  (void)state;
  struct steer s[] = { make("ns/b", "rs", "web-1", 0, 0) };
  int restore;
  assert_int_equal(steer_pick(s, 1, "rs", "web-9", 1000, &restore), 0);
  assert_int_equal(restore, 1);
  assert_int_equal(steer_pick(s, 1, "rs", "web-8", 2000, &restore), -1); /* claimed */
  assert_int_equal(steer_release(s, 1, "ns/b", 5999, 5000), 0);          /* not yet */
  assert_int_equal(steer_release(s, 1, "ns/other", 9000, 5000), 0);
  assert_int_equal(steer_release(s, 1, "ns/b", 6000, 5000), 1);
  assert_int_equal(steer_release(s, 1, "ns/b", 9000, 5000), 0); /* nothing claimed now */
  assert_int_equal(steer_pick(s, 1, "rs", "web-7", 6100, &restore), 0);
  assert_int_equal(restore, 1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_each_move_of_a_replicaset_gets_its_own_pod),
    cmocka_unit_test(test_rolling_back_holds_what_no_move_waits_for),
    cmocka_unit_test(test_statefulset_pods_by_name),
    cmocka_unit_test(test_a_lost_replacement_releases_its_claim),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
