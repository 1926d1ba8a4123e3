/* SPDX-License-Identifier: Apache-2.0 */
#include "base/proc.h"

#include <errno.h>
#include <linux/capability.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/util.h"
#include "base/log.h"

extern char **environ;

struct buf {
  char *data;
  size_t len, cap;
};

static void buf_add(struct buf *b, const char *p, size_t n)
{
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d)
      abort();
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

static char *buf_take(struct buf *b)
{
  if (!b->data)
    return ferry_strdup("");
  return b->data;
}

char *ferry_proc_cmdline(const char *const *argv)
{
  struct buf b = { 0 };
  for (size_t i = 0; argv[i]; i++) {
    if (i)
      buf_add(&b, " ", 1);
    buf_add(&b, argv[i], strlen(argv[i]));
  }
  return buf_take(&b);
}

static char **build_env(const char *const *add)
{
  size_t n = 0, m = 0;
  while (environ[n])
    n++;
  while (add && add[m])
    m++;
  char **env = calloc(n + m + 1, sizeof *env);
  if (!env)
    abort();
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    int replaced = 0;
    for (size_t j = 0; j < m; j++) {
      const char *eq = strchr(add[j], '=');
      size_t nl = eq ? (size_t)(eq - add[j]) : strlen(add[j]);
      if (strncmp(environ[i], add[j], nl) == 0 && environ[i][nl] == '=')
        replaced = 1;
    }
    if (!replaced)
      env[k++] = environ[i];
  }
  for (size_t j = 0; j < m; j++)
    env[k++] = (char *)add[j];
  env[k] = NULL;
  return env;
}

/* In the child: make fd `from` become `to` (from may equal to). */
static void child_dup(int from, int to)
{
  if (from == to) {
    int fl = fcntl(from, F_GETFD);
    if (fl >= 0)
      fcntl(from, F_SETFD, fl & ~FD_CLOEXEC);
    return;
  }
  if (dup2(from, to) < 0)
    _exit(127);
}

static void close_pipes(int outp[2], int errp[2])
{
  for (int i = 0; i < 2; i++) {
    if (outp[i] >= 0)
      close(outp[i]);
    if (errp[i] >= 0)
      close(errp[i]);
  }
}

/* Pipes for the output the caller did not redirect. */
static int open_pipes(const struct ferry_proc_opts *o, int outp[2], int errp[2], ferry_error *err)
{
  if ((o->stdout_fd < 0 && pipe2(outp, O_CLOEXEC) < 0) || (o->stderr_fd < 0 && pipe2(errp, O_CLOEXEC) < 0)) {
    int e = errno;
    close_pipes(outp, errp);
    return ferry_error_set(err, e, "pipe");
  }
  return 0;
}

/* In the child: its own process group (unless same_group), no blocked signals,
 * the stdio set up, then the program. */
static void __attribute__((noreturn)) exec_child(const struct ferry_proc_opts *o, int outp[2], int errp[2], char **env)
{
  if (!o->same_group)
    setpgid(0, 0);
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  int in = o->stdin_fd;
  if (in < 0 && (in = open("/dev/null", O_RDONLY)) < 0)
    _exit(127);
  int out = o->stdout_fd >= 0 ? o->stdout_fd : outp[1];
  int er = o->stderr_fd >= 0 ? o->stderr_fd : errp[1];
  /* Move the sources above 2 first so the dup2s cannot clobber each other. */
  int fin = fcntl(in, F_DUPFD_CLOEXEC, 3), fout = fcntl(out, F_DUPFD_CLOEXEC, 3), ferr = fcntl(er, F_DUPFD_CLOEXEC, 3);
  if (fin < 0 || fout < 0 || ferr < 0)
    _exit(127);
  child_dup(fin, 0);
  child_dup(fout, 1);
  child_dup(ferr, 2);
  execvpe(o->argv[0], (char *const *)o->argv, env);
  dprintf(2, "exec %s: %s\n", o->argv[0], strerror(errno));
  _exit(127);
}

#define READ_CHUNK 4096
#define WAIT_SLICE_MS 100 /* the deadline is looked at between polls */

/* The child's captured stdout (0) and stderr (1). */
struct capture {
  struct pollfd pfd[2];
  struct buf b[2];
  int open_fds;
};

/* Reads what the ready pipes hold; a pipe at its end is closed. */
static void read_ready(struct capture *c)
{
  for (int i = 0; i < 2; i++) {
    if (c->pfd[i].fd < 0 || !(c->pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
      continue;
    char tmp[READ_CHUNK];
    ssize_t n = read(c->pfd[i].fd, tmp, sizeof tmp);
    if (n > 0) {
      buf_add(&c->b[i], tmp, (size_t)n);
    } else if (n == 0 || errno != EINTR) {
      close(c->pfd[i].fd);
      c->pfd[i].fd = -1;
      c->open_fds--;
    }
  }
}

/* Reads what is left after the child exited (grandchildren may hold the pipes:
 * only what is already there). */
static void drain(struct capture *c)
{
  for (int i = 0; i < 2; i++) {
    if (c->pfd[i].fd < 0)
      continue;
    int fl = fcntl(c->pfd[i].fd, F_GETFL);
    if (fl >= 0)
      fcntl(c->pfd[i].fd, F_SETFL, fl | O_NONBLOCK);
    char tmp[READ_CHUNK];
    ssize_t n;
    while ((n = read(c->pfd[i].fd, tmp, sizeof tmp)) > 0)
      buf_add(&c->b[i], tmp, (size_t)n);
    close(c->pfd[i].fd);
  }
}

/* How long the next wait may take; past the deadline the child's group is killed. */
static int next_wait(pid_t pid, int64_t deadline, struct ferry_proc_result *res)
{
  int wait_ms = WAIT_SLICE_MS;
  if (deadline) {
    int64_t left = deadline - ferry_now_mono_ms();
    if (left <= 0 && !res->timed_out) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      res->timed_out = 1;
    }
    if (left > 0 && left < wait_ms)
      wait_ms = (int)left;
  }
  return wait_ms;
}

/* Captures the output until the child is reaped (1) or waiting fails (0). */
static int capture_until_exit(pid_t pid, int timeout_ms, struct capture *c, int *status, struct ferry_proc_result *res)
{
  int64_t deadline = timeout_ms > 0 ? ferry_now_mono_ms() + timeout_ms : 0;
  for (;;) {
    int wait_ms = next_wait(pid, deadline, res);
    if (c->open_fds > 0) {
      int pr = poll(c->pfd, 2, wait_ms);
      if (pr < 0 && errno != EINTR)
        return 0;
      if (pr > 0)
        read_ready(c);
      if (waitpid(pid, status, WNOHANG) == pid)
        return 1;
      continue;
    }
    /* Output closed (or not captured): wait for the child itself. */
    pid_t w = waitpid(pid, status, deadline ? WNOHANG : 0);
    if (w == pid)
      return 1;
    if (w < 0 && errno != EINTR)
      return 0;
    if (w == 0)
      usleep(10000);
  }
}

int ferry_proc_run(const struct ferry_proc_opts *o, struct ferry_proc_result *res, ferry_error *err)
{
  memset(res, 0, sizeof *res);
  int outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
  if (open_pipes(o, outp, errp, err) < 0)
    return -1;
  char **env = o->env_add ? build_env(o->env_add) : environ;
  pid_t pid = fork();
  if (pid == 0)
    exec_child(o, outp, errp, env);
  int fork_errno = errno;
  if (env != environ)
    free(env);
  if (pid < 0) {
    close_pipes(outp, errp);
    return ferry_error_set(err, fork_errno, "fork for %s", o->argv[0]);
  }
  if (outp[1] >= 0)
    close(outp[1]);
  if (errp[1] >= 0)
    close(errp[1]);
  struct capture c = { .pfd = { { outp[0], POLLIN, 0 }, { errp[0], POLLIN, 0 } },
                       .open_fds = (outp[0] >= 0) + (errp[0] >= 0) };
  int status = 0;
  int reaped = capture_until_exit(pid, o->timeout_ms, &c, &status, res);
  drain(&c);
  if (!reaped) {
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
      ;
  }
  res->out = buf_take(&c.b[0]);
  res->errout = buf_take(&c.b[1]);
  if (WIFEXITED(status)) {
    res->exited = 1;
    res->exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    res->signal = WTERMSIG(status);
  }
  return 0;
}

void ferry_proc_result_free(struct ferry_proc_result *res)
{
  free(res->out);
  free(res->errout);
  res->out = res->errout = NULL;
}

int ferry_proc_ok(const struct ferry_proc_result *res) { return res->exited && res->exit_code == 0 && !res->timed_out; }

const char *ferry_proc_describe(const struct ferry_proc_result *res, const struct ferry_proc_opts *opts, char *buf,
                                size_t len)
{
  if (res->timed_out)
    snprintf(buf, len, "timed out after %d ms and was killed", opts->timeout_ms);
  else if (res->exited)
    snprintf(buf, len, "exit status %d", res->exit_code);
  else
    snprintf(buf, len, "killed by signal %d (%s)", res->signal, strsignal(res->signal));
  return buf;
}

int ferry_proc_fork_group(int (*fn)(void *ctx), void *ctx, pid_t *pid, ferry_error *err)
{
  pid_t p = fork();
  if (p < 0)
    return ferry_error_set(err, errno, "fork");
  if (p == 0) {
    if (setpgid(0, 0) < 0)
      _exit(127);
    _exit(fn(ctx) & 0xff);
  }
  /* Also from the parent, so a kill right after the fork reaches the group. */
  if (setpgid(p, p) < 0 && errno != EACCES && errno != ESRCH)
    log_debug("setpgid %d: %s", (int)p, strerror(errno));
  *pid = p;
  return 0;
}

int ferry_proc_wait_child(pid_t pid, int timeout_ms, int *code)
{
  int64_t deadline = timeout_ms >= 0 ? ferry_now_mono_ms() + timeout_ms : 0;
  for (;;) {
    int status = 0;
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      *code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return 1;
    }
    if (w < 0 && errno != EINTR)
      return -1;
    if (timeout_ms >= 0 && ferry_now_mono_ms() >= deadline)
      return 0;
    usleep(5000);
  }
}

void ferry_proc_kill_group(pid_t pid)
{
  if (pid <= 0)
    return;
  if (kill(-pid, SIGKILL) < 0 && errno != ESRCH)
    log_warn("kill process group %d: %s", (int)pid, strerror(errno));
  kill(pid, SIGKILL);
  int code;
  if (ferry_proc_wait_child(pid, 10000, &code) == 0)
    log_warn("process %d did not end after SIGKILL", (int)pid);
}

static void relay_loop(int rfd, const char *log_path)
{
  int lfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  char buf[1 << 14];
  for (;;) {
    ssize_t n = read(rfd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    if (lfd >= 0) {
      const char *p = buf;
      while (n > 0) {
        ssize_t w = write(lfd, p, (size_t)n);
        if (w < 0 && errno == EINTR)
          continue;
        if (w < 0)
          break; /* keep draining so the container never blocks on a full pipe */
        p += w;
        n -= w;
      }
    }
  }
}

int ferry_stdio_relay(const char *log_path, int *in_fd, int *out_fd, ferry_error *err)
{
  int inp[2], outp[2];
  if (pipe2(inp, O_CLOEXEC) < 0)
    return ferry_error_set(err, errno, "pipe for container stdin");
  if (pipe2(outp, O_CLOEXEC) < 0) {
    int e = errno;
    close(inp[0]);
    close(inp[1]);
    return ferry_error_set(err, e, "pipe for container stdout");
  }
  /* Check the log can be written before we hand the container over. */
  int probe = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (probe < 0) {
    int e = errno;
    close(inp[0]);
    close(inp[1]);
    close(outp[0]);
    close(outp[1]);
    return ferry_error_set(err, e, "open container log %s", log_path);
  }
  close(probe);
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(inp[0]);
    close(inp[1]);
    close(outp[0]);
    close(outp[1]);
    return ferry_error_set(err, e, "fork stdio relay");
  }
  if (pid == 0) {
    /* First child: detach, fork the relay and exit so init adopts it. */
    setsid();
    pid_t r = fork();
    if (r != 0)
      _exit(r < 0 ? 1 : 0);
    prctl(PR_SET_NAME, "ferry-relay", 0, 0, 0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    close(inp[0]);
    close(inp[1]); /* stdin: EOF, as for a container without stdin */
    close(outp[1]);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, 0);
      dup2(devnull, 1);
      dup2(devnull, 2);
      if (devnull > 2)
        close(devnull);
    }
    /* Close everything else we inherited (sockets, other containers' pipes). */
    for (int fd = 3; fd < 1024; fd++)
      if (fd != outp[0])
        close(fd);
    relay_loop(outp[0], log_path);
    _exit(0);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  close(inp[1]);
  close(outp[0]);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    close(inp[0]);
    close(outp[1]);
    return ferry_error_set(err, 0, "stdio relay for %s did not start", log_path);
  }
  *in_fd = inp[0];
  *out_fd = outp[1];
  return 0;
}

int ferry_proc_has_cap(int cap)
{
  struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
  memset(data, 0, sizeof data);
  if (cap < 0 || cap >= 32 * _LINUX_CAPABILITY_U32S_3)
    return 0;
  if (syscall(SYS_capget, &h, data) < 0) {
    log_warn("capget: %s", strerror(errno));
    return 0;
  }
  return (data[cap / 32].effective >> (cap % 32)) & 1;
}
