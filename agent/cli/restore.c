/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry-agent restore`: verify an image and restore its container on this node. */
#include "cli/cli.h"

#include <stdio.h>
#include <unistd.h>

#include "base/util.h"

const char cli_restore_usage[] =
    "usage: ferry-agent [GLOBAL OPTIONS] restore --root RUNC_ROOT --store URL --image NAME --bundle DIR\n"
    "                   [--netns PATH] [--id NEWID] [--log FILE] [OPTIONS]\n"
    "Verifies the image, applies its root filesystem changes to DIR/rootfs and restores the container.\n"
    "\n"
    "options:\n"
    "  --root RUNC_ROOT               the runc state root to restore under\n" CLI_USAGE_STORE CLI_USAGE_IMAGE
    "  --bundle DIR                   the target's bundle (DIR/rootfs prepared by the node)\n"
    "  --netns PATH                   the network namespace to restore into\n"
    "  --id NEWID                     the restored container's ID (default: the original)\n"
    "  --log FILE                     where its output goes (default WORK_DIR/IMAGE/ID.log)\n" CLI_USAGE_TIMEOUT
        CLI_USAGE_KEY CLI_USAGE_CRIU CLI_USAGE_MORE;

int cli_restore(const struct cli_globals *g, int argc, char **argv)
{
  static const int allowed[] = { OPT_ROOT,      OPT_STORE,        OPT_IMAGE,      OPT_BUNDLE,
                                 OPT_NETNS,     OPT_ID,           OPT_LOG,        OPT_TIMEOUT,
                                 OPT_TCP_EST,   OPT_TCP_CLOSE,    OPT_FILE_LOCKS, OPT_EXT_UNIX,
                                 OPT_SHELL_JOB, OPT_CGROUPS_MODE, OPT_KEY_FILE,   0 };
  struct cli_opts c;
  int rc = cli_parse(g, argc, argv, allowed, &c);
  if (rc || (rc = cli_require(c.cmd, "--root", c.root)) || (rc = cli_require(c.cmd, "--bundle", c.bundle)) ||
      (rc = cli_check_image(c.cmd, c.image)))
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
