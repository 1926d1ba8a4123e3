/* SPDX-License-Identifier: Apache-2.0 */
/* Chunked lists (paging.h). */
#include "paging.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/util.h"
#include "jwt.h"
#include "kube/kube.h"

#define TOKEN_VERSION "meta.k8s.io/v1"

/* An item's key: NAMESPACE/NAME (NAME alone for a cluster-scoped kind, as "/NAME"). */
static char *key_of(json_object *o)
{
  return ferry_asprintf("%s/%s", ferry_kube_str(o, "metadata.namespace") ?: "",
                        ferry_kube_str(o, "metadata.name") ?: "");
}

/* Compares an item with a key as the list is sorted: namespace, then name. */
static int cmp_key(json_object *o, const char *key)
{
  const char *slash = strchr(key, '/');
  size_t nslen = slash ? (size_t)(slash - key) : strlen(key);
  const char *ns = ferry_kube_str(o, "metadata.namespace") ?: "", *name = ferry_kube_str(o, "metadata.name") ?: "";
  int c = strncmp(ns, key, nslen);
  if (c == 0 && ns[nslen])
    c = 1;
  return c ? c : strcmp(name, slash ? slash + 1 : "");
}

static char *token_make(int64_t rv, const char *start)
{
  cleanup_json json_object *t = json_object_new_object();
  json_object_object_add(t, "v", json_object_new_string(TOKEN_VERSION));
  json_object_object_add(t, "rv", json_object_new_int64(rv));
  json_object_object_add(t, "start", json_object_new_string(start));
  const char *text = json_object_to_json_string_ext(t, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  return kl_b64url_encode((const unsigned char *)text, strlen(text));
}

/* The resourceVersion and the start key of a token; -1 with why when it is not one. */
static int token_parse(const char *tok, int64_t *rv, char **start, char *why, size_t len)
{
  cleanup_free unsigned char *raw = NULL;
  size_t n = 0;
  if (kl_b64url_decode(tok, strlen(tok), &raw, &n) < 0) {
    snprintf(why, len, "continue key is not valid: illegal base64 data");
    return -1;
  }
  cleanup_json json_object *t = json_tokener_parse((const char *)raw);
  json_object *v, *r, *s;
  if (!t || !json_object_object_get_ex(t, "v", &v) || strcmp(json_object_get_string(v), TOKEN_VERSION) != 0 ||
      !json_object_object_get_ex(t, "rv", &r) || !json_object_is_type(r, json_type_int) ||
      !json_object_object_get_ex(t, "start", &s) || !json_object_is_type(s, json_type_string)) {
    snprintf(why, len, "continue key is not valid: incorrect encoded start resourceVersion (version %s)",
             TOKEN_VERSION);
    return -1;
  }
  *rv = json_object_get_int64(r);
  *start = ferry_strdup(json_object_get_string(s));
  return 0;
}

/* The first item after key. */
static size_t first_after(json_object *items, const char *key)
{
  size_t n = json_object_array_length(items), i = 0;
  while (i < n && cmp_key(json_object_array_get_idx(items, i), key) <= 0)
    i++;
  return i;
}

/* limit: a count, or none (0: the whole list); -1 when it is not a number. */
static long parse_limit(const char *limit)
{
  if (!limit || !*limit)
    return 0;
  char *end;
  errno = 0;
  long v = strtol(limit, &end, 10);
  return errno || *end || v < 0 ? -1 : v;
}

unsigned kl_page_of(json_object *items, const char *limit, const char *cont, int64_t rv_now, int64_t oldest_rv,
                    struct kl_page *p, char *why, size_t len)
{
  memset(p, 0, sizeof *p);
  p->rv = rv_now;
  long lim = parse_limit(limit);
  if (lim < 0) {
    snprintf(why, len, "limit: Invalid value: \"%s\": must be a non-negative integer", limit);
    return 400;
  }
  if (cont && *cont) {
    cleanup_free char *start = NULL;
    if (token_parse(cont, &p->rv, &start, why, len) < 0)
      return 400;
    if (p->rv < oldest_rv) {
      snprintf(why, len,
               "The provided continue parameter is too old to display a consistent list result. You can start a new "
               "list without the continue parameter.");
      return 410;
    }
    p->from = first_after(items, start);
  }
  size_t total = json_object_array_length(items);
  p->to = lim > 0 && p->from + (size_t)lim < total ? p->from + (size_t)lim : total;
  if (p->to < total && p->to > p->from) {
    cleanup_free char *last = key_of(json_object_array_get_idx(items, p->to - 1));
    p->next = token_make(p->rv, last);
  }
  return 0;
}

void kl_page_free(struct kl_page *p)
{
  free(p->next);
  p->next = NULL;
}
