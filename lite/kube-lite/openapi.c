/* SPDX-License-Identifier: Apache-2.0 */
#include "openapi.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "resources.h"
#include "reviews.h"
#include "schema.h"
#include "base/util.h"

#define META_REF "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

static int is_custom(const struct kl_resource *r) { return r->custom; }

/* "api/v1" or "apis/G/V": the key of the resource's group-version in /openapi/v3. */
static void gv_path(const struct kl_resource *r, char *buf, size_t len)
{
  if (r->group[0])
    snprintf(buf, len, "apis/%s/%s", r->group, r->version);
  else
    snprintf(buf, len, "api/%s", r->version);
}

/* The schema's name as the API server names it: io.k8s.api.core.v1.Pod,
 * io.k8s.api.coordination.v1.Lease, dev.ferry.v1alpha1.PodMigration (the group
 * reversed) for custom resources. */
static void schema_name(const struct kl_resource *r, const char *kind, char *buf, size_t len)
{
  if (!r->group[0]) {
    snprintf(buf, len, "io.k8s.api.core.%s.%s", r->version, kind);
  } else if (!strcmp(r->group, "apiextensions.k8s.io")) {
    snprintf(buf, len, "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.%s.%s", r->version, kind);
  } else if (!is_custom(r)) { /* apps, policy, coordination.k8s.io, rbac.authorization.k8s.io (rbac)... */
    int glen = (int)strcspn(r->group, ".");
    snprintf(buf, len, "io.k8s.api.%.*s.%s.%s", glen, r->group, r->version, kind);
  } else {
    char labels[128], *part[32], *save = NULL;
    int n = 0;
    snprintf(labels, sizeof labels, "%s", r->group);
    for (char *t = strtok_r(labels, ".", &save); t && n < 32; t = strtok_r(NULL, ".", &save))
      part[n++] = t;
    size_t l = 0;
    buf[0] = '\0';
    while (n-- > 0 && l < len)
      l += (size_t)snprintf(buf + l, len - l, "%s.", part[n]);
    if (l < len)
      snprintf(buf + l, len - l, "%s.%s", r->version, kind);
  }
}

/* readCoreV1NamespacedPod, patchFerryDevV1alpha1NamespacedPodMigrationStatus... */
static char *operation_id(const char *verb, const struct kl_resource *r, const char *suffix)
{
  char group[160] = "", *g = group;
  const char *src = r->group[0] ? r->group : "core";
  size_t keep = strstr(src, ".k8s.io") ? (size_t)(strstr(src, ".k8s.io") - src) : strlen(src);
  int up = 1;
  for (size_t i = 0; i < keep && g < group + sizeof group - 1; i++) {
    if (src[i] == '.' || src[i] == '-') {
      up = 1;
      continue;
    }
    *g++ = up ? (char)toupper((unsigned char)src[i]) : src[i];
    up = 0;
  }
  *g = '\0';
  return ferry_asprintf("%s%s%c%s%s%s%s", verb, group, toupper((unsigned char)r->version[0]), r->version + 1,
                        r->namespaced ? "Namespaced" : "", r->kind, suffix);
}

static json_object *gvk(const char *group, const char *version, const char *kind)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "group", json_object_new_string(group));
  json_object_object_add(o, "version", json_object_new_string(version));
  json_object_object_add(o, "kind", json_object_new_string(kind));
  return o;
}

static json_object *ref(const char *name)
{
  json_object *o = json_object_new_object();
  char *r = ferry_asprintf("#/components/schemas/%s", name);
  json_object_object_add(o, "$ref", json_object_new_string(r));
  free(r);
  return o;
}

static json_object *param(const char *name, const char *in, const char *desc)
{
  json_object *p = json_object_new_object();
  json_object_object_add(p, "name", json_object_new_string(name));
  json_object_object_add(p, "in", json_object_new_string(in));
  json_object_object_add(p, "description", json_object_new_string(desc));
  if (!strcmp(in, "path"))
    json_object_object_add(p, "required", json_object_new_boolean(1));
  json_object_object_add(p, "schema", json_tokener_parse("{\"type\":\"string\",\"uniqueItems\":true}"));
  return p;
}

/* The query parameters kube-lite honours on writes (kubectl looks for
 * fieldValidation on PATCH to decide that the server validates fields). */
static void write_params(json_object *params, int patch)
{
  json_object_array_add(params, param("dryRun", "query", "All: everything but the write; the only value"));
  json_object_array_add(params,
                        param("fieldValidation", "query",
                              "Ignore, Warn (the default) or Strict: what an unknown field does to the request"));
  if (patch)
    json_object_array_add(
        params, param("force", "query", "accepted for server-side apply clients; kube-lite has no apply patches"));
}

static json_object *operation(const char *verb, const char *action, const struct kl_resource *r, const char *suffix,
                              const char *schema, const char *g, const char *v, const char *kind)
{
  json_object *op = json_object_new_object(), *params = json_object_new_array();
  char *id = operation_id(verb, r, suffix);
  json_object_object_add(op, "operationId", json_object_new_string(id));
  free(id);
  json_object_object_add(op, "x-kubernetes-action", json_object_new_string(action));
  json_object_object_add(op, "x-kubernetes-group-version-kind", gvk(g, v, kind));
  if (!strcmp(action, "list")) {
    static const char *const q[] = { "labelSelector",   "fieldSelector",  "limit", "continue",
                                     "resourceVersion", "timeoutSeconds", "watch", "allowWatchBookmarks" };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
      json_object_array_add(params, param(q[i], "query", q[i]));
  } else if (!strcmp(action, "post") || !strcmp(action, "put") || !strcmp(action, "patch")) {
    write_params(params, !strcmp(action, "patch"));
    json_object *body = json_object_new_object(), *content = json_object_new_object();
    static const char *const patch_types[] = { "application/json-patch+json", "application/merge-patch+json",
                                               "application/strategic-merge-patch+json" };
    if (!strcmp(action, "patch")) {
      for (size_t i = 0; i < (is_custom(r) ? 2u : 3u); i++)
        json_object_object_add(content, patch_types[i], json_tokener_parse("{\"schema\":{\"type\":\"object\"}}"));
    } else {
      json_object *media = json_object_new_object();
      json_object_object_add(media, "schema", ref(schema));
      json_object_object_add(content, "application/json", media);
    }
    json_object_object_add(body, "content", content);
    json_object_object_add(body, "required", json_object_new_boolean(1));
    json_object_object_add(op, "requestBody", body);
  } else if (!strcmp(action, "delete")) {
    json_object_array_add(params, param("dryRun", "query", "All: everything but the write; the only value"));
    json_object_array_add(params, param("gracePeriodSeconds", "query", "accepted; kube-lite deletes at once"));
    json_object_array_add(params, param("propagationPolicy", "query", "accepted; kube-lite has no garbage collector"));
  }
  json_object_object_add(op, "parameters", params);
  json_object *media = json_object_new_object(), *content = json_object_new_object(), *ok = json_object_new_object(),
              *responses = json_object_new_object();
  json_object_object_add(media, "schema", ref(schema));
  json_object_object_add(content, "application/json", media);
  json_object_object_add(ok, "description", json_object_new_string("OK"));
  json_object_object_add(ok, "content", content);
  json_object_object_add(responses, "200", ok);
  json_object_object_add(op, "responses", responses);
  return op;
}

static json_object *path_item(json_object *paths, const char *path, int name, int ns)
{
  json_object *item;
  if (json_object_object_get_ex(paths, path, &item))
    return item;
  item = json_object_new_object();
  json_object *params = json_object_new_array();
  if (name)
    json_object_array_add(params, param("name", "path", "name of the object"));
  if (ns)
    json_object_array_add(params, param("namespace", "path", "object name and auth scope"));
  json_object_object_add(item, "parameters", params);
  json_object_object_add(paths, path, item);
  return item;
}

static json_object *object_meta(void)
{
  return json_tokener_parse(
      "{\"type\":\"object\",\"description\":\"ObjectMeta: the metadata every persisted object has.\",\"properties\":{"
      "\"name\":{\"type\":\"string\"},\"generateName\":{\"type\":\"string\"},\"namespace\":{\"type\":\"string\"},"
      "\"selfLink\":{\"type\":\"string\"},\"uid\":{\"type\":\"string\"},\"resourceVersion\":{\"type\":\"string\"},"
      "\"generation\":{\"type\":\"integer\",\"format\":\"int64\"},"
      "\"creationTimestamp\":{\"type\":\"string\",\"format\":\"date-time\"},"
      "\"deletionTimestamp\":{\"type\":\"string\",\"format\":\"date-time\"},"
      "\"deletionGracePeriodSeconds\":{\"type\":\"integer\",\"format\":\"int64\"},"
      "\"labels\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
      "\"annotations\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
      "\"finalizers\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
      "\"ownerReferences\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"apiVersion\",\"kind\","
      "\"name\",\"uid\"],"
      "\"properties\":{\"apiVersion\":{\"type\":\"string\"},\"kind\":{\"type\":\"string\"},\"name\":{\"type\":"
      "\"string\"},"
      "\"uid\":{\"type\":\"string\"},\"controller\":{\"type\":\"boolean\"},\"blockOwnerDeletion\":{\"type\":"
      "\"boolean\"}}}},"
      "\"managedFields\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":"
      "true}}}}");
}

/* The kind's schema: the CRD's own for a custom resource; for a built-in kind,
 * whose schema kube-lite does not carry, an object of any fields with typed metadata. */
static json_object *kind_schema(struct kl_store *s, const struct kl_resource *r)
{
  json_object *schema = NULL;
  if (is_custom(r)) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", r->plural, r->group);
    json_object *crd = NULL, *own;
    json_object_object_get_ex(kl_store_kind(s, "apiextensions.k8s.io/customresourcedefinitions"), key, &crd);
    if (crd && (own = kl_schema_of(crd, r->version)))
      json_object_deep_copy(own, &schema, NULL);
  }
  if (!schema) {
    schema = json_object_new_object();
    json_object_object_add(schema, "type", json_object_new_string("object"));
    json_object_object_add(schema, "x-kubernetes-preserve-unknown-fields", json_object_new_boolean(1));
    if (!is_custom(r))
      json_object_object_add(schema, "description",
                             json_object_new_string("kube-lite keeps no schema for built-in kinds: fields other "
                                                    "than apiVersion, kind and metadata are stored as sent"));
  }
  json_object *props;
  if (!json_object_object_get_ex(schema, "properties", &props)) {
    props = json_object_new_object();
    json_object_object_add(schema, "properties", props);
  }
  json_object_object_add(props, "apiVersion", json_tokener_parse("{\"type\":\"string\"}"));
  json_object_object_add(props, "kind", json_tokener_parse("{\"type\":\"string\"}"));
  json_object *meta = json_object_new_object(), *all = json_object_new_array(), *mref = json_object_new_object();
  json_object_object_add(mref, "$ref", json_object_new_string(META_REF));
  json_object_array_add(all, mref);
  json_object_object_add(meta, "allOf", all);
  json_object_object_add(meta, "default", json_object_new_object());
  json_object_object_add(props, "metadata", meta);
  json_object *kinds = json_object_new_array();
  json_object_array_add(kinds, gvk(r->group, r->version, r->kind));
  json_object_object_add(schema, "x-kubernetes-group-version-kind", kinds);
  return schema;
}

static json_object *list_schema(const struct kl_resource *r, const char *item_schema)
{
  json_object *schema = json_object_new_object(), *props = json_object_new_object(), *items = json_object_new_object();
  json_object_object_add(schema, "type", json_object_new_string("object"));
  json_object_object_add(schema, "required", json_tokener_parse("[\"items\"]"));
  json_object_object_add(props, "apiVersion", json_tokener_parse("{\"type\":\"string\"}"));
  json_object_object_add(props, "kind", json_tokener_parse("{\"type\":\"string\"}"));
  json_object_object_add(props, "metadata",
                         json_tokener_parse("{\"type\":\"object\",\"properties\":{"
                                            "\"resourceVersion\":{\"type\":\"string\"},"
                                            "\"continue\":{\"type\":\"string\"}}}"));
  json_object_object_add(items, "type", json_object_new_string("array"));
  json_object_object_add(items, "items", ref(item_schema));
  json_object_object_add(props, "items", items);
  json_object_object_add(schema, "properties", props);
  char kind[96];
  snprintf(kind, sizeof kind, "%sList", r->kind);
  json_object *kinds = json_object_new_array();
  json_object_array_add(kinds, gvk(r->group, r->version, kind));
  json_object_object_add(schema, "x-kubernetes-group-version-kind", kinds);
  return schema;
}

static void add_resource(struct kl_store *s, const struct kl_resource *r, json_object *paths, json_object *schemas)
{
  char prefix[200], coll[512], item[600], name[256], list_name[300];
  if (r->group[0])
    snprintf(prefix, sizeof prefix, "/apis/%s/%s", r->group, r->version);
  else
    snprintf(prefix, sizeof prefix, "/api/%s", r->version);
  snprintf(coll, sizeof coll, "%s%s/%s", prefix, r->namespaced ? "/namespaces/{namespace}" : "", r->plural);
  snprintf(item, sizeof item, "%s/{name}", coll);
  schema_name(r, r->kind, name, sizeof name);
  char list_kind[96];
  snprintf(list_kind, sizeof list_kind, "%sList", r->kind);
  schema_name(r, list_kind, list_name, sizeof list_name);
  json_object_object_add(schemas, name, kind_schema(s, r));
  json_object_object_add(schemas, list_name, list_schema(r, name));
  const char *g = r->group, *v = r->version, *k = r->kind;

  json_object *pc = path_item(paths, coll, 0, r->namespaced);
  json_object_object_add(pc, "get", operation("list", "list", r, "", list_name, g, v, k));
  json_object_object_add(pc, "post", operation("create", "post", r, "", name, g, v, k));
  if (r->namespaced) {
    char all[400];
    snprintf(all, sizeof all, "%s/%s", prefix, r->plural);
    json_object *pa = path_item(paths, all, 0, 0);
    json_object_object_add(pa, "get", operation("list", "list", r, "ForAllNamespaces", list_name, g, v, k));
  }
  json_object *pi = path_item(paths, item, 1, r->namespaced);
  json_object_object_add(pi, "get", operation("read", "get", r, "", name, g, v, k));
  json_object_object_add(pi, "put", operation("replace", "put", r, "", name, g, v, k));
  json_object_object_add(pi, "patch", operation("patch", "patch", r, "", name, g, v, k));
  json_object_object_add(pi, "delete", operation("delete", "delete", r, "", name, g, v, k));
  if (r->has_status) {
    char st[700];
    snprintf(st, sizeof st, "%s/status", item);
    json_object *ps = path_item(paths, st, 1, r->namespaced);
    json_object_object_add(ps, "get", operation("read", "get", r, "Status", name, g, v, k));
    json_object_object_add(ps, "put", operation("replace", "put", r, "Status", name, g, v, k));
    json_object_object_add(ps, "patch", operation("patch", "patch", r, "Status", name, g, v, k));
  }
  if (!r->group[0] && !strcmp(r->plural, "pods")) {
    char ev[700];
    snprintf(ev, sizeof ev, "%s/eviction", item);
    json_object *pe = path_item(paths, ev, 1, 1);
    json_object_object_add(
        schemas, "io.k8s.api.policy.v1.Eviction",
        json_tokener_parse("{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true,"
                           "\"x-kubernetes-group-version-kind\":[{\"group\":\"policy\",\"version\":\"v1\","
                           "\"kind\":\"Eviction\"}]}"));
    json_object_object_add(
        pe, "post",
        operation("create", "post", r, "Eviction", "io.k8s.api.policy.v1.Eviction", "policy", "v1", "Eviction"));
  }
}

/* A kind that is only created (the reviews): its schema and the POST on its collection. */
static void add_create_only(struct kl_store *s, const struct kl_resource *r, json_object *paths, json_object *schemas)
{
  char coll[512], name[256];
  snprintf(coll, sizeof coll, "/apis/%s/%s%s/%s", r->group, r->version, r->namespaced ? "/namespaces/{namespace}" : "",
           r->plural);
  schema_name(r, r->kind, name, sizeof name);
  json_object_object_add(schemas, name, kind_schema(s, r));
  json_object_object_add(path_item(paths, coll, 0, r->namespaced), "post",
                         operation("create", "post", r, "", name, r->group, r->version, r->kind));
}

/* Every resource served, then (from *full on) the create-only reviews. */
static struct kl_resource *served(struct kl_store *s, size_t *n, size_t *full)
{
  struct kl_resource *all = kl_resources_all(s, full), *more;
  if (!all || !(more = realloc(all, (*full + KL_REVIEWS_MAX) * sizeof *all))) {
    *n = all ? *full : 0;
    return all;
  }
  *n = *full + kl_review_resources(more + *full, KL_REVIEWS_MAX);
  return more;
}

json_object *kl_openapi_gv(struct kl_store *s, const char *gv)
{
  size_t n = 0, full = 0;
  struct kl_resource *all = served(s, &n, &full);
  json_object *paths = json_object_new_object(), *schemas = json_object_new_object();
  int found = 0;
  for (size_t i = 0; i < n; i++) {
    char p[256];
    gv_path(&all[i], p, sizeof p);
    if (strcmp(p, gv) != 0)
      continue;
    if (i < full)
      add_resource(s, &all[i], paths, schemas);
    else
      add_create_only(s, &all[i], paths, schemas);
    found = 1;
  }
  free(all);
  if (!found) {
    json_object_put(paths);
    json_object_put(schemas);
    return NULL;
  }
  json_object_object_add(schemas, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", object_meta());
  json_object *doc = json_object_new_object(), *components = json_object_new_object();
  json_object_object_add(doc, "openapi", json_object_new_string("3.0.0"));
  json_object_object_add(
      doc, "info", json_tokener_parse("{\"title\":\"Kubernetes (kube-lite)\",\"version\":\"v1.32.0-kube-lite\"}"));
  json_object_object_add(doc, "paths", paths);
  json_object_object_add(components, "schemas", schemas);
  json_object_object_add(doc, "components", components);
  return doc;
}

json_object *kl_openapi_index(struct kl_store *s)
{
  size_t n = 0, full = 0;
  struct kl_resource *all = served(s, &n, &full);
  json_object *paths = json_object_new_object();
  for (size_t i = 0; i < n; i++) {
    char p[256];
    gv_path(&all[i], p, sizeof p);
    if (json_object_object_get_ex(paths, p, NULL))
      continue;
    /* the hash changes with the document, so clients may cache by URL */
    json_object *doc = kl_openapi_gv(s, p);
    const char *text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
    char hash[65];
    ferry_sha256_hex(text, strlen(text), hash);
    json_object_put(doc);
    char *url = ferry_asprintf("/openapi/v3/%s?hash=%s", p, hash);
    json_object *entry = json_object_new_object();
    json_object_object_add(entry, "serverRelativeURL", json_object_new_string(url));
    free(url);
    json_object_object_add(paths, p, entry);
  }
  free(all);
  json_object *o = json_object_new_object();
  json_object_object_add(o, "paths", paths);
  return o;
}
