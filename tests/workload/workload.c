/* SPDX-License-Identifier: Apache-2.0 */
/* ferry-workload: the test and demo container's program (built static, runs in a
 * busybox root filesystem).
 *
 *   workload [--mem MIB] [--dir DIR] [--interval-ms N] [--cpu MILLICORES]
 *
 * Holds MIB mebibytes filled with a known pattern and a counter that lives only
 * in memory. Every interval it increments the counter and writes it to
 * DIR/count. When DIR/verify-request appears, it checks the whole buffer
 * against the pattern, writes "ok COUNT" or "bad OFFSET" to DIR/verify, and
 * removes the request. A migrated copy must go on from the same count with the
 * same memory. --cpu: in every interval it first burns MILLICORES/1000 of it
 * in CPU time (its own, so a busy machine stretches the interval rather than
 * the load), for the rebalancer's tests: a pod whose load is known. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t pattern_at(size_t i) { return (uint64_t)i * 0x9e3779b97f4a7c15ULL ^ 0x5bd1e995ULL; }

static int64_t cpu_ns(void)
{
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Spins until this thread used ns of CPU. */
static void burn(int64_t ns)
{
  int64_t until = cpu_ns() + ns;
  while (cpu_ns() < until)
    ;
}

static int write_file(const char *dir, const char *name, const char *text)
{
  char tmp[4096], path[4096];
  snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(tmp, "w");
  if (!f)
    return -1;
  fputs(text, f);
  if (fclose(f) != 0)
    return -1;
  return rename(tmp, path);
}

int main(int argc, char **argv)
{
  size_t mib = 0;
  const char *dir = "/tmp";
  long interval_ms = 100, millicores = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--mem") && i + 1 < argc)
      mib = strtoul(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
      dir = argv[++i];
    else if (!strcmp(argv[i], "--interval-ms") && i + 1 < argc)
      interval_ms = strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--cpu") && i + 1 < argc)
      millicores = strtol(argv[++i], NULL, 10);
    else {
      fprintf(stderr, "usage: %s [--mem MIB] [--dir DIR] [--interval-ms N] [--cpu MILLICORES]\n", argv[0]);
      return 2;
    }
  }
  size_t words = mib * 1024 * 1024 / sizeof(uint64_t);
  uint64_t *buf = NULL;
  if (words) {
    buf = malloc(words * sizeof *buf);
    if (!buf) {
      perror("malloc");
      return 1;
    }
    for (size_t i = 0; i < words; i++)
      buf[i] = pattern_at(i);
  }
  printf("workload: %zu MiB ready, counting in %s\n", mib, dir);
  fflush(stdout);
  char req[4096], line[128];
  snprintf(req, sizeof req, "%s/verify-request", dir);
  if (millicores < 0 || millicores > 1000) {
    fprintf(stderr, "workload: --cpu takes 0 to 1000 millicores\n");
    return 2;
  }
  int64_t busy_ns = interval_ms * 1000000L / 1000 * millicores, idle_ns = interval_ms * 1000000L - busy_ns;
  struct timespec ts = { idle_ns / 1000000000, idle_ns % 1000000000 };
  for (unsigned long count = 1;; count++) {
    snprintf(line, sizeof line, "%lu\n", count);
    if (write_file(dir, "count", line) != 0)
      fprintf(stderr, "workload: write count: %s\n", strerror(errno));
    if (access(req, F_OK) == 0) {
      size_t bad = words;
      for (size_t i = 0; i < words; i++)
        if (buf[i] != pattern_at(i)) {
          bad = i;
          break;
        }
      if (bad == words)
        snprintf(line, sizeof line, "ok %lu %zu\n", count, mib);
      else
        snprintf(line, sizeof line, "bad %zu\n", bad * sizeof *buf);
      unlink(req);
      write_file(dir, "verify", line);
    }
    burn(busy_ns);
    nanosleep(&ts, NULL);
  }
}
