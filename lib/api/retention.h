/* SPDX-License-Identifier: Apache-2.0 */
/* Which checkpoint images a node keeps (docs/retention.md). Each image in a
 * node's store is named after its PodMigration (NS.NAME.UID8); what it is to
 * the node follows from that migration:
 *
 *   needed  the migration is in progress (Pending through RollingBack), or it
 *           Succeeded without the target having confirmed (Restored=True, and
 *           for post-copy MemoryTransferred=True): a rollback may still restore
 *           from it. Never removed.
 *   done    Succeeded and confirmed: kept while among the pod's last `count`
 *           such images and younger than `ttl`.
 *   kept    RolledBack or Failed: the copy the workload was rolled back from,
 *           kept for a look at what failed until `ttl` (never by count).
 *   orphan  no PodMigration names it: removed once older than the grace period.
 *
 * The decisions are pure (no files, no clock): agent/daemon/gc.c gathers the
 * images and acts on them. */
#ifndef FERRY_RETENTION_H
#define FERRY_RETENTION_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

enum ferry_image_use { FERRY_IMAGE_NEEDED, FERRY_IMAGE_DONE, FERRY_IMAGE_KEPT, FERRY_IMAGE_ORPHAN };

/* How long images of ended migrations stay: count 0 keeps none by count; ttl_ms 0: no TTL. */
struct ferry_retention {
  int count;
  int64_t ttl_ms;
};

enum ferry_gc_verdict {
  FERRY_GC_IN_USE,       /* kept: a migration may still need it */
  FERRY_GC_RETAINED,     /* kept: among the pod's last `count`, younger than the TTL */
  FERRY_GC_ORPHAN_YOUNG, /* kept: no migration names it, still within the grace period */
  FERRY_GC_EXPIRED,      /* removed: older than the TTL */
  FERRY_GC_OVER_COUNT,   /* removed: older than the pod's last `count` */
  FERRY_GC_ORPHANED,     /* removed: no migration names it, past the grace period */
};

struct ferry_gc_image {
  const char *name; /* the image's name in the store */
  const char *pod;  /* NS/POD its migration moved (NULL for an orphan) */
  enum ferry_image_use use;
  struct ferry_retention keep;   /* its migration's (the policy's, else the agent's flags) */
  int64_t created_ms;            /* unix ms: when it was written */
  enum ferry_gc_verdict verdict; /* out */
};

/* What the migration pm (NULL: none names the image) makes of its image. */
enum ferry_image_use ferry_image_use_of(json_object *pm);
/* Decides every image's verdict at now_ms; images of one pod are ranked newest first. */
void ferry_gc_decide(struct ferry_gc_image *imgs, size_t n, int64_t now_ms, int64_t orphan_grace_ms);
int ferry_gc_removes(enum ferry_gc_verdict v);
/* "expired", "over-count", ... for logs and events. */
const char *ferry_gc_verdict_name(enum ferry_gc_verdict v);

/* The retention a migration carries in status.imageRetention (the
 * controller's stamp of its MigrationPolicy's), each field over defaults. */
struct ferry_retention ferry_retention_of(json_object *pm, struct ferry_retention defaults);

#endif
