/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry-agent restore`: verify an image and restore its container on this node. */
#include "cli/cli.h"

#include <stdio.h>
#include <unistd.h>

#include "base/util.h"

static const struct ferry_cmd_opt restore_opts[] = {
  FERRY_CMD_REQ("root", OPT_ROOT, "RUNC_ROOT", "the runc state root to restore under"),
  CLI_OPT_STORE,
  CLI_OPT_IMAGE,
  FERRY_CMD_REQ("bundle", OPT_BUNDLE, "DIR", "the target's bundle (DIR/rootfs prepared by the node)"),
  FERRY_CMD_ARG("netns", OPT_NETNS, "PATH", "the network namespace to restore into", "the image's config"),
  FERRY_CMD_ARG("id", OPT_ID, "NEWID", "the restored container's ID", "the original"),
  FERRY_CMD_ARG("log", OPT_LOG, "FILE", "where its output goes", "WORK_DIR/IMAGE/ID.log"),
  CLI_OPT_TIMEOUT("per runc call", CLI_DEFAULT_TIMEOUT_S),
  CLI_OPT_KEY,
  CLI_OPT_CRIU,
  FERRY_CMD_OPT_HELP,
  FERRY_CMD_OPT_END,
};

const struct ferry_cmd cli_restore_cmd = {
  CLI_VERB("restore"),
  .summary = "verify an image and restore its container on this node",
  .details = "Verifies the image, applies its root filesystem changes to DIR/rootfs and restores the container.\n",
  .opts = restore_opts,
};

int cli_restore(const struct cli_globals *g, int argc, char **argv)
{
  struct cli_opts c;
  int rc = cli_parse(g, argc, argv, &c);
  if (rc || (rc = cli_check_image(c.cmd, c.image)))
    return rc;
  if (optind != argc) {
    fprintf(stderr, "ferry-agent restore: unexpected argument %s (use --id NEWID)\n", argv[optind]);
    return 2;
  }
  struct ferry_store s;
  if ((rc = cli_open_store(c.cmd, c.store, &s)))
    return rc;
  struct engine_opts o = cli_engine_opts(g, &c);
  struct engine_target t = { c.root, c.bundle, c.netns, c.id, c.log, NULL, 0 };
  struct engine_result r = { 0 };
  engine_restore(&o, &t, &s, c.image, &r);
  json_object *extra = json_object_new_object();
  if (r.exit_code == ENGINE_OK)
    json_object_object_add(extra, "restoredAtMs", json_object_new_int64(ferry_now_real_ms()));
  cli_print_result(g, "restore", c.id, &r, extra);
  rc = (int)r.exit_code;
  engine_result_free(&r);
  ferry_store_free(&s);
  return rc;
}
