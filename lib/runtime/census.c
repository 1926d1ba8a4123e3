/* SPDX-License-Identifier: Apache-2.0 */
/* A container's processes before a dump and after a failed one (census.h). */
#include "runtime/census.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "runtime/cgroup.h"

int ferry_census_parse_stat(const char *line, struct ferry_census_proc *p, ferry_error *err)
{
  /* "PID (COMM) STATE PPID ..." : COMM may hold spaces and parentheses, so it
   * ends at the last ')'; starttime is the 22nd field, the 20th after STATE. */
  const char *open = strchr(line, '('), *close = strrchr(line, ')');
  if (!open || !close || close < open || close[1] != ' ' || !close[2] || close[3] != ' ')
    return ferry_error_set(err, EINVAL, "not a /proc/PID/stat line");
  size_t clen = (size_t)(close - open - 1);
  if (clen >= sizeof p->comm)
    clen = sizeof p->comm - 1;
  memcpy(p->comm, open + 1, clen);
  p->comm[clen] = '\0';
  p->state = close[2];
  const char *f = close + 4;
  for (int field = 4; field < 22; field++) {
    f = strchr(f, ' ');
    if (!f)
      return ferry_error_set(err, EINVAL, "a /proc/PID/stat line with fewer than 22 fields");
    f++;
  }
  char *end;
  errno = 0;
  p->start = strtoull(f, &end, 10);
  if (errno || end == f)
    return ferry_error_set(err, EINVAL, "a /proc/PID/stat line whose starttime is not a number");
  return 0;
}

int ferry_census_read(pid_t pid, struct ferry_census_proc *p, ferry_error *err)
{
  cleanup_free char *path = ferry_asprintf("/proc/%d/stat", (int)pid);
  cleanup_free char *text = NULL;
  if (ferry_read_file(path, &text, NULL, err) < 0)
    return -1;
  p->pid = pid;
  if (ferry_census_parse_stat(text, p, err) < 0)
    return ferry_error_prefix(err, "%s", path);
  return 0;
}

int ferry_census_take(pid_t init, size_t max, struct ferry_census *c, ferry_error *err)
{
  memset(c, 0, sizeof *c);
  cleanup_free pid_t *pids = ferry_malloc((max ? max : 1) * sizeof *pids);
  int n = ferry_cgroup_pids(init, pids, max);
  if (n <= 0) {
    pids[0] = init;
    n = 1;
  }
  c->procs = ferry_malloc((size_t)n * sizeof *c->procs);
  for (int i = 0; i < n; i++) {
    cleanup_error ferry_error e = FERRY_ERROR_INIT;
    if (ferry_census_read(pids[i], &c->procs[c->n], &e) == 0)
      c->n++;
    else if (pids[i] == init) {
      ferry_census_free(c);
      return ferry_error_set(err, e.errnum, "the container's init: %s", ferry_error_msg(&e));
    }
    /* else: ended meanwhile, not the dump's to answer for */
  }
  return 0;
}

void ferry_census_free(struct ferry_census *c)
{
  free(c->procs);
  memset(c, 0, sizeof *c);
}

static int is_stopped(char state) { return state == 'T'; }

/* Appends "pid N (COMM)" to the list in buf. */
static void name_process(char *buf, size_t len, const struct ferry_census_proc *p)
{
  size_t used = strlen(buf);
  if (used < len)
    snprintf(buf + used, len - used, "%spid %d (%s)", used ? ", " : "", (int)p->pid, p->comm);
}

int ferry_census_check(const struct ferry_census *before, int *continued, char *died, size_t len)
{
  int gone = 0;
  *continued = 0;
  if (len)
    died[0] = '\0';
  for (size_t i = 0; i < before->n; i++) {
    const struct ferry_census_proc *was = &before->procs[i];
    struct ferry_census_proc now = { 0 };
    cleanup_error ferry_error err = FERRY_ERROR_INIT;
    if (ferry_census_read(was->pid, &now, &err) < 0 || now.start != was->start || now.state == 'Z' ||
        now.state == 'X') {
      name_process(died, len, was);
      gone++;
      continue;
    }
    if (!is_stopped(now.state) || is_stopped(was->state))
      continue;
    if (kill(was->pid, SIGCONT) < 0) {
      log_error("pid %d (%s) was left stopped by the failed dump and cannot be continued: %s", (int)was->pid, was->comm,
                strerror(errno));
      continue;
    }
    log_warn("pid %d (%s) was left stopped by the failed dump; continued it", (int)was->pid, was->comm);
    (*continued)++;
  }
  return gone;
}
