/* SPDX-License-Identifier: Apache-2.0 */
/* ferry-runc: containerd (a runtime handler with BinaryName) and CRI-O (a
 * runtime with runtime_path) call it exactly as they call runc. Every command and
 * flag passes to runc unchanged (the process becomes runc), except:
 *   create  of a container whose pod asks to be restored: see restore.c;
 *   start   of a container ferry-runc restored: already running, nothing to do;
 *   delete  also forgets that a container was restored.
 * Environment: FERRY_RUNC_BINARY (the real runc, default "runc" on PATH),
 * FERRY_CRIU (CRIU for restores), FERRY_RUNC_STATE (markers, default
 * /run/ferry-runc), FERRY_ADMISSION_DIR (default /var/lib/ferry/admitted). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry_runc.h"
#include "base/cmdline.h"
#include "base/util.h"

static const char *env_or(const char *name, const char *dflt)
{
  const char *v = getenv(name);
  return v && *v ? v : dflt;
}

/* runc's global flags that ferry-runc reads too (every flag passes on to runc as it is). */
static const struct ferry_cmd_opt rt_opts[] = {
  FERRY_CMD_ARG("root", 'r', "DIR", "runc's state root; ferry-runc's markers are kept per root", "runc's, /run/runc"),
  FERRY_CMD_ARG("log", 'l', "FILE", "runc's log; ferry-runc reports there too (the shim reads its last line)", "none"),
  FERRY_CMD_ARG("log-format", 'f', "FORMAT", "text or json, for ferry-runc's lines too", "text"),
  FERRY_CMD_ARG("criu", 'c', "PATH", "the CRIU binary, for restores too",
                "$FERRY_CRIU, else /opt/ferry/criu/bin/criu if present, else criu"),
  FERRY_CMD_OPT_HELP,
  FERRY_CMD_OPT_END,
};

static const struct ferry_cmd rt_cmd = {
  .name = "ferry-runc",
  .prog = "ferry-runc",
  .synopsis = "ferry-runc",
  .operands = "COMMAND [ARGS]",
  .summary = "An OCI runtime: runc, except that it restores the containers Ferry moves to this node.",
  .details = "Every command and flag passes to runc unchanged (the process becomes runc), except create of a\n"
             "container whose pod asks to be restored (runc restore from the image), start of a container it\n"
             "restored (nothing to do), and delete (also forgets the restore). runc's own commands and flags:\n"
             "'runc --help'. Environment: FERRY_RUNC_BINARY (the real runc, default runc), FERRY_CRIU,\n"
             "FERRY_RUNC_STATE (default /run/ferry-runc), FERRY_ADMISSION_DIR (default /var/lib/ferry/admitted).\n",
  .exits = "  0    done\n  1    a refused or failed restore (said on stderr and in --log)\n"
           "  127  runc could not be run\n  else runc's own exit code\n",
  .more = "docs/ferry-runc.md",
  .opts = rt_opts,
};

/* runc's global flags that take a value. */
static int takes_value(const char *flag)
{
  static const char *const with[] = { "--root", "--log", "--log-format", "--criu", "--rootless", NULL };
  for (int i = 0; with[i]; i++)
    if (!strcmp(flag, with[i]))
      return 1;
  return 0;
}

/* "--NAME X" or "--NAME=X" at argv[*i]: the value, advancing *i past it. */
static const char *value_of(char **argv, int argc, int *i, const char *name)
{
  size_t n = strlen(name);
  const char *a = argv[*i];
  if (strncmp(a, "--", 2) || strncmp(a + 2, name, n))
    return NULL;
  if (a[2 + n] == '=')
    return a + 2 + n + 1;
  if (!a[2 + n] && *i + 1 < argc)
    return argv[++*i];
  return NULL;
}

static void apply_flag(struct invocation *in, int val, const char *v)
{
  switch (val) {
  case 'r':
    in->root = v;
    break;
  case 'l':
    in->log = v;
    break;
  case 'f':
    in->log_json = !strcmp(v, "json");
    break;
  case 'c':
    in->criu = v;
    break;
  }
}

/* The flags before the command; *help when --help or -h is one of them. */
static void parse(int argc, char **argv, struct invocation *in, int *help)
{
  memset(in, 0, sizeof *in);
  in->argc = argc;
  in->argv = argv;
  in->cmd_at = -1;
  in->runc = env_or("FERRY_RUNC_BINARY", "runc");
  *help = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = NULL;
    if (a[0] != '-') {
      in->cmd_at = i;
      return;
    }
    *help |= !strcmp(a, "--help") || !strcmp(a, "-h");
    const struct ferry_cmd_opt *o = rt_opts;
    while (o->name && (o->has_arg != required_argument || !(v = value_of(argv, argc, &i, o->name))))
      o++;
    if (o->name)
      apply_flag(in, o->val, v);
    else if (takes_value(a) && i + 1 < argc)
      i++;
  }
}

char *restored_marker(const struct invocation *in, const char *id)
{
  /* one directory per runc root: containers of different roots may share IDs */
  char *root = ferry_strdup(in->root ? in->root : "/run/runc");
  for (char *p = root; *p; p++)
    if (*p == '/')
      *p = '_';
  char *m = ferry_asprintf("%s/%s/%s", env_or("FERRY_RUNC_STATE", "/run/ferry-runc"), root, id);
  free(root);
  return m;
}

static void log_line(const struct invocation *in, const char *level, const char *msg)
{
  if (!in->log)
    return;
  FILE *f = fopen(in->log, "a");
  if (!f)
    return;
  char now[40];
  ferry_format_time(ferry_now_real_ms(), now, sizeof now);
  if (in->log_json) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "level", json_object_new_string(level));
    char *m = ferry_asprintf("ferry-runc: %s", msg);
    json_object_object_add(o, "msg", json_object_new_string(m));
    free(m);
    json_object_object_add(o, "time", json_object_new_string(now));
    fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
  } else {
    fprintf(f, "time=\"%s\" level=%s msg=\"ferry-runc: %s\"\n", now, level, msg);
  }
  fclose(f);
}

/* The last error reported (for ferry-runc's record of a failed restore). */
static char last_error[2048];

const char *report_last_error(void) { return last_error; }

/* fmt formatted, as a line on stderr too when to_stderr, and in --log. */
__attribute__((format(printf, 4, 0))) static void reportv(const struct invocation *in, const char *level, int to_stderr,
                                                          const char *fmt, va_list ap)
{
  char msg[2048];
  vsnprintf(msg, sizeof msg, fmt, ap);
  if (to_stderr) {
    fprintf(stderr, "ferry-runc: %s\n", msg);
    snprintf(last_error, sizeof last_error, "%s", msg);
  }
  log_line(in, level, msg);
}

void report_error(const struct invocation *in, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  reportv(in, "error", 1, fmt, ap);
  va_end(ap);
}

void report_info(const struct invocation *in, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  reportv(in, "info", 0, fmt, ap);
  va_end(ap);
}

int exec_runc(const struct invocation *in, char **argv)
{
  argv[0] = (char *)in->runc;
  execvp(in->runc, argv);
  report_error(in, "cannot run %s: %s", in->runc, strerror(errno));
  return 127;
}

/* The container ID: the command's last non-flag argument. */
static const char *command_id(const struct invocation *in)
{
  const char *id = NULL;
  for (int i = in->cmd_at + 1; i < in->argc; i++)
    if (in->argv[i][0] != '-')
      id = in->argv[i];
  return id;
}

int main(int argc, char **argv)
{
  struct invocation in;
  int help;
  parse(argc, argv, &in, &help);
  if (help && in.cmd_at < 0) { /* `runc COMMAND --help` is runc's */
    ferry_cmd_help(&rt_cmd, stdout);
    return 0;
  }
  const char *cmd = in.cmd_at > 0 ? argv[in.cmd_at] : "";
  if (!strcmp(cmd, "create")) {
    int r = maybe_restore(&in);
    if (r <= 0)
      return r < 0 ? 1 : 0;
  } else if (!strcmp(cmd, "start")) {
    const char *id = command_id(&in);
    char *marker = id ? restored_marker(&in, id) : NULL;
    struct stat sb;
    int restored = marker && stat(marker, &sb) == 0;
    free(marker);
    if (restored)
      return 0; /* restored already running: the start that follows create */
  } else if (!strcmp(cmd, "delete")) {
    const char *id = command_id(&in);
    if (id)
      forget_restore(&in, id);
  }
  return exec_runc(&in, argv);
}
