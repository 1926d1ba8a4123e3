/* SPDX-License-Identifier: Apache-2.0 */
/* Command lines from option tables: getopt_long's arrays and the help page,
 * both made from the same rows. */
#include "base/cmdline.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Where an option's help starts on the page, and how wide the synopsis goes. */
#define HELP_COLUMN 32
#define PAGE_WIDTH 100

static size_t count_opts(const struct ferry_cmd_opt *opts)
{
  size_t n = 0;
  while (opts[n].name)
    n++;
  if (n > FERRY_CMD_MAX_OPTS)
    abort(); /* a table larger than FERRY_CMD_MAX_OPTS: raise it */
  return n;
}

void ferry_cmd_start(struct ferry_cmd_parse *p, const struct ferry_cmd *cmd)
{
  memset(p, 0, sizeof *p);
  p->cmd = cmd;
  char *s = p->shortopts;
  if (cmd->in_order)
    *s++ = '+';
  *s++ = ':'; /* a missing argument returns ':', not '?' */
  size_t n = count_opts(cmd->opts);
  for (size_t i = 0; i < n; i++) {
    const struct ferry_cmd_opt *o = &cmd->opts[i];
    p->longopts[i] = (struct option){ o->name, o->has_arg, NULL, o->val };
    if (o->short_name) {
      *s++ = o->short_name;
      if (o->has_arg == required_argument)
        *s++ = ':';
    }
  }
  optind = 0; /* 0, not 1: glibc then starts afresh (another parse may have run, with other ordering) */
  opterr = 0;
}

int ferry_cmd_usage_error(const struct ferry_cmd *cmd, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", cmd->prog);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nRun '%s --help' for usage.\n", cmd->prog);
  return 2;
}

/* The option getopt stopped at, as the user wrote it. */
static const char *offending(char **argv, char *buf, size_t size)
{
  const char *word = argv[optind - 1];
  if (!optopt || !strncmp(word, "--", 2))
    return word;
  snprintf(buf, size, "-%c", optopt);
  return buf;
}

static const struct ferry_cmd_opt *row_of(const struct ferry_cmd *cmd, int val, size_t *index)
{
  for (size_t i = 0; cmd->opts[i].name; i++)
    if (cmd->opts[i].val == val) {
      *index = i;
      return &cmd->opts[i];
    }
  return NULL;
}

/* At the end: FERRY_CMD_DONE, or FERRY_CMD_BAD when a required option is missing. */
static int check_required(const struct ferry_cmd_parse *p)
{
  for (size_t i = 0; p->cmd->opts[i].name; i++)
    if (p->cmd->opts[i].required && !p->seen[i])
      return ferry_cmd_usage_error(p->cmd, "--%s is required", p->cmd->opts[i].name), FERRY_CMD_BAD;
  return FERRY_CMD_DONE;
}

int ferry_cmd_next(struct ferry_cmd_parse *p, int argc, char **argv)
{
  int val = getopt_long(argc, argv, p->shortopts, p->longopts, NULL);
  char buf[8];
  size_t i = 0;
  const struct ferry_cmd_opt *row = val >= 0 ? row_of(p->cmd, val, &i) : NULL;
  if (val == -1)
    return check_required(p);
  if (val == ':') {
    ferry_cmd_usage_error(p->cmd, "option %s needs an argument", offending(argv, buf, sizeof buf));
    return FERRY_CMD_BAD;
  }
  if (!row || val == '?') {
    ferry_cmd_usage_error(p->cmd, "unknown or misplaced option %s", offending(argv, buf, sizeof buf));
    return FERRY_CMD_BAD;
  }
  if (!strcmp(row->name, "help")) {
    ferry_cmd_help(p->cmd, stdout);
    return FERRY_CMD_HELP;
  }
  p->seen[i] = 1;
  return val;
}

int ferry_cmd_exit_code(int next) { return next == FERRY_CMD_HELP ? 0 : 2; }

/* One word of the synopsis, wrapped under the first line's operands. */
static void synopsis_word(FILE *f, const char *word, size_t indent, size_t *col)
{
  if (*col + 1 + strlen(word) > PAGE_WIDTH) {
    fprintf(f, "\n%*s", (int)indent, "");
    *col = indent;
  } else {
    fputc(' ', f);
    (*col)++;
  }
  *col += (size_t)fprintf(f, "%s", word);
}

/* "usage: SYNOPSIS --required ARG... [OPTIONS] OPERANDS" */
static void print_synopsis(const struct ferry_cmd *cmd, FILE *f)
{
  size_t col = (size_t)fprintf(f, "usage: %s", cmd->synopsis), indent = strlen("usage: ") + 2, optional = 0;
  char word[256];
  for (const struct ferry_cmd_opt *o = cmd->opts; o->name; o++) {
    if (!o->required) {
      optional++;
      continue;
    }
    snprintf(word, sizeof word, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
    synopsis_word(f, word, indent, &col);
  }
  if (optional)
    synopsis_word(f, "[OPTIONS]", indent, &col);
  if (cmd->operands)
    synopsis_word(f, cmd->operands, indent, &col);
  fputc('\n', f);
}

/* text from column col on, wrapped at PAGE_WIDTH with its next lines at HELP_COLUMN. */
static void print_wrapped(FILE *f, const char *text, size_t col)
{
  while (*text) {
    size_t len = strcspn(text, " ");
    if (col > HELP_COLUMN && col + 1 + len > PAGE_WIDTH) {
      fprintf(f, "\n%*s", HELP_COLUMN, "");
      col = HELP_COLUMN;
    } else if (col > HELP_COLUMN) {
      fputc(' ', f);
      col++;
    }
    col += (size_t)fprintf(f, "%.*s", (int)len, text);
    text += len + strspn(text + len, " ");
  }
  fputc('\n', f);
}

static void print_option(const struct ferry_cmd_opt *o, FILE *f)
{
  char shortform[8] = "    ", text[1024];
  if (o->short_name)
    snprintf(shortform, sizeof shortform, "-%c, ", o->short_name);
  int w = fprintf(f, "  %s--%s%s%s", shortform, o->name, o->arg ? " " : "", o->arg ? o->arg : "");
  if (w >= HELP_COLUMN) {
    fprintf(f, "\n%*s", HELP_COLUMN, "");
    w = HELP_COLUMN;
  }
  fprintf(f, "%*s", HELP_COLUMN - w, "");
  snprintf(text, sizeof text, "%s%s%s%s%s", o->help, o->required ? " (required)" : "", o->dflt ? " (default: " : "",
           o->dflt ? o->dflt : "", o->dflt ? ")" : "");
  print_wrapped(f, text, HELP_COLUMN);
}

void ferry_cmd_help(const struct ferry_cmd *cmd, FILE *f)
{
  print_synopsis(cmd, f);
  fprintf(f, "%s\n", cmd->summary);
  if (cmd->details)
    fputs(cmd->details, f);
  fputs("\noptions:\n", f);
  for (const struct ferry_cmd_opt *o = cmd->opts; o->name; o++)
    print_option(o, f);
  if (cmd->sections)
    cmd->sections(f);
  fprintf(f, "\nexit codes:\n%s", cmd->exits ? cmd->exits : "  0  done\n  1  failed\n  2  usage error\n");
  if (cmd->more)
    fprintf(f, "See %s.\n", cmd->more);
}
