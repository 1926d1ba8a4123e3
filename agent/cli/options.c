/* SPDX-License-Identifier: Apache-2.0 */
/* The verbs' options, parsed by each verb's table (struct ferry_cmd, in the
 * verb's file); checks of their values, and what the verbs require. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "image/manifest.h"
#include "runtime/relay.h"

/* --timeout's upper bound (seconds). */
#define MAX_TIMEOUT_S 86400

static const char *const cgroups_modes[] = { "soft", "full", "strict", NULL };
static const char *const rootfs_diff_modes[] = { "auto", "overlay", "scan", "none", NULL };

static int one_of(const char *v, const char *const *values)
{
  for (; *values; values++)
    if (!strcmp(v, *values))
      return 1;
  return 0;
}

static int parse_timeout(struct cli_opts *c, const char *v)
{
  char *end;
  long s = strtol(v, &end, 10);
  if (*end || s <= 0 || s > MAX_TIMEOUT_S) {
    fprintf(stderr, "ferry-agent %s: --timeout takes seconds (1-86400), not %s\n", c->cmd, v);
    return 2;
  }
  c->timeout_s = (int)s;
  return 0;
}

/* --compress and --encryption-key-file: how the image is stored. */
static int parse_codec(struct cli_opts *c, int opt, const char *v)
{
  cleanup_error ferry_error e = FERRY_ERROR_INIT;
  if ((opt == OPT_COMPRESS ? ferry_codec_parse_compression(v, &c->codec, &e) : ferry_codec_load_key(v, &c->codec, &e)) <
      0) {
    fprintf(stderr, "ferry-agent %s: %s\n", c->cmd, ferry_error_msg(&e));
    return 2;
  }
  return 0;
}

static int parse_bandwidth(struct cli_opts *c, const char *v)
{
  cleanup_error ferry_error e = FERRY_ERROR_INIT;
  if (ferry_relay_parse_bandwidth(v, &c->bandwidth, &e) < 0) {
    fprintf(stderr, "ferry-agent %s: --%s\n", c->cmd, ferry_error_msg(&e));
    return 2;
  }
  return 0;
}

/* The options whose value is checked against a list. */
static int parse_choice(struct cli_opts *c, int opt, const char *v)
{
  switch (opt) {
  case OPT_CGROUPS_MODE:
    if (!one_of(v, cgroups_modes)) {
      fprintf(stderr, "ferry-agent %s: --manage-cgroups-mode is soft, full or strict\n", c->cmd);
      return 2;
    }
    c->flags.manage_cgroups_mode = v;
    return 0;
  case OPT_ROOTFS_DIFF:
    if (!one_of(v, rootfs_diff_modes)) {
      fprintf(stderr, "ferry-agent %s: --rootfs-diff is auto, overlay, scan or none\n", c->cmd);
      return 2;
    }
    c->rootfs_diff = v;
    return 0;
  default: /* OPT_STRATEGY */
    if (engine_strategy_parse(v) < 0) {
      fprintf(stderr, "ferry-agent %s: --strategy is stopAndCopy, preCopy or postCopy, not %s\n", c->cmd, v);
      return 2;
    }
    c->strategy = v;
    return 0;
  }
}

/* One option into c: 0, or 2 for a bad value. */
static int apply_option(struct cli_opts *c, int opt, const char *v)
{
  switch (opt) {
  case OPT_ROOT:
    c->root = v;
    break;
  case OPT_STORE:
    c->store = v;
    break;
  case OPT_IMAGE:
    c->image = v;
    break;
  case OPT_BUNDLE:
    c->bundle = v;
    break;
  case OPT_NETNS:
    c->netns = v;
    break;
  case OPT_ID:
    c->id = v;
    break;
  case OPT_LOG:
    c->log = v;
    break;
  case OPT_TO_ROOT:
    c->to_root = v;
    break;
  case OPT_TO_BUNDLE:
    c->to_bundle = v;
    break;
  case OPT_TO_NETNS:
    c->to_netns = v;
    break;
  case OPT_TO_STORE:
    c->to_store = v;
    break;
  case OPT_LISTEN:
    c->listen = v;
    break;
  case OPT_TO:
    c->to = v;
    break;
  case OPT_TOKEN_FILE:
    c->token_file = v;
    break;
  case OPT_PAGE_SERVER:
    c->page_server = v;
    break;
  case OPT_READY_FILE:
    c->ready_file = v;
    break;
  case OPT_LAZY_DIR:
    c->lazy_dir = v;
    break;
  case OPT_TCP_EST:
    c->flags.tcp_established = 1;
    break;
  case OPT_TCP_CLOSE:
    c->flags.tcp_close = 1;
    break;
  case OPT_FILE_LOCKS:
    c->flags.file_locks = 1;
    break;
  case OPT_EXT_UNIX:
    c->flags.ext_unix_sk = 1;
    break;
  case OPT_SHELL_JOB:
    c->flags.shell_job = 1;
    break;
  case OPT_LEAVE_RUNNING:
    c->flags.leave_running = 1;
    break;
  case OPT_HOLD:
    c->hold = 1;
    break;
  case OPT_FINISH:
    c->finish = 1;
    break;
  case OPT_TIMEOUT:
    return parse_timeout(c, v);
  case OPT_CGROUPS_MODE:
  case OPT_ROOTFS_DIFF:
  case OPT_STRATEGY:
    return parse_choice(c, opt, v);
  case OPT_COMPRESS:
  case OPT_KEY_FILE:
    return parse_codec(c, opt, v);
  case OPT_BANDWIDTH:
    return parse_bandwidth(c, v);
  }
  return 0;
}

int cli_parse(const struct cli_globals *g, int argc, char **argv, struct cli_opts *c)
{
  memset(c, 0, sizeof *c);
  c->cmd = g->verb->cmd->name;
  c->rootfs_diff = "auto";
  c->timeout_s = CLI_DEFAULT_TIMEOUT_S;
  struct ferry_cmd_parse p;
  ferry_cmd_start(&p, g->verb->cmd);
  int opt;
  while ((opt = ferry_cmd_next(&p, argc, argv)) != FERRY_CMD_DONE) {
    if (opt == FERRY_CMD_HELP)
      exit(0); /* nothing to free yet */
    if (opt == FERRY_CMD_BAD)
      return 2;
    int rc = apply_option(c, opt, optarg);
    if (rc)
      return rc;
  }
  if (c->flags.tcp_established && c->flags.tcp_close) {
    fprintf(stderr, "ferry-agent %s: --tcp-established and --tcp-close exclude each other\n", c->cmd);
    return 2;
  }
  return 0;
}

int cli_require(const char *cmd, const char *what, const char *v)
{
  if (!v || !*v) {
    fprintf(stderr, "ferry-agent %s: %s is required\n", cmd, what);
    return 2;
  }
  return 0;
}

int cli_check_image(const char *cmd, const char *name)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (cli_require(cmd, "--image", name))
    return 2;
  if (ferry_image_name_valid(name, &err) < 0) {
    fprintf(stderr, "ferry-agent %s: %s\n", cmd, ferry_error_msg(&err));
    return 2;
  }
  return 0;
}

int cli_open_store(const char *cmd, const char *url, struct ferry_store *s)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (cli_require(cmd, "--store", url))
    return 2;
  if (ferry_store_parse(url, s, &err) < 0) {
    fprintf(stderr, "ferry-agent %s: %s\n", cmd, ferry_error_msg(&err));
    return 2;
  }
  return 0;
}

struct engine_opts cli_engine_opts(const struct cli_globals *g, const struct cli_opts *c)
{
  struct engine_opts o = { .runc = g->runc,
                           .criu = g->criu,
                           .work_dir = g->work_dir,
                           .node = g->node,
                           .flags = c->flags,
                           .rootfs_diff = c->rootfs_diff,
                           .timeout_ms = c->timeout_s * 1000,
                           .strategy = c->strategy,
                           .page_server = c->page_server,
                           .bandwidth = c->bandwidth,
                           .codec = &c->codec };
  return o;
}
