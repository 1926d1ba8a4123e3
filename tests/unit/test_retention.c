/* SPDX-License-Identifier: Apache-2.0 */
/* Which images a node keeps (lib/api/retention.h): what a migration makes of
 * its image, and the verdicts by count, TTL and orphan grace. */
#include "testutil.h"

#include "api/retention.h"

#define HOUR_MS (3600 * 1000LL)
#define NOW_MS (1000 * HOUR_MS)

/* A PodMigration in phase, with condition types set True (comma-separated), of strategy. */
static json_object *pm_in(const char *phase, const char *true_conds, const char *strategy)
{
  json_object *pm = json_object_new_object(), *st = json_object_new_object(), *conds = json_object_new_array();
  json_object_object_add(st, "phase", json_object_new_string(phase));
  if (strategy)
    json_object_object_add(st, "strategy", json_object_new_string(strategy));
  char buf[128];
  snprintf(buf, sizeof buf, "%s", true_conds);
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    json_object *c = json_object_new_object();
    json_object_object_add(c, "type", json_object_new_string(t));
    json_object_object_add(c, "status", json_object_new_string("True"));
    json_object_array_add(conds, c);
  }
  json_object_object_add(st, "conditions", conds);
  json_object_object_add(pm, "status", st);
  return pm;
}

static enum ferry_image_use use_of(const char *phase, const char *conds, const char *strategy)
{
  json_object *pm = pm_in(phase, conds, strategy);
  enum ferry_image_use u = ferry_image_use_of(pm);
  json_object_put(pm);
  return u;
}

static void test_use_of(void **state)
{
  (void)state;
  assert_int_equal(ferry_image_use_of(NULL), FERRY_IMAGE_ORPHAN);
  assert_int_equal(use_of("Succeeded", "Restored", "stopAndCopy"), FERRY_IMAGE_DONE);
  /* Succeeded without the target's Restored=True: not confirmed, kept */
  assert_int_equal(use_of("Succeeded", "", "stopAndCopy"), FERRY_IMAGE_NEEDED);
  /* post-copy: confirmed only once every page arrived */
  assert_int_equal(use_of("Succeeded", "Restored", "postCopy"), FERRY_IMAGE_NEEDED);
  assert_int_equal(use_of("Succeeded", "Restored,MemoryTransferred", "postCopy"), FERRY_IMAGE_DONE);
  /* a rollback may still restore from it */
  assert_int_equal(use_of("RollingBack", "TargetReleased", "stopAndCopy"), FERRY_IMAGE_NEEDED);
  assert_int_equal(use_of("Transferring", "", NULL), FERRY_IMAGE_NEEDED);
  assert_int_equal(use_of("Restoring", "Restored", NULL), FERRY_IMAGE_NEEDED);
  assert_int_equal(use_of("Checkpointing", "", NULL), FERRY_IMAGE_NEEDED);
  assert_int_equal(use_of("SomethingNew", "", NULL), FERRY_IMAGE_NEEDED);
  assert_int_equal(use_of("RolledBack", "TargetReleased", NULL), FERRY_IMAGE_KEPT);
  assert_int_equal(use_of("Failed", "", NULL), FERRY_IMAGE_KEPT);
}

static struct ferry_gc_image img(const char *name, const char *pod, enum ferry_image_use use, int count, int ttl_h,
                                 int age_h)
{
  struct ferry_gc_image i = { name, pod, use, { count, ttl_h * HOUR_MS }, NOW_MS - age_h * HOUR_MS, FERRY_GC_IN_USE };
  return i;
}

/* The last N done images of each pod stay, older ones go; other pods' do not count. */
static void test_count(void **state)
{
  (void)state;
  struct ferry_gc_image imgs[] = {
    img("a1", "ns/a", FERRY_IMAGE_DONE, 2, 0, 3),   img("a2", "ns/a", FERRY_IMAGE_DONE, 2, 0, 2),
    img("a3", "ns/a", FERRY_IMAGE_DONE, 2, 0, 1),   img("b1", "ns/b", FERRY_IMAGE_DONE, 2, 0, 9),
    img("a0", "ns/a", FERRY_IMAGE_NEEDED, 2, 0, 0), /* in progress: neither kept by count nor counted */
  };
  ferry_gc_decide(imgs, 5, NOW_MS, HOUR_MS);
  assert_int_equal(imgs[0].verdict, FERRY_GC_OVER_COUNT);
  assert_int_equal(imgs[1].verdict, FERRY_GC_RETAINED);
  assert_int_equal(imgs[2].verdict, FERRY_GC_RETAINED);
  assert_int_equal(imgs[3].verdict, FERRY_GC_RETAINED);
  assert_int_equal(imgs[4].verdict, FERRY_GC_IN_USE);
  assert_true(ferry_gc_removes(imgs[0].verdict));
  assert_false(ferry_gc_removes(imgs[1].verdict));
}

/* count 0: a done image goes at once; a rolled-back one stays until its TTL, an
 * image a rollback may need stays however old. */
static void test_count_zero_and_rollback(void **state)
{
  (void)state;
  struct ferry_gc_image imgs[] = {
    img("done", "ns/a", FERRY_IMAGE_DONE, 0, 24, 0),
    img("rolledback", "ns/a", FERRY_IMAGE_KEPT, 0, 24, 0),
    img("rollingback", "ns/a", FERRY_IMAGE_NEEDED, 0, 24, 500),
    img("old-rolledback", "ns/b", FERRY_IMAGE_KEPT, 0, 24, 25),
  };
  ferry_gc_decide(imgs, 4, NOW_MS, HOUR_MS);
  assert_int_equal(imgs[0].verdict, FERRY_GC_OVER_COUNT);
  assert_int_equal(imgs[1].verdict, FERRY_GC_RETAINED);
  assert_int_equal(imgs[2].verdict, FERRY_GC_IN_USE);
  assert_int_equal(imgs[3].verdict, FERRY_GC_EXPIRED);
}

/* The TTL removes even the newest done image; TTL 0 is none. */
static void test_ttl(void **state)
{
  (void)state;
  struct ferry_gc_image imgs[] = {
    img("old", "ns/a", FERRY_IMAGE_DONE, 5, 24, 24),
    img("young", "ns/b", FERRY_IMAGE_DONE, 5, 24, 23),
    img("forever", "ns/c", FERRY_IMAGE_DONE, 5, 0, 9000),
    img("forever-kept", "ns/c", FERRY_IMAGE_KEPT, 5, 0, 9000),
  };
  ferry_gc_decide(imgs, 4, NOW_MS, HOUR_MS);
  assert_int_equal(imgs[0].verdict, FERRY_GC_EXPIRED);
  assert_int_equal(imgs[1].verdict, FERRY_GC_RETAINED);
  assert_int_equal(imgs[2].verdict, FERRY_GC_RETAINED);
  assert_int_equal(imgs[3].verdict, FERRY_GC_RETAINED);
}

static void test_orphans(void **state)
{
  (void)state;
  struct ferry_gc_image imgs[] = {
    img("young", NULL, FERRY_IMAGE_ORPHAN, 0, 0, 0),
    img("old", NULL, FERRY_IMAGE_ORPHAN, 0, 0, 2),
  };
  ferry_gc_decide(imgs, 2, NOW_MS, HOUR_MS);
  assert_int_equal(imgs[0].verdict, FERRY_GC_ORPHAN_YOUNG);
  assert_int_equal(imgs[1].verdict, FERRY_GC_ORPHANED);
  assert_true(ferry_gc_removes(imgs[1].verdict));
  assert_false(ferry_gc_removes(imgs[0].verdict));
}

/* status.imageRetention (the policy's, stamped by the controller) over the agent's flags, field by field. */
static void test_retention_of(void **state)
{
  (void)state;
  struct ferry_retention def = { 3, 24 * HOUR_MS };
  json_object *pm = pm_in("Succeeded", "Restored", NULL);
  struct ferry_retention r = ferry_retention_of(pm, def);
  assert_int_equal(r.count, 3);
  assert_int_equal(r.ttl_ms, 24 * HOUR_MS);
  json_object *ir = json_object_new_object();
  json_object_object_add(ir, "count", json_object_new_int(0));
  json_object_object_add(json_object_object_get(pm, "status"), "imageRetention", ir);
  r = ferry_retention_of(pm, def);
  assert_int_equal(r.count, 0);
  assert_int_equal(r.ttl_ms, 24 * HOUR_MS);
  json_object_object_add(ir, "ttlSeconds", json_object_new_int(60));
  r = ferry_retention_of(pm, def);
  assert_int_equal(r.ttl_ms, 60 * 1000);
  json_object_object_add(ir, "count", json_object_new_int(-1)); /* the schema refuses it; ignored */
  r = ferry_retention_of(pm, def);
  assert_int_equal(r.count, 3);
  json_object_put(pm);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_use_of), cmocka_unit_test(test_count),   cmocka_unit_test(test_count_zero_and_rollback),
    cmocka_unit_test(test_ttl),    cmocka_unit_test(test_orphans), cmocka_unit_test(test_retention_of),
  };
  return cmocka_run_group_tests_name("image retention", tests, NULL, NULL);
}
