/* SPDX-License-Identifier: Apache-2.0 */
/* Selectors on the rebalancer's structs: one requirement against a label's
 * value (the operators of label and node selectors, as the API defines them),
 * a label selector against a pod, an extended resource's free amount against
 * a requirement, and selectors as short text for the plan's sentences. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rebalance/internal.h"

static int in_values(const struct rb_requirement *r, const char *v)
{
  for (size_t i = 0; v && i < r->n_values; i++)
    if (r->values[i] && !strcmp(r->values[i], v))
      return 1;
  return 0;
}

static int parse_int(const char *s, long long *out)
{
  if (!s || !*s)
    return -1;
  char *end;
  errno = 0;
  *out = strtoll(s, &end, 10);
  return *end || errno ? -1 : 0;
}

/* Gt and Lt: the value and the requirement's one value are integers. */
static int compare(const struct rb_requirement *r, long long have)
{
  long long want;
  if (r->n_values != 1 || parse_int(r->values[0], &want) < 0)
    return 0;
  return r->op == RB_OP_GT ? have > want : have < want;
}

int rb_req_matches(const struct rb_requirement *r, const char *value)
{
  long long have;
  switch (r->op) {
  case RB_OP_IN:
    return in_values(r, value);
  case RB_OP_NOT_IN:
    return !in_values(r, value);
  case RB_OP_EXISTS:
    return value != NULL;
  case RB_OP_DOES_NOT_EXIST:
    return value == NULL;
  case RB_OP_GT:
  case RB_OP_LT:
    return parse_int(value, &have) == 0 && compare(r, have);
  }
  return 0;
}

/* An extended resource the node offers, in place of a label: Exists when the
 * pod's need (its request, at least one) is free, Gt/Lt on the free amount,
 * In/NotIn on its decimal text. */
int rb_req_matches_free(const struct rb_requirement *r, int64_t free_amount, int64_t need)
{
  char text[32];
  snprintf(text, sizeof text, "%lld", (long long)free_amount);
  switch (r->op) {
  case RB_OP_EXISTS:
    return free_amount >= need;
  case RB_OP_DOES_NOT_EXIST:
    return free_amount < need;
  case RB_OP_GT:
  case RB_OP_LT:
    return compare(r, free_amount);
  case RB_OP_IN:
  case RB_OP_NOT_IN:
    return rb_req_matches(r, text);
  }
  return 0;
}

const char *rb_label_of(const struct rb_label *labels, size_t n, const char *key)
{
  for (size_t i = 0; i < n; i++)
    if (labels[i].key && !strcmp(labels[i].key, key))
      return labels[i].value ? labels[i].value : "";
  return NULL;
}

int rb_selector_matches(const struct rb_selector *sel, const struct rb_label *labels, size_t n)
{
  for (size_t i = 0; i < sel->n; i++)
    if (!rb_req_matches(&sel->reqs[i], rb_label_of(labels, n, sel->reqs[i].key)))
      return 0;
  return 1;
}

int rb_hardware_key(const struct rb_policy *pol, const char *key)
{
  for (size_t i = 0; i < pol->n_hardware_labels; i++) {
    const char *h = pol->hardware_labels[i];
    size_t len = strlen(h);
    if (len && h[len - 1] == '/' ? !strncmp(key, h, len) : !strcmp(key, h))
      return 1;
  }
  return 0;
}

static size_t put(char *buf, size_t len, size_t at, const char *s)
{
  if (at < len)
    snprintf(buf + at, len - at, "%s", s);
  return at + strlen(s);
}

static size_t values_text(const struct rb_requirement *r, char *buf, size_t len, size_t at)
{
  at = put(buf, len, at, " (");
  for (size_t i = 0; i < r->n_values; i++) {
    at = put(buf, len, at, i ? "," : "");
    at = put(buf, len, at, r->values[i] ? r->values[i] : "");
  }
  return put(buf, len, at, ")");
}

/* "app=db", "disk in (ssd,nvme)", "gpu", "!spot", "cores>8"; "everything". */
void rb_selector_text(const struct rb_selector *sel, char *buf, size_t len)
{
  static const char *const OP_TEXT[] = {
    [RB_OP_IN] = " in", [RB_OP_NOT_IN] = " notin", [RB_OP_GT] = ">", [RB_OP_LT] = "<"
  };
  size_t at = 0;
  if (len)
    buf[0] = '\0';
  if (!sel->n)
    put(buf, len, 0, "everything");
  for (size_t i = 0; i < sel->n; i++) {
    const struct rb_requirement *r = &sel->reqs[i];
    at = put(buf, len, at, i ? "," : "");
    at = put(buf, len, at, r->op == RB_OP_DOES_NOT_EXIST ? "!" : "");
    at = put(buf, len, at, r->key ? r->key : "");
    if (r->op == RB_OP_IN && r->n_values == 1) {
      at = put(buf, len, at, "=");
      at = put(buf, len, at, r->values[0] ? r->values[0] : "");
    } else if (r->op == RB_OP_IN || r->op == RB_OP_NOT_IN) {
      at = put(buf, len, at, OP_TEXT[r->op]);
      at = values_text(r, buf, len, at);
    } else if (r->op == RB_OP_GT || r->op == RB_OP_LT) {
      at = put(buf, len, at, OP_TEXT[r->op]);
      at = put(buf, len, at, r->n_values ? r->values[0] : "");
    }
  }
}

void rb_bytes_text(int64_t bytes, char *buf, size_t len)
{
  if (bytes >= (int64_t)RB_GIB)
    snprintf(buf, len, "%.1f GiB", (double)bytes / RB_GIB);
  else
    snprintf(buf, len, "%lld MiB", (long long)(bytes >> 20));
}
