/* SPDX-License-Identifier: Apache-2.0 */
/* The controller's health, readiness and Prometheus metrics (`--metrics-listen`,
 * base/opsd.h): ready once its caches synced, live while its loop turns; the
 * families say who leads, how deep the work queue is, how reconciles went, how
 * many PodMigrations are in each phase, how the ended ones went (counted by the
 * leading replica from the phase changes its watch sees: each end once), and
 * which nodes' agents are ready (docs/metrics.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "api/podmigration.h"
#include "base/cleanup.h"
#include "base/opsd.h"
#include "base/prom.h"
#include "base/util.h"

#define STALL_MS 120000      /* /livez fails when the loop has not turned for this long */
#define PHASES_EVERY_MS 1000 /* the phase and agent gauges are counted from the caches at most this often */
#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

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

/* ---------- how PodMigrations ended (ctl_metrics_pm_changed) ---------- */

static const double DOWNTIME_BUCKETS[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
static const double DURATION_BUCKETS[] = { 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800 };

#define COUNTED_BY                                                                                                     \
  " Counted by the leading replica when its watch sees the phase change: each PodMigration once; one that ended "      \
  "while no replica led is not counted."

static const struct prom_family_desc FINISHED = { PROM_COUNTER,
                                                  "ferry_controller_migrations_finished_total",
                                                  "PodMigrations that ended, by result (Succeeded, RolledBack, "
                                                  "Failed), the strategy that ran (status.strategy; none: never "
                                                  "scheduled) and why the pod moved (spec.reason)." COUNTED_BY,
                                                  { "result", "strategy", "reason" },
                                                  NULL,
                                                  0 };
static const struct prom_family_desc DOWNTIME = { PROM_HISTOGRAM,
                                                  "ferry_controller_migration_downtime_seconds",
                                                  "Downtime of the PodMigrations that succeeded, from the freeze to "
                                                  "serving on the target (status.freezeMillis), by the strategy that "
                                                  "ran." COUNTED_BY,
                                                  { "strategy" },
                                                  DOWNTIME_BUCKETS,
                                                  NELEMS(DOWNTIME_BUCKETS) };
static const struct prom_family_desc DURATION = { PROM_HISTOGRAM,
                                                  "ferry_controller_migration_duration_seconds",
                                                  "Time from Scheduled to the end (status.totalMillis, else "
                                                  "completionTime - startTime), by result; ones never scheduled are "
                                                  "not observed." COUNTED_BY,
                                                  { "result" },
                                                  DURATION_BUCKETS,
                                                  NELEMS(DURATION_BUCKETS) };
static const struct prom_family_desc MOVED = {
  PROM_COUNTER,
  "ferry_controller_migration_moved_bytes_total",
  "Bytes the ended PodMigrations moved between nodes, by stage "
  "(status.bytesMoved: beforeFreeze, duringFreeze, afterRestore)." COUNTED_BY,
  { "stage" },
  NULL,
  0
};
static const struct prom_family_desc ROLLBACKS = { PROM_COUNTER,
                                                   "ferry_controller_migration_rollbacks_total",
                                                   "Rollbacks begun, by cause: the status.reason the phase RollingBack "
                                                   "was written with (Timeout, Cancelled, RestoreFailed, ...); how "
                                                   "they ended is in ferry_controller_migrations_finished_total. "
                                                   "Counted by the leading replica when its watch sees the phase "
                                                   "change.",
                                                   { "cause" },
                                                   NULL,
                                                   0 };
static const struct prom_family_desc AGENTS = { PROM_GAUGE,
                                                "ferry_controller_agent_ready",
                                                "1 while the node's ferry-agent renews its Lease (within "
                                                "--agent-stale-seconds), 0 once it is stale; a series for each node "
                                                "that has an agent Lease.",
                                                { "node" },
                                                NULL,
                                                0 };

/* status.bytesMoved's members, the stage label's values. */
static const char *const STAGES[] = { "beforeFreeze", "duringFreeze", "afterRestore" };
/* The results finished_total counts, and the strategy label's values (status.strategy never says auto). */
static const enum pm_phase RESULTS[] = { PM_SUCCEEDED, PM_ROLLED_BACK, PM_FAILED };
static const char *const NO_STRATEGY = "none";
static const enum pm_strategy RAN[] = { PM_STRATEGY_STOP_AND_COPY, PM_STRATEGY_PRE_COPY, PM_STRATEGY_POST_COPY };

static const double ROUND_BUCKETS[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1 };

static const char *const ROUND_RESULTS[] = {
  [CTL_ROUND_PLANNED] = "planned",
  [CTL_ROUND_INVALID_POLICY] = "invalid_policy",
  [CTL_ROUND_FAILED] = "failed",
  [CTL_ROUND_SETTLING] = "settling",
};

static const struct prom_family_desc ROUNDS = {
  PROM_COUNTER,
  "ferry_rebalancer_rounds_total",
  "Rebalancer rounds run (the leader's), by result: planned, invalid_policy (the round's MigrationPolicy refused), "
  "failed, settling (the rebalancer's last moves not yet in its nodes' load reports: nothing planned).",
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
  struct prom_family *finished, *downtime, *duration, *moved, *rollbacks, *agents;
  int64_t phases_at;
  int leading; /* as ctl_metrics_loop was last told: only the leader counts ends */
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

/* The strategy label's values: those status.strategy may say (never auto), then NO_STRATEGY. */
static const char *strategy_value(size_t i) { return i < NELEMS(RAN) ? pm_strategy_name(RAN[i]) : NO_STRATEGY; }

/* Every series of the counters at 0 from the start, so that the first failure is
 * an increase (rate() and increase() see nothing of a series' birth). */
static void zero_counters(struct ctl_metrics *m)
{
  for (size_t i = 0; i < NELEMS(ROUND_RESULTS); i++)
    prom_add(m->rounds, (const char *[]){ ROUND_RESULTS[i] }, 0);
  for (size_t i = 0; i < NELEMS(STAGES); i++)
    prom_add(m->moved, (const char *[]){ STAGES[i] }, 0);
  for (size_t i = 0; i < NELEMS(RESULTS); i++)
    for (size_t s = 0; s <= NELEMS(RAN); s++)
      for (int r = PM_REASON_MANUAL; r < PM_REASON_COUNT; r++) {
        const char *labels[] = { pm_phase_name(RESULTS[i]), strategy_value(s), pm_reason_name((enum pm_reason)r) };
        prom_add(m->finished, labels, 0);
      }
}

static int register_families(struct ctl_metrics *m, const char *identity)
{
  struct prom_family *info = NULL;
  const struct {
    const struct prom_family_desc *desc;
    struct prom_family **f;
  } all[] = {
    { &INFO, &info },
    { &LEADER, &m->leader },
    { &SYNCED, &m->synced },
    { &DEPTH, &m->depth },
    { &RECONCILES, &m->reconciles },
    { &RECONCILE_TIME, &m->reconcile_time },
    { &PHASES, &m->phases },
    { &FINISHED, &m->finished },
    { &DOWNTIME, &m->downtime },
    { &DURATION, &m->duration },
    { &MOVED, &m->moved },
    { &ROLLBACKS, &m->rollbacks },
    { &AGENTS, &m->agents },
    { &ROUNDS, &m->rounds },
    { &ROUND_TIME, &m->round_time },
    { &MOVES, &m->moves },
    { &NODES, &m->nodes },
  };
  for (size_t i = 0; i < NELEMS(all); i++)
    if (!(*all[i].f = prom_register(m->reg, all[i].desc)))
      return -1;
  zero_counters(m);
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

struct agents {
  struct ctl *c;
  struct prom_family *ready;
};

/* A node whose agent has a Lease: 1 while the Lease is fresh (ctl_agent_ready, as placement reads it), else 0. */
static void agent_of_node(void *ctx, json_object *node)
{
  struct agents *a = ctx;
  const char *name = ferry_kube_str(node, "metadata.name");
  if (!name)
    return;
  cleanup_free char *lease = ferry_asprintf("%s%s", FERRY_AGENT_LEASE_PREFIX, name);
  if (ferry_informer_get(a->c->leases, a->c->agent_ns, lease))
    prom_set(a->ready, (const char *[]){ name }, ctl_agent_ready(a->c, name, NULL));
}

/* One series per node that has an agent Lease: a deleted node's goes, a node without an agent has none. */
static void set_agents(struct ctl_metrics *m, struct ctl *c)
{
  struct agents a = { c, m->agents };
  prom_clear(m->agents);
  ferry_informer_each(c->nodes, agent_of_node, &a);
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
  m->leading = leading;
  int64_t now = ferry_now_mono_ms();
  if (synced && now - m->phases_at >= PHASES_EVERY_MS) {
    set_phases(m, c);
    set_agents(m, c);
    m->phases_at = now;
  }
}

/* ---------- how PodMigrations ended ---------- */

/* status.strategy (what ran), or "none" when it never got one (failed before it was scheduled). */
static const char *strategy_ran(json_object *pm)
{
  enum pm_strategy s;
  if (pm_strategy_parse(ferry_kube_str(pm, "status.strategy"), &s) < 0)
    return NO_STRATEGY;
  return pm_strategy_name(s);
}

/* An integer member of the status (a dotted path), or -1 when absent or not an integer. */
static int64_t status_int(json_object *pm, const char *path)
{
  json_object *v = ferry_kube_obj(pm, path);
  return json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
}

/* From Scheduled to the end in ms: totalMillis (Succeeded), else completionTime - startTime; -1 if unknown. */
static int64_t total_ms(json_object *pm)
{
  int64_t total = status_int(pm, "status.totalMillis");
  if (total >= 0)
    return total;
  int64_t start = ferry_parse_time_ms(ferry_kube_str(pm, "status.startTime") ?: "");
  int64_t end = ferry_parse_time_ms(ferry_kube_str(pm, "status.completionTime") ?: "");
  return start > 0 && end >= start ? end - start : -1;
}

static void count_finished(struct ctl_metrics *m, json_object *pm, enum pm_phase result)
{
  const char *strategy = strategy_ran(pm);
  prom_add(m->finished, (const char *[]){ pm_phase_name(result), strategy, pm_reason_name(pm_reason(pm)) }, 1);
  int64_t freeze = status_int(pm, "status.freezeMillis"), total = total_ms(pm);
  if (result == PM_SUCCEEDED && freeze >= 0)
    prom_observe(m->downtime, (const char *[]){ strategy }, (double)freeze / 1000);
  if (total >= 0)
    prom_observe(m->duration, (const char *[]){ pm_phase_name(result) }, (double)total / 1000);
  json_object *moved = ferry_kube_obj(pm, "status.bytesMoved");
  for (size_t i = 0; i < NELEMS(STAGES); i++) {
    json_object *v = ferry_kube_key(moved, STAGES[i]);
    if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0)
      prom_add(m->moved, (const char *[]){ STAGES[i] }, (double)json_object_get_int64(v));
  }
}

void ctl_metrics_pm_changed(struct ctl *c, json_object *old, json_object *pm)
{
  struct ctl_metrics *m = c->metrics;
  if (!m || !m->leading)
    return;
  enum pm_phase was = pm_phase(old), now = pm_phase(pm);
  if (now == was)
    return;
  if (now == PM_ROLLING_BACK) {
    const char *cause = ferry_kube_str(pm, "status.reason");
    prom_add(m->rollbacks, (const char *[]){ cause && *cause ? cause : "Unknown" }, 1);
  } else if (pm_phase_is_terminal(now) && !pm_phase_is_terminal(was)) {
    count_finished(m, pm, now);
  }
}

char *ctl_metrics_text(struct ctl *c) { return c->metrics ? prom_render(c->metrics->reg) : NULL; }

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
