/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry-agent checkpoint`: a container into a store; with --strategy postCopy,
 * the source's half of a post-copy (the command stays, serving the memory). */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "engine/lazy.h"

static const struct ferry_cmd_opt checkpoint_opts[] = {
  FERRY_CMD_REQ("root", OPT_ROOT, "RUNC_ROOT", "the runc state root the container runs under"),
  CLI_OPT_STORE,
  CLI_OPT_IMAGE,
  CLI_OPT_TIMEOUT("per runc call", CLI_DEFAULT_TIMEOUT_S),
  CLI_OPT_STRATEGY,
  CLI_OPT_PAGE_SERVER,
  FERRY_CMD_ARG("bandwidth", OPT_BANDWIDTH, "Q", "postCopy: at most Q bytes per second leave this node (e.g. 100Mi)",
                "unlimited"),
  FERRY_CMD_ARG("ready-file", OPT_READY_FILE, "F", "postCopy: where the first answer (serving) goes", "stdout"),
  FERRY_CMD_FLAG("leave-running", OPT_LEAVE_RUNNING, "keep the container running (a copy, not a move)"),
  FERRY_CMD_FLAG("hold", OPT_HOLD,
                 "keep the container paused and whole, for a target in another pod (the answer says \"held\")"),
  FERRY_CMD_FLAG("finish", OPT_FINISH,
                 "finish the image of a checkpoint whose process died after CRIU's dump stopped the container"),
  FERRY_CMD_ARG("bundle", OPT_BUNDLE, "DIR", "--finish: the container's bundle, once runc removed it", "runc's state"),
  CLI_OPTS_IMAGE_OUT,
  CLI_OPT_CRIU,
  FERRY_CMD_OPT_HELP,
  FERRY_CMD_OPT_END,
};

const struct ferry_cmd cli_checkpoint_cmd = {
  CLI_VERB("checkpoint"),
  .operands = "ID",
  .summary = "checkpoint a container into a store",
  .details = "Checkpoints container ID into the store; without --leave-running it stops once its image is complete.\n"
             "With --hold it stays paused and whole instead (unless it has established TCP connections, file locks\n"
             "or is paused already): resume it to roll back, kill it once the target runs.\n"
             "With --finish the image of a checkpoint of ID whose process died after CRIU's whole dump (which\n"
             "stopped the container) is written from that dump and published (exit 4: there is none to finish).\n"
             "With --strategy postCopy the command stays, serving the frozen container's memory on --page-server\n"
             "until every page went (exit 0) or the transfer failed (the container runs on: exit 3).\n",
  .exits = CLI_EXITS_FREEZE,
  .opts = checkpoint_opts,
};

/* A monotonic instant as wall-clock milliseconds (for comparing across nodes). */
static int64_t wall_of(int64_t mono_ms) { return ferry_now_real_ms() - (ferry_now_mono_ms() - mono_ms); }

/* The first answer of a post-copy source, "serving", to --ready-file or stdout. */
static void announce_serving(const struct cli_globals *g, const struct cli_opts *c, const char *id,
                             const struct engine_result *r, json_object *extra)
{
  cleanup_json json_object *ready = cli_result_json("checkpoint", id, r, extra);
  const char *text = json_object_to_json_string_ext(ready, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (c->ready_file) {
    if (ferry_write_file_atomic(c->ready_file, text, strlen(text), &err) < 0) {
      log_error("%s", ferry_error_msg(&err)); /* no one will know to restore: give up now */
      lazy_stop = 1;
    }
  } else if (g->json) {
    printf("%s\n", text);
    fflush(stdout);
  } else {
    printf("serving: %s\n", r->message);
    fflush(stdout);
  }
}

/* The source's half of a post-copy: the answer "serving" goes to --ready-file
 * (or stdout) once the image is published; the process stays until the last page
 * went, then answers again (released, or rolled back). */
static int checkpoint_postcopy(const struct cli_globals *g, const struct cli_opts *c, const struct engine_opts *o,
                               const struct ferry_store *s, const char *id)
{
  lazy_catch_signals();
  struct engine_result r = { 0 };
  struct engine_source src;
  struct lazy_source ls = { 0 };
  json_object *extra = json_object_new_object();
  if (engine_postcopy_checkpoint(o, c->root, id, s, c->image, &src, &ls, &r) == 0) {
    json_object_object_add(extra, "bundle", json_object_new_string(src.bundle));
    json_object_object_add(extra, "frozenAtMs", json_object_new_int64(wall_of(src.freeze_mono_ms)));
    json_object_object_add(extra, "pageServer", json_object_new_string(ls.page_server));
    announce_serving(g, c, id, &r, extra);
    engine_postcopy_release(o, &src, &ls, c->image, &r);
  }
  cli_print_result(g, "checkpoint", id, &r, extra);
  int rc = (int)r.exit_code;
  lazy_source_free(&ls);
  engine_source_free(&src);
  engine_result_free(&r);
  return rc;
}

/* A whole image: the answer says where the container was and when it froze. */
static int checkpoint_whole(const struct cli_globals *g, const struct cli_opts *c, const struct engine_opts *o,
                            const struct ferry_store *s, const char *id)
{
  struct engine_result r = { 0 };
  struct engine_source src;
  memset(&src, 0, sizeof src);
  if (c->finish)
    engine_checkpoint_finish(o, c->root, id, c->bundle, s, c->image, &src, &r);
  else
    engine_checkpoint(o, c->root, id, s, c->image, c->hold ? ENGINE_DUMP_HOLDS_FOR_OTHER_POD : ENGINE_DUMP_KILLS, &src,
                      &r);
  json_object *extra = json_object_new_object();
  if (src.held)
    json_object_object_add(extra, "held", json_object_new_boolean(1));
  if (src.bundle)
    json_object_object_add(extra, "bundle", json_object_new_string(src.bundle));
  if (src.freeze_mono_ms)
    json_object_object_add(extra, "frozenAtMs", json_object_new_int64(wall_of(src.freeze_mono_ms)));
  cli_print_result(g, "checkpoint", id, &r, extra);
  int rc = (int)r.exit_code;
  engine_source_free(&src);
  engine_result_free(&r);
  return rc;
}

int cli_checkpoint(const struct cli_globals *g, int argc, char **argv)
{
  struct cli_opts c;
  int rc = cli_parse(g, argc, argv, &c);
  if (rc || (rc = cli_check_image(c.cmd, c.image)))
    return rc;
  if (optind != argc - 1) {
    fprintf(stderr, "ferry-agent checkpoint: exactly one container ID is required\n");
    return 2;
  }
  struct ferry_store s;
  if ((rc = cli_open_store(c.cmd, c.store, &s)))
    return rc;
  struct engine_opts o = cli_engine_opts(g, &c);
  int postcopy = engine_strategy_parse(c.strategy) == STRATEGY_POST_COPY;
  if ((c.hold || c.finish) && (postcopy || c.flags.leave_running || (c.hold && c.finish))) {
    fprintf(stderr, "ferry-agent checkpoint: --%s is for a whole image that moves: not with %s\n",
            c.hold ? "hold" : "finish",
            postcopy                ? "--strategy postCopy"
            : c.flags.leave_running ? "--leave-running"
                                    : "--finish");
    ferry_store_free(&s);
    return 2;
  }
  if (postcopy)
    rc = checkpoint_postcopy(g, &c, &o, &s, argv[optind]);
  else
    rc = checkpoint_whole(g, &c, &o, &s, argv[optind]);
  ferry_store_free(&s);
  return rc;
}
