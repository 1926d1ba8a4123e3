/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/runc.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/util.h"

#define MAX_ARGS 48

static const char *jstr(json_object *o, const char *key)
{
  json_object *v;
  if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
    return NULL;
  return json_object_get_string(v);
}

int ferry_runc_parse_state(const char *json, struct ferry_runc_state *st, ferry_error *err)
{
  memset(st, 0, sizeof *st);
  json_object *o = json_tokener_parse(json);
  if (!o || !json_object_is_type(o, json_type_object)) {
    json_object_put(o);
    return ferry_error_set(err, 0, "runc state: not a JSON object");
  }
  const char *id = jstr(o, "id"), *status = jstr(o, "status"), *bundle = jstr(o, "bundle");
  json_object *pid;
  if (!id || !status || !bundle || !json_object_object_get_ex(o, "pid", &pid)) {
    json_object_put(o);
    return ferry_error_set(err, 0, "runc state: missing id, status, bundle or pid");
  }
  st->id = ferry_strdup(id);
  st->status = ferry_strdup(status);
  st->bundle = ferry_strdup(bundle);
  st->pid = (pid_t)json_object_get_int(pid);
  const char *rootfs = jstr(o, "rootfs");
  st->rootfs = rootfs ? ferry_strdup(rootfs) : ferry_path_join(bundle, "rootfs");
  const char *created = jstr(o, "created");
  st->created_ms = created ? ferry_parse_time_ms(created) : 0;
  json_object_put(o);
  return 0;
}

void ferry_runc_state_free(struct ferry_runc_state *st)
{
  free(st->id);
  free(st->status);
  free(st->bundle);
  free(st->rootfs);
  memset(st, 0, sizeof *st);
}

char *ferry_runc_log_errors(const char *log_text)
{
  char *out = NULL;
  const char *line = log_text;
  while (line && *line) {
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    char *l = strndup(line, len);
    if (!l)
      abort();
    json_object *o = json_tokener_parse(l);
    const char *level = o ? jstr(o, "level") : NULL;
    const char *msg = o ? jstr(o, "msg") : NULL;
    if (level && msg && (!strcmp(level, "error") || !strcmp(level, "fatal"))) {
      char *n = out ? ferry_asprintf("%s; %s", out, msg) : ferry_strdup(msg);
      free(out);
      out = n;
    }
    json_object_put(o);
    free(l);
    line = nl ? nl + 1 : NULL;
  }
  return out;
}

struct argv {
  const char *v[MAX_ARGS + 1];
  int n;
};

static void add(struct argv *a, const char *s)
{
  if (a->n < MAX_ARGS)
    a->v[a->n++] = s;
  a->v[a->n] = NULL;
}

static void base_args(struct argv *a, const struct ferry_runc *r)
{
  add(a, r->runc);
  if (r->root) {
    add(a, "--root");
    add(a, r->root);
  }
  if (r->log) {
    add(a, "--log");
    add(a, r->log);
    add(a, "--log-format");
    add(a, "json");
  }
  if (r->criu) {
    add(a, "--criu");
    add(a, r->criu);
  }
}

/* Runs runc; on failure err says which command failed, how, and runc's own error
 * messages (from --log, else its stderr). */
static int run_runc(const struct ferry_runc *r, struct argv *a, const char *const *env, int in, int out,
                    char **stdout_text, ferry_error *err)
{
  if (r->log && unlink(r->log) < 0 && errno != ENOENT)
    log_warn("remove old runc log %s: %s", r->log, strerror(errno));
  struct ferry_proc_opts o = FERRY_PROC_OPTS_INIT;
  o.argv = a->v;
  o.env_add = env;
  o.stdin_fd = in;
  o.stdout_fd = out;
  o.stderr_fd = out;
  o.timeout_ms = r->timeout_ms;
  o.same_group = r->same_group;
  struct ferry_proc_result res;
  char *cmd = ferry_proc_cmdline(a->v);
  log_debug("run: %s", cmd);
  if (ferry_proc_run(&o, &res, err) < 0) {
    free(cmd);
    return -1;
  }
  int rc = 0;
  if (!ferry_proc_ok(&res)) {
    char how[128];
    ferry_proc_describe(&res, &o, how, sizeof how);
    char *why = NULL;
    if (r->log) {
      char *text = NULL;
      ferry_error ignore = FERRY_ERROR_INIT;
      if (ferry_read_file(r->log, &text, NULL, &ignore) == 0)
        why = ferry_runc_log_errors(text);
      ferry_error_clear(&ignore);
      free(text);
    }
    if (!why && res.errout && *res.errout) {
      why = ferry_strdup(res.errout);
      size_t l = strlen(why);
      while (l && (why[l - 1] == '\n' || why[l - 1] == ' '))
        why[--l] = '\0';
    }
    rc = ferry_error_set(err, 0, "%s: %s%s%s", cmd, how, why ? ": " : "", why ? why : "");
    free(why);
  } else if (stdout_text) {
    *stdout_text = res.out;
    res.out = NULL;
  }
  ferry_proc_result_free(&res);
  free(cmd);
  return rc;
}

/* A query (state, list): its JSON answer on *out; no --log and no --criu. */
static int query(const struct ferry_runc *r, const char *const *args, char **out, ferry_error *err)
{
  struct argv a = { .n = 0 };
  struct ferry_runc nolog = *r;
  nolog.log = NULL;
  nolog.criu = NULL;
  base_args(&a, &nolog);
  for (size_t i = 0; args[i]; i++)
    add(&a, args[i]);
  return run_runc(&nolog, &a, NULL, -1, -1, out, err);
}

int ferry_runc_state(const struct ferry_runc *r, const char *id, struct ferry_runc_state *st, ferry_error *err)
{
  const char *args[] = { "state", id, NULL };
  char *out = NULL;
  if (query(r, args, &out, err) < 0) {
    if (strstr(ferry_error_msg(err), "does not exist") || strstr(ferry_error_msg(err), "not exist")) {
      ferry_error_set(err, ENOENT, "container %s not found in runc root %s", id, r->root ? r->root : "(default)");
      err->errnum = ENOENT;
      return -1;
    }
    return -1;
  }
  int rc = ferry_runc_parse_state(out, st, err);
  free(out);
  return rc;
}

int ferry_runc_parse_list(const char *json, struct ferry_runc_state **out, size_t *n, ferry_error *err)
{
  *out = NULL;
  *n = 0;
  cleanup_json json_object *o = json_tokener_parse(json);
  if (!o || json_object_is_type(o, json_type_null)) /* runc lists no containers as "null" */
    return 0;
  if (!json_object_is_type(o, json_type_array))
    return ferry_error_set(err, 0, "runc list: not a JSON array");
  size_t len = json_object_array_length(o);
  struct ferry_runc_state *v = calloc(len ? len : 1, sizeof *v);
  if (!v)
    abort();
  for (size_t i = 0; i < len; i++) {
    const char *text = json_object_to_json_string(json_object_array_get_idx(o, i));
    if (ferry_runc_parse_state(text, &v[*n], err) < 0) {
      ferry_runc_list_free(v, *n);
      *n = 0;
      return ferry_error_prefix(err, "runc list: container %zu", i);
    }
    (*n)++;
  }
  *out = v;
  return 0;
}

int ferry_runc_list(const struct ferry_runc *r, struct ferry_runc_state **out, size_t *n, ferry_error *err)
{
  static const char *const args[] = { "list", "--format", "json", NULL };
  cleanup_free char *text = NULL;
  if (query(r, args, &text, err) < 0)
    return -1;
  return ferry_runc_parse_list(text, out, n, err);
}

void ferry_runc_list_free(struct ferry_runc_state *v, size_t n)
{
  for (size_t i = 0; v && i < n; i++)
    ferry_runc_state_free(&v[i]);
  free(v);
}

int ferry_runc_version(const char *runc, char **version, ferry_error *err)
{
  struct ferry_runc r = { .runc = runc, .timeout_ms = 10000 };
  struct argv a = { .n = 0 };
  base_args(&a, &r);
  add(&a, "--version");
  char *out = NULL;
  if (run_runc(&r, &a, NULL, -1, -1, &out, err) < 0)
    return -1;
  /* "runc version 1.1.5+ds1\ncommit: ..." */
  char v[64] = "";
  if (sscanf(out, "runc version %63s", v) != 1) {
    free(out);
    return ferry_error_set(err, 0, "%s --version: unexpected output", runc);
  }
  free(out);
  *version = ferry_strdup(v);
  return 0;
}

static void criu_flag_args(struct argv *a, const struct ferry_criu_flags *f, int checkpoint)
{
  if (f->tcp_established)
    add(a, "--tcp-established");
  if (f->file_locks)
    add(a, "--file-locks");
  if (f->ext_unix_sk)
    add(a, "--ext-unix-sk");
  if (f->shell_job)
    add(a, "--shell-job");
  if (checkpoint && f->leave_running)
    add(a, "--leave-running");
  if (f->manage_cgroups_mode) {
    add(a, "--manage-cgroups-mode");
    add(a, f->manage_cgroups_mode);
  }
  if (f->lazy_pages)
    add(a, "--lazy-pages");
}

int ferry_runc_checkpoint(const struct ferry_runc *r, const char *id, const char *image_path, const char *work_path,
                          const struct ferry_criu_flags *f, const char *criu_config, ferry_error *err)
{
  struct argv a = { .n = 0 };
  base_args(&a, r);
  add(&a, "checkpoint");
  add(&a, "--image-path");
  add(&a, image_path);
  add(&a, "--work-path");
  add(&a, work_path);
  criu_flag_args(&a, f, 1);
  char status_fd[16];
  if (f->lazy_pages) {
    if (!f->page_server)
      return ferry_error_set(err, EINVAL, "a lazy-pages checkpoint needs a page server address");
    snprintf(status_fd, sizeof status_fd, "%d", f->status_fd);
    add(&a, "--page-server");
    add(&a, f->page_server);
    add(&a, "--status-fd");
    add(&a, status_fd);
  }
  add(&a, id);
  char *env_cfg = criu_config ? ferry_asprintf("CRIU_CONFIG_FILE=%s", criu_config) : NULL;
  const char *env[] = { env_cfg, NULL };
  int rc = run_runc(r, &a, env_cfg ? env : NULL, -1, -1, NULL, err);
  free(env_cfg);
  return rc;
}

int ferry_runc_restore(const struct ferry_runc *r, const char *id, const char *bundle, const char *image_path,
                       const char *work_path, const struct ferry_criu_flags *f, const char *criu_config, int stdio_in,
                       int stdio_out, ferry_error *err)
{
  struct argv a = { .n = 0 };
  base_args(&a, r);
  add(&a, "restore");
  add(&a, "--detach");
  add(&a, "--bundle");
  add(&a, bundle);
  add(&a, "--image-path");
  add(&a, image_path);
  add(&a, "--work-path");
  add(&a, work_path);
  criu_flag_args(&a, f, 0);
  if (f->pid_file) {
    add(&a, "--pid-file");
    add(&a, f->pid_file);
  }
  add(&a, id);
  char *env_cfg = criu_config ? ferry_asprintf("CRIU_CONFIG_FILE=%s", criu_config) : NULL;
  const char *env[] = { env_cfg, NULL };
  int rc = run_runc(r, &a, env_cfg ? env : NULL, stdio_in, stdio_out, NULL, err);
  free(env_cfg);
  return rc;
}

int ferry_runc_run_detached(const struct ferry_runc *r, const char *id, const char *bundle, int stdio_in, int stdio_out,
                            ferry_error *err)
{
  struct argv a = { .n = 0 };
  struct ferry_runc nocriu = *r;
  nocriu.criu = NULL;
  base_args(&a, &nocriu);
  add(&a, "run");
  add(&a, "--detach");
  add(&a, "--bundle");
  add(&a, bundle);
  add(&a, id);
  return run_runc(&nocriu, &a, NULL, stdio_in, stdio_out, NULL, err);
}

static int simple(const struct ferry_runc *r, const char *cmd, const char *opt, const char *id, const char *arg,
                  ferry_error *err)
{
  struct argv a = { .n = 0 };
  struct ferry_runc nocriu = *r;
  nocriu.criu = NULL;
  base_args(&a, &nocriu);
  add(&a, cmd);
  if (opt)
    add(&a, opt);
  add(&a, id);
  if (arg)
    add(&a, arg);
  return run_runc(&nocriu, &a, NULL, -1, -1, NULL, err);
}

int ferry_runc_kill(const struct ferry_runc *r, const char *id, const char *signal, ferry_error *err)
{
  return simple(r, "kill", NULL, id, signal, err);
}

int ferry_runc_kill_all(const struct ferry_runc *r, const char *id, const char *signal, ferry_error *err)
{
  return simple(r, "kill", "--all", id, signal, err);
}

int ferry_runc_delete_force(const struct ferry_runc *r, const char *id, ferry_error *err)
{
  return simple(r, "delete", "--force", id, NULL, err);
}

int ferry_runc_pause(const struct ferry_runc *r, const char *id, ferry_error *err)
{
  return simple(r, "pause", NULL, id, NULL, err);
}

int ferry_runc_resume(const struct ferry_runc *r, const char *id, ferry_error *err)
{
  return simple(r, "resume", NULL, id, NULL, err);
}

int ferry_runc_remove(const struct ferry_runc *r, const char *id, ferry_error *err)
{
  struct ferry_runc_state st;
  ferry_error e = FERRY_ERROR_INIT;
  if (ferry_runc_state(r, id, &st, &e) < 0) {
    int gone = e.errnum == ENOENT;
    if (!gone)
      ferry_error_set(err, e.errnum, "%s", ferry_error_msg(&e));
    ferry_error_clear(&e);
    return gone ? 0 : -1;
  }
  ferry_runc_state_free(&st);
  /* delete --force kills (SIGKILL) and waits, whatever the state. */
  if (ferry_runc_delete_force(r, id, &e) < 0)
    log_warn("%s", ferry_error_msg(&e));
  ferry_error_clear(&e);
  for (int i = 0; i < 100; i++) {
    if (ferry_runc_state(r, id, &st, &e) < 0) {
      int gone = e.errnum == ENOENT;
      ferry_error_clear(&e);
      if (gone)
        return 0;
    } else {
      ferry_runc_state_free(&st);
    }
    ferry_runc_delete_force(r, id, &e);
    ferry_error_clear(&e);
    usleep(50000);
  }
  return ferry_error_set(err, 0, "container %s in %s could not be removed", id, r->root);
}
