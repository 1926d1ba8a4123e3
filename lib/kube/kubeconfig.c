/* SPDX-License-Identifier: Apache-2.0 */
#include "kube/kubeconfig.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "base/util.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

void ferry_kube_config_free(struct ferry_kube_config *c)
{
  free(c->source);
  free(c->context);
  free(c->server);
  free(c->namespace_);
  free(c->ca_file);
  free(c->ca_pem);
  free(c->cert_file);
  free(c->key_file);
  free(c->cert_pem);
  free(c->key_pem);
  free(c->token);
  memset(c, 0, sizeof *c);
}

int ferry_base64_decode(const char *in, char **out, size_t *out_len)
{
  size_t n = strlen(in);
  char *clean = malloc(n + 1);
  if (!clean)
    abort();
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (in[i] != '\n' && in[i] != '\r' && in[i] != ' ' && in[i] != '\t')
      clean[k++] = in[i];
  clean[k] = '\0';
  if (k % 4 != 0) {
    free(clean);
    return -1;
  }
  unsigned char *buf = malloc(k / 4 * 3 + 1);
  if (!buf)
    abort();
  int r = k ? EVP_DecodeBlock(buf, (const unsigned char *)clean, (int)k) : 0;
  if (r < 0) {
    free(clean);
    free(buf);
    return -1;
  }
  /* EVP_DecodeBlock counts the padding as output bytes. */
  size_t len = (size_t)r;
  if (k >= 1 && clean[k - 1] == '=')
    len--;
  if (k >= 2 && clean[k - 2] == '=')
    len--;
  buf[len] = '\0';
  free(clean);
  *out = (char *)buf;
  *out_len = len;
  return 0;
}

/* ---- a small view over a libyaml document ---- */

struct doc {
  yaml_document_t d;
  const char *path;
};

static yaml_node_t *node(struct doc *y, int id) { return id ? yaml_document_get_node(&y->d, id) : NULL; }

static int is_scalar(yaml_node_t *n) { return n && n->type == YAML_SCALAR_NODE; }

static const char *scalar(yaml_node_t *n) { return is_scalar(n) ? (const char *)n->data.scalar.value : NULL; }

static yaml_node_t *map_get(struct doc *y, yaml_node_t *m, const char *key)
{
  if (!m || m->type != YAML_MAPPING_NODE)
    return NULL;
  for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
    const char *k = scalar(node(y, p->key));
    if (k && strcmp(k, key) == 0)
      return node(y, p->value);
  }
  return NULL;
}

/* In the list at `list` (e.g. clusters), the entry whose name is `name`; *index
 * set to its position. */
static yaml_node_t *named_entry(struct doc *y, yaml_node_t *list, const char *name, int *index)
{
  if (!list || list->type != YAML_SEQUENCE_NODE)
    return NULL;
  int i = 0;
  for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++, i++) {
    yaml_node_t *e = node(y, *it);
    const char *n = scalar(map_get(y, e, "name"));
    if (n && strcmp(n, name) == 0) {
      *index = i;
      return e;
    }
  }
  return NULL;
}

static int yaml_bool(const char *v)
{
  return v && (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE") || !strcmp(v, "yes"));
}

/* A path in a kubeconfig is relative to the kubeconfig's directory. */
static char *resolve_path(const char *kubeconfig, const char *p)
{
  if (p[0] == '/' || !kubeconfig || !strchr(kubeconfig, '/'))
    return ferry_strdup(p);
  const char *slash = strrchr(kubeconfig, '/');
  char *dir = ferry_asprintf("%.*s", (int)(slash - kubeconfig), kubeconfig);
  char *r = ferry_path_join(dir, p);
  free(dir);
  return r;
}

/* field.NAME or field.NAME-data into *file / *pem; err names where it is. */
static int file_or_data(struct doc *y, yaml_node_t *m, const char *key, const char *where, char **file, char **pem,
                        size_t *pem_len, ferry_error *err)
{
  char *data_key = ferry_asprintf("%s-data", key);
  yaml_node_t *dn = map_get(y, m, data_key), *fn = map_get(y, m, key);
  int rc = 0;
  if (dn) {
    if (!scalar(dn) || ferry_base64_decode(scalar(dn), pem, pem_len) < 0)
      rc = ferry_error_set(err, 0, "kubeconfig %s: %s.%s is not valid base64", y->path, where, data_key);
  } else if (fn) {
    if (!scalar(fn) || !*scalar(fn))
      rc = ferry_error_set(err, 0, "kubeconfig %s: %s.%s must be a file path", y->path, where, key);
    else
      *file = resolve_path(y->path, scalar(fn));
  }
  free(data_key);
  return rc;
}

static int parse_doc(struct doc *y, const char *context, struct ferry_kube_config *c, ferry_error *err)
{
  yaml_node_t *root = yaml_document_get_root_node(&y->d);
  if (!root || root->type != YAML_MAPPING_NODE)
    return ferry_error_set(err, 0, "kubeconfig %s: not a YAML mapping", y->path);
  const char *ctx_name = context ? context : scalar(map_get(y, root, "current-context"));
  if (!ctx_name || !*ctx_name)
    return ferry_error_set(err, 0, "kubeconfig %s: current-context is not set (and no context was given)", y->path);
  int ci = 0, cli = 0, ui = 0;
  yaml_node_t *ctx = named_entry(y, map_get(y, root, "contexts"), ctx_name, &ci);
  if (!ctx)
    return ferry_error_set(err, 0, "kubeconfig %s: context \"%s\" not found in contexts", y->path, ctx_name);
  yaml_node_t *cx = map_get(y, ctx, "context");
  const char *cluster_name = scalar(map_get(y, cx, "cluster"));
  const char *user_name = scalar(map_get(y, cx, "user"));
  if (!cluster_name || !*cluster_name)
    return ferry_error_set(err, 0, "kubeconfig %s: contexts[%d].context.cluster is missing", y->path, ci);
  yaml_node_t *cl = named_entry(y, map_get(y, root, "clusters"), cluster_name, &cli);
  if (!cl)
    return ferry_error_set(err, 0, "kubeconfig %s: contexts[%d].context.cluster: cluster \"%s\" not found in clusters",
                           y->path, ci, cluster_name);
  yaml_node_t *cluster = map_get(y, cl, "cluster");
  const char *server = scalar(map_get(y, cluster, "server"));
  if (!server || !*server)
    return ferry_error_set(err, 0, "kubeconfig %s: clusters[%d].cluster.server is missing", y->path, cli);
  if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
    return ferry_error_set(err, 0, "kubeconfig %s: clusters[%d].cluster.server %s: expected an http:// or https:// URL",
                           y->path, cli, server);
  c->source = ferry_strdup(y->path);
  c->context = ferry_strdup(ctx_name);
  c->server = ferry_strdup(server);
  size_t l = strlen(c->server);
  while (l > 0 && c->server[l - 1] == '/')
    c->server[--l] = '\0';
  const char *ns = scalar(map_get(y, cx, "namespace"));
  c->namespace_ = ferry_strdup(ns && *ns ? ns : "default");
  c->insecure_skip_tls_verify = yaml_bool(scalar(map_get(y, cluster, "insecure-skip-tls-verify")));
  char where[64];
  snprintf(where, sizeof where, "clusters[%d].cluster", cli);
  if (file_or_data(y, cluster, "certificate-authority", where, &c->ca_file, &c->ca_pem, &c->ca_pem_len, err) < 0)
    return -1;
  if (!user_name || !*user_name)
    return 0; /* no credentials: anonymous */
  yaml_node_t *u = named_entry(y, map_get(y, root, "users"), user_name, &ui);
  if (!u)
    return ferry_error_set(err, 0, "kubeconfig %s: contexts[%d].context.user: user \"%s\" not found in users", y->path,
                           ci, user_name);
  yaml_node_t *user = map_get(y, u, "user");
  snprintf(where, sizeof where, "users[%d].user", ui);
  if (file_or_data(y, user, "client-certificate", where, &c->cert_file, &c->cert_pem, &c->cert_pem_len, err) < 0 ||
      file_or_data(y, user, "client-key", where, &c->key_file, &c->key_pem, &c->key_pem_len, err) < 0)
    return -1;
  int has_cert = c->cert_file || c->cert_pem, has_key = c->key_file || c->key_pem;
  if (has_cert != has_key)
    return ferry_error_set(err, 0, "kubeconfig %s: %s has a client %s without a client %s", y->path, where,
                           has_cert ? "certificate" : "key", has_cert ? "key" : "certificate");
  const char *token = scalar(map_get(y, user, "token"));
  const char *token_file = scalar(map_get(y, user, "tokenFile"));
  if (token && *token) {
    c->token = ferry_strdup(token);
  } else if (token_file && *token_file) {
    char *p = resolve_path(y->path, token_file), *text = NULL;
    if (ferry_read_file(p, &text, NULL, err) < 0) {
      free(p);
      return ferry_error_prefix(err, "kubeconfig %s: %s.tokenFile", y->path, where);
    }
    free(p);
    text[strcspn(text, "\r\n")] = '\0';
    c->token = text;
  }
  if (map_get(y, user, "exec") || map_get(y, user, "auth-provider"))
    return ferry_error_set(err, 0,
                           "kubeconfig %s: %s uses exec or auth-provider credentials, which Ferry does not "
                           "run; use a token or a client certificate",
                           y->path, where);
  return 0;
}

int ferry_kubeconfig_parse(const char *text, size_t len, const char *path, const char *context,
                           struct ferry_kube_config *c, ferry_error *err)
{
  memset(c, 0, sizeof *c);
  yaml_parser_t p;
  if (!yaml_parser_initialize(&p))
    return ferry_error_set(err, ENOMEM, "yaml parser");
  yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
  struct doc y = { .path = path ? path : "(text)" };
  if (!yaml_parser_load(&p, &y.d)) {
    ferry_error_set(err, 0, "kubeconfig %s: YAML error at line %zu: %s", y.path, p.problem_mark.line + 1,
                    p.problem ? p.problem : "unknown");
    yaml_parser_delete(&p);
    return -1;
  }
  int rc = parse_doc(&y, context, c, err);
  yaml_document_delete(&y.d);
  yaml_parser_delete(&p);
  if (rc < 0)
    ferry_kube_config_free(c);
  return rc;
}

int ferry_kubeconfig_load(const char *path, const char *context, struct ferry_kube_config *c, ferry_error *err)
{
  char *chosen = NULL;
  if (path) {
    chosen = ferry_strdup(path);
  } else {
    const char *env = getenv("KUBECONFIG");
    if (env && *env) {
      char *list = ferry_strdup(env), *save = NULL;
      for (char *p = strtok_r(list, ":", &save); p && !chosen; p = strtok_r(NULL, ":", &save))
        if (access(p, R_OK) == 0)
          chosen = ferry_strdup(p);
      free(list);
      if (!chosen)
        return ferry_error_set(err, ENOENT, "KUBECONFIG=%s: no readable file", env);
    } else {
      const char *home = getenv("HOME");
      chosen = ferry_asprintf("%s/.kube/config", home && *home ? home : "/root");
    }
  }
  char *text = NULL;
  size_t len = 0;
  if (ferry_read_file(chosen, &text, &len, err) < 0) {
    ferry_error_prefix(err, "kubeconfig");
    free(chosen);
    return -1;
  }
  int rc = ferry_kubeconfig_parse(text, len, chosen, context, c, err);
  free(text);
  free(chosen);
  return rc;
}

int ferry_kube_config_in_cluster(const char *sa_dir, struct ferry_kube_config *c, ferry_error *err)
{
  memset(c, 0, sizeof *c);
  const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port)
    return ferry_error_set(err, 0,
                           "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
  const char *dir = sa_dir ? sa_dir : SA_DIR;
  char *tok = ferry_path_join(dir, "token"), *ca = ferry_path_join(dir, "ca.crt"),
       *ns = ferry_path_join(dir, "namespace");
  char *text = NULL;
  int rc = 0;
  if (ferry_read_file(tok, &text, NULL, err) < 0) {
    rc = ferry_error_prefix(err, "in-cluster config: service account token");
    goto out;
  }
  text[strcspn(text, "\r\n")] = '\0';
  c->token = text;
  if (access(ca, R_OK) != 0) {
    rc = ferry_error_set(err, errno, "in-cluster config: service account CA %s", ca);
    goto out;
  }
  c->ca_file = ferry_strdup(ca);
  text = NULL;
  ferry_error ignore = FERRY_ERROR_INIT;
  if (ferry_read_file(ns, &text, NULL, &ignore) == 0)
    text[strcspn(text, "\r\n")] = '\0';
  ferry_error_clear(&ignore);
  c->namespace_ = ferry_strdup(text && *text ? text : "default");
  free(text);
  /* An IPv6 service address needs brackets in a URL. */
  c->server =
      strchr(host, ':') ? ferry_asprintf("https://[%s]:%s", host, port) : ferry_asprintf("https://%s:%s", host, port);
  c->source = ferry_strdup("in-cluster");
out:
  free(tok);
  free(ca);
  free(ns);
  if (rc < 0)
    ferry_kube_config_free(c);
  return rc;
}

int ferry_kube_config_auto(const char *kubeconfig, const char *context, struct ferry_kube_config *c, ferry_error *err)
{
  if (kubeconfig && *kubeconfig)
    return ferry_kubeconfig_load(kubeconfig, context, c, err);
  const char *env = getenv("KUBECONFIG");
  if (env && *env)
    return ferry_kubeconfig_load(NULL, context, c, err);
  const char *host = getenv("KUBERNETES_SERVICE_HOST");
  if (host && *host)
    return ferry_kube_config_in_cluster(NULL, c, err);
  return ferry_kubeconfig_load(NULL, context, c, err);
}
