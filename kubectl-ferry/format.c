/* SPDX-License-Identifier: Apache-2.0 */
/* A PodMigration's progress for people (format.h). */
#include "format.h"

#include <stdio.h>
#include <string.h>

#include "base/util.h"

static const char *const stage_names[] = {
  [KF_STAGE_NONE] = "-",
  [KF_STAGE_CHECKPOINTING] = "Checkpointing",
  [KF_STAGE_TRANSFERRING] = "Transferring",
  [KF_STAGE_VERIFYING] = "Verifying",
  [KF_STAGE_FETCHING_PAGES] = "FetchingPages",
  [KF_STAGE_OTHER] = "?",
};

const char *kf_stage_name(enum kf_stage s) { return s <= KF_STAGE_OTHER ? stage_names[s] : "?"; }

enum kf_stage kf_stage_parse(const char *s)
{
  if (!s || !*s)
    return KF_STAGE_NONE;
  for (int i = KF_STAGE_CHECKPOINTING; i < KF_STAGE_OTHER; i++)
    if (!strcmp(s, stage_names[i]))
      return (enum kf_stage)i;
  return KF_STAGE_OTHER;
}

/* An integer member at a dotted path; -1 when absent or not a number. */
static int64_t int_at(json_object *pm, const char *path)
{
  json_object *v = ferry_kube_obj(pm, path);
  if (!v || !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
    return -1;
  return json_object_get_int64(v);
}

static int64_t time_at(json_object *pm, const char *path) { return ferry_parse_time_ms(ferry_kube_str(pm, path)); }

/* The agent leaves its last progress behind: a stage is shown only while it
 * can be under way (the image written while Checkpointing, received while
 * Transferring, verified while Restoring until its copy is whole). */
static int under_way(const struct kf_progress *p, int64_t stage_total)
{
  switch (p->stage) {
  case KF_STAGE_CHECKPOINTING:
    return p->phase == PM_CHECKPOINTING;
  case KF_STAGE_TRANSFERRING:
    return p->phase == PM_TRANSFERRING;
  case KF_STAGE_VERIFYING:
    return p->phase == PM_RESTORING && !(stage_total > 0 && p->done >= stage_total);
  default:
    return !pm_phase_is_terminal(p->phase);
  }
}

void kf_progress_read(json_object *pm, struct kf_progress *p)
{
  p->phase = pm ? pm_phase(pm) : PM_PENDING;
  p->stage = kf_stage_parse(ferry_kube_str(pm, "status.progress.stage"));
  p->before = int_at(pm, "status.bytesMoved.beforeFreeze");
  p->during = int_at(pm, "status.bytesMoved.duringFreeze");
  p->after = int_at(pm, "status.bytesMoved.afterRestore");
  p->done = int_at(pm, "status.progress.bytesDone");
  int64_t stage_total = int_at(pm, "status.progress.totalBytes");
  /* (Verifying's total is the size of the image's copy on the target, not what the move carries) */
  p->total = p->stage == KF_STAGE_VERIFYING ? -1 : stage_total;
  if (!under_way(p, stage_total))
    p->stage = KF_STAGE_NONE;
  if (p->total <= 0)
    p->total = int_at(pm, "status.memoryBytes");
  if (p->total <= 0)
    p->total = -1;
  p->start_ms = time_at(pm, "status.startTime");
  p->frozen_ms = time_at(pm, "status.frozenAt");
  p->restored_ms = time_at(pm, "status.restoredAt");
  p->completion_ms = time_at(pm, "status.completionTime");
  p->update_ms = time_at(pm, "status.progress.updateTime");
}

int64_t kf_moved(const struct kf_progress *p)
{
  int64_t during = p->during;
  if (p->phase == PM_CHECKPOINTING && p->stage == KF_STAGE_CHECKPOINTING && p->done > during)
    during = p->done;
  /* a direct move: the image is whole on the source (duringFreeze), what
   * reached the target so far is what moved */
  if (p->stage == KF_STAGE_TRANSFERRING && p->done >= 0 && (during < 0 || p->done < during))
    during = p->done;
  int64_t parts[] = { p->before, during, p->after }, sum = -1;
  for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
    if (parts[i] >= 0)
      sum = (sum < 0 ? 0 : sum) + parts[i];
  return sum;
}

double kf_percent(const struct kf_progress *p)
{
  int64_t moved = kf_moved(p);
  if (p->phase == PM_SUCCEEDED && moved >= 0)
    return 100;
  if (moved < 0 || p->total <= 0)
    return -1;
  double pct = 100.0 * (double)moved / (double)p->total;
  return pct > 100 ? 100 : pct;
}

double kf_rate_between(int64_t moved0, int64_t t0_ms, int64_t moved1, int64_t t1_ms)
{
  if (moved0 < 0 || moved1 < moved0 || t1_ms <= t0_ms)
    return -1;
  return (double)(moved1 - moved0) * 1000.0 / (double)(t1_ms - t0_ms);
}

double kf_rate_average(const struct kf_progress *p, int64_t now_ms)
{
  int64_t end = pm_phase_is_terminal(p->phase) && p->completion_ms ? p->completion_ms : now_ms;
  if (!p->start_ms)
    return -1;
  return kf_rate_between(0, p->start_ms, kf_moved(p), end);
}

int64_t kf_frozen_ms(const struct kf_progress *p, int64_t now_ms)
{
  if (!p->frozen_ms)
    return -1;
  int64_t end = p->restored_ms ? p->restored_ms : pm_phase_is_terminal(p->phase) ? p->completion_ms : now_ms;
  return end >= p->frozen_ms ? end - p->frozen_ms : -1;
}

int64_t kf_eta_ms(const struct kf_progress *p, double rate)
{
  int64_t moved = kf_moved(p);
  if (pm_phase_is_terminal(p->phase) || p->total <= 0 || moved < 0 || rate <= 0)
    return -1;
  int64_t left = p->total > moved ? p->total - moved : 0;
  return (int64_t)((double)left * 1000.0 / rate);
}

void kf_fmt_bytes(int64_t bytes, char *buf, size_t len)
{
  if (bytes < 0)
    snprintf(buf, len, "-");
  else
    ferry_format_bytes(bytes, buf, len);
}

void kf_fmt_rate(double bytes_per_s, char *buf, size_t len)
{
  if (bytes_per_s < 0) {
    snprintf(buf, len, "-");
    return;
  }
  char b[32];
  ferry_format_bytes((int64_t)bytes_per_s, b, sizeof b);
  snprintf(buf, len, "%s/s", b);
}

void kf_fmt_duration(int64_t ms, char *buf, size_t len)
{
  if (ms < 0)
    snprintf(buf, len, "-");
  else if (ms < 1000)
    snprintf(buf, len, "%lldms", (long long)ms);
  else if (ms < 60 * 1000)
    snprintf(buf, len, "%.1fs", (double)ms / 1000.0);
  else if (ms < 3600 * 1000)
    snprintf(buf, len, "%lldm%02llds", (long long)(ms / 60000), (long long)(ms / 1000 % 60));
  else
    snprintf(buf, len, "%lldh%02lldm", (long long)(ms / 3600000), (long long)(ms / 60000 % 60));
}

void kf_fmt_age(int64_t ms, char *buf, size_t len)
{
  int64_t s = ms / 1000;
  if (ms < 0)
    snprintf(buf, len, "-");
  else if (s < 120)
    snprintf(buf, len, "%llds", (long long)s);
  else if (s < 3600 * 3)
    snprintf(buf, len, "%lldm", (long long)(s / 60));
  else if (s < 86400 * 2)
    snprintf(buf, len, "%lldh", (long long)(s / 3600));
  else
    snprintf(buf, len, "%lldd", (long long)(s / 86400));
}

void kf_fmt_percent(double pct, char *buf, size_t len)
{
  if (pct < 0)
    snprintf(buf, len, "-");
  else
    snprintf(buf, len, "%d%%", (int)pct);
}

void kf_fmt_moved(const struct kf_progress *p, char *buf, size_t len)
{
  char moved[32], total[32];
  kf_fmt_bytes(kf_moved(p), moved, sizeof moved);
  if (p->total <= 0) {
    snprintf(buf, len, "%s", moved);
    return;
  }
  kf_fmt_bytes(p->total, total, sizeof total);
  snprintf(buf, len, "%s/%s", moved, total);
}

void kf_fmt_bar(double pct, int width, char *buf, size_t len)
{
  if (len < 3 || width < 1) {
    if (len)
      buf[0] = '\0';
    return;
  }
  if ((size_t)width > len - 3)
    width = (int)(len - 3);
  int filled = pct < 0 ? 0 : (int)(pct * width / 100.0 + 0.5);
  filled = filled > width ? width : filled;
  buf[0] = '[';
  for (int i = 0; i < width; i++)
    buf[1 + i] = pct < 0 ? ' ' : i < filled ? '#' : '-';
  buf[1 + width] = ']';
  buf[2 + width] = '\0';
}
