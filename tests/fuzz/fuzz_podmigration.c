/* SPDX-License-Identifier: Apache-2.0 */
/* A PodMigration, a MigrationPolicy and a Pod as the controller reads them: the
 * input is a JSON array of the three. The migration's phase, reason, strategy
 * and conditions (lib/api/podmigration.c, as reconcile.c and schedule.c read
 * them), a status patch built on it (its conditions kept), the policy's limits
 * (ctl_policy_read) and whether it selects the pod (ctl_policy_selects). */
#include <json-c/json.h>

#include "fuzz.h"
#include "reconcile.h"
#include "api/podmigration.h"
#include "kube/kube.h"

static void read_migration(json_object *pm)
{
  enum pm_phase phase = pm_phase(pm);
  (void)pm_phase_name(phase);
  (void)pm_reason_name(pm_reason(pm));
  enum pm_strategy s;
  if (pm_strategy_parse(ferry_kube_str(pm, "spec.strategy"), &s) == 0 && !pm_strategy_name(s))
    abort();
  if (pm_strategy_parse(ferry_kube_str(pm, "status.strategy"), &s) == 0 && !pm_strategy_name(s))
    abort();
  cleanup_json json_object *patch = pm_status_patch(phase, "Fuzz", "%s", ferry_kube_str(pm, "status.message") ?: "");
  pm_patch_condition(patch, pm, "CleanedUp", !pm_condition_true(pm, "CleanedUp"), "Fuzz", "fuzz");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  cleanup_free char *text = fuzz_text(data, len);
  cleanup_json json_object *all = json_tokener_parse(text);
  if (!json_object_is_type(all, json_type_array))
    return 0;
  json_object *pm = json_object_array_get_idx(all, 0), *policy = json_object_array_get_idx(all, 1),
              *pod = json_object_array_get_idx(all, 2);
  read_migration(pm);
  struct policy pol;
  ctl_policy_read(policy, &pol);
  ctl_policy_selects(policy, pod, ferry_kube_str(pm, "metadata.namespace") ?: "");
  return 0;
}
