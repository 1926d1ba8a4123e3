/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry-agent migrate`: checkpoint, restore on the target, roll back on failure. */
#include "cli/cli.h"

#include <stdio.h>
#include <unistd.h>

static const struct ferry_cmd_opt migrate_opts[] = {
  FERRY_CMD_REQ("root", OPT_ROOT, "RUNC_ROOT", "the runc state root the container runs under"),
  CLI_OPT_STORE,
  CLI_OPT_IMAGE,
  FERRY_CMD_REQ("to-root", OPT_TO_ROOT, "RUNC_ROOT_B", "the runc state root to restore under"),
  FERRY_CMD_REQ("to-bundle", OPT_TO_BUNDLE, "DIR_B", "the target's bundle (DIR_B/rootfs prepared by the node)"),
  FERRY_CMD_ARG("to-netns", OPT_TO_NETNS, "PATH", "the network namespace to restore into", "the image's config"),
  FERRY_CMD_ARG("to-store", OPT_TO_STORE, "URL", "send the image to this store and restore from there",
                "restore from --store"),
  FERRY_CMD_ARG("id", OPT_ID, "NEWID", "the restored container's ID", "the original"),
  FERRY_CMD_ARG("log", OPT_LOG, "FILE", "where its output goes", "WORK_DIR/IMAGE/ID.log"),
  CLI_OPT_TIMEOUT("per runc call and per transfer", CLI_DEFAULT_TIMEOUT_S),
  CLI_OPT_STRATEGY,
  CLI_OPT_PAGE_SERVER,
  FERRY_CMD_ARG("bandwidth", OPT_BANDWIDTH, "Q", "at most Q bytes per second between the nodes (e.g. 100Mi)",
                "unlimited"),
  FERRY_CMD_FLAG("leave-running", OPT_LEAVE_RUNNING, "refused: a migration moves the container"),
  CLI_OPTS_IMAGE_OUT,
  CLI_OPT_CRIU,
  FERRY_CMD_OPT_HELP,
  FERRY_CMD_OPT_END,
};

const struct ferry_cmd cli_migrate_cmd = {
  CLI_VERB("migrate"),
  .operands = "ID",
  .summary = "checkpoint, restore on the target, roll back on failure",
  .details = "Checkpoints container ID and restores it under RUNC_ROOT_B; when the restore fails, the container is\n"
             "restored on the source from the same image.\n",
  .exits = CLI_EXITS_FREEZE,
  .opts = migrate_opts,
};

int cli_migrate(const struct cli_globals *g, int argc, char **argv)
{
  struct cli_opts c;
  int rc = cli_parse(g, argc, argv, &c);
  if (rc || (rc = cli_check_image(c.cmd, c.image)))
    return rc;
  if (optind != argc - 1) {
    fprintf(stderr, "ferry-agent migrate: exactly one container ID is required\n");
    return 2;
  }
  struct ferry_store s, to_store = { 0 };
  if ((rc = cli_open_store(c.cmd, c.store, &s)))
    return rc;
  if (c.to_store && (rc = cli_open_store(c.cmd, c.to_store, &to_store))) {
    ferry_store_free(&s);
    return rc;
  }
  struct engine_opts o = cli_engine_opts(g, &c);
  struct engine_target t = { c.to_root, c.to_bundle, c.to_netns, c.id, c.log, c.to_store ? &to_store : NULL, 0 };
  struct engine_result r = { 0 };
  engine_migrate(&o, c.root, argv[optind], &t, &s, c.image, &r);
  cli_print_result(g, "migrate", argv[optind], &r, NULL);
  rc = (int)r.exit_code;
  engine_result_free(&r);
  ferry_store_free(&s);
  if (c.to_store)
    ferry_store_free(&to_store);
  return rc;
}
