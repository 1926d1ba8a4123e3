/* SPDX-License-Identifier: Apache-2.0 */
/* Where the Kubernetes API is and how to authenticate to it: a kubeconfig file
 * (parsed with libyaml, as kubectl reads it) or the in-cluster service account. */
#ifndef FERRY_KUBECONFIG_H
#define FERRY_KUBECONFIG_H

#include <stddef.h>

#include "base/error.h"

struct ferry_kube_config {
  char *source;     /* the file it came from, or "in-cluster" */
  char *context;    /* the context used (kubeconfig) */
  char *server;     /* https://host:port */
  char *namespace_; /* the context's namespace, else "default" */
  int insecure_skip_tls_verify;
  /* Certificate authority: a file, or PEM bytes (from -data). */
  char *ca_file;
  char *ca_pem;
  size_t ca_pem_len;
  /* Client certificate and key: files, or PEM bytes. */
  char *cert_file, *key_file;
  char *cert_pem, *key_pem;
  size_t cert_pem_len, key_pem_len;
  /* Bearer token (token, or read from tokenFile). */
  char *token;
};

/* Parses kubeconfig text (path is only for messages). context NULL: current-context. */
int ferry_kubeconfig_parse(const char *text, size_t len, const char *path, const char *context,
                           struct ferry_kube_config *c, ferry_error *err);
/* Loads path; NULL means $KUBECONFIG (the first file of a ':' list that exists),
 * then ~/.kube/config. */
int ferry_kubeconfig_load(const char *path, const char *context, struct ferry_kube_config *c, ferry_error *err);
/* The in-cluster configuration: KUBERNETES_SERVICE_HOST/PORT and the files in
 * sa_dir (NULL: /var/run/secrets/kubernetes.io/serviceaccount). */
int ferry_kube_config_in_cluster(const char *sa_dir, struct ferry_kube_config *c, ferry_error *err);
/* What a Ferry binary uses: an explicit --kubeconfig, else $KUBECONFIG, else
 * in-cluster when KUBERNETES_SERVICE_HOST is set, else ~/.kube/config. */
int ferry_kube_config_auto(const char *kubeconfig, const char *context, struct ferry_kube_config *c, ferry_error *err);
void ferry_kube_config_free(struct ferry_kube_config *c);

/* Base64 (standard alphabet, padding, whitespace ignored). Exposed for tests. */
int ferry_base64_decode(const char *in, char **out, size_t *out_len);

#endif
