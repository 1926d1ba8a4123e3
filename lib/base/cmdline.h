/* SPDX-License-Identifier: Apache-2.0 */
/* A command's options as one table, from which both getopt_long's arrays and
 * the command's --help page are made, so the page cannot list an option the
 * parser does not take nor leave one out. Every binary's command line (and each
 * ferry-agent verb's) is a struct ferry_cmd. */
#ifndef FERRY_CMDLINE_H
#define FERRY_CMDLINE_H

#include <getopt.h>
#include <stdio.h>

/* One option: its getopt_long entry and its line on the help page. */
struct ferry_cmd_opt {
  const char *name; /* the long name, without "--" */
  int has_arg;      /* no_argument or required_argument */
  int val;          /* what the parse returns for it */
  char short_name;  /* its one-letter form, 0 for none */
  int required;     /* the parse fails without it (and the synopsis names it) */
  const char *arg;  /* the argument's name on the page ("FILE"), NULL without one */
  const char *help; /* one line */
  const char *dflt; /* its default, said on the page; NULL for none */
};

/* Rows: an option with an argument, a required one, one without an argument;
 * --help and -h (val 'h'), which every table has; the end of a table. */
// clang-format off
#define FERRY_CMD_ARG(NAME, VAL, ARG, HELP, DFLT) { NAME, required_argument, VAL, 0, 0, ARG, HELP, DFLT }
#define FERRY_CMD_REQ(NAME, VAL, ARG, HELP) { NAME, required_argument, VAL, 0, 1, ARG, HELP, NULL }
#define FERRY_CMD_FLAG(NAME, VAL, HELP) { NAME, no_argument, VAL, 0, 0, NULL, HELP, NULL }
#define FERRY_CMD_OPT_HELP { "help", no_argument, 'h', 'h', 0, NULL, "print this help and exit", NULL }
#define FERRY_CMD_OPT_END { NULL, 0, 0, 0, 0, NULL, NULL, NULL }
// clang-format on

/* Rows the binaries share: how they find the API server and how they log. */
#define FERRY_CMD_OPT_KUBECONFIG(VAL)                                                                                  \
  FERRY_CMD_ARG("kubeconfig", VAL, "FILE", "the kubeconfig",                                                           \
                "$KUBECONFIG, else in-cluster when KUBERNETES_SERVICE_HOST is set, else ~/.kube/config")
#define FERRY_CMD_OPT_LOG_LEVEL(VAL) FERRY_CMD_ARG("log-level", VAL, "LEVEL", "debug, info, warn or error", "info")
#define FERRY_CMD_OPT_LOG_FORMAT(VAL) FERRY_CMD_ARG("log-format", VAL, "FORMAT", "text or json", "text")
/* The exit codes of a binary that runs until it is stopped. */
#define FERRY_CMD_EXITS_SERVER "  0  stopped (SIGTERM, SIGINT), or --help\n  1  could not start\n  2  usage error\n"

/* A command: a binary, or a verb of one. */
struct ferry_cmd {
  const char *name;                 /* "migrate", "kube-lite" */
  const char *prog;                 /* how messages name it: "ferry-agent migrate" */
  const char *synopsis;             /* the usage line up to the options: "ferry-agent [GLOBAL OPTIONS] migrate" */
  const char *operands;             /* after the options ("ID", "COMMAND [OPTIONS]"); NULL for none */
  const char *summary;              /* one line, what it does */
  const char *details;              /* more lines (each ending in \n) after the summary; NULL for none */
  const char *exits;                /* its exit codes, one line each ("0: done\n"); NULL: 0 done, 1 failed, 2 usage */
  const char *more;                 /* where the rest is said ("docs/agent-cli.md"); NULL for nowhere */
  int in_order;                     /* stop at the first operand (getopt's "+") */
  void (*sections)(FILE *f);        /* more of the page, after the options; NULL for none */
  const struct ferry_cmd_opt *opts; /* ends with FERRY_CMD_OPT_END; NULL: it parses and answers --help itself */
};

/* What ferry_cmd_next returns besides an option's val. */
enum { FERRY_CMD_DONE = -1, FERRY_CMD_HELP = -2, FERRY_CMD_BAD = -3 };

#define FERRY_CMD_MAX_OPTS 64

/* One parse of argv by a command's table. */
struct ferry_cmd_parse {
  const struct ferry_cmd *cmd;
  struct option longopts[FERRY_CMD_MAX_OPTS + 1];
  char shortopts[2 * FERRY_CMD_MAX_OPTS + 3];
  unsigned char seen[FERRY_CMD_MAX_OPTS];
};

/* Starts a parse of argv (argv[0]: the command) at its first argument. */
void ferry_cmd_start(struct ferry_cmd_parse *p, const struct ferry_cmd *cmd);
/* The next option's val (its argument in optarg). FERRY_CMD_DONE after the
 * last one (optind is then the first operand), when every required option was
 * given; FERRY_CMD_HELP after printing the help page to stdout (--help, -h);
 * FERRY_CMD_BAD after saying on stderr what is wrong (an unknown option, a
 * missing argument or a missing required option) and where the usage is. */
int ferry_cmd_next(struct ferry_cmd_parse *p, int argc, char **argv);
/* The exit code for FERRY_CMD_HELP (0) or FERRY_CMD_BAD (2). */
int ferry_cmd_exit_code(int next);
/* The help page. */
void ferry_cmd_help(const struct ferry_cmd *cmd, FILE *f);
/* "PROG: MESSAGE" and the pointer to --help, on stderr; returns 2. */
int ferry_cmd_usage_error(const struct ferry_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
