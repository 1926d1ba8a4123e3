/* SPDX-License-Identifier: Apache-2.0 */
/* The rebalancer's rounds: every interval, on the leader, the round's
 * MigrationPolicy is read (refused with a Valid=False condition and an event
 * when it cannot work), the inputs built from the caches, the core run, and
 * its plan carried out: a PodMigration per move (reason LoadBalance, Affinity
 * or Hardware; an event on the pod saying why), or in a dry run an event per
 * move that would be made; the round and its plan land in the policy's
 * status (kubectl ferry plan reads them) and in the metrics. */
#include "rebalancer.h"

#include <stdlib.h>
#include <string.h>

#include "api/podmigration.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/util.h"

#define MS_PER_S 1000
#define STATUS_REFRESH_MS 60000 /* the round's status is written at least this often while nothing changes */
#define PM_NAME_BASE 240        /* the pod name's share of a PodMigration's name */

struct rebalancer {
  int64_t interval_ms, next_ms;
  struct rb_state *st;
  char *written;      /* the last status written (its time left out), to write only changes */
  int64_t written_ms; /* when (monotonic) */
  char *invalid;      /* the message of the last InvalidPolicy event, not to repeat it every round */
};

struct rebalancer *rebalancer_new(int interval_s)
{
  struct rebalancer *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  r->interval_ms = (int64_t)interval_s * MS_PER_S;
  r->st = rb_state_new();
  if (!r->st) {
    free(r);
    return NULL;
  }
  return r;
}

void rebalancer_forget(struct rebalancer *r)
{
  if (!r)
    return;
  struct rb_state *fresh = rb_state_new();
  if (fresh) {
    rb_state_free(r->st);
    r->st = fresh;
  }
  free(r->written);
  r->written = NULL;
}

void rebalancer_free(struct rebalancer *r)
{
  if (!r)
    return;
  rb_state_free(r->st);
  free(r->written);
  free(r->invalid);
  free(r);
}

/* ---------- the policy's status ---------- */

/* The Valid condition, its transition time kept while its status stays. */
static json_object *valid_condition(json_object *mpol, const char *message)
{
  const char *status = message ? "False" : "True";
  json_object *c = json_object_new_object(), *old = ferry_kube_obj(mpol, "status.conditions");
  char now[40];
  ferry_format_time(ferry_now_real_ms(), now, sizeof now);
  const char *since = now;
  for (size_t i = 0; old && i < json_object_array_length(old); i++) {
    json_object *o = json_object_array_get_idx(old, i);
    if (!strcmp(ferry_kube_str(o, "type") ?: "", "Valid") && !strcmp(ferry_kube_str(o, "status") ?: "", status))
      since = ferry_kube_str(o, "lastTransitionTime") ?: now;
  }
  json_object_object_add(c, "type", json_object_new_string("Valid"));
  json_object_object_add(c, "status", json_object_new_string(status));
  json_object_object_add(c, "reason", json_object_new_string(message ? "InvalidPolicy" : "Valid"));
  json_object_object_add(c, "message", json_object_new_string(message ?: "the rebalancer runs with this policy"));
  json_object_object_add(c, "lastTransitionTime", json_object_new_string(since));
  json_object *list = json_object_new_array();
  json_object_array_add(list, c);
  return list;
}

/* Patches mpol's status with body ({"conditions":...,"lastRound":...,"plan":...})
 * when it differs from the last one written (its lastRound.time aside) or that
 * one is old. Takes body. */
static void write_policy_status(struct ctl *c, struct rebalancer *r, json_object *mpol, json_object *body)
{
  cleanup_json json_object *patch = json_object_new_object();
  json_object_object_add(patch, "status", body);
  json_object *gen = ferry_kube_obj(mpol, "metadata.generation");
  json_object_object_add(body, "observedGeneration", json_object_new_int64(gen ? json_object_get_int64(gen) : 0));
  const char *name = ferry_kube_str(mpol, "metadata.name") ?: "";
  cleanup_free char *same = ferry_asprintf("%s %s", name, json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN));
  int64_t now = ferry_now_mono_ms();
  if (r->written && !strcmp(r->written, same) && now - r->written_ms < STATUS_REFRESH_MS)
    return;
  json_object *round = ferry_kube_key(body, "lastRound");
  if (round) {
    char t[40];
    ferry_format_time(ferry_now_real_ms(), t, sizeof t);
    json_object_object_add(round, "time", json_object_new_string(t));
  }
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  struct ferry_kube_status st = { 0 };
  if (ferry_kube_patch(c->kube, &FERRY_KUBE_MIGRATIONPOLICIES, NULL, name, FERRY_PATCH_MERGE,
                       json_object_to_json_string_ext(patch, JSON_C_TO_STRING_PLAIN), "status", NULL, &st, &err) < 0) {
    log_warn("rebalancer: writing MigrationPolicy %s's status: %s", name, ferry_error_msg(&err));
    return;
  }
  free(r->written);
  r->written = ferry_steal(&same);
  r->written_ms = now;
}

/* A policy that cannot work: said once per message (event and log), and in its status, every round. */
static void refuse_policy(struct ctl *c, struct rebalancer *r, json_object *mpol, const char *msg)
{
  if (!r->invalid || strcmp(r->invalid, msg) != 0) {
    log_warn("rebalancer: MigrationPolicy %s: %s", ferry_kube_str(mpol, "metadata.name") ?: "", msg);
    ferry_event(c->rec, mpol, "Warning", "InvalidPolicy", "%s", msg);
    free(r->invalid);
    r->invalid = ferry_strdup(msg);
  }
  json_object *body = json_object_new_object();
  json_object_object_add(body, "conditions", valid_condition(mpol, msg));
  json_object_object_add(body, "plan", json_object_new_array());
  write_policy_status(c, r, mpol, body);
}

/* ---------- the moves ---------- */

/* A PodMigration for the move, labelled with the policy; its name into pm_name. */
static int create_migration(struct ctl *c, const struct rb_pod *pod, const char *to, enum pm_reason reason,
                            const char *policy, char *pm_name, size_t len, ferry_error *err)
{
  char seed[768], h[65];
  snprintf(seed, sizeof seed, "%s/%s/%s/%s/%lld", pod->uid, pod->name, to, pm_reason_name(reason),
           (long long)ferry_now_real_ms());
  ferry_sha256_hex(seed, strlen(seed), h);
  snprintf(pm_name, len, "%.*s-%.5s", PM_NAME_BASE, pod->name, h);
  cleanup_json json_object *pm =
      pm_object_new(pod->ns, pod->name, pm_name, strcmp(to, "auto") ? to : NULL, NULL, reason);
  json_object *labels = ferry_kube_obj(pm, "metadata.labels");
  json_object_object_add(labels, FERRY_LABEL_POLICY, json_object_new_string(policy));
  struct ferry_kube_status st = { 0 };
  return ferry_kube_create(c->kube, &FERRY_KUBE_PODMIGRATIONS, pod->ns, pm, NULL, &st, err);
}

/* One planned move: made (or in a dry run, said), and its line of the plan. */
static json_object *carry_out(struct ctl *c, const struct rbw_inputs *in, const struct rb_move *m, const char *policy)
{
  const struct rb_pod *pod = &in->pods[m->pod];
  const char *from = in->nodes[m->from].name, *to = in->nodes[m->to].name, *reason = pm_reason_name(m->reason);
  json_object *line = json_object_new_object();
  json_object_object_add(line, "namespace", json_object_new_string(pod->ns));
  json_object_object_add(line, "pod", json_object_new_string(pod->name));
  json_object_object_add(line, "from", json_object_new_string(from));
  json_object_object_add(line, "to", json_object_new_string(to));
  json_object_object_add(line, "reason", json_object_new_string(reason));
  json_object_object_add(line, "why", json_object_new_string(m->why));
  ctl_metrics_rebalance_move(c, reason, !m->execute);
  if (!m->execute) {
    ferry_event(c->rec, pod->obj, "Normal", "MigrationPlanned",
                "dry run of MigrationPolicy %s: would move to %s (%s): %s", policy, to, reason, m->why);
    json_object_object_add(line, "executed", json_object_new_boolean(0));
    return line;
  }
  char pm_name[300];
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  int ok = create_migration(c, pod, to, m->reason, policy, pm_name, sizeof pm_name, &err) == 0;
  json_object_object_add(line, "executed", json_object_new_boolean(ok));
  if (!ok) {
    log_warn("rebalancer: pod %s/%s to %s (%s): %s", pod->ns, pod->name, to, reason, ferry_error_msg(&err));
    ferry_event(c->rec, pod->obj, "Warning", "MigrationNotRequested", "MigrationPolicy %s: to %s (%s): %s", policy, to,
                reason, ferry_error_msg(&err));
    return line;
  }
  log_info("rebalancer: pod %s/%s: %s -> %s (%s): %s; created podmigration %s", pod->ns, pod->name, from, to, reason,
           m->why, pm_name);
  ferry_event(c->rec, pod->obj, "Normal", "MigrationRequested", "created PodMigration %s (to %s): %s: %s", pm_name, to,
              reason, m->why);
  json_object_object_add(line, "migration", json_object_new_string(pm_name));
  return line;
}

static json_object *round_summary(const struct rb_plan *plan, int dry_run)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "dryRun", json_object_new_boolean(dry_run));
  json_object_object_add(o, "summary", json_object_new_string(plan->summary));
  json_object_object_add(o, "overloaded", json_object_new_int(plan->over));
  json_object_object_add(o, "sources", json_object_new_int(plan->sources));
  json_object_object_add(o, "targets", json_object_new_int(plan->targets));
  json_object_object_add(o, "stuck", json_object_new_int(plan->stuck));
  return o;
}

/* ---------- a round ---------- */

struct settle_pass {
  int64_t now_ms, settle_ms;
  int moving; /* a move of the rebalancer's runs, or ended less than settle_ms ago */
};

static void look_at_move(void *ctx, json_object *pm)
{
  struct settle_pass *p = ctx;
  if (p->moving || !ferry_kube_key(ferry_kube_obj(ferry_kube_obj(pm, "metadata"), "labels"), FERRY_LABEL_POLICY))
    return;
  enum pm_phase phase = pm_phase(pm);
  int64_t ended = ferry_parse_time_ms(ferry_kube_str(pm, "status.completionTime") ?: "");
  p->moving = !pm_phase_is_terminal(phase) || (ended > 0 && p->now_ms - ended < p->settle_ms);
}

/* While a move the rebalancer made runs, and for two intervals after it
 * ended (the nodes' load reports then count the moved pod where it runs now),
 * no round plans: a round reading reports from before would move more than the
 * excess, all onto the same least-loaded node. */
static int settling(struct ctl *c, struct rebalancer *r)
{
  struct settle_pass p = { ferry_now_real_ms(), 2 * r->interval_ms, 0 };
  ferry_informer_each(c->pms, look_at_move, &p);
  return p.moving;
}

static void run_round(struct ctl *c, struct rebalancer *r, json_object *mpol)
{
  int64_t started = ferry_now_mono_ms();
  struct rb_arena pa = { 0 };
  struct rb_policy pol;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (rbw_policy_from(mpol, &pa, &pol, &err) < 0) {
    refuse_policy(c, r, mpol, ferry_error_msg(&err));
    ctl_metrics_rebalance_unplanned(c, CTL_ROUND_INVALID_POLICY);
    rb_arena_free(&pa);
    return;
  }
  free(r->invalid);
  r->invalid = NULL;
  if (!pol.dry_run && settling(c, r)) {
    log_debug("rebalancer: its last moves are not in the nodes' load reports yet: no round");
    ctl_metrics_rebalance_unplanned(c, CTL_ROUND_SETTLING);
    rb_arena_free(&pa);
    return;
  }
  struct rbw_inputs in;
  rbw_inputs_build(c, &pol, ferry_now_real_ms(), &in);
  struct rb_input input = {
    in.nodes, in.n_nodes, in.pods, in.n_pods, &pol, ferry_now_real_ms(), rb_fit_placement, NULL
  };
  struct rb_plan plan = { 0 };
  const char *policy = ferry_kube_str(mpol, "metadata.name") ?: "";
  if (rb_round(r->st, &input, &plan, &err) < 0) {
    log_warn("rebalancer: MigrationPolicy %s: %s", policy, ferry_error_msg(&err));
    ctl_metrics_rebalance_unplanned(c, CTL_ROUND_FAILED);
  } else {
    json_object *lines = json_object_new_array();
    for (size_t i = 0; i < plan.n_moves; i++)
      json_object_array_add(lines, carry_out(c, &in, &plan.moves[i], policy));
    if (plan.n_moves || plan.over)
      log_info("rebalancer: %s", plan.summary);
    json_object *body = json_object_new_object();
    json_object_object_add(body, "conditions", valid_condition(mpol, NULL));
    json_object_object_add(body, "lastRound", round_summary(&plan, pol.dry_run));
    json_object_object_add(body, "plan", lines);
    write_policy_status(c, r, mpol, body);
    ctl_metrics_rebalance_round(c, (double)(ferry_now_mono_ms() - started) / MS_PER_S, plan.over, plan.sources,
                                plan.targets, plan.stuck);
  }
  rb_plan_free(&plan);
  rbw_inputs_free(&in);
  rb_arena_free(&pa);
}

void rebalancer_tick(struct ctl *c, struct rebalancer *r)
{
  if (!r || r->interval_ms <= 0)
    return;
  int64_t now = ferry_now_mono_ms();
  if (now < r->next_ms)
    return;
  r->next_ms = now + r->interval_ms;
  json_object *mpol = rbw_round_policy(c);
  if (mpol)
    run_round(c, r, mpol);
}
