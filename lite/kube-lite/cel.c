/* SPDX-License-Identifier: Apache-2.0 */
/* The kube-lite-cel child: started on demand, one JSON line each way per call. */
#include "cel.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

#define READ_CHUNK 65536
#define MAX_ANSWER (16u << 20)

void kl_cel_init(struct kl_cel *c, const char *path)
{
  memset(c, 0, sizeof *c);
  c->to = c->from = -1;
  if (path) {
    snprintf(c->path, sizeof c->path, "%s", path);
    return;
  }
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  self[n > 0 ? n : 0] = '\0';
  snprintf(c->path, sizeof c->path, "%s/%s", n > 0 ? dirname(self) : ".", KL_CEL_HELPER);
}

int kl_cel_usable(const struct kl_cel *c, char *why, size_t len)
{
  if (access(c->path, X_OK) == 0)
    return 0;
  snprintf(why, len,
           "kube-lite's CEL helper %s cannot be run (%s): ValidatingAdmissionPolicies need it (make builds it "
           "once make deps has installed Go and cel-go; or give kube-lite --cel-helper PATH)",
           c->path, strerror(errno));
  return -1;
}

static void reap(struct kl_cel *c)
{
  if (c->to >= 0)
    close(c->to);
  if (c->from >= 0)
    close(c->from);
  c->to = c->from = -1;
  if (c->pid > 0) {
    kill(c->pid, SIGKILL);
    waitpid(c->pid, NULL, 0);
  }
  c->pid = 0;
  c->len = 0;
}

static int start(struct kl_cel *c, char *why, size_t len)
{
  int in[2], out[2];
  if (kl_cel_usable(c, why, len) < 0)
    return -1;
  if (pipe2(in, O_CLOEXEC) < 0) {
    snprintf(why, len, "pipe: %s", strerror(errno));
    return -1;
  }
  if (pipe2(out, O_CLOEXEC) < 0) {
    snprintf(why, len, "pipe: %s", strerror(errno));
    close(in[0]);
    close(in[1]);
    return -1;
  }
  pid_t pid = fork();
  if (pid == 0) { /* only async-signal-safe calls here: the parent has threads */
    if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
      _exit(127);
    execl(c->path, c->path, (char *)NULL);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  if (pid < 0) {
    snprintf(why, len, "fork: %s", strerror(errno));
    close(in[1]);
    close(out[0]);
    return -1;
  }
  c->pid = pid;
  c->to = in[1];
  c->from = out[0];
  c->len = 0;
  log_info("kube-lite: started the CEL helper %s (pid %d)", c->path, (int)pid);
  return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int send_line(struct kl_cel *c, const char *text, char *why, size_t len)
{
  if (write_all(c->to, text, strlen(text)) < 0 || write_all(c->to, "\n", 1) < 0) {
    snprintf(why, len, "writing to the CEL helper: %s", strerror(errno));
    return -1;
  }
  return 0;
}

/* Reads into c->buf until it holds a whole line; returns its length (without the newline). */
static ssize_t read_line(struct kl_cel *c, int64_t deadline, char *why, size_t len)
{
  for (;;) {
    char *nl = c->buf ? memchr(c->buf, '\n', c->len) : NULL;
    if (nl)
      return nl - c->buf;
    int64_t left = deadline - ferry_now_mono_ms();
    struct pollfd p = { .fd = c->from, .events = POLLIN };
    int r = left > 0 ? poll(&p, 1, (int)left) : 0;
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      snprintf(why, len, "the CEL helper did not answer within %d ms", KL_CEL_TIMEOUT_MS);
      return -1;
    }
    if (c->len + READ_CHUNK + 1 > c->cap) {
      size_t cap = c->cap ? c->cap * 2 : 2 * READ_CHUNK;
      char *nb = cap > MAX_ANSWER ? NULL : realloc(c->buf, cap);
      if (!nb) {
        snprintf(why, len, "the CEL helper's answer is too long");
        return -1;
      }
      c->buf = nb;
      c->cap = cap;
    }
    ssize_t n = read(c->from, c->buf + c->len, READ_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      snprintf(why, len, "the CEL helper ended (%s)", n < 0 ? strerror(errno) : "end of its output");
      return -1;
    }
    c->len += (size_t)n;
  }
}

json_object *kl_cel_call(struct kl_cel *c, json_object *request, char *why, size_t len)
{
  if (!c->pid && start(c, why, len) < 0)
    return NULL;
  const char *text = json_object_to_json_string_ext(request, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  ssize_t n = send_line(c, text, why, len) < 0 ? -1 : read_line(c, ferry_now_mono_ms() + KL_CEL_TIMEOUT_MS, why, len);
  if (n < 0) {
    log_error("kube-lite: %s; the helper is stopped (started again at the next call)", why);
    reap(c);
    return NULL;
  }
  c->buf[n] = '\0';
  json_object *answer = json_tokener_parse(c->buf), *e;
  memmove(c->buf, c->buf + n + 1, c->len - (size_t)n - 1);
  c->len -= (size_t)n + 1;
  if (!answer) {
    snprintf(why, len, "the CEL helper answered something that is not JSON");
    reap(c);
    return NULL;
  }
  if (json_object_object_get_ex(answer, "error", &e)) {
    snprintf(why, len, "the CEL helper: %s", json_object_get_string(e));
    json_object_put(answer);
    return NULL;
  }
  return answer;
}

void kl_cel_stop(struct kl_cel *c)
{
  if (c->to >= 0)
    close(c->to);
  c->to = -1;
  if (c->pid > 0)
    waitpid(c->pid, NULL, 0); /* it exits at the end of its input */
  c->pid = 0;
  reap(c);
  free(c->buf);
  c->buf = NULL;
  c->cap = 0;
}
