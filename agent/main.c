/* SPDX-License-Identifier: Apache-2.0 */
/* ferry-agent: Ferry's node agent. This file is the command line's entry: the
 * global options and the verb table; each verb is in agent/cli/, the engine in
 * agent/engine/, the daemon behind agent_daemon(). See docs/agent-cli.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "cli/cli.h"
#include "daemon/daemon.h"
#include "runtime/criu.h"

#ifndef FERRY_VERSION
#define FERRY_VERSION "0.1.0"
#endif

/* `ferry-agent daemon`: its options are its own (agent/daemon/loop.c's table, daemon_cmd). */
static int cli_daemon(const struct cli_globals *g, int argc, char **argv)
{
  struct daemon_globals dg = { g->criu, g->runc, g->work_dir, g->node };
  return agent_daemon(&dg, argc, argv);
}

/* The verbs, in the order the help page lists them. */
static const struct cli_verb verbs[] = {
  { &cli_check_cmd, cli_check },     { &cli_run_cmd, cli_run },         { &cli_checkpoint_cmd, cli_checkpoint },
  { &cli_restore_cmd, cli_restore }, { &cli_migrate_cmd, cli_migrate }, { &cli_pages_cmd, cli_pages },
  { &cli_send_cmd, cli_send },       { &cli_receive_cmd, cli_receive }, { &cli_inspect_cmd, cli_inspect },
  { &daemon_cmd, cli_daemon },
};
#define N_VERBS (sizeof verbs / sizeof *verbs)

/* The global options' getopt codes. */
enum { G_CRIU = 256, G_RUNC, G_WORK_DIR, G_NODE, G_LOG_LEVEL, G_LOG_FORMAT, G_JSON, G_VERSION };

static const struct ferry_cmd_opt global_opts[] = {
  FERRY_CMD_ARG("criu", G_CRIU, "PATH", "the CRIU binary runc is told to use",
                "$FERRY_CRIU, else /opt/ferry/criu/bin/criu if present, else criu"),
  FERRY_CMD_ARG("runc", G_RUNC, "PATH", "the runc binary", "$FERRY_RUNC, else runc"),
  FERRY_CMD_ARG("work-dir", G_WORK_DIR, "DIR", "CRIU work directories and logs, one per operation",
                "$FERRY_WORK_DIR, else /var/lib/ferry/work"),
  FERRY_CMD_ARG("node", G_NODE, "NAME", "this node's name, written into images",
                "$FERRY_NODE_NAME, else the host name"),
  FERRY_CMD_ARG("log-level", G_LOG_LEVEL, "LEVEL", "debug, info, warn or error (logs go to stderr)", "info"),
  FERRY_CMD_OPT_LOG_FORMAT(G_LOG_FORMAT),
  FERRY_CMD_FLAG("json", G_JSON, "print the command's result as one JSON object on stdout"),
  FERRY_CMD_FLAG("version", G_VERSION, "print the version and exit"),
  FERRY_CMD_OPT_HELP,
  FERRY_CMD_OPT_END,
};

/* The global page's list of commands. */
static void list_verbs(FILE *f)
{
  fputs("\ncommands:\n", f);
  for (size_t i = 0; i < N_VERBS; i++)
    fprintf(f, "  %-12s%s\n", verbs[i].cmd->name, verbs[i].cmd->summary);
  fputs("  help CMD    the help page of CMD (as CMD --help)\n"
        "\nUse 'ferry-agent CMD --help' for a command's options.\n",
        f);
}

static const struct ferry_cmd global_cmd = {
  .name = "ferry-agent",
  .prog = "ferry-agent",
  .synopsis = "ferry-agent",
  .operands = "COMMAND [COMMAND OPTIONS] [ARGS]",
  .summary = "Ferry's node agent: checkpoints, moves and restores runc containers; the node's daemon.",
  .exits = "  0  done\n"
           "  1  failed before the container was frozen; nothing changed\n"
           "  2  usage error\n"
           "  3  failed after the freeze and rolled back: the container runs again on the source\n"
           "  4  the rollback failed too: the container is NOT running\n",
  .more = "docs/agent-cli.md",
  .in_order = 1,
  .sections = list_verbs,
  .opts = global_opts,
};

static const char *env_or(const char *name, const char *dflt)
{
  const char *v = getenv(name);
  return v && *v ? v : dflt;
}

enum { GLOBAL_DONE = -1 };

/* One global option into g: GLOBAL_DONE to go on, else the exit code (--version, a bad value). */
static int apply_global(struct cli_globals *g, int opt, const char *v)
{
  switch (opt) {
  case G_CRIU:
    g->criu = v;
    break;
  case G_RUNC:
    g->runc = v;
    break;
  case G_WORK_DIR:
    g->work_dir = v;
    break;
  case G_NODE:
    g->node = v;
    break;
  case G_JSON:
    g->json = 1;
    break;
  case G_LOG_LEVEL:
    return ferry_log_level_option("ferry-agent", v) < 0 ? 2 : GLOBAL_DONE;
  case G_LOG_FORMAT:
    return ferry_log_format_option("ferry-agent", v) < 0 ? 2 : GLOBAL_DONE;
  case G_VERSION:
    printf("ferry-agent %s\n", FERRY_VERSION);
    return 0;
  }
  return GLOBAL_DONE;
}

/* The options before the verb. Returns GLOBAL_DONE to go on with the verb at
 * argv[optind], else the exit code (--help, --version, a usage error). */
static int parse_globals(struct cli_globals *g, int argc, char **argv)
{
  struct ferry_cmd_parse p;
  ferry_cmd_start(&p, &global_cmd);
  int opt, rc;
  while ((opt = ferry_cmd_next(&p, argc, argv)) != FERRY_CMD_DONE) {
    if (opt == FERRY_CMD_HELP || opt == FERRY_CMD_BAD)
      return ferry_cmd_exit_code(opt);
    if ((rc = apply_global(g, opt, optarg)) != GLOBAL_DONE)
      return rc;
  }
  return GLOBAL_DONE;
}

static const struct cli_verb *find_verb(const char *name)
{
  for (size_t i = 0; i < N_VERBS; i++)
    if (!strcmp(name, verbs[i].cmd->name))
      return &verbs[i];
  ferry_cmd_usage_error(&global_cmd, "unknown command %s", name);
  return NULL;
}

/* `ferry-agent help [CMD]`: the global page, or CMD's (as `CMD --help`). */
static int help(struct cli_globals *g, int argc, char **argv)
{
  if (argc < 2) {
    ferry_cmd_help(&global_cmd, stdout);
    return 0;
  }
  if (argc > 2)
    return ferry_cmd_usage_error(&global_cmd, "help takes one command");
  if (!(g->verb = find_verb(argv[1])))
    return 2;
  char *args[] = { argv[1], (char *)"--help", NULL };
  return g->verb->run(g, 2, args);
}

/* Runs the verb argv[0]; a verb that parses its own options takes a lone -h as --help. */
static int run_verb(struct cli_globals *g, int argc, char **argv)
{
  if (!(g->verb = find_verb(argv[0])))
    return 2;
  char *args[] = { argv[0], (char *)"--help", NULL };
  if (!g->verb->cmd->opts && argc == 2 && !strcmp(argv[1], "-h"))
    return g->verb->run(g, 2, args);
  return g->verb->run(g, argc, argv);
}

int main(int argc, char **argv)
{
  struct cli_globals g = { 0 };
  if (gethostname(g.hostname, sizeof g.hostname) < 0)
    snprintf(g.hostname, sizeof g.hostname, "unknown");
  g.criu = ferry_criu_default_path();
  g.runc = env_or("FERRY_RUNC", "runc");
  g.work_dir = env_or("FERRY_WORK_DIR", "/var/lib/ferry/work");
  g.node = env_or("FERRY_NODE_NAME", g.hostname);
  int rc = parse_globals(&g, argc, argv);
  if (rc != GLOBAL_DONE)
    return rc;
  if (optind >= argc) {
    ferry_cmd_help(&global_cmd, stderr);
    return 2;
  }
  if (!strcmp(argv[optind], "help"))
    return help(&g, argc - optind, argv + optind);
  return run_verb(&g, argc - optind, argv + optind);
}
