/* SPDX-License-Identifier: Apache-2.0 */
/* The metrics registry and its text exposition (see prom.h). Series are few
 * (tens per family), so they are kept in an array and found by a linear scan. */
#include "base/prom.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct prom_series {
  char *values[PROM_MAX_LABELS];
  double value; /* counter, gauge */
  unsigned long buckets[PROM_MAX_BUCKETS], count;
  double sum; /* histogram */
};

struct prom_family {
  struct prom_registry *r;
  const struct prom_family_desc *d;
  size_t nlabels;
  struct prom_series *series;
  size_t nseries, cap;
};

struct prom_registry {
  pthread_mutex_t mu;
  struct prom_family **families;
  size_t n;
};

struct prom_registry *prom_registry_new(void)
{
  struct prom_registry *r = calloc(1, sizeof *r);
  if (r && pthread_mutex_init(&r->mu, NULL) != 0) {
    free(r);
    return NULL;
  }
  return r;
}

static void free_series(struct prom_family *f)
{
  for (size_t i = 0; i < f->nseries; i++)
    for (size_t j = 0; j < f->nlabels; j++)
      free(f->series[i].values[j]);
  free(f->series);
  f->series = NULL;
  f->nseries = f->cap = 0;
}

void prom_registry_free(struct prom_registry *r)
{
  if (!r)
    return;
  for (size_t i = 0; i < r->n; i++) {
    free_series(r->families[i]);
    free(r->families[i]);
  }
  free(r->families);
  pthread_mutex_destroy(&r->mu);
  free(r);
}

struct prom_family *prom_register(struct prom_registry *r, const struct prom_family_desc *d)
{
  if (!r || !d->name || !d->help || (d->type == PROM_HISTOGRAM && (!d->buckets || d->nbuckets > PROM_MAX_BUCKETS)))
    return NULL;
  struct prom_family *f = calloc(1, sizeof *f);
  struct prom_family **grown = f ? realloc(r->families, (r->n + 1) * sizeof *grown) : NULL;
  if (!grown) {
    free(f);
    return NULL;
  }
  f->r = r;
  f->d = d;
  while (f->nlabels < PROM_MAX_LABELS && d->labels[f->nlabels])
    f->nlabels++;
  pthread_mutex_lock(&r->mu);
  r->families = grown;
  r->families[r->n++] = f;
  pthread_mutex_unlock(&r->mu);
  return f;
}

/* The series with these values, made when missing (NULL: out of memory). Under the lock. */
static struct prom_series *series_for(struct prom_family *f, const char *const *values)
{
  for (size_t i = 0; i < f->nseries; i++) {
    size_t j = 0;
    while (j < f->nlabels && !strcmp(f->series[i].values[j], values[j]))
      j++;
    if (j == f->nlabels)
      return &f->series[i];
  }
  if (f->nseries == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 4;
    struct prom_series *grown = realloc(f->series, cap * sizeof *grown);
    if (!grown)
      return NULL;
    f->series = grown;
    f->cap = cap;
  }
  struct prom_series *s = &f->series[f->nseries];
  memset(s, 0, sizeof *s);
  for (size_t j = 0; j < f->nlabels; j++) {
    s->values[j] = strdup(values[j] ? values[j] : "");
    if (!s->values[j]) {
      while (j > 0)
        free(s->values[--j]);
      return NULL;
    }
  }
  f->nseries++;
  return s;
}

enum change { CHANGE_ADD, CHANGE_SET, CHANGE_OBSERVE };

static void change(struct prom_family *f, const char *const *values, double v, enum change how)
{
  if (!f)
    return;
  pthread_mutex_lock(&f->r->mu);
  struct prom_series *s = series_for(f, values);
  if (s && how == CHANGE_ADD)
    s->value += v;
  else if (s && how == CHANGE_SET)
    s->value = v;
  else if (s) {
    for (size_t i = 0; i < f->d->nbuckets; i++)
      if (v <= f->d->buckets[i])
        s->buckets[i]++;
    s->count++;
    s->sum += v;
  }
  pthread_mutex_unlock(&f->r->mu);
}

void prom_add(struct prom_family *f, const char *const *values, double v) { change(f, values, v, CHANGE_ADD); }
void prom_set(struct prom_family *f, const char *const *values, double v) { change(f, values, v, CHANGE_SET); }
void prom_observe(struct prom_family *f, const char *const *values, double v) { change(f, values, v, CHANGE_OBSERVE); }

void prom_clear(struct prom_family *f)
{
  if (!f)
    return;
  pthread_mutex_lock(&f->r->mu);
  free_series(f);
  pthread_mutex_unlock(&f->r->mu);
}

/* A label value escaped as the format wants: backslash, double quote, newline. */
static void print_value(FILE *out, const char *v)
{
  for (; *v; v++) {
    if (*v == '\\' || *v == '"')
      fprintf(out, "\\%c", *v);
    else if (*v == '\n')
      fputs("\\n", out);
    else
      fputc(*v, out);
  }
}

/* {a="x",b="y"} with an extra le="..." for buckets; nothing when there are no labels. */
static void print_labels(FILE *out, const struct prom_family *f, const struct prom_series *s, const char *le)
{
  if (!f->nlabels && !le)
    return;
  fputc('{', out);
  for (size_t j = 0; j < f->nlabels; j++) {
    fprintf(out, "%s%s=\"", j ? "," : "", f->d->labels[j]);
    print_value(out, s->values[j]);
    fputc('"', out);
  }
  if (le)
    fprintf(out, "%sle=\"%s\"", f->nlabels ? "," : "", le);
  fputc('}', out);
}

static void print_histogram(FILE *out, const struct prom_family *f, const struct prom_series *s)
{
  char le[32];
  for (size_t i = 0; i < f->d->nbuckets; i++) {
    snprintf(le, sizeof le, "%g", f->d->buckets[i]);
    fprintf(out, "%s_bucket", f->d->name);
    print_labels(out, f, s, le);
    fprintf(out, " %lu\n", s->buckets[i]);
  }
  fprintf(out, "%s_bucket", f->d->name);
  print_labels(out, f, s, "+Inf");
  fprintf(out, " %lu\n%s_sum", s->count, f->d->name);
  print_labels(out, f, s, NULL);
  fprintf(out, " %.6f\n%s_count", s->sum, f->d->name);
  print_labels(out, f, s, NULL);
  fprintf(out, " %lu\n", s->count);
}

static const char *type_name(enum prom_type t)
{
  static const char *const names[] = {
    [PROM_COUNTER] = "counter", [PROM_GAUGE] = "gauge", [PROM_HISTOGRAM] = "histogram"
  };
  return names[t];
}

static void print_family(FILE *out, const struct prom_family *f)
{
  fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", f->d->name, f->d->help, f->d->name, type_name(f->d->type));
  for (size_t i = 0; i < f->nseries; i++) {
    if (f->d->type == PROM_HISTOGRAM) {
      print_histogram(out, f, &f->series[i]);
      continue;
    }
    fputs(f->d->name, out);
    print_labels(out, f, &f->series[i], NULL);
    fprintf(out, " %.15g\n", f->series[i].value);
  }
}

char *prom_render(struct prom_registry *r)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  if (!out)
    return NULL;
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < r->n; i++)
    print_family(out, r->families[i]);
  pthread_mutex_unlock(&r->mu);
  if (fclose(out) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}
