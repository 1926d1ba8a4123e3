/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry-agent run`: start a container with pipes for its stdio, held by a small
 * relay process (as containerd's shim does), so that it can be checkpointed. */
#include "cli/cli.h"

#include <stdio.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/util.h"

static const struct ferry_cmd_opt run_opts[] = {
  FERRY_CMD_REQ("root", OPT_ROOT, "RUNC_ROOT", "the runc state root"),
  FERRY_CMD_REQ("bundle", OPT_BUNDLE, "DIR", "the container's bundle"),
  FERRY_CMD_ARG("log", OPT_LOG, "FILE", "where its output goes", "WORK_DIR/ID.log"),
  CLI_OPT_TIMEOUT("for runc", CLI_DEFAULT_TIMEOUT_S),
  FERRY_CMD_OPT_HELP,
  FERRY_CMD_OPT_END,
};

const struct ferry_cmd cli_run_cmd = {
  CLI_VERB("run"),
  .operands = "ID",
  .summary = "start a container with pipes for its stdio (as containerd's shim does)",
  .details = "Starts container ID with runc run --detach, its output appended to FILE by a relay process.\n",
  .opts = run_opts,
};

int cli_run(const struct cli_globals *g, int argc, char **argv)
{
  struct cli_opts c;
  int rc = cli_parse(g, argc, argv, &c);
  if (rc)
    return rc;
  if (optind != argc - 1) {
    fprintf(stderr, "ferry-agent run: exactly one container ID is required\n");
    return 2;
  }
  const char *id = argv[optind];
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  cleanup_free char *log = c.log ? ferry_strdup(c.log) : ferry_asprintf("%s/%s.log", g->work_dir, id);
  cleanup_free char *runc_log = ferry_asprintf("%s/%s.runc.log", g->work_dir, id);
  cleanup_close int in = -1;
  cleanup_close int out = -1;
  struct ferry_runc r = { .runc = g->runc, .root = c.root, .log = runc_log, .timeout_ms = c.timeout_s * 1000 };
  if (ferry_mkdir_p(g->work_dir, 0700, &err) < 0 || ferry_stdio_relay(log, &in, &out, &err) < 0 ||
      ferry_runc_run_detached(&r, id, c.bundle, in, out, &err) < 0) {
    log_error("run %s: %s", id, ferry_error_msg(&err));
    return 1;
  }
  if (g->json)
    printf("{\"container\":\"%s\",\"log\":\"%s\"}\n", id, log);
  else
    printf("started container %s, output in %s\n", id, log);
  return 0;
}
