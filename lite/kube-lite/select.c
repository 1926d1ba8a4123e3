/* SPDX-License-Identifier: Apache-2.0 */
#include "select.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube.h"
#include "base/util.h"

enum op { OP_EQ, OP_NE, OP_IN, OP_NOTIN, OP_EXISTS, OP_NOTEXISTS };

struct req {
  int field; /* a field selector (dotted path), else a label */
  char *key;
  enum op op;
  char **values;
  size_t nvalues;
};

struct kl_selector {
  struct req *reqs;
  size_t n;
};

static char *trim(char *s)
{
  while (*s == ' ')
    s++;
  char *e = s + strlen(s);
  while (e > s && e[-1] == ' ')
    *--e = '\0';
  return s;
}

static void add_value(struct req *r, const char *v)
{
  char **n = realloc(r->values, (r->nvalues + 1) * sizeof *n);
  if (!n)
    abort();
  r->values = n;
  r->values[r->nvalues++] = ferry_strdup(v);
}

/* Splits at commas that are not inside parentheses. */
static int parse_list(struct kl_selector *s, const char *text, int field, char *why, size_t why_len)
{
  char *buf = ferry_strdup(text);
  char *p = buf;
  int depth = 0, rc = 0;
  for (char *start = p;; p++) {
    if (*p == '(')
      depth++;
    else if (*p == ')')
      depth--;
    if (*p && (*p != ',' || depth > 0))
      continue;
    int end = !*p;
    *p = '\0';
    char *term = trim(start);
    if (*term) {
      struct req r = { .field = field };
      char *in = strstr(term, " in "), *notin = strstr(term, " notin ");
      char *ne = strstr(term, "!="), *eq2 = strstr(term, "=="), *eq = strchr(term, '=');
      if (!field && (in || notin)) {
        char *kw = notin ? notin : in;
        *kw = '\0';
        r.key = ferry_strdup(trim(term));
        r.op = notin ? OP_NOTIN : OP_IN;
        char *open = strchr(kw + 1, '('), *close = strrchr(kw + 1, ')');
        if (!open || !close || close < open) {
          snprintf(why, why_len, "unable to parse requirement: %s", text);
          free(r.key);
          rc = -1;
          break;
        }
        *close = '\0';
        char *save = NULL;
        for (char *v = strtok_r(open + 1, ",", &save); v; v = strtok_r(NULL, ",", &save))
          add_value(&r, trim(v));
      } else if (ne) {
        *ne = '\0';
        r.key = ferry_strdup(trim(term));
        r.op = OP_NE;
        add_value(&r, trim(ne + 2));
      } else if (eq2 || eq) {
        char *at = eq2 ? eq2 : eq;
        *at = '\0';
        r.key = ferry_strdup(trim(term));
        r.op = OP_EQ;
        add_value(&r, trim(at + (eq2 ? 2 : 1)));
      } else if (!field && term[0] == '!') {
        r.key = ferry_strdup(trim(term + 1));
        r.op = OP_NOTEXISTS;
      } else if (!field) {
        r.key = ferry_strdup(term);
        r.op = OP_EXISTS;
      } else {
        snprintf(why, why_len, "invalid field selector: %s", term);
        rc = -1;
        break;
      }
      struct req *n = realloc(s->reqs, (s->n + 1) * sizeof *n);
      if (!n)
        abort();
      s->reqs = n;
      s->reqs[s->n++] = r;
    }
    if (end)
      break;
    start = p + 1;
  }
  free(buf);
  return rc;
}

struct kl_selector *kl_selector_parse(const char *labels, const char *fields, char *why, size_t why_len)
{
  struct kl_selector *s = calloc(1, sizeof *s);
  if (!s)
    abort();
  if ((labels && parse_list(s, labels, 0, why, why_len) < 0) ||
      (fields && parse_list(s, fields, 1, why, why_len) < 0)) {
    kl_selector_free(s);
    return NULL;
  }
  return s;
}

static const char *label(json_object *obj, const char *key)
{
  json_object *meta, *labels, *v;
  if (json_object_object_get_ex(obj, "metadata", &meta) && json_object_object_get_ex(meta, "labels", &labels) &&
      json_object_object_get_ex(labels, key, &v))
    return json_object_get_string(v);
  return NULL;
}

int kl_selector_matches(const struct kl_selector *s, json_object *obj)
{
  for (size_t i = 0; s && i < s->n; i++) {
    const struct req *r = &s->reqs[i];
    const char *v = r->field ? ferry_kube_str(obj, r->key) : label(obj, r->key);
    if (r->field && !v)
      v = ""; /* an absent field compares as empty, as the API server does */
    int in = 0;
    for (size_t k = 0; v && k < r->nvalues; k++)
      in |= !strcmp(v, r->values[k]);
    switch (r->op) {
    case OP_EQ:
    case OP_IN:
      if (!in)
        return 0;
      break;
    case OP_NE:
    case OP_NOTIN:
      if (in)
        return 0;
      break;
    case OP_EXISTS:
      if (!v)
        return 0;
      break;
    case OP_NOTEXISTS:
      if (v)
        return 0;
      break;
    }
  }
  return 1;
}

void kl_selector_free(struct kl_selector *s)
{
  if (!s)
    return;
  for (size_t i = 0; i < s->n; i++) {
    free(s->reqs[i].key);
    for (size_t k = 0; k < s->reqs[i].nvalues; k++)
      free(s->reqs[i].values[k]);
    free(s->reqs[i].values);
  }
  free(s->reqs);
  free(s);
}

static const char *labels_get(json_object *labels, const char *key)
{
  json_object *v;
  return labels && json_object_object_get_ex(labels, key, &v) ? json_object_get_string(v) : NULL;
}

static int expression_holds(json_object *e, json_object *labels)
{
  json_object *vals = NULL;
  const char *key = ferry_kube_str(e, "key") ?: "", *op = ferry_kube_str(e, "operator") ?: "",
             *have = labels_get(labels, key);
  json_object_object_get_ex(e, "values", &vals);
  int in = 0;
  for (size_t j = 0; have && json_object_is_type(vals, json_type_array) && j < json_object_array_length(vals); j++)
    if (!strcmp(json_object_get_string(json_object_array_get_idx(vals, j)) ?: "", have))
      in = 1;
  if (!strcmp(op, "In"))
    return in;
  if (!strcmp(op, "NotIn"))
    return !in;
  if (!strcmp(op, "Exists"))
    return have != NULL;
  if (!strcmp(op, "DoesNotExist"))
    return have == NULL;
  return 0;
}

int kl_label_selector_matches(json_object *sel, json_object *labels)
{
  json_object *ml, *me;
  if (!sel)
    return 1;
  if (json_object_object_get_ex(sel, "matchLabels", &ml) && json_object_is_type(ml, json_type_object)) {
    json_object_object_foreach(ml, k, v)
    {
      const char *have = labels_get(labels, k);
      if (!have || strcmp(have, json_object_get_string(v) ?: "") != 0)
        return 0;
    }
  }
  if (json_object_object_get_ex(sel, "matchExpressions", &me) && json_object_is_type(me, json_type_array))
    for (size_t i = 0; i < json_object_array_length(me); i++)
      if (!expression_holds(json_object_array_get_idx(me, i), labels))
        return 0;
  return 1;
}
