/* SPDX-License-Identifier: Apache-2.0 */
/* Which images a node keeps: the decisions (see retention.h). */
#include "api/retention.h"

#include <stdlib.h>
#include <string.h>

#include "api/podmigration.h"
#include "kube/kube.h"

/* Succeeded and confirmed by the target: restored there, and with post-copy every page arrived. */
static int confirmed(json_object *pm)
{
  enum pm_strategy s;
  int postcopy = pm_strategy_parse(ferry_kube_str(pm, "status.strategy"), &s) == 0 && s == PM_STRATEGY_POST_COPY;
  return pm_condition_true(pm, "Restored") && (!postcopy || pm_condition_true(pm, "MemoryTransferred"));
}

enum ferry_image_use ferry_image_use_of(json_object *pm)
{
  if (!pm)
    return FERRY_IMAGE_ORPHAN;
  switch (pm_phase(pm)) {
  case PM_SUCCEEDED:
    return confirmed(pm) ? FERRY_IMAGE_DONE : FERRY_IMAGE_NEEDED;
  case PM_FAILED:
  case PM_ROLLED_BACK:
    return FERRY_IMAGE_KEPT;
  default: /* in progress, or a phase this version does not know: a rollback may need it */
    return FERRY_IMAGE_NEEDED;
  }
}

static int expired(const struct ferry_gc_image *i, int64_t now_ms)
{
  return i->keep.ttl_ms > 0 && now_ms - i->created_ms >= i->keep.ttl_ms;
}

/* Done images of i's pod written after it (newer first; the name breaks a tie). */
static int newer_done(const struct ferry_gc_image *imgs, size_t n, const struct ferry_gc_image *i)
{
  int rank = 0;
  for (size_t j = 0; j < n; j++) {
    const struct ferry_gc_image *o = &imgs[j];
    if (o == i || o->use != FERRY_IMAGE_DONE || strcmp(o->pod, i->pod) != 0)
      continue;
    if (o->created_ms > i->created_ms || (o->created_ms == i->created_ms && strcmp(o->name, i->name) > 0))
      rank++;
  }
  return rank;
}

static enum ferry_gc_verdict decide_one(const struct ferry_gc_image *imgs, size_t n, const struct ferry_gc_image *i,
                                        int64_t now_ms, int64_t orphan_grace_ms)
{
  switch (i->use) {
  case FERRY_IMAGE_NEEDED:
    return FERRY_GC_IN_USE;
  case FERRY_IMAGE_ORPHAN:
    return now_ms - i->created_ms >= orphan_grace_ms ? FERRY_GC_ORPHANED : FERRY_GC_ORPHAN_YOUNG;
  case FERRY_IMAGE_KEPT:
    return expired(i, now_ms) ? FERRY_GC_EXPIRED : FERRY_GC_RETAINED;
  case FERRY_IMAGE_DONE:
    if (expired(i, now_ms))
      return FERRY_GC_EXPIRED;
    return newer_done(imgs, n, i) >= i->keep.count ? FERRY_GC_OVER_COUNT : FERRY_GC_RETAINED;
  }
  return FERRY_GC_IN_USE;
}

void ferry_gc_decide(struct ferry_gc_image *imgs, size_t n, int64_t now_ms, int64_t orphan_grace_ms)
{
  for (size_t i = 0; i < n; i++)
    imgs[i].verdict = decide_one(imgs, n, &imgs[i], now_ms, orphan_grace_ms);
}

int ferry_gc_removes(enum ferry_gc_verdict v)
{
  return v == FERRY_GC_EXPIRED || v == FERRY_GC_OVER_COUNT || v == FERRY_GC_ORPHANED;
}

const char *ferry_gc_verdict_name(enum ferry_gc_verdict v)
{
  static const char *const names[] = { "in use",  "retained",   "orphan in its grace period",
                                       "expired", "over count", "orphaned" };
  return (size_t)v < sizeof names / sizeof names[0] ? names[v] : "?";
}

struct ferry_retention ferry_retention_of(json_object *pm, struct ferry_retention defaults)
{
  json_object *r = ferry_kube_obj(ferry_kube_obj(pm, "status"), "imageRetention"), *v;
  struct ferry_retention out = defaults;
  if (r && json_object_object_get_ex(r, "count", &v) && json_object_is_type(v, json_type_int) &&
      json_object_get_int(v) >= 0)
    out.count = json_object_get_int(v);
  if (r && json_object_object_get_ex(r, "ttlSeconds", &v) && json_object_is_type(v, json_type_int) &&
      json_object_get_int64(v) >= 0)
    out.ttl_ms = json_object_get_int64(v) * 1000;
  return out;
}
