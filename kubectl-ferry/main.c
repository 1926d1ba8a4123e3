/* SPDX-License-Identifier: Apache-2.0 */
/* kubectl-ferry: `kubectl ferry drain NODE` and `kubectl ferry plan [POLICY]`
 * (the binary on PATH makes it a kubectl plugin). Reads the kubeconfig as kubectl does: --kubeconfig, then
 * $KUBECONFIG, then ~/.kube/config, then the in-cluster service account. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kubeconfig.h"
#include "kubectl_ferry.h"
#include "base/cleanup.h"
#include "base/log.h"

static void usage(FILE *f)
{
  fputs("usage: kubectl ferry drain NODE [--timeout SECONDS] [--kubeconfig FILE] [--context NAME]\n"
        "       kubectl ferry plan [POLICY] [-o json] [--kubeconfig FILE] [--context NAME]\n"
        "  drain: cordon NODE; its pods annotated ferry.dev/migratable=\"true\" are migrated by ferry-controller,\n"
        "         the others are evicted as kubectl drain evicts them (PodDisruptionBudgets honoured; DaemonSet\n"
        "         pods left alone). Exits 1 if a pod could not be moved or evicted (default timeout 300 s).\n"
        "  plan:  what the rebalancer's last round planned for each MigrationPolicy (or POLICY): each move,\n"
        "         its reason and why, and the PodMigration it created or \"(dry run)\"; -o json: the policies'\n"
        "         status as the API holds it. Exits 1 if POLICY does not exist or the API cannot be read.\n",
        f);
}

enum command { CMD_DRAIN, CMD_PLAN };

struct options {
  const char *kubeconfig, *context;
  int timeout;
  enum ferry_output output;
  enum command cmd;
  const char *arg; /* drain's NODE, plan's POLICY (or NULL) */
};

static int parse_timeout(const char *s, int *out)
{
  char *end;
  long v = strtol(s, &end, 10);
  if (*end == 's')
    end++;
  if (*end || end == s || v <= 0 || v > 86400 * 7) {
    fprintf(stderr, "error: --timeout: not a number of seconds: %s\n", s);
    return -1;
  }
  *out = (int)v;
  return 0;
}

static int parse_output(const char *s, enum ferry_output *out)
{
  if (!strcmp(s, "json")) {
    *out = FERRY_OUTPUT_JSON;
    return 0;
  }
  fprintf(stderr, "error: unable to match a printer suitable for the output format \"%s\", allowed formats are: json\n",
          s);
  return -1;
}

/* The subcommand and its argument. -1 (usage on stderr) when they do not fit. */
static int parse_command(int argc, char **argv, struct options *o)
{
  int n = argc - optind;
  if (n >= 1 && !strcmp(argv[optind], "drain") && n == 2) {
    o->cmd = CMD_DRAIN;
    o->arg = argv[optind + 1];
    return 0;
  }
  if (n >= 1 && !strcmp(argv[optind], "plan") && n <= 2) {
    o->cmd = CMD_PLAN;
    o->arg = n == 2 ? argv[optind + 1] : NULL;
    return 0;
  }
  usage(stderr);
  return -1;
}

/* 0 parsed, 1 --help printed, -1 bad arguments (said on stderr). */
static int parse_options(int argc, char **argv, struct options *o)
{
  static const struct option opts[] = {
    { "kubeconfig", required_argument, NULL, 'k' },
    { "context", required_argument, NULL, 'c' },
    { "timeout", required_argument, NULL, 't' },
    { "output", required_argument, NULL, 'o' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c;
  while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
    switch (c) {
    case 'k':
      o->kubeconfig = optarg;
      break;
    case 'c':
      o->context = optarg;
      break;
    case 't':
      if (parse_timeout(optarg, &o->timeout) < 0)
        return -1;
      break;
    case 'o':
      if (parse_output(optarg, &o->output) < 0)
        return -1;
      break;
    case 'h':
      usage(stdout);
      return 1;
    default:
      usage(stderr);
      return -1;
    }
  }
  return parse_command(argc, argv, o);
}

static int run(struct ferry_kube *k, const struct options *o)
{
  switch (o->cmd) {
  case CMD_DRAIN:
    return ferry_drain(k, o->arg, o->timeout);
  case CMD_PLAN:
    return ferry_plan(k, o->arg, o->output);
  }
  return 2;
}

int main(int argc, char **argv)
{
  struct options o = { .timeout = 300, .output = FERRY_OUTPUT_TABLE };
  int parsed = parse_options(argc, argv, &o);
  if (parsed != 0)
    return parsed > 0 ? 0 : 2;
  ferry_log_set_level(FERRY_LOG_WARN);
  ferry_kube_global_init();
  struct ferry_kube_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  struct ferry_kube *k = NULL;
  int rc = 1;
  if (ferry_kube_config_auto(o.kubeconfig, o.context, &cfg, &err) < 0 || ferry_kube_open(&cfg, &k, &err) < 0)
    fprintf(stderr, "error: %s\n", ferry_error_msg(&err));
  else
    rc = run(k, &o);
  ferry_kube_close(k);
  ferry_kube_config_free(&cfg);
  return rc;
}
