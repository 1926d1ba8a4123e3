/* SPDX-License-Identifier: Apache-2.0 */
/* The controller's health, readiness and Prometheus metrics (`--metrics-listen`,
 * base/opsd.h): ready once its caches synced, live while its loop turns; the
 * families say who leads, how deep the work queue is, how reconciles went and
 * how many PodMigrations are in each phase. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "api/podmigration.h"
#include "base/opsd.h"
#include "base/prom.h"
#include "base/util.h"

#define STALL_MS 120000      /* /livez fails when the loop has not turned for this long */
#define PHASES_EVERY_MS 1000 /* the phase gauges are counted from the cache at most this often */

static const double RECONCILE_BUCKETS[] = { 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5 };

static const struct prom_family_desc INFO = {
  PROM_GAUGE, "ferry_controller_info", "The controller's version and identity.", { "version", "identity" }, NULL, 0
};
static const struct prom_family_desc LEADER = {
  PROM_GAUGE, "ferry_controller_leader", "1 while this replica holds the Lease ferry-controller.", { NULL }, NULL, 0
};
static const struct prom_family_desc SYNCED = {
  PROM_GAUGE, "ferry_controller_caches_synced", "1 once every informer has listed.", { NULL }, NULL, 0
};
static const struct prom_family_desc DEPTH = {
  PROM_GAUGE, "ferry_controller_workqueue_depth", "Keys waiting in the work queue (due or delayed).", { NULL }, NULL, 0
};
static const struct prom_family_desc RECONCILES = { PROM_COUNTER,
                                                    "ferry_controller_reconcile_total",
                                                    "Reconciles by object kind and result.",
                                                    { "kind", "result" },
                                                    NULL,
                                                    0 };
static const struct prom_family_desc RECONCILE_TIME = { PROM_HISTOGRAM,
                                                        "ferry_controller_reconcile_duration_seconds",
                                                        "Time one reconcile took, by object kind.",
                                                        { "kind" },
                                                        RECONCILE_BUCKETS,
                                                        sizeof RECONCILE_BUCKETS / sizeof RECONCILE_BUCKETS[0] };
static const struct prom_family_desc PHASES = { PROM_GAUGE,
                                                "ferry_controller_migrations",
                                                "PodMigrations in the cache, by phase and reason.",
                                                { "phase", "reason" },
                                                NULL,
                                                0 };

struct ctl_metrics {
  struct prom_registry *reg;
  struct ferry_opsd *opsd;
  struct prom_family *leader, *synced, *depth, *reconciles, *reconcile_time, *phases;
  int64_t phases_at;
};

void ctl_metrics_stop(struct ctl *c)
{
  struct ctl_metrics *m = c->metrics;
  if (!m)
    return;
  ferry_opsd_stop(m->opsd);
  prom_registry_free(m->reg);
  free(m);
  c->metrics = NULL;
}

static int register_families(struct ctl_metrics *m, const char *identity)
{
  struct prom_family *info = prom_register(m->reg, &INFO);
  m->leader = prom_register(m->reg, &LEADER);
  m->synced = prom_register(m->reg, &SYNCED);
  m->depth = prom_register(m->reg, &DEPTH);
  m->reconciles = prom_register(m->reg, &RECONCILES);
  m->reconcile_time = prom_register(m->reg, &RECONCILE_TIME);
  m->phases = prom_register(m->reg, &PHASES);
  if (!info || !m->leader || !m->synced || !m->depth || !m->reconciles || !m->reconcile_time || !m->phases)
    return -1;
  prom_set(info, (const char *[]){ FERRY_VERSION, identity }, 1);
  prom_set(m->leader, NULL, 0);
  prom_set(m->synced, NULL, 0);
  prom_set(m->depth, NULL, 0);
  return 0;
}

int ctl_metrics_start(struct ctl *c, const char *listen, const char *identity, int *port, ferry_error *err)
{
  struct ctl_metrics *m = calloc(1, sizeof *m);
  if (!m)
    return ferry_error_set(err, ENOMEM, "metrics");
  c->metrics = m;
  m->reg = prom_registry_new();
  if (!m->reg || register_families(m, identity) < 0) {
    ctl_metrics_stop(c);
    return ferry_error_set(err, ENOMEM, "metrics");
  }
  struct ferry_opsd_opts o = { .listen = listen, .flag = "--metrics-listen", .metrics = m->reg, .stall_ms = STALL_MS };
  if (ferry_opsd_start(&o, &m->opsd, port, err) < 0) {
    ctl_metrics_stop(c);
    return -1;
  }
  ferry_opsd_set_ready(m->opsd, 0, "the caches have not synced yet");
  return 0;
}

struct phase_count {
  double n[PM_UNKNOWN + 1][PM_REASON_COUNT];
};

static void count_phase(void *ctx, json_object *pm)
{
  enum pm_phase p = pm_phase(pm);
  if (p >= 0 && p <= PM_UNKNOWN)
    ((struct phase_count *)ctx)->n[p][pm_reason(pm)]++;
}

/* One gauge per phase and reason, every combination present (0 where none is in it). */
static void set_phases(struct ctl_metrics *m, struct ctl *c)
{
  struct phase_count pc;
  memset(&pc, 0, sizeof pc);
  ferry_informer_each(c->pms, count_phase, &pc);
  for (int p = PM_PENDING; p < PM_UNKNOWN; p++)
    for (int r = PM_REASON_MANUAL; r < PM_REASON_COUNT; r++)
      prom_set(m->phases, (const char *[]){ pm_phase_name((enum pm_phase)p), pm_reason_name((enum pm_reason)r) },
               pc.n[p][r]);
}

void ctl_metrics_loop(struct ctl *c, int leading, int synced)
{
  struct ctl_metrics *m = c->metrics;
  if (!m)
    return;
  ferry_opsd_heartbeat(m->opsd);
  ferry_opsd_set_ready(m->opsd, synced, "the caches have not synced yet");
  prom_set(m->leader, NULL, leading);
  prom_set(m->synced, NULL, synced);
  prom_set(m->depth, NULL, (double)queue_len(c->q));
  int64_t now = ferry_now_mono_ms();
  if (synced && now - m->phases_at >= PHASES_EVERY_MS) {
    set_phases(m, c);
    m->phases_at = now;
  }
}

void ctl_metrics_reconciled(struct ctl *c, const char *kind, int ok, double seconds)
{
  struct ctl_metrics *m = c->metrics;
  if (!m)
    return;
  prom_add(m->reconciles, (const char *[]){ kind, ok ? "success" : "error" }, 1);
  prom_observe(m->reconcile_time, (const char *[]){ kind }, seconds);
}
