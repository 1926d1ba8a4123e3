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

static const double ROUND_BUCKETS[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1 };

static const char *const ROUND_RESULTS[] = {
  [CTL_ROUND_PLANNED] = "planned",
  [CTL_ROUND_INVALID_POLICY] = "invalid_policy",
  [CTL_ROUND_FAILED] = "failed",
};

static const struct prom_family_desc ROUNDS = {
  PROM_COUNTER,
  "ferry_rebalancer_rounds_total",
  "Rebalancer rounds run (the leader's), by result: planned, invalid_policy (the round's MigrationPolicy refused), "
  "failed.",
  { "result" },
  NULL,
  0
};
static const struct prom_family_desc ROUND_TIME = { PROM_HISTOGRAM,
                                                    "ferry_rebalancer_round_duration_seconds",
                                                    "Time one rebalancer round took, its inputs built from the caches.",
                                                    { NULL },
                                                    ROUND_BUCKETS,
                                                    sizeof ROUND_BUCKETS / sizeof ROUND_BUCKETS[0] };
static const struct prom_family_desc MOVES = {
  PROM_COUNTER,
  "ferry_rebalancer_moves_total",
  "Moves the rebalancer planned, by reason; dry_run=\"true\": reported only.",
  { "reason", "dry_run" },
  NULL,
  0
};
static const struct prom_family_desc NODES = { PROM_GAUGE,
                                               "ferry_rebalancer_nodes",
                                               "Nodes in the last round: overloaded (above a high threshold), source "
                                               "(overloaded for the window, free to shed), target (under both low "
                                               "thresholds, free to receive), stuck (a source with no move found).",
                                               { "state" },
                                               NULL,
                                               0 };

struct ctl_metrics {
  struct prom_registry *reg;
  struct ferry_opsd *opsd;
  struct prom_family *leader, *synced, *depth, *reconciles, *reconcile_time, *phases;
  struct prom_family *rounds, *round_time, *moves, *nodes;
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
  m->rounds = prom_register(m->reg, &ROUNDS);
  m->round_time = prom_register(m->reg, &ROUND_TIME);
  m->moves = prom_register(m->reg, &MOVES);
  m->nodes = prom_register(m->reg, &NODES);
  if (!info || !m->leader || !m->synced || !m->depth || !m->reconciles || !m->reconcile_time || !m->phases ||
      !m->rounds || !m->round_time || !m->moves || !m->nodes)
    return -1;
  for (size_t i = 0; i < sizeof ROUND_RESULTS / sizeof ROUND_RESULTS[0]; i++)
    prom_add(m->rounds, (const char *[]){ ROUND_RESULTS[i] }, 0);
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

void ctl_metrics_rebalance_unplanned(struct ctl *c, enum ctl_round_result result)
{
  if (c->metrics)
    prom_add(c->metrics->rounds, (const char *[]){ ROUND_RESULTS[result] }, 1);
}

void ctl_metrics_rebalance_round(struct ctl *c, double seconds, int overloaded, int sources, int targets, int stuck)
{
  struct ctl_metrics *m = c->metrics;
  if (!m)
    return;
  prom_add(m->rounds, (const char *[]){ ROUND_RESULTS[CTL_ROUND_PLANNED] }, 1);
  prom_observe(m->round_time, NULL, seconds);
  prom_set(m->nodes, (const char *[]){ "overloaded" }, overloaded);
  prom_set(m->nodes, (const char *[]){ "source" }, sources);
  prom_set(m->nodes, (const char *[]){ "target" }, targets);
  prom_set(m->nodes, (const char *[]){ "stuck" }, stuck);
}

void ctl_metrics_rebalance_move(struct ctl *c, const char *reason, int dry_run)
{
  if (c->metrics)
    prom_add(c->metrics->moves, (const char *[]){ reason, dry_run ? "true" : "false" }, 1);
}
