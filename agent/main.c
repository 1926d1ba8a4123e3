/* SPDX-License-Identifier: Apache-2.0 */
/* ferry-agent: Ferry's node agent. This file is the command line's entry: the
 * global options and the verb table; each verb is in agent/cli/, the engine in
 * agent/engine/, the daemon behind agent_daemon(). See docs/agent-cli.md. */
#include <getopt.h>
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

/* `ferry-agent daemon`: its options are its own (it answers --help itself). */
static int cli_daemon(const struct cli_globals *g, int argc, char **argv)
{
  struct daemon_globals dg = { g->criu, g->runc, g->work_dir, g->node };
  return agent_daemon(&dg, argc, argv);
}

/* The verbs, in the order the usage lists them. */
static const struct cli_verb verbs[] = {
  { "check", cli_check, "what this node can do, with a checkpoint/restore self-test", cli_check_usage },
  { "run", cli_run, "start a container with pipes for its stdio (as containerd's shim does)", cli_run_usage },
  { "checkpoint", cli_checkpoint, "checkpoint a container into a store", cli_checkpoint_usage },
  { "restore", cli_restore, "verify an image and restore its container on this node", cli_restore_usage },
  { "migrate", cli_migrate, "checkpoint, restore on the target, roll back on failure", cli_migrate_usage },
  { "pages", cli_pages, "post-copy on the target: fetch an image's memory from its source", cli_pages_usage },
  { "send", cli_send, "send an image straight to another node's receive (no shared storage)", cli_send_usage },
  { "receive", cli_receive, "receive one image from another node's send into this node's store", cli_receive_usage },
  { "inspect", cli_inspect, "print and verify an image", cli_inspect_usage },
  { "daemon", cli_daemon, "do this node's part of PodMigrations (watches the Kubernetes API)", NULL },
};

static void usage(FILE *f)
{
  fputs("usage: ferry-agent [--criu PATH] [--runc PATH] [--work-dir DIR] [--node NAME]\n"
        "                   [--log-level LEVEL] [--json] COMMAND [OPTIONS]\n"
        "\n"
        "commands:\n",
        f);
  for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++)
    fprintf(f, "  %-12s%s\n", verbs[i].name, verbs[i].summary);
  fputs("\n"
        "exit codes: 0 done, 1 failed (nothing changed), 2 usage, 3 rolled back to the source,\n"
        "            4 rollback failed (container not running)\n"
        "See docs/agent-cli.md for every option.\n",
        f);
}

static const char *env_or(const char *name, const char *dflt)
{
  const char *v = getenv(name);
  return v && *v ? v : dflt;
}

enum { GLOBAL_DONE = -1 };

/* The options before the verb. Returns GLOBAL_DONE to go on with the verb at
 * argv[optind], else the exit code (--help, --version, a usage error). */
static int parse_globals(struct cli_globals *g, int argc, char **argv)
{
  static const struct option global_long[] = {
    { "criu", required_argument, NULL, 'c' },
    { "runc", required_argument, NULL, 'r' },
    { "work-dir", required_argument, NULL, 'w' },
    { "node", required_argument, NULL, 'n' },
    { "log-level", required_argument, NULL, 'l' },
    { "log-format", required_argument, NULL, 'f' },
    { "json", no_argument, NULL, 'j' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
  };
  opterr = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, "+h", global_long, NULL)) != -1) {
    switch (opt) {
    case 'c':
      g->criu = optarg;
      break;
    case 'r':
      g->runc = optarg;
      break;
    case 'w':
      g->work_dir = optarg;
      break;
    case 'n':
      g->node = optarg;
      break;
    case 'j':
      g->json = 1;
      break;
    case 'l':
      if (ferry_log_level_option("ferry-agent", optarg) < 0)
        return 2;
      break;
    case 'f':
      if (ferry_log_format_option("ferry-agent", optarg) < 0)
        return 2;
      break;
    case 'h':
      usage(stdout);
      return 0;
    case 'V':
      printf("ferry-agent %s\n", FERRY_VERSION);
      return 0;
    default:
      fprintf(stderr, "ferry-agent: unknown option %s\n", argv[optind - 1]);
      usage(stderr);
      return 2;
    }
  }
  return GLOBAL_DONE;
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
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[optind];
  for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++) {
    if (!strcmp(cmd, verbs[i].name)) {
      g.verb = &verbs[i];
      return verbs[i].run(&g, argc - optind, argv + optind);
    }
  }
  fprintf(stderr, "ferry-agent: unknown command %s\n", cmd);
  usage(stderr);
  return 2;
}
