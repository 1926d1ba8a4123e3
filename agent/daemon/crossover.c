/* SPDX-License-Identifier: Apache-2.0 */
/* The crossover of post-copy's and stop-and-copy's downtime on this node:
 * the lines, the threshold, the kept moves and their file (crossover.h). */
#include "daemon/crossover.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/util.h"
#include "kube/kube.h"

#define MIB 1048576.0
#define THRESHOLD_MAX ((double)(INT64_C(1) << 62)) /* a crossing past this is "never" in practice */

/* ---------- the lines ---------- */

/* Fewer than CROSSOVER_MIN_MOVES, or sizes too close together: why filled, 0. */
static int enough_moves(const struct crossover_move *m, size_t n, struct crossover_fit *out)
{
  if (n < CROSSOVER_MIN_MOVES) {
    snprintf(out->why, sizeof out->why, "%zu of the %d moves needed", n, CROSSOVER_MIN_MOVES);
    return 0;
  }
  int64_t lo = INT64_MAX, hi = 0;
  for (size_t i = 0; i < n; i++) {
    lo = m[i].memory < lo ? m[i].memory : lo;
    hi = m[i].memory > hi ? m[i].memory : hi;
  }
  if ((double)hi < (double)lo * CROSSOVER_MIN_SPREAD) {
    char a[32], b[32];
    ferry_format_bytes(lo, a, sizeof a);
    ferry_format_bytes(hi, b, sizeof b);
    snprintf(out->why, sizeof out->why, "its %zu moves' sizes (%s to %s) are not %dx apart", n, a, b,
             CROSSOVER_MIN_SPREAD);
    return 0;
  }
  return 1;
}

void crossover_fit(const struct crossover_move *m, size_t n, struct crossover_fit *out)
{
  memset(out, 0, sizeof *out);
  out->moves = n;
  if (!enough_moves(m, n, out))
    return;
  double mx = 0, my = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < n; i++) {
    mx += (double)m[i].memory / (double)n;
    my += (double)m[i].downtime_ms / (double)n;
  }
  for (size_t i = 0; i < n; i++) {
    double dx = (double)m[i].memory - mx;
    sxx += dx * dx;
    sxy += dx * ((double)m[i].downtime_ms - my);
  }
  out->ms_per_byte = sxy / sxx; /* sxx > 0: the sizes are spread */
  out->fixed_ms = my - out->ms_per_byte * mx;
  out->valid = 1;
}

/* ---------- the threshold ---------- */

/* The default stands: why filled (a sentence), or the fits' reasons. */
static void use_default(struct crossover *c, int64_t default_bytes, const char *why)
{
  c->bytes = default_bytes;
  c->measured = 0;
  if (why)
    snprintf(c->why, sizeof c->why, "%s", why);
  else
    snprintf(c->why, sizeof c->why, "not measured yet: stopAndCopy: %s; postCopy: %s",
             c->stop_and_copy.valid ? "ok" : c->stop_and_copy.why, c->post_copy.valid ? "ok" : c->post_copy.why);
}

void crossover_compute(const struct crossover_moves *h, int64_t default_bytes, struct crossover *out)
{
  memset(out, 0, sizeof *out);
  struct crossover_fit *s = &out->stop_and_copy, *p = &out->post_copy;
  crossover_fit(h->stop_and_copy, h->n_stop_and_copy, s);
  crossover_fit(h->post_copy, h->n_post_copy, p);
  if (!s->valid || !p->valid)
    return use_default(out, default_bytes, NULL);
  if (s->ms_per_byte <= 0)
    return use_default(out, default_bytes,
                       "no crossing: stopAndCopy's downtime did not grow with memory over its moves");
  if (s->ms_per_byte <= p->ms_per_byte)
    return use_default(out, default_bytes,
                       "no crossing: postCopy's downtime grew with memory at least as fast as stopAndCopy's");
  /* post-copy's line may slope a little downwards (its downtime barely depends
   * on memory, and noise does the rest): the crossing holds either way */
  double x = (p->fixed_ms - s->fixed_ms) / (s->ms_per_byte - p->ms_per_byte);
  out->bytes = x <= 0 ? 0 : x >= THRESHOLD_MAX ? (int64_t)THRESHOLD_MAX : (int64_t)llround(x);
  out->measured = 1;
}

/* ---------- the kept moves ---------- */

static int known(const struct crossover_moves *h, const char *uid)
{
  for (size_t i = 0; i < h->n_stop_and_copy; i++)
    if (!strcmp(h->stop_and_copy[i].uid, uid))
      return 1;
  for (size_t i = 0; i < h->n_post_copy; i++)
    if (!strcmp(h->post_copy[i].uid, uid))
      return 1;
  return 0;
}

int crossover_add(struct crossover_moves *h, enum pm_strategy s, const struct crossover_move *m)
{
  struct crossover_move *list = s == PM_STRATEGY_POST_COPY ? h->post_copy : h->stop_and_copy;
  size_t *n = s == PM_STRATEGY_POST_COPY ? &h->n_post_copy : &h->n_stop_and_copy;
  if ((s != PM_STRATEGY_POST_COPY && s != PM_STRATEGY_STOP_AND_COPY) || !*m->uid || m->memory <= 0 ||
      m->downtime_ms <= 0 || known(h, m->uid))
    return 0;
  if (*n == CROSSOVER_KEEP) { /* full: the oldest goes, unless this one is older still */
    if (m->at_ms < list[0].at_ms)
      return 0;
    memmove(list, list + 1, (CROSSOVER_KEEP - 1) * sizeof *list);
    (*n)--;
  }
  size_t i = *n;
  while (i > 0 && list[i - 1].at_ms > m->at_ms) {
    list[i] = list[i - 1];
    i--;
  }
  list[i] = *m;
  (*n)++;
  return 1;
}

/* ---------- the annotation ---------- */

static json_object *fit_json(const struct crossover_fit *f)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "moves", json_object_new_int64((int64_t)f->moves));
  if (f->valid) {
    json_object_object_add(o, "fixedMs", json_object_new_double(round(f->fixed_ms * 10) / 10));
    json_object_object_add(o, "msPerMiB", json_object_new_double(round(f->ms_per_byte * MIB * 1000) / 1000));
  } else {
    json_object_object_add(o, "why", json_object_new_string(f->why));
  }
  return o;
}

char *crossover_annotation(const struct crossover *c)
{
  cleanup_json json_object *o = json_object_new_object();
  char human[32];
  ferry_format_bytes(c->bytes, human, sizeof human);
  json_object_object_add(o, "bytes", json_object_new_int64(c->bytes));
  json_object_object_add(o, "threshold", json_object_new_string(human));
  json_object_object_add(o, "source", json_object_new_string(c->measured ? "measured" : "default"));
  json_object_object_add(o, "moves", json_object_new_int64((int64_t)(c->stop_and_copy.moves + c->post_copy.moves)));
  if (!c->measured)
    json_object_object_add(o, "why", json_object_new_string(c->why));
  json_object_object_add(o, "stopAndCopy", fit_json(&c->stop_and_copy));
  json_object_object_add(o, "postCopy", fit_json(&c->post_copy));
  return ferry_strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}

/* ---------- the file ---------- */

static json_object *moves_json(const struct crossover_move *m, size_t n)
{
  json_object *a = json_object_new_array_ext((int)n);
  for (size_t i = 0; i < n; i++) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "uid", json_object_new_string(m[i].uid));
    json_object_object_add(o, "atMs", json_object_new_int64(m[i].at_ms));
    json_object_object_add(o, "memoryBytes", json_object_new_int64(m[i].memory));
    json_object_object_add(o, "downtimeMs", json_object_new_int64(m[i].downtime_ms));
    json_object_array_add(a, o);
  }
  return a;
}

int crossover_save(const char *path, const struct crossover_moves *h, ferry_error *err)
{
  cleanup_json json_object *o = json_object_new_object();
  json_object_object_add(o, "stopAndCopy", moves_json(h->stop_and_copy, h->n_stop_and_copy));
  json_object_object_add(o, "postCopy", moves_json(h->post_copy, h->n_post_copy));
  const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
  if (ferry_write_file_atomic(path, text, strlen(text), err) < 0)
    return ferry_error_prefix(err, "saving the moves for the post-copy threshold");
  return 0;
}

/* The file's moves of strategy s (an entry that is not a move fails). */
static int moves_from(json_object *a, enum pm_strategy s, struct crossover_moves *h, ferry_error *err)
{
  for (size_t i = 0; a && i < json_object_array_length(a); i++) {
    json_object *e = json_object_array_get_idx(a, i), *v;
    struct crossover_move m = { 0 };
    const char *uid = ferry_kube_str(e, "uid");
    if (!uid || strlen(uid) >= sizeof m.uid || !json_object_object_get_ex(e, "memoryBytes", &v))
      return ferry_error_set(err, 0, "%s move %zu has no uid or memoryBytes", pm_strategy_name(s), i);
    snprintf(m.uid, sizeof m.uid, "%s", uid);
    m.memory = json_object_get_int64(v);
    m.at_ms = json_object_get_int64(ferry_kube_obj(e, "atMs"));
    m.downtime_ms = json_object_get_int64(ferry_kube_obj(e, "downtimeMs"));
    crossover_add(h, s, &m);
  }
  return 0;
}

int crossover_load(const char *path, struct crossover_moves *h, ferry_error *err)
{
  memset(h, 0, sizeof *h);
  cleanup_free char *text = NULL;
  if (ferry_read_file(path, &text, NULL, err) < 0) {
    if (err->errnum == ENOENT) {
      ferry_error_clear(err);
      return 0;
    }
    return ferry_error_prefix(err, "reading the moves for the post-copy threshold");
  }
  cleanup_json json_object *o = json_tokener_parse(text);
  if (!o || !json_object_is_type(o, json_type_object))
    return ferry_error_set(err, 0, "%s: not a JSON object", path);
  if (moves_from(ferry_kube_obj(o, "stopAndCopy"), PM_STRATEGY_STOP_AND_COPY, h, err) < 0 ||
      moves_from(ferry_kube_obj(o, "postCopy"), PM_STRATEGY_POST_COPY, h, err) < 0) {
    memset(h, 0, sizeof *h);
    return ferry_error_prefix(err, "%s", path);
  }
  return 0;
}
