/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup directories and usage (see cgroup.h). */
#include "runtime/cgroup.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/util.h"

/* Does a /proc/PID/cgroup controller list ("cpu,cpuacct") name want? */
static int lists(const char *list, const char *want)
{
  size_t n = strlen(want);
  for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
    if (!strncmp(p, want, n) && (p[n] == ',' || p[n] == '\0'))
      return 1;
  return 0;
}

/* The v2 directory of a unified path: /sys/fs/cgroup on a pure v2 host, the
 * unified mount on a hybrid one. */
static char *unified_dir(const char *rel)
{
  cleanup_free char *pure = ferry_asprintf("/sys/fs/cgroup%s", rel);
  cleanup_free char *probe = ferry_path_join(pure, "cgroup.procs");
  if (ferry_path_exists(probe))
    return ferry_steal(&pure);
  return ferry_asprintf("/sys/fs/cgroup/unified%s", rel);
}

char *ferry_cgroup_dir(pid_t pid, const char *v1_controller, int *v2)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
  cleanup_file FILE *f = fopen(path, "re");
  char line[4096];
  cleanup_free char *unified = NULL;
  while (f && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    char *ctl = strchr(line, ':'), *rel = ctl ? strchr(ctl + 1, ':') : NULL;
    if (!rel)
      continue;
    *rel++ = '\0';
    cleanup_free char *v1 =
        lists(ctl + 1, v1_controller) ? ferry_asprintf("/sys/fs/cgroup/%s%s", v1_controller, rel) : NULL;
    if (v1 && ferry_path_exists(v1)) {
      *v2 = 0;
      return ferry_steal(&v1);
    }
    if (!ctl[1] && !unified)
      unified = ferry_strdup(rel);
  }
  if (!unified)
    return NULL;
  *v2 = 1;
  return unified_dir(unified);
}

/* The first number in DIR/FILE after KEY ("" : the file's first number). */
static int read_number(const char *dir, const char *file, const char *key, uint64_t *out)
{
  cleanup_free char *path = ferry_path_join(dir, file), *text = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_read_file(path, &text, NULL, &err) < 0)
    return -1;
  const char *p = *key ? strstr(text, key) : text;
  if (!p)
    return -1;
  char *end;
  errno = 0;
  uintmax_t v = strtoumax(p + strlen(key), &end, 10);
  if (errno || end == p + strlen(key))
    return -1;
  *out = (uint64_t)v;
  return 0;
}

static int cpu_usec(pid_t pid, uint64_t *out)
{
  int v2;
  cleanup_free char *dir = ferry_cgroup_dir(pid, "cpuacct", &v2);
  uint64_t ns;
  if (!dir)
    return -1;
  if (v2)
    return read_number(dir, "cpu.stat", "usage_usec ", out);
  if (read_number(dir, "cpuacct.usage", "", &ns) < 0)
    return -1;
  *out = ns / 1000;
  return 0;
}

static int memory_bytes(pid_t pid, uint64_t *out)
{
  int v2;
  cleanup_free char *dir = ferry_cgroup_dir(pid, "memory", &v2);
  if (!dir)
    return -1;
  return read_number(dir, v2 ? "memory.current" : "memory.usage_in_bytes", "", out);
}

int ferry_cgroup_usage(pid_t pid, struct ferry_cgroup_usage *u, ferry_error *err)
{
  memset(u, 0, sizeof *u);
  int cpu = cpu_usec(pid, &u->cpu_usec), mem = memory_bytes(pid, &u->memory_bytes);
  if (cpu < 0 && mem < 0)
    return ferry_error_set(err, ENOENT, "pid %d: neither its cgroup's CPU time nor its memory can be read", (int)pid);
  return 0;
}

/* The cgroup.procs text of pid's cgroup (caller frees), NULL when it cannot be read. */
static char *cgroup_procs(pid_t pid)
{
  int v2 = 0;
  cleanup_free char *dir = ferry_cgroup_dir(pid, "freezer", &v2);
  cleanup_free char *path = dir ? ferry_path_join(dir, "cgroup.procs") : NULL;
  char *text = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (!path || ferry_read_file(path, &text, NULL, &err) < 0)
    return NULL;
  return text;
}

int ferry_cgroup_pids(pid_t pid, pid_t *out, size_t max)
{
  cleanup_free char *procs = cgroup_procs(pid);
  if (!procs)
    return -1;
  char *p = procs, *end;
  size_t n = 0;
  for (; n < max; n++, p = end) {
    long proc = strtol(p, &end, 10);
    if (end == p)
      break;
    out[n] = (pid_t)proc;
  }
  return (int)n;
}

int ferry_cgroup_find_proc(pid_t pid, size_t max, int (*fn)(pid_t proc, char *why, size_t len), char *why, size_t len)
{
  cleanup_free char *procs = cgroup_procs(pid);
  if (!procs)
    return -1;
  char *p = procs, *end;
  for (size_t n = 0; n < max; n++, p = end) {
    long proc = strtol(p, &end, 10);
    if (end == p)
      break;
    if (fn((pid_t)proc, why, len))
      return 1;
  }
  return 0;
}
