/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry-agent pages`: the target's half of a post-copy, CRIU's lazy-pages
 * daemon fetching an image's memory from its source until every page arrived. */
#include "cli/cli.h"

#include "engine/lazy.h"

const char cli_pages_usage[] =
    "usage: ferry-agent [GLOBAL OPTIONS] pages --store URL --image NAME --lazy-dir DIR [--timeout SECONDS]\n"
    "Runs CRIU's lazy-pages daemon for a post-copy image until every page arrived from its page server.\n"
    "\n"
    "options:\n" CLI_USAGE_STORE CLI_USAGE_IMAGE
    "  --lazy-dir DIR                 the daemon's work directory (the restore's --lazy-pages uses it too)\n"
    "  --timeout SECONDS              for every page to arrive (default 300)\n" CLI_USAGE_KEY CLI_USAGE_MORE;

int cli_pages(const struct cli_globals *g, int argc, char **argv)
{
  static const int allowed[] = { OPT_STORE, OPT_IMAGE, OPT_LAZY_DIR, OPT_TIMEOUT, OPT_KEY_FILE, 0 };
  struct cli_opts c;
  int rc = cli_parse(g, argc, argv, allowed, &c);
  if (rc || (rc = cli_check_image(c.cmd, c.image)) || (rc = cli_require(c.cmd, "--lazy-dir", c.lazy_dir)))
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
