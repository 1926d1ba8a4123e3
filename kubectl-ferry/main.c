/* SPDX-License-Identifier: Apache-2.0 */
/* kubectl-ferry: `kubectl ferry drain NODE` (the binary on PATH makes it a
 * kubectl plugin). Reads the kubeconfig as kubectl does: --kubeconfig, then
 * $KUBECONFIG, then ~/.kube/config, then the in-cluster service account. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kubeconfig.h"
#include "kubectl_ferry.h"
#include "base/log.h"

static void usage(FILE *f)
{
  fputs("usage: kubectl ferry drain NODE [--timeout SECONDS] [--kubeconfig FILE] [--context NAME]\n"
        "  drain: cordon NODE; its pods annotated ferry.dev/migratable=\"true\" are migrated by ferry-controller,\n"
        "         the others are evicted as kubectl drain evicts them (PodDisruptionBudgets honoured; DaemonSet\n"
        "         pods left alone). Exits 1 if a pod could not be moved or evicted (default timeout 300 s).\n",
        f);
}

int main(int argc, char **argv)
{
  const char *kubeconfig = NULL, *context = NULL;
  int timeout = 300;
  static const struct option opts[] = {
    { "kubeconfig", required_argument, NULL, 'k' },
    { "context", required_argument, NULL, 'c' },
    { "timeout", required_argument, NULL, 't' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int o;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
    case 'k':
      kubeconfig = optarg;
      break;
    case 'c':
      context = optarg;
      break;
    case 't': {
      char *end;
      timeout = (int)strtol(optarg, &end, 10);
      if (*end == 's')
        end++;
      if (*end || timeout <= 0) {
        fprintf(stderr, "error: --timeout: not a number of seconds: %s\n", optarg);
        return 2;
      }
      break;
    }
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (argc - optind != 2 || strcmp(argv[optind], "drain") != 0) {
    usage(stderr);
    return 2;
  }
  ferry_log_set_level(FERRY_LOG_WARN);
  ferry_kube_global_init();
  struct ferry_kube_config cfg;
  memset(&cfg, 0, sizeof cfg);
  ferry_error err = FERRY_ERROR_INIT;
  struct ferry_kube *k = NULL;
  int rc = 1;
  if (ferry_kube_config_auto(kubeconfig, context, &cfg, &err) < 0 || ferry_kube_open(&cfg, &k, &err) < 0)
    fprintf(stderr, "error: %s\n", ferry_error_msg(&err));
  else
    rc = ferry_drain(k, argv[optind + 1], timeout);
  ferry_error_clear(&err);
  ferry_kube_close(k);
  ferry_kube_config_free(&cfg);
  return rc;
}
