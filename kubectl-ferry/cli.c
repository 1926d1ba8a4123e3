/* SPDX-License-Identifier: Apache-2.0 */
/* The command line, as kubectl reads one: `kubectl ferry COMMAND [ARGS] [flags]`
 * with flags before or after the arguments, -n/--namespace, --context,
 * --kubeconfig, -o; a help page per command (`--help`, `-h`, `help COMMAND`);
 * a usage error is "error: ..." and "See 'kubectl ferry COMMAND --help' for
 * usage." on stderr, exit 1, as kubectl says it. */
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubectl_ferry.h"
#include "base/cleanup.h"
#include "base/util.h"

enum kf_flag {
  F_KUBECONFIG,
  F_CONTEXT,
  F_NAMESPACE,
  F_ALL_NAMESPACES,
  F_OUTPUT,
  F_TIMEOUT,
  F_TO,
  F_STRATEGY,
  F_WAIT,
  F_HELP,
  F_COUNT
};

struct flag {
  const char *name;
  char short_name; /* 0: none */
  int has_arg;     /* getopt's no_argument, required_argument, optional_argument */
  const char *arg, *help;
};

static const struct flag flags[F_COUNT] = {
  [F_KUBECONFIG] = { "kubeconfig", 0, required_argument, "FILE",
                     "The kubeconfig to use (else $KUBECONFIG, the service account in a pod, ~/.kube/config)." },
  [F_CONTEXT] = { "context", 0, required_argument, "NAME", "The kubeconfig context to use." },
  [F_NAMESPACE] = { "namespace", 'n', required_argument, "NAMESPACE",
                    "The namespace (else the context's, else default)." },
  [F_ALL_NAMESPACES] = { "all-namespaces", 'A', no_argument, NULL, "Every namespace's PodMigrations." },
  [F_OUTPUT] = { "output", 'o', required_argument, "FORMAT", NULL /* per command */ },
  [F_TIMEOUT] = { "timeout", 0, required_argument, "DURATION",
                  "How long to wait: seconds, or a duration such as 90s or 5m." },
  [F_TO] = { "to", 0, required_argument, "NODE", "The node to move to (default: the controller picks one that fits)." },
  [F_STRATEGY] = { "strategy", 0, required_argument, "STRATEGY",
                   "stopAndCopy, preCopy, postCopy or auto (default: the MigrationPolicy's, else stopAndCopy)." },
  [F_WAIT] = { "wait", 0, optional_argument, NULL, NULL /* per command */ },
  [F_HELP] = { "help", 'h', no_argument, NULL, "This help." },
};

#define BIT(f) (1u << (f))
#define GLOBAL_FLAGS (BIT(F_KUBECONFIG) | BIT(F_CONTEXT) | BIT(F_HELP))
#define OUT(o) (1u << (o))

struct command {
  const char *name, *usage, *summary, *description, *examples;
  unsigned flags, outputs;
  int min_args, max_args; /* -1: any number */
  const char *wait_help, *timeout_default;
};

static const char OUTPUT_HELP[] = "Output format: ";

static const struct command commands[KF_CMD_COUNT] = {
  [KF_CMD_MIGRATE] = { "migrate", "POD [--to NODE] [--strategy STRATEGY] [--wait [--timeout DURATION]]",
                       "Move a running pod to another node",
                       "Creates a PodMigration (reason Manual) for POD in the namespace; ferry-controller moves the "
                       "pod to NODE, or\n"
                       "to a node that fits. With --wait it follows the migration (a progress bar on a terminal, a "
                       "line per change\n"
                       "otherwise) and exits 0 only when it Succeeded, 1 when it Failed, RolledBack or did not end in "
                       "time.",
                       "  # move pod web to a node the controller picks\n"
                       "  kubectl ferry migrate web\n\n"
                       "  # move it to node-b by post-copy and wait for the outcome\n"
                       "  kubectl ferry migrate web --to node-b --strategy postCopy --wait",
                       GLOBAL_FLAGS | BIT(F_NAMESPACE) | BIT(F_OUTPUT) | BIT(F_TIMEOUT) | BIT(F_TO) | BIT(F_STRATEGY) |
                           BIT(F_WAIT),
                       OUT(KF_OUT_JSON) | OUT(KF_OUT_YAML) | OUT(KF_OUT_NAME), 1, 1,
                       "Wait until the migration ended; exit 0 only when it Succeeded.", "300s" },
  [KF_CMD_STATUS] = { "status", "[PM...] [-A] [-o wide|json|yaml|name]", "Show PodMigrations and how far each has come",
                      "A row per PodMigration (the named ones, else every one of the namespace): its phase, strategy, "
                      "nodes, the\n"
                      "bytes moved against the total, the percent, the average rate, how long the pod was (or is, so "
                      "far) frozen,\n"
                      "the ETA. -o wide adds the stage and the bytes moved before, during and after the freeze, the "
                      "target pod\n"
                      "and the message. -o json and -o yaml print the objects as the API holds them.",
                      "  kubectl ferry status\n"
                      "  kubectl ferry status web-1a2b3 -o yaml\n"
                      "  kubectl ferry status -A -o wide",
                      GLOBAL_FLAGS | BIT(F_NAMESPACE) | BIT(F_ALL_NAMESPACES) | BIT(F_OUTPUT),
                      OUT(KF_OUT_WIDE) | OUT(KF_OUT_JSON) | OUT(KF_OUT_YAML) | OUT(KF_OUT_NAME), 0, -1, NULL, NULL },
  [KF_CMD_WATCH] = { "watch", "[PM...] [-A] [-o json|yaml] [--timeout DURATION]", "Follow PodMigrations live",
                     "Follows the PodMigrations (the named ones, else every one of the namespace) through the API's "
                     "watch. On a\n"
                     "terminal it redraws a progress bar per migration: phase, stage, strategy, bytes moved against "
                     "the total,\n"
                     "the rate, the time frozen so far and the ETA. Otherwise it prints a line each time a migration "
                     "changes.\n"
                     "With -o json or yaml each change is the whole object, as kubectl get -w prints it.\n"
                     "With names it ends when each has ended: exit 0 when all Succeeded, 1 otherwise. Without, it runs "
                     "until\n"
                     "interrupted or --timeout (exit 0).",
                     "  kubectl ferry watch\n"
                     "  kubectl ferry watch web-1a2b3 --timeout 10m\n"
                     "  kubectl ferry watch web-1a2b3 -o json",
                     GLOBAL_FLAGS | BIT(F_NAMESPACE) | BIT(F_ALL_NAMESPACES) | BIT(F_OUTPUT) | BIT(F_TIMEOUT),
                     OUT(KF_OUT_JSON) | OUT(KF_OUT_YAML), 0, -1, NULL, "none" },
  [KF_CMD_CANCEL] = { "cancel", "PM... [--wait=false] [--timeout DURATION]", "Cancel PodMigrations",
                      "Deletes each PodMigration that has not ended, which is how ferry-controller cancels one: before "
                      "the\n"
                      "freeze it Fails (Cancelled) and the pod runs on where it was; after it, the pod is rolled back "
                      "to its\n"
                      "source node. Waits until the PodMigration is gone (the rollback done) unless --wait=false. A\n"
                      "PodMigration that already ended cannot be cancelled (exit 1; kubectl delete removes its "
                      "record).",
                      "  kubectl ferry cancel web-1a2b3",
                      GLOBAL_FLAGS | BIT(F_NAMESPACE) | BIT(F_OUTPUT) | BIT(F_TIMEOUT) | BIT(F_WAIT), OUT(KF_OUT_NAME),
                      1, -1, "Wait until each is gone, its rollback done (default true).", "300s" },
  [KF_CMD_NODES] = { "nodes", "[NODE...] [-o wide|json|yaml|name]",
                     "Show each node's Ferry agent: ready, versions, strategies, load",
                     "A row per node: whether its ferry-agent is ready (its Lease renewed within its duration), the "
                     "CRIU and runc\n"
                     "versions and the strategies it can run (from the agent's node check, \"unknown\" without one), "
                     "its CPU and\n"
                     "memory use, and the migrations running from or to it. -o wide adds why a strategy or non-root "
                     "containers\n"
                     "cannot run, the post-copy threshold and the image store's free space.",
                     "  kubectl ferry nodes\n"
                     "  kubectl ferry nodes -o wide",
                     GLOBAL_FLAGS | BIT(F_OUTPUT),
                     OUT(KF_OUT_WIDE) | OUT(KF_OUT_JSON) | OUT(KF_OUT_YAML) | OUT(KF_OUT_NAME), 0, -1, NULL, NULL },
  [KF_CMD_PLAN] = { "plan", "[POLICY] [-o json|yaml]", "Show what the rebalancer planned",
                    "What the rebalancer's last round planned for each MigrationPolicy (or POLICY): each move, its "
                    "reason and\n"
                    "why, and the PodMigration it created or \"(dry run)\". -o json or yaml: the policies' status as "
                    "the API\n"
                    "holds it. Exits 1 if POLICY does not exist or the API cannot be read.",
                    "  kubectl ferry plan\n"
                    "  kubectl ferry plan spread -o json",
                    GLOBAL_FLAGS | BIT(F_OUTPUT), OUT(KF_OUT_JSON) | OUT(KF_OUT_YAML), 0, 1, NULL, NULL },
  [KF_CMD_DRAIN] = { "drain", "NODE [--timeout DURATION]", "Drain a node, migrating the pods that opted in",
                     "Cordons NODE; its pods annotated ferry.dev/migratable=\"true\" are migrated by ferry-controller, "
                     "the others\n"
                     "are evicted as kubectl drain evicts them (PodDisruptionBudgets honoured; DaemonSet pods left "
                     "alone).\n"
                     "Exits 1 if a pod could not be moved or evicted.",
                     "  kubectl ferry drain node-a --timeout 10m", GLOBAL_FLAGS | BIT(F_TIMEOUT), 0, 1, 1, NULL,
                     "300s" },
  [KF_CMD_COMPLETION] = { "completion", "bash", "Print the shell completion script",
                          "Prints a bash completion script for kubectl-ferry. For `kubectl ferry` itself, kubectl 1.26 "
                          "and later\n"
                          "complete through the kubectl_complete-ferry executable installed next to kubectl-ferry.",
                          "  source <(kubectl ferry completion bash)", BIT(F_HELP), 0, 1, 1, NULL, NULL },
};

static const char *const output_names[KF_OUT_COUNT] = {
  [KF_OUT_TABLE] = "", [KF_OUT_WIDE] = "wide", [KF_OUT_JSON] = "json", [KF_OUT_YAML] = "yaml", [KF_OUT_NAME] = "name",
};

const char *kf_command_name(enum kf_command cmd) { return commands[cmd].name; }

int kf_command_lookup(const char *name, enum kf_command *out)
{
  for (int i = 0; i < KF_CMD_COUNT; i++)
    if (!strcmp(name, commands[i].name)) {
      *out = (enum kf_command)i;
      return 0;
    }
  return -1;
}

void kf_command_flags(enum kf_command cmd, const char **names, size_t max)
{
  size_t n = 0;
  for (int f = 0; f < F_COUNT && n + 1 < max; f++)
    if (commands[cmd].flags & BIT(f))
      names[n++] = flags[f].name;
  names[n] = NULL;
}

void kf_command_outputs(enum kf_command cmd, const char **names, size_t max)
{
  size_t n = 0;
  for (int o = KF_OUT_WIDE; o < KF_OUT_COUNT && n + 1 < max; o++)
    if (commands[cmd].outputs & OUT(o))
      names[n++] = output_names[o];
  names[n] = NULL;
}

int kf_usage_error(enum kf_command cmd, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fputs("error: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nSee 'kubectl ferry %s --help' for usage.\n", commands[cmd].name);
  return 1;
}

void kf_api_error(const struct ferry_kube_status *st, const ferry_error *err)
{
  if (st && st->code >= 400 && *st->reason)
    fprintf(stderr, "Error from server (%s): %s\n", st->reason, st->message);
  else
    fprintf(stderr, "error: %s\n", ferry_error_msg(err));
}

/* ---------- help ---------- */

static void output_formats(const struct command *c, char *buf, size_t len)
{
  size_t used = 0;
  buf[0] = '\0';
  for (int o = KF_OUT_WIDE; o < KF_OUT_COUNT; o++)
    if (c->outputs & OUT(o))
      used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? "|" : "", output_names[o]);
}

static void flag_help(const struct command *c, int f, FILE *out)
{
  const struct flag *fl = &flags[f];
  char left[64], formats[64];
  snprintf(left, sizeof left, "%c%c%s--%s%s%s%s", fl->short_name ? '-' : ' ', fl->short_name ? fl->short_name : ' ',
           fl->short_name ? ", " : "  ", fl->name, f == F_WAIT ? "[=BOOL]" : "", fl->arg ? " " : "", fl->arg ?: "");
  fprintf(out, "  %-32s ", left);
  if (f == F_OUTPUT) {
    output_formats(c, formats, sizeof formats);
    fprintf(out, "%s%s.\n", OUTPUT_HELP, formats);
  } else if (f == F_WAIT) {
    fprintf(out, "%s\n", c->wait_help);
  } else if (f == F_TIMEOUT && c->timeout_default) {
    fprintf(out, "%s Default: %s.\n", fl->help, c->timeout_default);
  } else {
    fprintf(out, "%s\n", fl->help);
  }
}

static void command_help(const struct command *c, FILE *out)
{
  fprintf(out, "%s.\n\n%s\n\nExamples:\n%s\n\nOptions:\n", c->summary, c->description, c->examples);
  for (int f = 0; f < F_COUNT; f++)
    if (c->flags & BIT(f))
      flag_help(c, f, out);
  fprintf(out, "\nUsage:\n  kubectl ferry %s %s\n\nExit status: 0 on success, 1 on an error (said on stderr).\n",
          c->name, c->usage);
}

static void top_help(FILE *out)
{
  fputs("kubectl ferry: move running pods between nodes with Ferry.\n\nCommands:\n", out);
  for (int i = 0; i < KF_CMD_COUNT; i++)
    fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
  fputs("\nUsage:\n  kubectl ferry COMMAND [ARGS] [options]\n\n"
        "Use \"kubectl ferry COMMAND --help\" for more information about a command.\n",
        out);
}

/* ---------- parsing ---------- */

static int parse_timeout(enum kf_command cmd, const char *s, int *out)
{
  char *end;
  long v = strtol(s, &end, 10);
  int64_t ms = 0;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (!*end && end != s && v > 0 && v <= 86400 * 7) {
    *out = (int)v;
    return 0;
  }
  if (ferry_parse_duration_ms(s, &ms, &err) == 0 && ms >= 1000 && ms <= 86400LL * 7 * 1000) {
    *out = (int)(ms / 1000);
    return 0;
  }
  kf_usage_error(cmd, "--timeout: not a number of seconds: %s", s);
  return -1;
}

static int parse_output(enum kf_command cmd, const char *s, enum kf_output *out)
{
  const struct command *c = &commands[cmd];
  for (int o = KF_OUT_WIDE; o < KF_OUT_COUNT; o++)
    if ((c->outputs & OUT(o)) && !strcmp(s, output_names[o])) {
      *out = (enum kf_output)o;
      return 0;
    }
  char formats[64];
  output_formats(c, formats, sizeof formats);
  for (char *p = formats; *p; p++)
    *p = *p == '|' ? ',' : *p;
  kf_usage_error(cmd, "unable to match a printer suitable for the output format \"%s\", allowed formats are: %s", s,
                 formats);
  return -1;
}

static int parse_bool(enum kf_command cmd, const char *flag, const char *s, int *out)
{
  if (!s || !strcmp(s, "true")) {
    *out = 1;
    return 0;
  }
  if (!strcmp(s, "false")) {
    *out = 0;
    return 0;
  }
  kf_usage_error(cmd, "invalid argument \"%s\" for \"--%s\" flag: not a boolean", s, flag);
  return -1;
}

static int parse_strategy(enum kf_command cmd, const char *s, int *out)
{
  enum pm_strategy st;
  if (pm_strategy_parse(s, &st) < 0) {
    kf_usage_error(cmd, "--strategy: \"%s\" is not one of stopAndCopy, preCopy, postCopy, auto", s);
    return -1;
  }
  *out = (int)st;
  return 0;
}

int kf_flag_takes_value(const char *word)
{
  if (!strncmp(word, "--", 2)) {
    for (int f = 0; f < F_COUNT; f++)
      if (flags[f].has_arg == required_argument && !strcmp(word + 2, flags[f].name))
        return 1;
    return 0;
  }
  for (int f = 0; f < F_COUNT; f++)
    if (flags[f].has_arg == required_argument && flags[f].short_name && word[1] == flags[f].short_name && !word[2])
      return 1;
  return 0;
}

int kf_command_index(int argc, char **argv)
{
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--"))
      return i + 1 < argc ? i + 1 : argc;
    if (argv[i][0] != '-' || !argv[i][1])
      return i;
    if (kf_flag_takes_value(argv[i]))
      i++;
  }
  return argc;
}

/* getopt_long's table and short string for the command's flags. */
static void option_table(const struct command *c, struct option *opts, char *shorts)
{
  size_t n = 0, s = 0;
  shorts[s++] = ':'; /* a missing value is told apart from an unknown flag */
  for (int f = 0; f < F_COUNT; f++) {
    if (!(c->flags & BIT(f)))
      continue;
    opts[n++] = (struct option){ flags[f].name, flags[f].has_arg, NULL, 256 + f };
    if (flags[f].short_name) {
      shorts[s++] = flags[f].short_name;
      if (flags[f].has_arg == required_argument)
        shorts[s++] = ':';
    }
  }
  opts[n] = (struct option){ NULL, 0, NULL, 0 };
  shorts[s] = '\0';
}

static int short_to_flag(int c)
{
  for (int f = 0; f < F_COUNT; f++)
    if (flags[f].short_name == c)
      return f;
  return -1;
}

/* One flag's value into o. 0, 1 (help printed) or -1. */
static int apply_flag(enum kf_command cmd, int f, const char *arg, struct kf_opts *o)
{
  switch ((enum kf_flag)f) {
  case F_KUBECONFIG:
    o->kubeconfig = arg;
    return 0;
  case F_CONTEXT:
    o->context = arg;
    return 0;
  case F_NAMESPACE:
    o->ns = arg;
    return 0;
  case F_ALL_NAMESPACES:
    o->all_namespaces = 1;
    return 0;
  case F_OUTPUT:
    return parse_output(cmd, arg, &o->output);
  case F_TIMEOUT:
    return parse_timeout(cmd, arg, &o->timeout_s);
  case F_TO:
    o->to = arg;
    return 0;
  case F_STRATEGY:
    return parse_strategy(cmd, arg, &o->strategy);
  case F_WAIT:
    return parse_bool(cmd, "wait", arg, &o->wait);
  case F_HELP:
    command_help(&commands[cmd], stdout);
    return 1;
  case F_COUNT:
    break;
  }
  return -1;
}

static int bad_flag(enum kf_command cmd, int c, const char *word)
{
  if (c == ':')
    kf_usage_error(cmd, "flag needs an argument: %s", word);
  else if (optopt && optopt < 256)
    kf_usage_error(cmd, "unknown shorthand flag: '%c' in %s", optopt, word);
  else
    kf_usage_error(cmd, "unknown flag: %s", word);
  return -1;
}

static int parse_flags(enum kf_command cmd, int argc, char **argv, struct kf_opts *o)
{
  struct option opts[F_COUNT + 1];
  char shorts[2 * F_COUNT + 2];
  option_table(&commands[cmd], opts, shorts);
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
    int f = c >= 256 ? c - 256 : short_to_flag(c);
    if (c == '?' || c == ':' || f < 0)
      return bad_flag(cmd, c, argv[optind - 1]);
    int rc = apply_flag(cmd, f, optarg, o);
    if (rc != 0)
      return rc;
  }
  o->args = argv + optind;
  o->nargs = argc - optind;
  return 0;
}

static int check_args(enum kf_command cmd, const struct kf_opts *o)
{
  const struct command *c = &commands[cmd];
  if (o->nargs < c->min_args || (c->max_args >= 0 && o->nargs > c->max_args))
    kf_usage_error(cmd, "usage: kubectl ferry %s %s", c->name, c->usage);
  else if (o->all_namespaces && o->nargs)
    kf_usage_error(cmd, "a resource cannot be retrieved by name across all namespaces");
  else if (cmd == KF_CMD_MIGRATE && o->timeout_s && o->wait != 1)
    kf_usage_error(cmd, "--timeout needs --wait");
  else
    return 0;
  return -1;
}

int kf_parse(int argc, char **argv, enum kf_command *cmd, struct kf_opts *o)
{
  int at = kf_command_index(argc, argv);
  if (at >= argc) {
    int helped = argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
    top_help(helped ? stdout : stderr);
    return helped ? 1 : -1;
  }
  const char *word = argv[at];
  if (!strcmp(word, "help")) {
    if (at + 1 < argc && kf_command_lookup(argv[at + 1], cmd) == 0)
      command_help(&commands[*cmd], stdout);
    else
      top_help(stdout);
    return 1;
  }
  if (kf_command_lookup(word, cmd) < 0) {
    fprintf(stderr, "error: unknown command \"%s\" for \"kubectl ferry\"\nRun 'kubectl ferry --help' for usage.\n",
            word);
    return -1;
  }
  /* the flags may come before the command word too: parse without it */
  cleanup_free char **rest = ferry_malloc(sizeof *rest * (size_t)argc);
  int n = 0;
  for (int i = 0; i < argc; i++)
    if (i != at)
      rest[n++] = argv[i];
  int rc = parse_flags(*cmd, n, rest, o);
  if (rc != 0)
    return rc;
  /* o->args points into rest: copy it onto argv, which outlives it */
  for (int i = 0; i < o->nargs; i++)
    argv[1 + i] = o->args[i];
  o->args = argv + 1;
  return check_args(*cmd, o);
}
