/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/criu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/util.h"

const char *ferry_criu_default_path(void)
{
  const char *env = getenv("FERRY_CRIU");
  if (env && *env)
    return env;
  if (access("/opt/ferry/criu/bin/criu", X_OK) == 0)
    return "/opt/ferry/criu/bin/criu";
  return "criu";
}

static int run_capture(const char *const *argv, int timeout_ms, struct ferry_proc_result *res, ferry_error *err)
{
  struct ferry_proc_opts o = FERRY_PROC_OPTS_INIT;
  o.argv = argv;
  o.timeout_ms = timeout_ms;
  return ferry_proc_run(&o, res, err);
}

int ferry_criu_version(const char *criu, char **version, ferry_error *err)
{
  const char *argv[] = { criu, "--version", NULL };
  struct ferry_proc_result res;
  if (run_capture(argv, 10000, &res, err) < 0)
    return -1;
  char v[64] = "";
  const char *line = strstr(res.out, "Version:");
  if (!ferry_proc_ok(&res) || !line || sscanf(line, "Version: %63s", v) != 1) {
    ferry_error_set(err, 0, "%s --version failed or printed no version: %s", criu, *res.errout ? res.errout : res.out);
    ferry_proc_result_free(&res);
    return -1;
  }
  ferry_proc_result_free(&res);
  *version = ferry_strdup(v);
  return 0;
}

int ferry_criu_feature(const char *criu, const char *feature)
{
  const char *argv[] = { criu, "check", "--feature", feature, NULL };
  struct ferry_proc_result res;
  ferry_error err = FERRY_ERROR_INIT;
  if (run_capture(argv, 20000, &res, &err) < 0) {
    ferry_error_clear(&err);
    return -1;
  }
  int r = res.timed_out ? -1 : ferry_proc_ok(&res) ? 1 : 0;
  ferry_proc_result_free(&res);
  return r;
}

int ferry_criu_check_all(const char *criu, char **output, int *ok, ferry_error *err)
{
  const char *argv[] = { criu, "check", "--all", NULL };
  struct ferry_proc_result res;
  if (run_capture(argv, 30000, &res, err) < 0)
    return -1;
  *output = ferry_asprintf("%s%s", res.out, res.errout);
  *ok = ferry_proc_ok(&res);
  ferry_proc_result_free(&res);
  return 0;
}

char *ferry_criu_log_errors_text(const char *text, int max_lines)
{
  char *out = NULL;
  int n = 0;
  const char *line = text;
  while (line && *line && n < max_lines) {
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    const char *e = memmem(line, len, "Error (", 7);
    /* RLIMIT_NOFILE for self is harmless (no CAP_SYS_RESOURCE); skip it. */
    if (e && !memmem(line, len, "RLIMIT_NOFILE", 13)) {
      size_t el = len - (size_t)(e - line);
      char *n2 = out ? ferry_asprintf("%s; %.*s", out, (int)el, e) : ferry_asprintf("%.*s", (int)el, e);
      free(out);
      out = n2;
      n++;
    }
    line = nl ? nl + 1 : NULL;
  }
  return out;
}

char *ferry_criu_log_errors(const char *log_path, int max_lines)
{
  char *text = NULL;
  ferry_error err = FERRY_ERROR_INIT;
  if (ferry_read_file(log_path, &text, NULL, &err) < 0) {
    ferry_error_clear(&err);
    return NULL;
  }
  char *r = ferry_criu_log_errors_text(text, max_lines);
  free(text);
  return r;
}

char *ferry_criu_explain(const char *what, const char *log_path)
{
  char *errs = ferry_criu_log_errors(log_path, 4);
  char *m = errs ? ferry_asprintf("%s; CRIU (%s): %s", what, log_path, errs)
                 : ferry_asprintf("%s (CRIU log: %s)", what, log_path);
  free(errs);
  return m;
}

int ferry_criu_write_config(const char *dir, const struct ferry_criu_conf *conf, char **path, ferry_error *err)
{
  *path = NULL;
  if (!conf->tcp_close && !conf->skip_in_flight && !conf->leave_stopped)
    return 0;
  char *p = ferry_path_join(dir, "criu.conf");
  cleanup_free char *text = ferry_asprintf(
      "# written by ferry-agent: options runc has no flag for\n%s%s%s", conf->tcp_close ? "tcp-close\n" : "",
      conf->skip_in_flight ? "skip-in-flight\n" : "", conf->leave_stopped ? "leave-stopped\n" : "");
  if (ferry_write_file(p, text, strlen(text), err) < 0) {
    free(p);
    return -1;
  }
  *path = p;
  return 0;
}

static int in_netns(const char *netns_path, const char *const *cmd, int *ok, ferry_error *err)
{
  char *net = ferry_asprintf("--net=%s", netns_path);
  const char *argv[16] = { "nsenter", net };
  size_t n = 2;
  for (size_t i = 0; cmd[i] && n < 15; i++)
    argv[n++] = cmd[i];
  argv[n] = NULL;
  struct ferry_proc_opts o = FERRY_PROC_OPTS_INIT;
  o.argv = argv;
  o.timeout_ms = 20000;
  struct ferry_proc_result res;
  int rc = ferry_proc_run(&o, &res, err);
  if (rc == 0) {
    *ok = ferry_proc_ok(&res);
    if (!*ok && !strstr(res.errout, "No chain") && !strstr(res.errout, "does not exist") &&
        !strstr(res.errout, "Bad rule"))
      log_debug("%s in %s: %s", cmd[0], netns_path, res.errout);
    ferry_proc_result_free(&res);
  }
  free(net);
  return rc;
}

int ferry_criu_netns_unlock(const char *netns_path, int *was_locked, ferry_error *err)
{
  static const char *const tools[] = { "iptables", "ip6tables" };
  *was_locked = 0;
  for (size_t t = 0; t < 2; t++) {
    const char *list[] = { tools[t], "-w", "-n", "-L", "CRIU", NULL };
    int ok = 0;
    if (in_netns(netns_path, list, &ok, err) < 0)
      return ferry_error_prefix(err, "network lock in %s", netns_path);
    if (!ok)
      continue; /* no CRIU chain: not locked */
    *was_locked = 1;
    const char *const steps[][5] = {
      { "-D", "INPUT", "-j", "CRIU", NULL },
      { "-D", "OUTPUT", "-j", "CRIU", NULL },
      { "-F", "CRIU", NULL },
      { "-X", "CRIU", NULL },
    };
    for (size_t i = 0; i < 4; i++) {
      const char *cmd[8] = { tools[t], "-w" };
      size_t n = 2;
      for (size_t j = 0; steps[i][j]; j++)
        cmd[n++] = steps[i][j];
      cmd[n] = NULL;
      if (in_netns(netns_path, cmd, &ok, err) < 0)
        return ferry_error_prefix(err, "network unlock in %s", netns_path);
    }
    if (in_netns(netns_path, list, &ok, err) < 0)
      return -1;
    if (ok)
      return ferry_error_set(err, 0, "%s: CRIU's network lock is still in place in %s", tools[t], netns_path);
  }
  return 0;
}
