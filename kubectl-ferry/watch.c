/* SPDX-License-Identifier: Apache-2.0 */
/* kubectl ferry watch [PM...]: PodMigrations followed through the API's watch
 * (an informer, lib/kube/informer.h). On a terminal a block a migration is
 * redrawn in place (a progress bar, the bytes moved against the total, rate,
 * time frozen so far, ETA); otherwise a line is printed each time one changes
 * (its phase, stage, bytes moved, nodes). The rate is measured between two
 * successive observations of the bytes moved. migrate --wait follows its one
 * PodMigration the same way (kf_follow). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kubectl_ferry.h"
#include "format.h"
#include "base/cleanup.h"
#include "base/signals.h"
#include "base/util.h"

#define PASS_MS 500    /* the longest one pass of the informers waits */
#define REDRAW_MS 1000 /* a terminal is redrawn at least this often */
#define BAR_WIDTH 30

/* One PodMigration as the watch last saw it. */
struct seen {
  char *ns, *name;
  json_object *pm;   /* the last object (own reference); NULL once deleted */
  int64_t moved, at; /* bytes moved and when (progress.updateTime, else when seen) */
  double rate;       /* between the last two observations that moved bytes; -1 none yet */
  char *line;        /* the last line printed (not a terminal): its fields but the clock's */
  char *printed_rv;  /* -o json|yaml: the resourceVersion last printed */
  int deleted;
};

struct follow {
  FILE *out;             /* NULL: quiet */
  enum kf_output output; /* KF_OUT_JSON, KF_OUT_YAML: each change as the object; else lines or a redraw */
  int printed;           /* objects printed so far */
  int tty, all_ns;
  char **names;
  int n;
  struct seen *seen;
  size_t len, cap;
  int drawn; /* lines of the last redraw */
  int64_t drawn_at;
};

static int wanted(const struct follow *f, const char *name)
{
  if (!f->n)
    return 1;
  for (int i = 0; i < f->n; i++)
    if (!strcmp(f->names[i], name))
      return 1;
  return 0;
}

static struct seen *find(struct follow *f, const char *ns, const char *name, int add)
{
  for (size_t i = 0; i < f->len; i++)
    if (!strcmp(f->seen[i].ns, ns) && !strcmp(f->seen[i].name, name))
      return &f->seen[i];
  if (!add)
    return NULL;
  if (f->len == f->cap) {
    f->cap = f->cap ? f->cap * 2 : 8;
    struct seen *grown = realloc(f->seen, sizeof *grown * f->cap);
    if (!grown)
      abort();
    f->seen = grown;
  }
  struct seen *s = &f->seen[f->len++];
  *s = (struct seen){ .ns = ferry_strdup(ns), .name = ferry_strdup(name), .moved = -1, .rate = -1 };
  return s;
}

/* A new observation: the rate from the bytes moved since the last one. */
static void observe(struct follow *f, json_object *pm)
{
  const char *ns = ferry_kube_str(pm, "metadata.namespace") ?: "", *name = ferry_kube_str(pm, "metadata.name") ?: "";
  if (!wanted(f, name))
    return;
  struct seen *s = find(f, ns, name, 1);
  struct kf_progress p;
  kf_progress_read(pm, &p);
  int64_t moved = kf_moved(&p), at = p.update_ms ? p.update_ms : ferry_now_real_ms();
  if (moved >= 0 && moved != s->moved) {
    double r = kf_rate_between(s->moved, s->at, moved, at);
    s->rate = r >= 0 ? r : s->rate;
    s->moved = moved;
    s->at = at;
  }
  json_object_put(s->pm);
  s->pm = json_object_get(pm);
  s->deleted = 0;
}

static void on_add(void *ctx, json_object *obj) { observe(ctx, obj); }
static void on_update(void *ctx, json_object *old_obj, json_object *new_obj)
{
  (void)old_obj;
  observe(ctx, new_obj);
}
static void on_delete(void *ctx, json_object *obj)
{
  struct follow *f = ctx;
  struct seen *s =
      find(f, ferry_kube_str(obj, "metadata.namespace") ?: "", ferry_kube_str(obj, "metadata.name") ?: "", 0);
  if (s)
    s->deleted = 1;
}

static int ended(const struct seen *s) { return s->deleted || (s->pm && pm_phase_is_terminal(pm_phase(s->pm))); }

static const char *label(const struct follow *f, const struct seen *s, char *buf, size_t len)
{
  if (f->all_ns)
    snprintf(buf, len, "%s/%s", s->ns, s->name);
  else
    snprintf(buf, len, "%s", s->name);
  return buf;
}

/* ---------- a line per change ---------- */

static void print_line(struct follow *f, struct seen *s, int64_t now)
{
  char who[512], stamp[32], key[1024], tail[128] = "";
  label(f, s, who, sizeof who);
  if (s->deleted) {
    snprintf(key, sizeof key, "%s deleted", who);
  } else {
    struct kf_pm_view v;
    kf_pm_view(s->pm, now, s->rate, &v);
    snprintf(key, sizeof key, "%s %s stage=%s strategy=%s from=%s to=%s moved=%s (%s)", who, v.phase, v.stage,
             v.strategy, v.source, v.target, v.moved, v.percent);
    snprintf(tail, sizeof tail, " rate=%s frozen=%s eta=%s", v.rate, v.frozen, v.eta);
  }
  if (s->line && !strcmp(s->line, key))
    return; /* only the clock's fields changed */
  ferry_format_time(now, stamp, sizeof stamp);
  fprintf(f->out, "%s %s%s\n", stamp, key, tail);
  fflush(f->out);
  free(s->line);
  s->line = ferry_strdup(key);
}

/* ---------- a terminal, redrawn ---------- */

static int draw_one(struct follow *f, const struct seen *s, int64_t now)
{
  char who[512], bar[BAR_WIDTH + 3];
  label(f, s, who, sizeof who);
  if (s->deleted) {
    fprintf(f->out, "\033[K%s  deleted\n", who);
    return 1;
  }
  struct kf_pm_view v;
  kf_pm_view(s->pm, now, s->rate, &v);
  kf_fmt_bar(v.pct, BAR_WIDTH, bar, sizeof bar);
  fprintf(f->out, "\033[K%s  %s%s%s%s  %s  %s -> %s\n", who, v.phase, *v.stage != '-' ? " (" : "",
          *v.stage != '-' ? v.stage : "", *v.stage != '-' ? ")" : "", v.strategy, v.source, v.target);
  fprintf(f->out, "\033[K  %s %4s  %s  before %s, during %s, after the freeze %s  rate %s  frozen %s  ETA %s\n", bar,
          v.percent, v.moved, v.before, v.during, v.after, v.rate, v.frozen, v.eta);
  return 2;
}

static void redraw(struct follow *f, int64_t now)
{
  if (f->drawn)
    fprintf(f->out, "\033[%dA", f->drawn);
  int lines = 0;
  for (size_t i = 0; i < f->len; i++)
    lines += draw_one(f, &f->seen[i], now);
  if (!f->len) {
    fputs("\033[KNo PodMigrations yet.\n", f->out);
    lines = 1;
  }
  fputs("\033[J", f->out);
  fflush(f->out);
  f->drawn = lines;
  f->drawn_at = now;
}

/* -o json|yaml: the object, each time its resourceVersion changed. */
static void print_object(struct follow *f, struct seen *s)
{
  const char *rv = s->pm ? ferry_kube_str(s->pm, "metadata.resourceVersion") ?: "" : "";
  if (!s->pm || (s->printed_rv && !strcmp(s->printed_rv, rv)))
    return;
  if (f->output == KF_OUT_YAML && f->printed++)
    fputs("---\n", f->out); /* between YAML documents */
  kf_print_object(s->pm, f->output, f->out);
  fflush(f->out);
  free(s->printed_rv);
  s->printed_rv = ferry_strdup(rv);
}

static void show(struct follow *f, int changed)
{
  int64_t now = ferry_now_real_ms();
  if (!f->out)
    return;
  if (f->output == KF_OUT_JSON || f->output == KF_OUT_YAML) {
    for (size_t i = 0; i < f->len; i++)
      print_object(f, &f->seen[i]);
    return;
  }
  if (f->tty) {
    if (changed || now - f->drawn_at >= REDRAW_MS)
      redraw(f, now);
    return;
  }
  for (size_t i = 0; i < f->len; i++)
    print_line(f, &f->seen[i], now);
}

/* ---------- the loop ---------- */

/* 1 once every named one was seen and ended; -1 when a named one does not exist. */
static int named_ended(struct follow *f, const char *ns)
{
  for (int i = 0; i < f->n; i++) {
    struct seen *s = find(f, ns ?: "", f->names[i], 0);
    if (!s) {
      fprintf(stderr, "Error from server (NotFound): podmigrations.ferry.dev \"%s\" not found\n", f->names[i]);
      return -1;
    }
    if (!ended(s))
      return 0;
  }
  return 1;
}

/* 0 when every named one Succeeded; 1 otherwise (each that did not is said). */
static int outcome(struct follow *f)
{
  int rc = 0;
  for (size_t i = 0; i < f->len; i++) {
    const struct seen *s = &f->seen[i];
    enum pm_phase ph = s->pm ? pm_phase(s->pm) : PM_UNKNOWN;
    if (ph == PM_SUCCEEDED && !s->deleted)
      continue;
    fprintf(stderr, "error: podmigration %s %s%s%s\n", s->name, s->deleted ? "was deleted" : pm_phase_name(ph) ?: "?",
            s->pm && ferry_kube_str(s->pm, "status.message") ? ": " : "",
            s->pm ? ferry_kube_str(s->pm, "status.message") ?: "" : "");
    rc = 1;
  }
  return rc;
}

static void follow_free(struct follow *f)
{
  for (size_t i = 0; i < f->len; i++) {
    free(f->seen[i].ns);
    free(f->seen[i].name);
    free(f->seen[i].line);
    free(f->seen[i].printed_rv);
    json_object_put(f->seen[i].pm);
  }
  free(f->seen);
}

/* Runs the informer until the named ones ended, the deadline or a signal: 1
 * when the named ones ended, 0 at the deadline or signal, -1 on an error. */
static int run(struct follow *f, const struct kf_env *e, const char *ns, int timeout_s)
{
  cleanup_informers struct ferry_informers *g = NULL;
  struct ferry_informer *inf = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  struct ferry_informer_handlers h = { on_add, on_update, on_delete, f };
  if (kf_pm_informer(e, ns, &h, &g, &inf) < 0)
    return -1;
  int64_t deadline = timeout_s ? ferry_now_mono_ms() + (int64_t)timeout_s * 1000 : 0;
  while (!ferry_stopping && (!deadline || ferry_now_mono_ms() < deadline)) {
    size_t before = f->len;
    if (ferry_informers_run(g, PASS_MS, &err) < 0) {
      fprintf(stderr, "error: watching podmigrations: %s\n", ferry_error_msg(&err));
      return -1;
    }
    if (!ferry_informer_synced(inf))
      continue;
    show(f, f->len != before);
    int done = f->n ? named_ended(f, ns) : 0;
    if (done)
      return done;
  }
  return 0;
}

int kf_follow(const struct kf_env *e, const char *ns, char **names, int n, int timeout_s, enum kf_output output,
              FILE *out)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  struct follow f = { .out = out,
                      .output = output,
                      .tty = out && isatty(fileno(out)) && output != KF_OUT_JSON && output != KF_OUT_YAML,
                      .all_ns = !ns,
                      .names = names,
                      .n = n };
  if (ferry_catch_stop_signals(&err) < 0) {
    fprintf(stderr, "error: %s\n", ferry_error_msg(&err));
    return 1;
  }
  int r = run(&f, e, ns, timeout_s);
  if (f.out && f.tty)
    redraw(&f, ferry_now_real_ms());
  int rc = 1;
  if (r > 0)
    rc = outcome(&f);
  else if (r == 0 && !n)
    rc = 0; /* following all of them: until interrupted or the timeout */
  else if (r == 0 && !ferry_stopping)
    fprintf(stderr, "error: timed out waiting for the condition on podmigrations/%s\n", names[0]);
  follow_free(&f);
  return rc;
}

int kf_watch(const struct kf_env *e, const struct kf_opts *o)
{
  return kf_follow(e, o->all_namespaces ? NULL : e->ns, o->args, o->nargs, o->timeout_s, o->output, stdout);
}
