/* SPDX-License-Identifier: Apache-2.0 */
/* What status, watch and cancel share: reading PodMigrations by name or all of
 * a namespace, and one PodMigration's row (kf_pm_view). */
#include <string.h>

#include "kubectl_ferry.h"
#include "format.h"
#include "base/cleanup.h"
#include "base/util.h"

static const char *or_dash(const char *s) { return s && *s ? s : "-"; }

void kf_pm_view(json_object *pm, int64_t now_ms, double rate, struct kf_pm_view *v)
{
  struct kf_progress p;
  kf_progress_read(pm, &p);
  v->ns = or_dash(ferry_kube_str(pm, "metadata.namespace"));
  v->name = or_dash(ferry_kube_str(pm, "metadata.name"));
  v->pod = or_dash(ferry_kube_str(pm, "spec.pod"));
  v->phase = or_dash(pm_phase_name(p.phase));
  v->stage = pm_phase_is_terminal(p.phase) ? "-" : kf_stage_name(p.stage);
  v->strategy = or_dash(ferry_kube_str(pm, "status.strategy") ?: ferry_kube_str(pm, "spec.strategy"));
  v->source = or_dash(ferry_kube_str(pm, "status.sourceNode"));
  v->target = or_dash(ferry_kube_str(pm, "status.targetNode") ?: ferry_kube_str(pm, "spec.targetNode"));
  v->target_pod = or_dash(ferry_kube_str(pm, "status.targetPod"));
  v->message = or_dash(ferry_kube_str(pm, "status.message"));
  if (rate < 0)
    rate = kf_rate_average(&p, now_ms);
  v->pct = kf_percent(&p);
  kf_fmt_moved(&p, v->moved, sizeof v->moved);
  kf_fmt_percent(v->pct, v->percent, sizeof v->percent);
  kf_fmt_rate(pm_phase_is_terminal(p.phase) || kf_moved(&p) < 0 ? -1 : rate, v->rate, sizeof v->rate);
  kf_fmt_duration(kf_frozen_ms(&p, now_ms), v->frozen, sizeof v->frozen);
  kf_fmt_duration(kf_eta_ms(&p, rate), v->eta, sizeof v->eta);
  int64_t created = ferry_parse_time_ms(ferry_kube_str(pm, "metadata.creationTimestamp"));
  kf_fmt_age(created ? now_ms - created : -1, v->age, sizeof v->age);
  kf_fmt_bytes(p.before, v->before, sizeof v->before);
  kf_fmt_bytes(p.during, v->during, sizeof v->during);
  kf_fmt_bytes(p.after, v->after, sizeof v->after);
}

static int get_one(const struct kf_env *e, const char *ns, const char *name, json_object *items)
{
  struct ferry_kube_status st = { 0 };
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  json_object *pm = NULL;
  if (ferry_kube_get(e->k, &FERRY_KUBE_PODMIGRATIONS, ns, name, &pm, &st, &err) < 0) {
    if (st.code == 404)
      fprintf(stderr, "Error from server (NotFound): podmigrations.ferry.dev \"%s\" not found\n", name);
    else
      kf_api_error(&st, &err);
    return -1;
  }
  json_object_array_add(items, pm);
  return 0;
}

int kf_get_pms(const struct kf_env *e, const char *ns, char **names, int n, json_object **items)
{
  if (!n) {
    cleanup_error ferry_error err = FERRY_ERROR_INIT;
    if (ferry_kube_list(e->k, &FERRY_KUBE_PODMIGRATIONS, ns, NULL, NULL, 500, items, NULL, &err) == 0)
      return 0;
    kf_api_error(NULL, &err);
    return -1;
  }
  cleanup_json json_object *found = json_object_new_array();
  int failed = 0;
  for (int i = 0; i < n; i++)
    if (get_one(e, ns, names[i], found) < 0)
      failed = 1;
  if (failed)
    return -1;
  *items = ferry_steal(&found);
  return 0;
}

int kf_pm_informer(const struct kf_env *e, const char *ns, const struct ferry_informer_handlers *h,
                   struct ferry_informers **g, struct ferry_informer **inf)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_informers_new(e->cfg, g, &err) == 0 &&
      ferry_informer_add(*g, &FERRY_KUBE_PODMIGRATIONS, ns, NULL, NULL, h, inf, &err) == 0)
    return 0;
  fprintf(stderr, "error: watching podmigrations: %s\n", ferry_error_msg(&err));
  return -1;
}
