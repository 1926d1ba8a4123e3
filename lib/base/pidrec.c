/* SPDX-License-Identifier: Apache-2.0 */
/* Processes recorded by PID and start time; process trees (base/pidrec.h). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/pidrec.h"
#include "base/util.h"

/* /proc/PID/stat's fields after the command (which may hold spaces and ')'):
 * field 4 is the parent, field 22 the start time. 0 when the process is gone. */
static int stat_fields(pid_t pid, char *state, pid_t *ppid, unsigned long long *start)
{
  char path[64];
  cleanup_free char *text = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  if (ferry_read_file(path, &text, NULL, &err) < 0)
    return 0;
  const char *p = strrchr(text, ')');
  char st = 0;
  int parent = 0;
  unsigned long long t = 0;
  if (!p || sscanf(p + 1, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &st,
                   &parent, &t) != 3)
    return 0;
  if (state)
    *state = st;
  if (ppid)
    *ppid = (pid_t)parent;
  if (start)
    *start = t;
  return 1;
}

unsigned long long ferry_pidrec_start_time(pid_t pid, char *state)
{
  unsigned long long t = 0;
  return stat_fields(pid, state, NULL, &t) ? t : 0;
}

int ferry_pidrec_write(const char *path, pid_t pid, ferry_error *err)
{
  char line[64];
  snprintf(line, sizeof line, "%d %llu\n", (int)pid, ferry_pidrec_start_time(pid, NULL));
  return ferry_write_file_atomic(path, line, strlen(line), err);
}

/* The record in path: 0 with *pid and *start, -1 when there is none. */
static int read_record(const char *path, pid_t *pid, unsigned long long *start, ferry_error *err)
{
  cleanup_free char *text = NULL;
  if (ferry_read_file(path, &text, NULL, err) < 0)
    return -1;
  long long p = 0;
  if (sscanf(text, "%lld %llu", &p, start) != 2 || p <= 0)
    return ferry_error_set(err, 0, "%s: not a process record (\"PID START\")", path);
  *pid = (pid_t)p;
  return 0;
}

int ferry_pidrec_running(pid_t pid, unsigned long long start)
{
  char st = 0;
  return ferry_pidrec_start_time(pid, &st) == start && st != 'Z';
}

int ferry_pidrec_alive(const char *path)
{
  pid_t pid = 0;
  unsigned long long start = 0;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  return read_record(path, &pid, &start, &err) == 0 && ferry_pidrec_running(pid, start);
}

/* Adds to kill[] (up to max) every process (not a zombie) whose parent is in kill[0..*n). */
static void descendants(pid_t *kill_list, size_t *n, size_t max)
{
  cleanup_dir DIR *d = opendir("/proc");
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d)) && *n < max) {
    char *end;
    long v = strtol(e->d_name, &end, 10);
    pid_t ppid;
    char st = 0;
    if (*end || v <= 0 || !stat_fields((pid_t)v, &st, &ppid, NULL) || st == 'Z')
      continue; /* (a zombie has ended, and has no children) */
    int parent_listed = 0, listed = 0;
    for (size_t i = 0; i < *n; i++) {
      parent_listed |= kill_list[i] == ppid;
      listed |= kill_list[i] == (pid_t)v;
    }
    if (parent_listed && !listed)
      kill_list[(*n)++] = (pid_t)v;
  }
}

pid_t ferry_pidrec_zombie_child(pid_t parent)
{
  cleanup_dir DIR *d = opendir("/proc");
  if (!d)
    return 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    char *end;
    long v = strtol(e->d_name, &end, 10);
    pid_t ppid = 0;
    char st = 0;
    if (!*end && v > 0 && stat_fields((pid_t)v, &st, &ppid, NULL) && ppid == parent && st == 'Z')
      return (pid_t)v;
  }
  return 0;
}

/* Stops root's tree (root too when from is 0) until no process of it forks
 * any more, then SIGKILLs it; the number killed. */
static size_t stop_and_kill(pid_t root, size_t from)
{
  enum { MAX = 4096 };
  /* stopped first, so that none forks while the tree is read, then killed */
  pid_t list[MAX] = { root };
  size_t n = 1, before;
  do {
    before = n;
    for (size_t i = from; i < n; i++)
      kill(list[i], SIGSTOP);
    descendants(list, &n, MAX);
  } while (n != before);
  for (size_t i = from; i < n; i++)
    kill(list[i], SIGKILL);
  return n - from;
}

void ferry_pidrec_kill_tree(pid_t root)
{
  if (root > 0)
    stop_and_kill(root, 0);
}

size_t ferry_pidrec_kill_descendants(pid_t root) { return root > 0 ? stop_and_kill(root, 1) : 0; }
