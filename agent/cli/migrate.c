/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry-agent migrate`: checkpoint, restore on the target, roll back on failure. */
#include "cli/cli.h"

#include <stdio.h>
#include <unistd.h>

const char cli_migrate_usage[] =
    "usage: ferry-agent [GLOBAL OPTIONS] migrate --root RUNC_ROOT --store URL --image NAME\n"
    "                   --to-root RUNC_ROOT_B --to-bundle DIR_B [--to-netns PATH]\n"
    "                   [--id NEWID] [--log FILE] [OPTIONS] ID\n"
    "Checkpoints container ID and restores it under RUNC_ROOT_B; when the restore fails, the container is\n"
    "restored on the source from the same image.\n"
    "\n"
    "options:\n"
    "  --root RUNC_ROOT               the runc state root the container runs under\n" CLI_USAGE_STORE CLI_USAGE_IMAGE
    "  --to-root RUNC_ROOT_B          the runc state root to restore under\n"
    "  --to-bundle DIR_B              the target's bundle (DIR_B/rootfs prepared by the node)\n"
    "  --to-netns PATH                the network namespace to restore into\n"
    "  --to-store URL                 send the image to this store and restore from there\n"
    "  --id NEWID                     the restored container's ID (default: the original)\n"
    "  --log FILE                     where its output goes (default WORK_DIR/IMAGE/ID.log)\n" CLI_USAGE_TIMEOUT
    "  --strategy S                   stopAndCopy (default), preCopy or postCopy\n"
    "  --page-server ADDR:PORT        postCopy: where the memory is served (port 0: any)\n"
    "  --bandwidth Q                  at most Q bytes per second between the nodes (e.g. 100Mi)\n"
    "  --leave-running                refused: a migration moves the container\n" CLI_USAGE_DIFF CLI_USAGE_COMPRESS
        CLI_USAGE_KEY CLI_USAGE_CRIU CLI_USAGE_MORE;

int cli_migrate(const struct cli_globals *g, int argc, char **argv)
{
  static const int allowed[] = { OPT_ROOT,          OPT_STORE,     OPT_IMAGE,        OPT_TO_ROOT,
                                 OPT_TO_BUNDLE,     OPT_TO_NETNS,  OPT_ID,           OPT_LOG,
                                 OPT_TIMEOUT,       OPT_TCP_EST,   OPT_TCP_CLOSE,    OPT_FILE_LOCKS,
                                 OPT_EXT_UNIX,      OPT_SHELL_JOB, OPT_CGROUPS_MODE, OPT_ROOTFS_DIFF,
                                 OPT_LEAVE_RUNNING, OPT_STRATEGY,  OPT_PAGE_SERVER,  OPT_BANDWIDTH,
                                 OPT_COMPRESS,      OPT_KEY_FILE,  OPT_TO_STORE,     0 };
  struct cli_opts c;
  int rc = cli_parse(g, argc, argv, allowed, &c);
  if (rc || (rc = cli_require(c.cmd, "--root", c.root)) || (rc = cli_require(c.cmd, "--to-root", c.to_root)) ||
      (rc = cli_require(c.cmd, "--to-bundle", c.to_bundle)) || (rc = cli_check_image(c.cmd, c.image)))
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
