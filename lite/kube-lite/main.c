/* SPDX-License-Identifier: Apache-2.0 */
/* kube-lite: a small Kubernetes API server for Ferry's tests and local demo
 * (never for real clusters). See docs/kube-lite.md; `kube-lite --help` lists
 * the options (kl_opts below). */
#include <arpa/inet.h>
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
#include "base/cmdline.h"
#include "base/log.h"
#include "base/util.h"

#define FERRY_CMD_ARG(NAME, VAL, ARG, HELP, DFLT)                                                                      \
  {                                                                                                                    \
    NAME, required_argument, VAL, 0, 0, ARG, HELP, DFLT                                                                \
  }

static const struct ferry_cmd_opt kl_opts[] = {
  FERRY_CMD_ARG("listen", 'l', "HOST:PORT",
                "where to serve; HOST an IPv4 address, PORT 0 a free port (the kubeconfig has it)", "127.0.0.1:0"),
  FERRY_CMD_ARG("kubeconfig-out", 'k', "FILE", "write a kubeconfig for this server to FILE", "none written"),
  FERRY_CMD_ARG("token", 't', "TOKEN", "the admin's bearer token (use it with TLS: kubectl sends no token over HTTP)",
                "none; with TLS one is made"),
  FERRY_CMD_ARG("tls-cert", 'c', "FILE", "serve HTTPS with this certificate (PEM; needs --tls-key)", "plain HTTP"),
  FERRY_CMD_ARG("tls-key", 'K', "FILE", "the certificate's private key (PEM)", NULL),
  FERRY_CMD_ARG("tls-ca", 'a', "FILE", "the CA the kubeconfig carries", "the certificate itself"),
  FERRY_CMD_ARG("data", 'd', "FILE", "keep every object in FILE (written after every change, loaded at start)",
                "in memory only"),
  FERRY_CMD_FLAG("faults", 'f', "enable POST /kube-lite/faults (dropped watches, failed writes)"),
  FERRY_CMD_ARG("service-account-signing-key-file", 'S', "FILE", "the RSA key (PEM) that signs ServiceAccount tokens",
                "a new key at every start"),
  FERRY_CMD_ARG("service-account-issuer", 'I', "URL", "the ServiceAccount tokens' iss and audience",
                "https://kubernetes.default.svc.cluster.local"),
  FERRY_CMD_ARG("cel-helper", 'C', "PATH", "the kube-lite-cel binary ValidatingAdmissionPolicies need",
                "kube-lite-cel beside kube-lite"),
  FERRY_CMD_OPT_LOG_LEVEL('v'),
  FERRY_CMD_OPT_HELP,
  FERRY_CMD_OPT_END,
};

static const struct ferry_cmd kl_cmd = {
  .name = "kube-lite",
  .prog = "kube-lite",
  .synopsis = "kube-lite",
  .summary = "A small Kubernetes API server for Ferry's tests and local demo. Not for real clusters.",
  .exits = FERRY_CMD_EXITS_SERVER,
  .more = "docs/kube-lite.md",
  .opts = kl_opts,
};

/* The options that are not the server's own. */
struct kl_args {
  const char *listen, *kubeconfig_out, *cert, *key, *ca, *sa_key, *issuer, *cel_helper;
};

/* One option into a or srv: 0, or 2 for a bad value. */
static int apply_option(struct kl_args *a, struct kl_server *srv, int opt, const char *v)
{
  switch (opt) {
  case 'l':
    a->listen = v;
    break;
  case 'k':
    a->kubeconfig_out = v;
    break;
  case 't':
    srv->token = v;
    break;
  case 'c':
    a->cert = v;
    break;
  case 'K':
    a->key = v;
    break;
  case 'a':
    a->ca = v;
    break;
  case 'd':
    srv->data_file = v;
    break;
  case 'f':
    srv->faults = 1;
    break;
  case 'v':
    return ferry_log_level_option("kube-lite", v) < 0 ? 2 : 0;
  case 'S':
    a->sa_key = v;
    break;
  case 'I':
    a->issuer = v;
    break;
  case 'C':
    a->cel_helper = v;
    break;
  }
  return 0;
}

/* The options; returns -1 to go on, else the exit code. */
static int parse_options(int argc, char **argv, struct kl_args *a, struct kl_server *srv)
{
  struct ferry_cmd_parse p;
  ferry_cmd_start(&p, &kl_cmd);
  int opt;
  while ((opt = ferry_cmd_next(&p, argc, argv)) != FERRY_CMD_DONE) {
    if (opt == FERRY_CMD_HELP || opt == FERRY_CMD_BAD)
      return ferry_cmd_exit_code(opt);
    if (apply_option(a, srv, opt, optarg))
      return 2;
  }
  if (optind != argc)
    return ferry_cmd_usage_error(&kl_cmd, "unexpected argument %s", argv[optind]);
  if (!a->cert != !a->key)
    return ferry_cmd_usage_error(&kl_cmd, "--tls-cert and --tls-key go together");
  return -1;
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
  static struct kl_server srv;
  static struct kl_cel cel;
  static struct kl_auth auth;
  struct kl_args args = { .listen = "127.0.0.1:0" };
  int rc = parse_options(argc, argv, &args, &srv);
  if (rc >= 0)
    return rc;
  const char *listen = args.listen, *kubeconfig_out = args.kubeconfig_out, *cert = args.cert, *key = args.key,
             *ca = args.ca, *sa_key = args.sa_key, *issuer = args.issuer, *cel_helper = args.cel_helper;
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
