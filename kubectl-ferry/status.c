/* SPDX-License-Identifier: Apache-2.0 */
/* kubectl ferry status [PM...]: a row per PodMigration with how far it has
 * come (the bytes moved against the total, percent, average rate, time
 * frozen, ETA); -o wide adds the stage, the bytes by when, the target pod and
 * the message; -o json|yaml|name as kubectl get prints them. */
#include <string.h>

#include "kubectl_ferry.h"
#include "base/cleanup.h"
#include "base/util.h"

enum { COLS = 13, WIDE_COLS = 7 };

static const char *const header[COLS] = {
  "NAME", "POD", "PHASE", "STRATEGY", "SOURCE", "TARGET", "MOVED", "PROGRESS", "RATE", "FROZEN", "ETA", "AGE", NULL,
};
static const char *const wide_header[WIDE_COLS] = {
  "STAGE", "BEFORE-FREEZE", "DURING-FREEZE", "AFTER-RESTORE", "TARGET-POD", "MESSAGE", NULL,
};

/* The row's cells into cells (the namespace first with -A). */
static size_t row(const struct kf_pm_view *v, int all_ns, int wide, const char **cells)
{
  size_t n = 0;
  if (all_ns)
    cells[n++] = v->ns;
  const char *base[] = { v->name,  v->pod,     v->phase, v->strategy, v->source, v->target,
                         v->moved, v->percent, v->rate,  v->frozen,   v->eta,    v->age };
  for (size_t i = 0; i < sizeof base / sizeof *base; i++)
    cells[n++] = base[i];
  if (wide) {
    const char *more[] = { v->stage, v->before, v->during, v->after, v->target_pod, v->message };
    for (size_t i = 0; i < sizeof more / sizeof *more; i++)
      cells[n++] = more[i];
  }
  return n;
}

static size_t header_row(int all_ns, int wide, const char **cells)
{
  size_t n = 0;
  if (all_ns)
    cells[n++] = "NAMESPACE";
  for (size_t i = 0; header[i]; i++)
    cells[n++] = header[i];
  for (size_t i = 0; wide && wide_header[i]; i++)
    cells[n++] = wide_header[i];
  return n;
}

static void print_table(json_object *items, int all_ns, int wide)
{
  const char *cells[COLS + WIDE_COLS + 1];
  cleanup_table struct kf_table *t = kf_table_new(header_row(all_ns, wide, cells));
  kf_table_add(t, cells);
  int64_t now = ferry_now_real_ms();
  for (size_t i = 0; i < json_object_array_length(items); i++) {
    struct kf_pm_view v;
    kf_pm_view(json_object_array_get_idx(items, i), now, -1, &v);
    row(&v, all_ns, wide, cells);
    kf_table_add(t, cells);
  }
  kf_table_print(t, stdout);
}

int kf_status(const struct kf_env *e, const struct kf_opts *o)
{
  cleanup_json json_object *items = NULL;
  const char *ns = o->all_namespaces ? NULL : e->ns;
  if (kf_get_pms(e, ns, o->args, o->nargs, &items) < 0)
    return 1;
  if (o->output != KF_OUT_TABLE && o->output != KF_OUT_WIDE)
    return kf_print_items(items, o->nargs == 1, KF_PM_RESOURCE, o->output, stdout) < 0 ? 1 : 0;
  if (!json_object_array_length(items)) {
    if (ns)
      fprintf(stderr, "No resources found in %s namespace.\n", ns);
    else
      fputs("No resources found\n", stderr);
    return 0;
  }
  print_table(items, o->all_namespaces, o->output == KF_OUT_WIDE);
  return 0;
}
