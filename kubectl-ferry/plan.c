/* SPDX-License-Identifier: Apache-2.0 */
/* kubectl ferry plan [POLICY]: what the rebalancer's last round planned for
 * each MigrationPolicy (or one), read from the policy's status (written by
 * controller/rebalancer.c): a row per planned move with its reason and why,
 * and whether it was carried out (the PodMigration's name) or only reported
 * (a dry run). A policy refused as invalid is said on stderr with its message.
 * -o json or yaml prints each policy's name and status as the API holds them. */
#include <stdio.h>
#include <string.h>

#include "kubectl_ferry.h"
#include "base/cleanup.h"

static const char *or_dash(const char *s) { return s && *s ? s : "-"; }

/* The Valid condition's message when its status is False, else NULL. */
static const char *invalid_message(json_object *mpol)
{
  json_object *conds = ferry_kube_obj(mpol, "status.conditions");
  for (size_t i = 0; conds && i < json_object_array_length(conds); i++) {
    json_object *c = json_object_array_get_idx(conds, i);
    if (!strcmp(ferry_kube_str(c, "type") ?: "", "Valid") && !strcmp(ferry_kube_str(c, "status") ?: "", "False"))
      return or_dash(ferry_kube_str(c, "message"));
  }
  return NULL;
}

/* The move's column: the PodMigration it created, "(dry run)" or "(not created)". */
static const char *outcome(json_object *line, int dry_run)
{
  const char *pm = ferry_kube_str(line, "migration");
  if (pm)
    return pm;
  return dry_run ? "(dry run)" : "(not created)";
}

static void print_rows(json_object *mpol, int *rows)
{
  const char *name = ferry_kube_str(mpol, "metadata.name") ?: "";
  const char *bad = invalid_message(mpol);
  if (bad)
    fprintf(stderr, "MigrationPolicy %s is not valid: %s\n", name, bad);
  json_object *dry = ferry_kube_obj(mpol, "status.lastRound.dryRun");
  int dry_run = dry && json_object_get_boolean(dry);
  json_object *plan = ferry_kube_obj(mpol, "status.plan");
  for (size_t i = 0; plan && i < json_object_array_length(plan); i++) {
    json_object *l = json_object_array_get_idx(plan, i);
    const char *done = outcome(l, dry_run);
    if (!(*rows)++)
      printf("%-16s %-12s %-24s %-12s %-12s %-12s %-28s %s\n", "POLICY", "NAMESPACE", "POD", "FROM", "TO", "REASON",
             "MIGRATION", "WHY");
    printf("%-16s %-12s %-24s %-12s %-12s %-12s %-28s %s\n", name, or_dash(ferry_kube_str(l, "namespace")),
           or_dash(ferry_kube_str(l, "pod")), or_dash(ferry_kube_str(l, "from")), or_dash(ferry_kube_str(l, "to")),
           or_dash(ferry_kube_str(l, "reason")), done, or_dash(ferry_kube_str(l, "why")));
  }
}

/* {"policy": name, "status": {...}} for each policy. */
static json_object *json_entry(json_object *mpol)
{
  json_object *o = json_object_new_object(), *st = ferry_kube_obj(mpol, "status");
  json_object_object_add(o, "policy", json_object_new_string(ferry_kube_str(mpol, "metadata.name") ?: ""));
  json_object_object_add(o, "status", st ? json_object_get(st) : json_object_new_object());
  return o;
}

static int fetch_policies(struct ferry_kube *k, const char *policy, json_object **items)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (!policy) {
    if (ferry_kube_list(k, &FERRY_KUBE_MIGRATIONPOLICIES, NULL, NULL, NULL, 0, items, NULL, &err) == 0)
      return 0;
  } else {
    json_object *one = NULL;
    struct ferry_kube_status st = { 0 };
    if (ferry_kube_get(k, &FERRY_KUBE_MIGRATIONPOLICIES, NULL, policy, &one, &st, &err) == 0) {
      *items = json_object_new_array();
      json_object_array_add(*items, one);
      return 0;
    }
    if (st.code == 404) {
      fprintf(stderr, "Error from server (NotFound): migrationpolicies.ferry.dev \"%s\" not found\n", policy);
      return -1;
    }
  }
  fprintf(stderr, "error: %s\n", ferry_error_msg(&err));
  return -1;
}

int kf_plan(const struct kf_env *e, const struct kf_opts *o)
{
  cleanup_json json_object *items = NULL;
  if (fetch_policies(e->k, o->nargs ? o->args[0] : NULL, &items) < 0)
    return 1;
  size_t n = json_object_array_length(items);
  if (o->output == KF_OUT_JSON || o->output == KF_OUT_YAML) {
    cleanup_json json_object *all = json_object_new_array();
    for (size_t i = 0; i < n; i++)
      json_object_array_add(all, json_entry(json_object_array_get_idx(items, i)));
    return kf_print_object(all, o->output, stdout) < 0 ? 1 : 0;
  }
  int rows = 0;
  for (size_t i = 0; i < n; i++)
    print_rows(json_object_array_get_idx(items, i), &rows);
  if (!rows)
    fprintf(stderr, n ? "No moves planned.\n" : "No MigrationPolicies found.\n");
  return 0;
}
