/* SPDX-License-Identifier: Apache-2.0 */
/* What holds a container stopped (see hold.h): its freezer cgroup and the
 * State and TracerPid of each of its threads in /proc. */
#include "runtime/hold.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/util.h"
#include "runtime/cgroup.h"

static int freezer_frozen(const char *dir, int v2)
{
  cleanup_free char *file = ferry_path_join(dir, v2 ? "cgroup.freeze" : "freezer.state"), *text = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_read_file(file, &text, NULL, &err) < 0)
    return 0;
  return v2 ? text[0] == '1' : !strncmp(text, "FROZEN", 6) || !strncmp(text, "FREEZING", 8);
}

/* One thread: counted, its stop and its tracer noted. */
static void look_at_task(struct ferry_hold *h, long tid)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/status", tid);
  cleanup_file FILE *f = fopen(path, "re");
  if (!f)
    return; /* gone meanwhile */
  h->tasks++;
  char line[256];
  long tracer = 0;
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "State:", 6)) {
      const char *s = line + 6 + strspn(line + 6, " \t");
      if (*s == 't' || *s == 'T')
        h->stopped++;
    } else if (!strncmp(line, "TracerPid:", 10))
      tracer = strtol(line + 10, NULL, 10);
  }
  if (tracer > 0 && !h->tracer) {
    h->tracer = (pid_t)tracer;
    snprintf(path, sizeof path, "/proc/%ld/comm", tracer);
    cleanup_free char *comm = NULL;
    cleanup_error ferry_error err = FERRY_ERROR_INIT;
    if (ferry_read_file(path, &comm, NULL, &err) == 0) {
      comm[strcspn(comm, "\n")] = '\0';
      snprintf(h->tracer_comm, sizeof h->tracer_comm, "%s", comm);
    }
  }
}

/* Every thread id in a cgroup's tasks (v1) or cgroup.threads (v2) file. */
static int look_at_cgroup(struct ferry_hold *h, const char *dir, int v2)
{
  cleanup_free char *file = ferry_path_join(dir, v2 ? "cgroup.threads" : "tasks");
  cleanup_file FILE *f = fopen(file, "re");
  if (!f)
    return -1;
  long tid;
  while (fscanf(f, "%ld", &tid) == 1)
    look_at_task(h, tid);
  return 0;
}

static int look_at_process(struct ferry_hold *h, pid_t pid, ferry_error *err)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  cleanup_dir DIR *d = opendir(path);
  if (!d)
    return ferry_error_set(err, errno, "%s", path);
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.')
      look_at_task(h, strtol(e->d_name, NULL, 10));
  return 0;
}

int ferry_hold_inspect(pid_t pid, struct ferry_hold *h, ferry_error *err)
{
  memset(h, 0, sizeof *h);
  int v2 = 0;
  cleanup_free char *dir = ferry_cgroup_dir(pid, "freezer", &v2);
  if (dir)
    h->frozen = freezer_frozen(dir, v2);
  if (dir && look_at_cgroup(h, dir, v2) == 0 && h->tasks > 0)
    return 0;
  return look_at_process(h, pid, err);
}

int ferry_hold_held(const struct ferry_hold *h) { return h->frozen || ferry_hold_tracer_is_criu(h); }

void ferry_hold_describe(const struct ferry_hold *h, char *buf, size_t len)
{
  if (h->tracer)
    snprintf(buf, len, "%zu of %zu threads stopped under %s (pid %d)%s", h->stopped, h->tasks,
             h->tracer_comm[0] ? h->tracer_comm : "a tracer", (int)h->tracer, h->frozen ? ", cgroup frozen" : "");
  else if (h->frozen)
    snprintf(buf, len, "its cgroup is frozen");
  else if (h->stopped)
    snprintf(buf, len, "%zu of %zu threads stopped", h->stopped, h->tasks);
  else
    snprintf(buf, len, "running");
}

int ferry_hold_tracer_is_criu(const struct ferry_hold *h)
{
  return h->tracer > 0 && !strncmp(h->tracer_comm, "criu", 4);
}
