/* SPDX-License-Identifier: Apache-2.0 */
/* kube-lite: a small Kubernetes API server for Ferry's tests and local demo
 * (never for real clusters). See docs/kube-lite.md.
 *
 *   kube-lite --listen 127.0.0.1:PORT --kubeconfig-out FILE [--token T]
 *             [--tls-cert F --tls-key F [--tls-ca F]] [--data FILE] [--faults]
 *             [--service-account-signing-key-file F] [--service-account-issuer URL]
 *             [--cel-helper PATH] */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "bootstrap.h"
#include "vap.h"
#include "base/log.h"
#include "base/util.h"

static void usage(FILE *f)
{
  fputs("usage: kube-lite [--listen HOST:PORT] [--kubeconfig-out FILE] [--token TOKEN]\n"
        "                 [--tls-cert FILE --tls-key FILE [--tls-ca FILE]] [--data FILE] [--faults]\n"
        "                 [--service-account-signing-key-file FILE] [--service-account-issuer URL]\n"
        "                 [--cel-helper PATH] [--log-level LEVEL]\n"
        "HOST must be an IPv4 address; PORT 0 picks a free port (the kubeconfig has the real one).\n"
        "--cel-helper: the kube-lite-cel binary ValidatingAdmissionPolicies need (default: beside kube-lite).\n",
        f);
}

static char *b64(const char *data, size_t len)
{
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
  if (!out)
    abort();
  for (size_t i = 0; i < len; i += 3) {
    unsigned v = (unsigned char)data[i] << 16 | (i + 1 < len ? (unsigned char)data[i + 1] << 8 : 0) |
                 (i + 2 < len ? (unsigned char)data[i + 2] : 0);
    *o++ = t[v >> 18 & 63];
    *o++ = t[v >> 12 & 63];
    *o++ = i + 1 < len ? t[v >> 6 & 63] : '=';
    *o++ = i + 2 < len ? t[v & 63] : '=';
  }
  *o = '\0';
  return out;
}

int main(int argc, char **argv)
{
  const char *listen = "127.0.0.1:0", *kubeconfig_out = NULL, *cert = NULL, *key = NULL, *ca = NULL;
  const char *sa_key = NULL, *issuer = NULL, *cel_helper = NULL;
  static struct kl_server srv;
  static struct kl_cel cel;
  static struct kl_auth auth;
  static const struct option opts[] = {
    { "listen", required_argument, NULL, 'l' },
    { "kubeconfig-out", required_argument, NULL, 'k' },
    { "token", required_argument, NULL, 't' },
    { "tls-cert", required_argument, NULL, 'c' },
    { "tls-key", required_argument, NULL, 'K' },
    { "tls-ca", required_argument, NULL, 'a' },
    { "data", required_argument, NULL, 'd' },
    { "faults", no_argument, NULL, 'f' },
    { "log-level", required_argument, NULL, 'v' },
    { "service-account-signing-key-file", required_argument, NULL, 'S' },
    { "service-account-issuer", required_argument, NULL, 'I' },
    { "cel-helper", required_argument, NULL, 'C' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int opt;
  while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (opt) {
    case 'l':
      listen = optarg;
      break;
    case 'k':
      kubeconfig_out = optarg;
      break;
    case 't':
      srv.token = optarg;
      break;
    case 'c':
      cert = optarg;
      break;
    case 'K':
      key = optarg;
      break;
    case 'a':
      ca = optarg;
      break;
    case 'd':
      srv.data_file = optarg;
      break;
    case 'f':
      srv.faults = 1;
      break;
    case 'v':
      if (ferry_log_level_option("kube-lite", optarg) < 0)
        return 2;
      break;
    case 'S':
      sa_key = optarg;
      break;
    case 'I':
      issuer = optarg;
      break;
    case 'C':
      cel_helper = optarg;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (optind != argc || (!cert) != (!key)) {
    usage(stderr);
    return 2;
  }
  char host[64];
  int port = 0;
  const char *colon = strrchr(listen, ':');
  struct sockaddr_in addr = { .sin_family = AF_INET };
  if (!colon || (size_t)(colon - listen) >= sizeof host || (port = atoi(colon + 1)) < 0 || port > 65535) {
    fprintf(stderr, "kube-lite: --listen %s: expected IPv4:PORT\n", listen);
    return 2;
  }
  snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
    fprintf(stderr, "kube-lite: --listen %s: %s is not an IPv4 address\n", listen, host);
    return 2;
  }
  addr.sin_port = htons((uint16_t)port);
  srand((unsigned)time(NULL) ^ (unsigned)getpid());
  kl_store_init(&srv.store);
  kl_cel_init(&cel, cel_helper);
  srv.cel = &cel;
  char why[1024];
  if (kl_server_start(&srv, why, sizeof why) < 0) {
    fprintf(stderr, "kube-lite: %s\n", why);
    return 1;
  }
  if (kl_vap_any(&srv.store) && kl_cel_usable(&cel, why, sizeof why) < 0) { /* the loaded data has policies */
    fprintf(stderr, "kube-lite: %s\n", why);
    return 1;
  }
  ferry_error err = FERRY_ERROR_INIT;
  if (kl_auth_init(&auth, sa_key, issuer, srv.token, cert != NULL, &err) < 0) {
    fprintf(stderr, "kube-lite: %s\n", ferry_error_msg(&err));
    return 1;
  }
  srv.token = auth.admin_token;
  srv.auth = &auth;
  kl_rbac_bootstrap(&srv.store);
  char *cert_pem = NULL, *key_pem = NULL, *ca_pem = NULL;
  size_t ca_len = 0, cert_len = 0;
  if (cert &&
      (ferry_read_file(cert, &cert_pem, &cert_len, &err) < 0 || ferry_read_file(key, &key_pem, NULL, &err) < 0 ||
       (ca && ferry_read_file(ca, &ca_pem, &ca_len, &err) < 0))) {
    fprintf(stderr, "kube-lite: %s\n", ferry_error_msg(&err));
    return 1;
  }
  /* block the signals we wait for before any thread starts */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN);
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | (cert ? MHD_USE_TLS : 0);
  struct MHD_Daemon *d =
      cert ? MHD_start_daemon(flags, 0, NULL, NULL, kl_handle, &srv, MHD_OPTION_SOCK_ADDR, &addr,
                              MHD_OPTION_NOTIFY_COMPLETED, kl_request_done, &srv, MHD_OPTION_HTTPS_MEM_CERT, cert_pem,
                              MHD_OPTION_HTTPS_MEM_KEY, key_pem, MHD_OPTION_END)
           : MHD_start_daemon(flags, 0, NULL, NULL, kl_handle, &srv, MHD_OPTION_SOCK_ADDR, &addr,
                              MHD_OPTION_NOTIFY_COMPLETED, kl_request_done, &srv, MHD_OPTION_END);
  const union MHD_DaemonInfo *info = d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
  if (!info) {
    fprintf(stderr, "kube-lite: cannot listen on %s\n", listen);
    return 1;
  }
  port = info->port;
  char *server = ferry_asprintf("%s://%s:%d", cert ? "https" : "http", host, port);
  if (kubeconfig_out) {
    char *ca_b64 = cert ? (ca_pem ? b64(ca_pem, ca_len) : b64(cert_pem, cert_len)) : NULL;
    char *yaml = ferry_asprintf(
        "apiVersion: v1\nkind: Config\ncurrent-context: kube-lite\nclusters:\n- name: kube-lite\n"
        "  cluster:\n    server: %s\n%s%s%scontexts:\n- name: kube-lite\n  context:\n"
        "    cluster: kube-lite\n    user: kube-lite\n    namespace: default\nusers:\n"
        "- name: kube-lite\n  user:\n%s%s%s",
        server, ca_b64 ? "    certificate-authority-data: " : "", ca_b64 ? ca_b64 : "", ca_b64 ? "\n" : "",
        srv.token ? "    token: " : "    {}\n", srv.token ? srv.token : "", srv.token ? "\n" : "");
    if (ferry_write_file_atomic(kubeconfig_out, yaml, strlen(yaml), &err) < 0) {
      fprintf(stderr, "kube-lite: %s\n", ferry_error_msg(&err));
      return 1;
    }
    free(yaml);
    free(ca_b64);
  }
  log_info("kube-lite: serving %s%s", server, srv.token ? " (token required)" : "");
  int sig = 0;
  sigwait(&sigs, &sig);
  log_info("kube-lite: signal %d, stopping", sig);
  pthread_mutex_lock(&srv.store.mu);
  srv.stopping = 1;
  pthread_cond_broadcast(&srv.store.cv);
  pthread_mutex_unlock(&srv.store.mu);
  MHD_stop_daemon(d);
  kl_cel_stop(&cel);
  kl_store_free(&srv.store);
  kl_auth_free(&auth);
  free(server);
  free(cert_pem);
  free(key_pem);
  free(ca_pem);
  return 0;
}
