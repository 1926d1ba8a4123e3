/* SPDX-License-Identifier: Apache-2.0 */
/* cri-client: drives Ferry's CRI client library (lib/cri) from the command line,
 * for the tests against a real containerd (tests/cri). Each verb is one call;
 * its answer is printed as JSON; a failure prints "cri-client: MESSAGE" and the
 * gRPC code on stderr and exits 1.
 *
 *   cri-client [--endpoint unix:///SOCK] [--timeout-ms N] [--repeat N] VERB [OPTIONS] [ARGS] [-- CMD ARG...]
 *
 *   version
 *   run-sandbox SANDBOX-OPTIONS                        {"id"}
 *   sandbox-status ID | stop-sandbox ID | remove-sandbox ID
 *   create-container SANDBOX-ID --name N --image I [--workdir D] [--env K=V] [--label K=V]
 *                    [--annotation K=V] [--log-path P] [--mount HOST:CTR[:ro]] SANDBOX-OPTIONS [-- CMD...]
 *   start-container ID | container-status ID | stop-container ID [--stop-timeout S] | remove-container ID
 *   exec-sync ID [--exec-timeout S] -- CMD ARG...       {"exitCode","stdout","stderr"}
 *   list-containers [SANDBOX-ID]
 *   list-sandboxes [--pod-label K=V]...                 the sandboxes with all these labels
 *   image-status IMAGE                                  {"present","id"}
 *
 * SANDBOX-OPTIONS (create-container needs the sandbox's again): --pod-name, --pod-uid,
 * --pod-namespace, --attempt, --hostname, --log-dir, --pod-label K=V, --pod-annotation K=V,
 * --handler H, --host-network. The endpoint defaults to $CRI_ENDPOINT. --repeat N makes the
 * call N times on one client (one kept connection), printing each answer; the first failure ends it. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "cri/cri.h"

#define MAX_LIST 32

struct kv_list {
  struct ferry_cri_kv kv[MAX_LIST];
  size_t n;
};

struct opts {
  const char *endpoint;
  long timeout_ms;
  long repeat;
  struct ferry_cri_sandbox_config sandbox;
  struct kv_list pod_labels, pod_annotations;
  struct ferry_cri_container_config container;
  struct kv_list envs, labels, annotations;
  struct ferry_cri_mount mounts[MAX_LIST];
  long stop_timeout, exec_timeout;
  char **cmd;  /* after "--", NULL-terminated */
  char **args; /* the verb's positional arguments */
  int nargs;
};

static int add_kv(struct kv_list *l, char *arg)
{
  char *eq = strchr(arg, '=');
  if (!eq || l->n == MAX_LIST)
    return -1;
  *eq = 0;
  l->kv[l->n].key = arg;
  l->kv[l->n++].value = eq + 1;
  return 0;
}

static int add_mount(struct opts *o, char *arg)
{
  char *ctr = strchr(arg, ':');
  if (!ctr || o->container.n_mounts == MAX_LIST)
    return -1;
  *ctr++ = 0;
  char *mode = strchr(ctr, ':');
  if (mode)
    *mode++ = 0;
  struct ferry_cri_mount *m = &o->mounts[o->container.n_mounts++];
  *m = (struct ferry_cri_mount){ .host_path = arg, .container_path = ctr, .readonly = mode && !strcmp(mode, "ro") };
  return 0;
}

enum opt_id {
  O_ENDPOINT = 256,
  O_TIMEOUT,
  O_REPEAT,
  O_POD_NAME,
  O_POD_UID,
  O_POD_NS,
  O_ATTEMPT,
  O_HOSTNAME,
  O_LOG_DIR,
  O_POD_LABEL,
  O_POD_ANNOTATION,
  O_HANDLER,
  O_HOST_NETWORK,
  O_NAME,
  O_IMAGE,
  O_WORKDIR,
  O_ENV,
  O_LABEL,
  O_ANNOTATION,
  O_LOG_PATH,
  O_MOUNT,
  O_STOP_TIMEOUT,
  O_EXEC_TIMEOUT,
};

static const struct option long_opts[] = {
  { "endpoint", required_argument, NULL, O_ENDPOINT },
  { "timeout-ms", required_argument, NULL, O_TIMEOUT },
  { "repeat", required_argument, NULL, O_REPEAT },
  { "pod-name", required_argument, NULL, O_POD_NAME },
  { "pod-uid", required_argument, NULL, O_POD_UID },
  { "pod-namespace", required_argument, NULL, O_POD_NS },
  { "attempt", required_argument, NULL, O_ATTEMPT },
  { "hostname", required_argument, NULL, O_HOSTNAME },
  { "log-dir", required_argument, NULL, O_LOG_DIR },
  { "pod-label", required_argument, NULL, O_POD_LABEL },
  { "pod-annotation", required_argument, NULL, O_POD_ANNOTATION },
  { "handler", required_argument, NULL, O_HANDLER },
  { "host-network", no_argument, NULL, O_HOST_NETWORK },
  { "name", required_argument, NULL, O_NAME },
  { "image", required_argument, NULL, O_IMAGE },
  { "workdir", required_argument, NULL, O_WORKDIR },
  { "env", required_argument, NULL, O_ENV },
  { "label", required_argument, NULL, O_LABEL },
  { "annotation", required_argument, NULL, O_ANNOTATION },
  { "log-path", required_argument, NULL, O_LOG_PATH },
  { "mount", required_argument, NULL, O_MOUNT },
  { "stop-timeout", required_argument, NULL, O_STOP_TIMEOUT },
  { "exec-timeout", required_argument, NULL, O_EXEC_TIMEOUT },
  { NULL, 0, NULL, 0 },
};

static int sandbox_opt(struct opts *o, int c, char *arg)
{
  switch (c) {
  case O_POD_NAME:
    o->sandbox.name = arg;
    return 0;
  case O_POD_UID:
    o->sandbox.uid = arg;
    return 0;
  case O_POD_NS:
    o->sandbox.namespace = arg;
    return 0;
  case O_ATTEMPT:
    o->sandbox.attempt = (uint32_t)strtoul(arg, NULL, 10);
    return 0;
  case O_HOSTNAME:
    o->sandbox.hostname = arg;
    return 0;
  case O_LOG_DIR:
    o->sandbox.log_directory = arg;
    return 0;
  case O_POD_LABEL:
    return add_kv(&o->pod_labels, arg);
  case O_POD_ANNOTATION:
    return add_kv(&o->pod_annotations, arg);
  case O_HANDLER:
    o->sandbox.runtime_handler = arg;
    return 0;
  case O_HOST_NETWORK:
    o->sandbox.host_network = true;
    return 0;
  default:
    return 1; /* not a sandbox option */
  }
}

static int container_opt(struct opts *o, int c, char *arg)
{
  switch (c) {
  case O_NAME:
    o->container.name = arg;
    return 0;
  case O_IMAGE:
    o->container.image = arg;
    return 0;
  case O_WORKDIR:
    o->container.working_dir = arg;
    return 0;
  case O_ENV:
    return add_kv(&o->envs, arg);
  case O_LABEL:
    return add_kv(&o->labels, arg);
  case O_ANNOTATION:
    return add_kv(&o->annotations, arg);
  case O_LOG_PATH:
    o->container.log_path = arg;
    return 0;
  case O_MOUNT:
    return add_mount(o, arg);
  case O_STOP_TIMEOUT:
    o->stop_timeout = strtol(arg, NULL, 10);
    return 0;
  case O_EXEC_TIMEOUT:
    o->exec_timeout = strtol(arg, NULL, 10);
    return 0;
  case O_ENDPOINT:
    o->endpoint = arg;
    return 0;
  case O_TIMEOUT:
    o->timeout_ms = strtol(arg, NULL, 10);
    return 0;
  case O_REPEAT:
    o->repeat = strtol(arg, NULL, 10);
    return o->repeat > 0 ? 0 : -1;
  default:
    return -1;
  }
}

static void link_lists(struct opts *o)
{
  o->sandbox.labels = o->pod_labels.kv;
  o->sandbox.n_labels = o->pod_labels.n;
  o->sandbox.annotations = o->pod_annotations.kv;
  o->sandbox.n_annotations = o->pod_annotations.n;
  o->container.envs = o->envs.kv;
  o->container.n_envs = o->envs.n;
  o->container.labels = o->labels.kv;
  o->container.n_labels = o->labels.n;
  o->container.annotations = o->annotations.kv;
  o->container.n_annotations = o->annotations.n;
  o->container.mounts = o->mounts;
}

static int parse(int argc, char **argv, struct opts *o)
{
  o->endpoint = getenv("CRI_ENDPOINT");
  int end = 1;
  while (end < argc && strcmp(argv[end], "--") != 0)
    end++;
  if (end < argc) {
    argv[end] = NULL;
    o->cmd = argv + end + 1;
  }
  int c;
  while ((c = getopt_long(end, argv, "", long_opts, NULL)) != -1) {
    int rc = sandbox_opt(o, c, optarg);
    if (rc > 0)
      rc = container_opt(o, c, optarg);
    if (rc < 0) {
      fprintf(stderr, "cri-client: bad option (see the comment at the top of tests/tools/cri-client.c)\n");
      return -1;
    }
  }
  o->args = argv + optind;
  o->nargs = end - optind;
  link_lists(o);
  if (o->cmd && o->cmd[0]) {
    o->container.command = (const char *const *)o->cmd;
  }
  if (!o->endpoint || o->nargs < 1) {
    fprintf(stderr, "usage: cri-client [--endpoint unix:///SOCK] VERB ... (see tests/tools/cri-client.c)\n");
    return -1;
  }
  return 0;
}

static void print_json(json_object *o)
{
  printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(o);
}

static json_object *str(const char *s) { return json_object_new_string(s ? s : ""); }

static int do_version(struct ferry_cri *c, struct opts *o, ferry_error *err)
{
  (void)o;
  struct ferry_cri_version v;
  if (ferry_cri_version(c, &v, err) < 0)
    return -1;
  json_object *j = json_object_new_object();
  json_object_object_add(j, "version", str(v.version));
  json_object_object_add(j, "runtimeName", str(v.runtime_name));
  json_object_object_add(j, "runtimeVersion", str(v.runtime_version));
  json_object_object_add(j, "runtimeApiVersion", str(v.runtime_api_version));
  print_json(j);
  ferry_cri_version_free(&v);
  return 0;
}

static int print_id(char *id)
{
  json_object *j = json_object_new_object();
  json_object_object_add(j, "id", str(id));
  print_json(j);
  free(id);
  return 0;
}

static int do_run_sandbox(struct ferry_cri *c, struct opts *o, ferry_error *err)
{
  char *id;
  return ferry_cri_run_pod_sandbox(c, &o->sandbox, &id, err) < 0 ? -1 : print_id(id);
}

static int do_sandbox_status(struct ferry_cri *c, struct opts *o, ferry_error *err)
{
  struct ferry_cri_sandbox_status s;
  if (ferry_cri_pod_sandbox_status(c, o->args[1], &s, err) < 0)
    return -1;
  json_object *j = json_object_new_object();
  json_object_object_add(j, "id", str(s.id));
  json_object_object_add(j, "name", str(s.name));
  json_object_object_add(j, "uid", str(s.uid));
  json_object_object_add(j, "namespace", str(s.namespace));
  json_object_object_add(j, "state", str(ferry_cri_sandbox_state_name(s.state)));
  json_object_object_add(j, "createdAt", json_object_new_int64(s.created_at));
  json_object_object_add(j, "ip", str(s.ip));
  json_object_object_add(j, "runtimeHandler", str(s.runtime_handler));
  json_object_object_add(j, "pid", json_object_new_int(s.pid));
  print_json(j);
  ferry_cri_sandbox_status_free(&s);
  return 0;
}

static int do_stop_sandbox(struct ferry_cri *c, struct opts *o, ferry_error *err)
{
  return ferry_cri_stop_pod_sandbox(c, o->args[1], err);
}

static int do_remove_sandbox(struct ferry_cri *c, struct opts *o, ferry_error *err)
{
  return ferry_cri_remove_pod_sandbox(c, o->args[1], err);
}

static int do_create_container(struct ferry_cri *c, struct opts *o, ferry_error *err)
{
  char *id;
  return ferry_cri_create_container(c, o->args[1], &o->container, &o->sandbox, &id, err) < 0 ? -1 : print_id(id);
}

static int do_start_container(struct ferry_cri *c, struct opts *o, ferry_error *err)
{
  return ferry_cri_start_container(c, o->args[1], err);
}

static int do_container_status(struct ferry_cri *c, struct opts *o, ferry_error *err)
{
  struct ferry_cri_container_status s;
  if (ferry_cri_container_status(c, o->args[1], &s, err) < 0)
    return -1;
  json_object *j = json_object_new_object();
  json_object_object_add(j, "id", str(s.id));
  json_object_object_add(j, "name", str(s.name));
  json_object_object_add(j, "attempt", json_object_new_int64(s.attempt));
  json_object_object_add(j, "state", str(ferry_cri_container_state_name(s.state)));
  json_object_object_add(j, "image", str(s.image));
  json_object_object_add(j, "imageRef", str(s.image_ref));
  json_object_object_add(j, "createdAt", json_object_new_int64(s.created_at));
  json_object_object_add(j, "startedAt", json_object_new_int64(s.started_at));
  json_object_object_add(j, "finishedAt", json_object_new_int64(s.finished_at));
  json_object_object_add(j, "exitCode", json_object_new_int(s.exit_code));
  json_object_object_add(j, "reason", str(s.reason));
  json_object_object_add(j, "message", str(s.message));
  json_object_object_add(j, "logPath", str(s.log_path));
  json_object_object_add(j, "pid", json_object_new_int(s.pid));
  print_json(j);
  ferry_cri_container_status_free(&s);
  return 0;
}

static int do_stop_container(struct ferry_cri *c, struct opts *o, ferry_error *err)
{
  return ferry_cri_stop_container(c, o->args[1], o->stop_timeout, err);
}

static int do_remove_container(struct ferry_cri *c, struct opts *o, ferry_error *err)
{
  return ferry_cri_remove_container(c, o->args[1], err);
}

static int do_exec_sync(struct ferry_cri *c, struct opts *o, ferry_error *err)
{
  struct ferry_cri_exec_result r;
  if (ferry_cri_exec_sync(c, o->args[1], (const char *const *)o->cmd, o->exec_timeout, &r, err) < 0)
    return -1;
  json_object *j = json_object_new_object();
  json_object_object_add(j, "exitCode", json_object_new_int(r.exit_code));
  json_object_object_add(j, "stdout", json_object_new_string_len((const char *)r.out, (int)r.out_len));
  json_object_object_add(j, "stderr", json_object_new_string_len((const char *)r.errout, (int)r.errout_len));
  print_json(j);
  ferry_cri_exec_result_free(&r);
  return 0;
}

static int do_list_containers(struct ferry_cri *c, struct opts *o, ferry_error *err)
{
  struct ferry_cri_container *list;
  size_t n;
  if (ferry_cri_list_containers(c, o->nargs > 1 ? o->args[1] : NULL, &list, &n, err) < 0)
    return -1;
  json_object *a = json_object_new_array();
  for (size_t i = 0; i < n; i++) {
    json_object *j = json_object_new_object();
    json_object_object_add(j, "id", str(list[i].id));
    json_object_object_add(j, "sandboxId", str(list[i].sandbox_id));
    json_object_object_add(j, "name", str(list[i].name));
    json_object_object_add(j, "attempt", json_object_new_int64(list[i].attempt));
    json_object_object_add(j, "image", str(list[i].image));
    json_object_object_add(j, "state", str(ferry_cri_container_state_name(list[i].state)));
    json_object_object_add(j, "createdAt", json_object_new_int64(list[i].created_at));
    if (list[i].pod_name)
      json_object_object_add(j, "podName", str(list[i].pod_name));
    json_object_array_add(a, j);
  }
  print_json(a);
  ferry_cri_containers_free(list, n);
  return 0;
}

static int do_list_sandboxes(struct ferry_cri *c, struct opts *o, ferry_error *err)
{
  struct ferry_cri_sandbox_filter f = { .labels = o->sandbox.labels, .n_labels = o->sandbox.n_labels };
  struct ferry_cri_sandbox *list;
  size_t n;
  if (ferry_cri_list_pod_sandboxes(c, &f, &list, &n, err) < 0)
    return -1;
  json_object *a = json_object_new_array();
  for (size_t i = 0; i < n; i++) {
    json_object *j = json_object_new_object();
    json_object_object_add(j, "id", str(list[i].id));
    json_object_object_add(j, "name", str(list[i].name));
    json_object_object_add(j, "uid", str(list[i].uid));
    json_object_object_add(j, "namespace", str(list[i].namespace));
    json_object_object_add(j, "attempt", json_object_new_int64(list[i].attempt));
    json_object_object_add(j, "state", str(ferry_cri_sandbox_state_name(list[i].state)));
    json_object_object_add(j, "createdAt", json_object_new_int64(list[i].created_at));
    json_object_object_add(j, "runtimeHandler", str(list[i].runtime_handler));
    if (list[i].pod_uid)
      json_object_object_add(j, "podUid", str(list[i].pod_uid));
    json_object_array_add(a, j);
  }
  print_json(a);
  ferry_cri_sandboxes_free(list, n);
  return 0;
}

static int do_image_status(struct ferry_cri *c, struct opts *o, ferry_error *err)
{
  bool present;
  cleanup_free char *id = NULL;
  if (ferry_cri_image_present(c, o->args[1], &present, &id, err) < 0)
    return -1;
  json_object *j = json_object_new_object();
  json_object_object_add(j, "present", json_object_new_boolean(present));
  json_object_object_add(j, "id", str(id));
  print_json(j);
  return 0;
}

static const struct verb {
  const char *name;
  int nargs; /* positional arguments after the verb, at least */
  int (*fn)(struct ferry_cri *c, struct opts *o, ferry_error *err);
} verbs[] = {
  { "version", 0, do_version },
  { "run-sandbox", 0, do_run_sandbox },
  { "sandbox-status", 1, do_sandbox_status },
  { "stop-sandbox", 1, do_stop_sandbox },
  { "remove-sandbox", 1, do_remove_sandbox },
  { "create-container", 1, do_create_container },
  { "start-container", 1, do_start_container },
  { "container-status", 1, do_container_status },
  { "stop-container", 1, do_stop_container },
  { "remove-container", 1, do_remove_container },
  { "exec-sync", 1, do_exec_sync },
  { "list-containers", 0, do_list_containers },
  { "list-sandboxes", 0, do_list_sandboxes },
  { "image-status", 1, do_image_status },
};

int main(int argc, char **argv)
{
  struct opts o = { .repeat = 1 };
  if (parse(argc, argv, &o) < 0)
    return 2;
  const struct verb *v = NULL;
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
    if (!strcmp(verbs[i].name, o.args[0]))
      v = &verbs[i];
  if (!v || o.nargs - 1 < v->nargs) {
    fprintf(stderr, "cri-client: unknown verb or missing argument: %s\n", o.args[0]);
    return 2;
  }
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  struct ferry_cri *c = ferry_cri_open(o.endpoint, o.timeout_ms, &err);
  int rc = c ? 0 : -1;
  for (long i = 0; rc == 0 && i < o.repeat; i++)
    rc = v->fn(c, &o, &err);
  if (rc < 0)
    fprintf(stderr, "cri-client: %s (grpc code %d)\n", ferry_error_msg(&err), c ? ferry_cri_last_code(c) : -1);
  ferry_cri_close(c);
  return rc < 0 ? 1 : 0;
}
