/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry-agent pages`: the target's half of a post-copy, CRIU's lazy-pages
 * daemon fetching an image's memory from its source until every page arrived. */
#include "cli/cli.h"

#include "engine/lazy.h"

static const struct ferry_cmd_opt pages_opts[] = {
  CLI_OPT_STORE,
  CLI_OPT_IMAGE,
  FERRY_CMD_REQ("lazy-dir", OPT_LAZY_DIR, "DIR",
                "the daemon's work directory (the restore's --lazy-pages uses it too)"),
  CLI_OPT_TIMEOUT("for every page to arrive", CLI_DEFAULT_TIMEOUT_S),
  CLI_OPT_KEY,
  FERRY_CMD_OPT_HELP,
  FERRY_CMD_OPT_END,
};

const struct ferry_cmd cli_pages_cmd = {
  CLI_VERB("pages"),
  .summary = "post-copy on the target: fetch an image's memory from its source",
  .details = "Runs CRIU's lazy-pages daemon for a post-copy image until every page arrived from its page server.\n",
  .opts = pages_opts,
};

int cli_pages(const struct cli_globals *g, int argc, char **argv)
{
  struct cli_opts c;
  int rc = cli_parse(g, argc, argv, &c);
  if (rc || (rc = cli_check_image(c.cmd, c.image)))
    return rc;
  struct ferry_store s;
  if ((rc = cli_open_store(c.cmd, c.store, &s)))
    return rc;
  lazy_catch_signals();
  struct engine_opts o = cli_engine_opts(g, &c);
  struct engine_result r = { 0 };
  engine_postcopy_pages(&o, &s, c.image, c.lazy_dir, &r);
  cli_print_result(g, "pages", NULL, &r, NULL);
  rc = (int)r.exit_code;
  engine_result_free(&r);
  ferry_store_free(&s);
  return rc;
}
