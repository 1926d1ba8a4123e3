/* SPDX-License-Identifier: Apache-2.0 */
/* A request's path and method to the authorizer's attributes, as the API server's RequestInfoFactory parses them. */
#include "requestinfo.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define MAX_PARTS 16

/* Go's strconv.ParseBool truths, as the API server reads watch=. */
static int parse_bool(const char *v)
{
  static const char *const yes[] = { "1", "t", "T", "true", "True", "TRUE" };
  for (size_t i = 0; v && i < sizeof yes / sizeof yes[0]; i++)
    if (!strcmp(v, yes[i]))
      return 1;
  return 0;
}

static void copy(char *dst, size_t len, const char *src) { snprintf(dst, len, "%s", src ? src : ""); }

/* The name a field selector requires exactly (metadata.name=X or ==X, alone or among others). */
static void selector_name(const char *sel, char *name, size_t len)
{
  char buf[512];
  copy(buf, sizeof buf, sel);
  char *save = NULL;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (strncmp(t, "metadata.name=", 14) != 0)
      continue;
    const char *v = t[14] == '=' ? t + 15 : t + 14;
    if (*v && !strchr(v, '/') && strcmp(v, ".") && strcmp(v, ".."))
      copy(name, len, v);
  }
}

static const char *verb_of_method(const char *method)
{
  static const char *const map[][2] = { { "POST", "create" }, { "GET", "get" },     { "HEAD", "get" },
                                        { "PUT", "update" },  { "PATCH", "patch" }, { "DELETE", "delete" } };
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (!strcmp(method, map[i][0]))
      return map[i][1];
  return "";
}

static void non_resource(const char *path, const char *method, struct kl_attrs *a)
{
  a->resource_request = 0;
  copy(a->path, sizeof a->path, path);
  size_t i = 0;
  for (; method[i] && i + 1 < sizeof a->verb; i++)
    a->verb[i] = (char)tolower((unsigned char)method[i]);
  a->verb[i] = '\0';
}

/* parts after the version: [watch] [namespaces NS] resource [name [subresource]] */
static void resource_parts(char **p, int n, const char *method, struct kl_attrs *a)
{
  if (n > 0 && !strcmp(p[0], "watch") && n > 1) { /* the old /watch/ prefix */
    copy(a->verb, sizeof a->verb, "watch");
    p++;
    n--;
  } else {
    copy(a->verb, sizeof a->verb, verb_of_method(method));
  }
  if (n > 0 && !strcmp(p[0], "namespaces") && n > 1) {
    copy(a->ns, sizeof a->ns, p[1]);
    if (n > 2 && strcmp(p[2], "status") && strcmp(p[2], "finalize")) {
      p += 2;
      n -= 2;
    }
  }
  if (n >= 3)
    copy(a->subresource, sizeof a->subresource, p[2]);
  if (n >= 2)
    copy(a->name, sizeof a->name, p[1]);
  if (n >= 1)
    copy(a->resource, sizeof a->resource, p[0]);
}

void kl_request_info(const char *path, const char *method, const char *watch, const char *field_selector,
                     struct kl_attrs *a)
{
  const struct kl_user *u = a->user;
  memset(a, 0, sizeof *a);
  a->user = u;
  char buf[1024], *p[MAX_PARTS];
  int n = 0;
  copy(buf, sizeof buf, path);
  char *save = NULL;
  for (char *t = strtok_r(buf, "/", &save); t && n < MAX_PARTS; t = strtok_r(NULL, "/", &save))
    p[n++] = t;
  int core = n > 0 && !strcmp(p[0], "api"), grouped = n > 0 && !strcmp(p[0], "apis");
  if (n < 3 || (!core && !grouped) || (grouped && n < 4)) {
    non_resource(path, method, a);
    return;
  }
  a->resource_request = 1;
  int i = 1;
  if (grouped)
    copy(a->group, sizeof a->group, p[i++]);
  copy(a->version, sizeof a->version, p[i++]);
  resource_parts(p + i, n - i, method, a);
  if (!a->name[0] && !strcmp(a->verb, "get")) {
    copy(a->verb, sizeof a->verb, parse_bool(watch) ? "watch" : "list");
    selector_name(field_selector, a->name, sizeof a->name);
  }
  if (!a->name[0] && !strcmp(a->verb, "delete"))
    copy(a->verb, sizeof a->verb, "deletecollection");
}
