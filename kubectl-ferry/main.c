/* SPDX-License-Identifier: Apache-2.0 */
/* kubectl-ferry, the kubectl plugin (the binary on PATH makes it `kubectl
 * ferry`): migrate, status, watch, cancel, nodes, plan, drain, completion. The
 * command line is read as kubectl reads one (cli.c); the kubeconfig as kubectl
 * does: --kubeconfig, then $KUBECONFIG, then the in-cluster service account,
 * then ~/.kube/config, with --context and -n. Exit status: 0, or 1 with what
 * went wrong on stderr. */
#include <stdio.h>
#include <string.h>

#include "kubectl_ferry.h"
#include "kube/kubeconfig.h"
#include "base/cleanup.h"
#include "base/log.h"

typedef int (*command_fn)(const struct kf_env *e, const struct kf_opts *o);

static const command_fn run_command[KF_CMD_COUNT] = {
  [KF_CMD_MIGRATE] = kf_migrate, [KF_CMD_STATUS] = kf_status, [KF_CMD_WATCH] = kf_watch, [KF_CMD_CANCEL] = kf_cancel,
  [KF_CMD_NODES] = kf_nodes,     [KF_CMD_PLAN] = kf_plan,     [KF_CMD_DRAIN] = kf_drain,
};

static int with_api(enum kf_command cmd, const struct kf_opts *o)
{
  struct ferry_kube_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  struct ferry_kube *k = NULL;
  int rc = 1;
  ferry_kube_global_init();
  if (ferry_kube_config_auto(o->kubeconfig, o->context, &cfg, &err) < 0 || ferry_kube_open(&cfg, &k, &err) < 0) {
    fprintf(stderr, "error: %s\n", ferry_error_msg(&err));
  } else {
    struct kf_env e = { .k = k, .cfg = &cfg, .ns = o->ns ?: cfg.namespace_ ?: "default" };
    rc = run_command[cmd](&e, o);
  }
  ferry_kube_close(k);
  ferry_kube_config_free(&cfg);
  return rc;
}

int main(int argc, char **argv)
{
  ferry_log_set_level(FERRY_LOG_WARN);
  if (argc > 1 && !strcmp(argv[1], "__complete"))
    return kf_complete(argc - 2, argv + 2);
  struct kf_opts o = { .strategy = -1, .wait = -1, .output = KF_OUT_TABLE };
  enum kf_command cmd;
  int parsed = kf_parse(argc, argv, &cmd, &o);
  if (parsed != 0)
    return parsed > 0 ? 0 : 1;
  if (cmd == KF_CMD_COMPLETION)
    return kf_completion_script(o.args[0]);
  return with_api(cmd, &o);
}
