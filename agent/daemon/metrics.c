/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's Prometheus families and its HTTP endpoints (see metrics.h). */
#include "metrics.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/opsd.h"
#include "base/prom.h"

static const double DOWNTIME_BUCKETS[] = { 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
static const double BYTES_BUCKETS[] = {
  1 << 20, 16 << 20, 64 << 20, 256 << 20, 1024.0 * (1 << 20), 4096.0 * (1 << 20)
};
#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const struct prom_family_desc INFO = {
  PROM_GAUGE, "ferry_agent_info", "The agent's version and node.", { "node", "version" }, NULL, 0
};
static const struct prom_family_desc MIGRATIONS = { PROM_COUNTER,
                                                    "ferry_agent_migrations_total",
                                                    "Migration steps this agent finished, by role and outcome.",
                                                    { "node", "role", "outcome" },
                                                    NULL,
                                                    0 };
static const struct prom_family_desc OPS = { PROM_GAUGE,
                                             "ferry_agent_operations_in_progress",
                                             "Checkpoints, restores and rollbacks running now.",
                                             { "node" },
                                             NULL,
                                             0 };
static const struct prom_family_desc RELEASED = {
  PROM_COUNTER,
  "ferry_agent_containers_released_total",
  "Containers found frozen or held by a CRIU that no migration owned, and released.",
  { "node" },
  NULL,
  0
};
static const struct prom_family_desc HELD = { PROM_GAUGE,
                                              "ferry_agent_containers_held",
                                              "Containers held stopped that the agent could not release.",
                                              { "node" },
                                              NULL,
                                              0 };
static const struct prom_family_desc DOWNTIME = {
  PROM_HISTOGRAM,   "ferry_agent_downtime_seconds", "From the freeze on the source to running here.", { "node" },
  DOWNTIME_BUCKETS, NELEMS(DOWNTIME_BUCKETS)
};
static const struct prom_family_desc BYTES = {
  PROM_HISTOGRAM, "ferry_agent_image_bytes", "Size of the checkpoint images this agent wrote.", { "node" },
  BYTES_BUCKETS,  NELEMS(BYTES_BUCKETS)
};

static const struct prom_family_desc GC_REMOVED = {
  PROM_COUNTER,
  "ferry_agent_gc_removed_total",
  "Images and records the agent's collector removed, by kind (image, "
  "partial, admission, restored, restoreFailed, restoreCopy, departed).",
  { "node", "kind" },
  NULL,
  0
};
static const struct prom_family_desc STORE_IMAGES = {
  PROM_GAUGE, "ferry_agent_store_images", "Images in this node's store (s3://: its local copies).", { "node" }, NULL, 0
};
static const struct prom_family_desc STORE_IMAGE_BYTES = {
  PROM_GAUGE, "ferry_agent_store_image_bytes", "Bytes those images take.", { "node" }, NULL, 0
};
static const struct prom_family_desc STORE_FREE = {
  PROM_GAUGE,
  "ferry_agent_store_free_bytes",
  "Free bytes on the file system of this node's store; below --store-min-free the node refuses checkpoints.",
  { "node" },
  NULL,
  0
};

struct metrics {
  struct ferry_opsd *opsd;
  struct prom_registry *reg;
  struct prom_family *migrations, *ops, *released, *held, *downtime, *bytes;
  struct prom_family *gc_removed, *store_images, *store_image_bytes, *store_free;
  char *node;
};

static void metrics_free(struct metrics *m)
{
  ferry_opsd_stop(m->opsd);
  prom_registry_free(m->reg);
  free(m->node);
  free(m);
}

/* Every family registered and the series known from the start set (0 rather than absent). */
static int register_families(struct metrics *m)
{
  struct prom_family *info = prom_register(m->reg, &INFO);
  m->migrations = prom_register(m->reg, &MIGRATIONS);
  m->ops = prom_register(m->reg, &OPS);
  m->released = prom_register(m->reg, &RELEASED);
  m->held = prom_register(m->reg, &HELD);
  m->downtime = prom_register(m->reg, &DOWNTIME);
  m->bytes = prom_register(m->reg, &BYTES);
  m->gc_removed = prom_register(m->reg, &GC_REMOVED);
  m->store_images = prom_register(m->reg, &STORE_IMAGES);
  m->store_image_bytes = prom_register(m->reg, &STORE_IMAGE_BYTES);
  m->store_free = prom_register(m->reg, &STORE_FREE);
  if (!info || !m->migrations || !m->ops || !m->released || !m->held || !m->downtime || !m->bytes || !m->gc_removed ||
      !m->store_images || !m->store_image_bytes || !m->store_free)
    return -1;
  prom_set(info, (const char *[]){ m->node, FERRY_VERSION }, 1);
  const char *node[] = { m->node };
  prom_set(m->ops, node, 0);
  prom_add(m->released, node, 0);
  prom_set(m->held, node, 0);
  return 0;
}

int metrics_start(const char *listen, const char *node, struct metrics **out, int *port, ferry_error *err)
{
  struct metrics *m = calloc(1, sizeof *m);
  if (!m)
    return ferry_error_set(err, ENOMEM, "metrics");
  m->reg = prom_registry_new();
  m->node = strdup(node);
  if (!m->reg || !m->node || register_families(m) < 0) {
    metrics_free(m);
    return ferry_error_set(err, ENOMEM, "metrics");
  }
  struct ferry_opsd_opts o = { .listen = listen, .flag = "--metrics-listen", .metrics = m->reg };
  if (ferry_opsd_start(&o, &m->opsd, port, err) < 0) {
    metrics_free(m);
    return -1;
  }
  *out = m;
  return 0;
}

void metrics_stop(struct metrics *m)
{
  if (m)
    metrics_free(m);
}

void metrics_set_ready(struct metrics *m, int ready, const char *why)
{
  if (m)
    ferry_opsd_set_ready(m->opsd, ready, why);
}

void metrics_count(struct metrics *m, const char *role, const char *outcome)
{
  if (m)
    prom_add(m->migrations, (const char *[]){ m->node, role, outcome }, 1);
}

void metrics_ops(struct metrics *m, int in_progress)
{
  if (m)
    prom_set(m->ops, (const char *[]){ m->node }, in_progress);
}

void metrics_observe_downtime(struct metrics *m, double seconds)
{
  if (m)
    prom_observe(m->downtime, (const char *[]){ m->node }, seconds);
}

void metrics_observe_bytes(struct metrics *m, double bytes)
{
  if (m)
    prom_observe(m->bytes, (const char *[]){ m->node }, bytes);
}

void metrics_released(struct metrics *m)
{
  if (m)
    prom_add(m->released, (const char *[]){ m->node }, 1);
}

void metrics_held(struct metrics *m, size_t held)
{
  if (m)
    prom_set(m->held, (const char *[]){ m->node }, (double)held);
}

void metrics_gc_removed(struct metrics *m, const char *kind, unsigned n)
{
  if (m)
    prom_add(m->gc_removed, (const char *[]){ m->node, kind }, n);
}

void metrics_store(struct metrics *m, size_t images, uint64_t image_bytes)
{
  if (!m)
    return;
  prom_set(m->store_images, (const char *[]){ m->node }, (double)images);
  prom_set(m->store_image_bytes, (const char *[]){ m->node }, (double)image_bytes);
}

void metrics_store_free(struct metrics *m, uint64_t free_bytes)
{
  if (m)
    prom_set(m->store_free, (const char *[]){ m->node }, (double)free_bytes);
}
