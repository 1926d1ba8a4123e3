/* SPDX-License-Identifier: Apache-2.0 */
/* What this node's CRIU can dump, found without a dump: the node check (the
 * CRIU and runc versions, whether the agent, and so the CRIU it runs, has
 * CAP_SYS_RESOURCE, whether post-copy works), published in the agent's Lease
 * as ferry.dev/node-check for the controller's refusals and `kubectl ferry
 * nodes`; and the source's backstop before the freeze: a container with a
 * process this CRIU cannot dump (one running as another user without
 * CAP_SYS_RESOURCE, one holding a device CRIU cannot dump open:
 * runtime/devices.h), with a mount CRIU cannot dump (runtime/mounts.h) or in a
 * user namespace that does not own its other namespaces (runtime/userns.h) is
 * refused while it still runs.
 *
 * Why CAP_SYS_RESOURCE: CRIU reads every dumped process's rlimits with
 * prlimit(2), which on another process needs that capability unless the
 * target's real, effective and saved uids are the caller's real uid and its
 * gids the caller's real gid. Without it the dump of a non-root process fails
 * after the freeze ("Can't get rlimit 0: Operation not permitted"). */
#include "daemon.h"

#include <errno.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/util.h"
#include "runtime/cgroup.h"
#include "runtime/criu.h"
#include "runtime/devices.h"
#include "runtime/mounts.h"
#include "runtime/userns.h"

#define PROCS_MAX 4096 /* a container's processes looked at before the backstop gives up on the rest */

/* ---------- the node check ---------- */

/* A binary's version, or why it could not be had (*why, caller frees). */
static char *version_of(int (*get)(const char *, char **, ferry_error *), const char *bin, char **why)
{
  char *v = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (get(bin, &v, &err) < 0) {
    *why = ferry_strdup(ferry_error_msg(&err));
    return NULL;
  }
  return v;
}

/* The check is the process's (its capabilities; the binaries it runs): found once. */
static struct node_check check;

static const struct node_check *node_check(struct daemon *d)
{
  if (check.probed)
    return &check;
  check.criu = version_of(ferry_criu_version, d->g->criu, &check.criu_why);
  check.runc = version_of(ferry_runc_version, d->g->runc, &check.runc_why);
  check.sys_resource = ferry_proc_has_cap(CAP_SYS_RESOURCE);
  check.probed = 1;
  log_info("node check: CRIU %s, runc %s, CAP_SYS_RESOURCE %s", check.criu ?: "unknown", check.runc ?: "unknown",
           check.sys_resource ? "yes" : "no (containers of non-root processes cannot be dumped)");
  return &check;
}

/* {"ok":true} or {"ok":false,"reason":why}. */
static json_object *verdict(const char *why)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "ok", json_object_new_boolean(!why));
  if (why)
    json_object_object_add(o, "reason", json_object_new_string(why));
  return o;
}

char *node_check_json(const struct node_check *nc, const char *postcopy_why)
{
  cleanup_json json_object *o = json_object_new_object();
  cleanup_free char *no_criu = nc->criu ? NULL : ferry_asprintf("CRIU cannot run: %s", nc->criu_why ?: "unknown");
  json_object_object_add(o, "criu", nc->criu ? json_object_new_string(nc->criu) : NULL);
  json_object_object_add(o, "runc", nc->runc ? json_object_new_string(nc->runc) : NULL);
  json_object *strategies = json_object_new_object();
  json_object_object_add(strategies, "stopAndCopy", verdict(no_criu));
  json_object_object_add(strategies, "postCopy", verdict(no_criu ?: postcopy_why));
  json_object_object_add(o, "strategies", strategies);
  json_object_object_add(o, "nonRootContainers",
                         verdict(no_criu ?: (nc->sys_resource ? NULL : FERRY_NODE_CHECK_LACKS_SYS_RESOURCE)));
  return ferry_strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}

char *node_check_annotation(struct daemon *d, const char *postcopy_support)
{
  return node_check_json(node_check(d), strcmp(postcopy_support, "ok") != 0 ? postcopy_support : NULL);
}

/* ---------- the backstop: the container's processes ---------- */

/* "Name:", "Uid:" and "Gid:" of a /proc/PID/status text. -1 when a line is missing. */
int proc_creds_parse(const char *status, struct proc_creds *c)
{
  const char *name = strstr(status, "Name:\t"), *uid = strstr(status, "\nUid:"), *gid = strstr(status, "\nGid:");
  unsigned u[3], g[3];
  if (!uid || !gid || sscanf(uid, "\nUid: %u %u %u", &u[0], &u[1], &u[2]) != 3 ||
      sscanf(gid, "\nGid: %u %u %u", &g[0], &g[1], &g[2]) != 3)
    return -1;
  c->name[0] = '\0';
  if (name)
    snprintf(c->name, sizeof c->name, "%.*s", (int)strcspn(name + 6, "\n"), name + 6);
  for (int i = 0; i < 3; i++) {
    c->uid[i] = u[i];
    c->gid[i] = g[i];
  }
  return 0;
}

int creds_need_sys_resource(const struct proc_creds *c, uid_t ruid, gid_t rgid, char *what, size_t len)
{
  for (int i = 0; i < 3; i++)
    if (c->uid[i] != ruid) {
      snprintf(what, len, "uid %u", (unsigned)c->uid[i]);
      return 1;
    }
  for (int i = 0; i < 3; i++)
    if (c->gid[i] != rgid) {
      snprintf(what, len, "gid %u", (unsigned)c->gid[i]);
      return 1;
    }
  return 0;
}

/* 1 (why filled) when process pid runs as someone the agent's CRIU cannot dump. */
static int process_undumpable(pid_t pid, char *why, size_t len)
{
  char path[64], what[64];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  cleanup_free char *text = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  struct proc_creds c;
  if (ferry_read_file(path, &text, NULL, &err) < 0 || proc_creds_parse(text, &c) < 0)
    return 0; /* gone meanwhile: nothing to dump */
  if (!creds_need_sys_resource(&c, getuid(), getgid(), what, sizeof what))
    return 0;
  snprintf(why, len, "%s (process %d, %s)", what, (int)pid, c.name);
  return 1;
}

/* 1 (why filled) when one of the container's processes (init's cgroup's, else
 * init alone, and why says which) runs as someone the agent's CRIU cannot dump. */
static int processes_undumpable(pid_t init, char *why, size_t len)
{
  int r = ferry_cgroup_find_proc(init, PROCS_MAX, process_undumpable, why, len);
  if (r >= 0)
    return r;
  if (!process_undumpable(init, why, len))
    return 0;
  size_t used = strlen(why);
  snprintf(why + used, len - used, "; its init process only: its cgroup's processes could not be read");
  return 1;
}

int container_undumpable(struct daemon *d, const char *id, const char *cname, char *why, size_t len)
{
  struct ferry_runc r = runc_for(d);
  struct ferry_runc_state st;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_runc_state(&r, id, &st, &err) < 0) {
    log_warn("container %s's processes (can CRIU dump them?): %s", id, ferry_error_msg(&err));
    return 0; /* the checkpoint step says what is wrong with it */
  }
  pid_t init = st.pid;
  char what[2 * PATH_MAX + 256];
  int undumpable = init > 0 && (ferry_container_undumpable_device(init, PROCS_MAX, what, sizeof what) ||
                                ferry_container_undumpable_mount(init, st.bundle, PROCS_MAX, what, sizeof what) ||
                                ferry_container_undumpable_userns(init, what, sizeof what));
  ferry_runc_state_free(&st);
  if (undumpable) {
    snprintf(why, len, "container %s: %s", cname ?: id, what);
    return 1;
  }
  if (node_check(d)->sys_resource || init <= 0 || !processes_undumpable(init, what, sizeof what))
    return 0;
  snprintf(why, len,
           "container %s runs as %s and %s's CRIU lacks CAP_SYS_RESOURCE (it cannot dump a non-root "
           "process's rlimits)",
           cname ?: id, what, d->g->node);
  return 1;
}
