/* SPDX-License-Identifier: Apache-2.0 */
/* Nothing Ferry stopped stays stopped. A container is held when its cgroup is
 * frozen or a CRIU still traces its tasks (runtime/hold.h): a post-copy dump
 * whose peer died, a step killed with its agent. A rollback is written only
 * once the source container is released, and the watchdog (watchdog.c) looks
 * for held containers no running step of this agent owns. Releasing: a frozen
 * cgroup is thawed (runc resume); a CRIU tracer is killed, and the kernel
 * detaches its tasks, which run on from where they were frozen. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "daemon.h"
#include "kube/events.h"
#include "metrics.h"
#include "runtime/criu.h"
#include "runtime/hold.h"

/* What to say and to count for one release. */
static void released(struct daemon *d, json_object *involved, const char *id, const char *what, const char *how)
{
  log_warn("container %s was %s; %s", id, what, how);
  ferry_event(d->rec, involved, "Warning", "ContainerReleased", "container %s on %s was %s; %s", id, d->g->node, what,
              how);
  metrics_released(d->m);
}

/* A CRIU that dies in the middle of a dump leaves the container's network
 * locked (its traffic dropped): removed once CRIU is ended. */
static void unlock_network(const char *id, pid_t pid)
{
  char netns[64];
  snprintf(netns, sizeof netns, "/proc/%d/ns/net", (int)pid);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  int was = 0;
  if (ferry_criu_netns_unlock(netns, &was, &err) < 0)
    log_warn("unlocking %s: %s", netns, ferry_error_msg(&err));
  else if (was)
    log_info("removed CRIU's network lock from container %s", id);
}

int release_container(struct daemon *d, json_object *involved, const char *id, pid_t pid, char *why, size_t len)
{
  struct ferry_hold h;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_hold_inspect(pid, &h, &err) < 0) {
    snprintf(why, len, "%s", ferry_error_msg(&err));
    return err.errnum == ENOENT ? 0 : -1;
  }
  ferry_hold_describe(&h, why, len);
  if (!ferry_hold_held(&h))
    return 0;
  if (ferry_hold_tracer_is_criu(&h)) {
    /* its process group: the runc that started it and CRIU's own helpers too */
    pid_t group = getpgid(h.tracer);
    if (group > 1 && group != getpgrp() && kill(-group, SIGKILL) < 0 && errno != ESRCH)
      log_warn("killing the process group %d of CRIU (pid %d): %m", (int)group, (int)h.tracer);
    if (kill(h.tracer, SIGKILL) < 0 && errno != ESRCH) {
      log_warn("killing CRIU (pid %d) that holds container %s: %m", (int)h.tracer, id);
      return 1;
    }
    released(d, involved, id, why, "ended the CRIU that held it");
    unlock_network(id, pid);
  }
  if (h.frozen) {
    struct ferry_runc r = runc_for(d);
    if (ferry_runc_resume(&r, id, &err) < 0) {
      log_warn("thawing container %s: %s", id, ferry_error_msg(&err));
      return 1;
    }
    released(d, involved, id, "frozen", "thawed it");
  }
  return 1; /* looked at again on the next pass: released only once seen so */
}
