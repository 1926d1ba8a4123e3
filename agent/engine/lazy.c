/* SPDX-License-Identifier: Apache-2.0 */
/* Post-copy's processes: the lazy dump on the source (runc, CRIU's page server and
 * the relay in front of it) and CRIU's lazy-pages daemon on the target. */
#include "engine/lazy.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/pidrec.h"
#include "base/proc.h"
#include "base/util.h"
#include "runtime/criu.h"
#include "runtime/relay.h"

/* CRIU's page server tees pages through a pipe it grows to 1 << PAGE_ALLOC_COSTLY_ORDER
 * pages' worth of pipe buffers; the kernel rounds that up to 4 MiB. Beyond
 * fs.pipe-max-size this needs CAP_SYS_RESOURCE, and CRIU 4.2 ignores the failure
 * and later splices into an fd it never opened ("page-pipe: splice: -1: Bad file
 * descriptor", the lazy transfer fails). */
#define CRIU_PAGE_PIPE_BYTES 4194304L
/* The slice the waits below sleep in between looks at lazy_stop. */
#define WAIT_SLICE_MS 200
/* How long the lazy-pages daemon may take to make its socket: polls of 5 ms. */
#define DAEMON_SOCKET_POLLS 2000
#define DAEMON_SOCKET_POLL_US 5000

volatile sig_atomic_t lazy_stop, lazy_commit;

/* ferry_proc_wait_child in slices, giving up when lazy_stop is set (returns 2). */
static int wait_or_stop(pid_t pid, int timeout_ms, int *code)
{
  int64_t deadline = timeout_ms >= 0 ? ferry_now_mono_ms() + timeout_ms : 0;
  for (;;) {
    int64_t left = timeout_ms >= 0 ? deadline - ferry_now_mono_ms() : WAIT_SLICE_MS;
    int r = ferry_proc_wait_child(pid, left < 0 ? 0 : left > WAIT_SLICE_MS ? WAIT_SLICE_MS : (int)left, code);
    if (r != 0)
      return r;
    if (lazy_stop)
      return 2;
    if (timeout_ms >= 0 && ferry_now_mono_ms() >= deadline)
      return 0;
  }
}

char *lazy_unsupported_reason(void)
{
  long fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return ferry_asprintf("the kernel has no usable userfaultfd (%s), which CRIU's lazy pages need", strerror(errno));
  close((int)fd);
  if (ferry_proc_has_cap(CAP_SYS_RESOURCE))
    return NULL;
  cleanup_free char *text = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_read_file("/proc/sys/fs/pipe-max-size", &text, NULL, &err) < 0)
    return ferry_asprintf("cannot read fs.pipe-max-size: %s", ferry_error_msg(&err));
  long max = strtol(text, NULL, 10);
  if (max < CRIU_PAGE_PIPE_BYTES)
    return ferry_asprintf("fs.pipe-max-size is %ld and the agent lacks CAP_SYS_RESOURCE: CRIU's page server needs "
                          "pipes of %ld bytes (set sysctl fs.pipe-max-size=%ld on the node, or give the agent "
                          "CAP_SYS_RESOURCE)",
                          max, CRIU_PAGE_PIPE_BYTES, CRIU_PAGE_PIPE_BYTES);
  return NULL;
}

/* CRIU keeps every lazy page in pipes until it is sent: two descriptors per
 * 4 MiB. Take all the descriptors the hard limit allows (no privilege needed). */
static void raise_nofile(void)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
      log_warn("raise RLIMIT_NOFILE to %llu: %s", (unsigned long long)rl.rlim_max, strerror(errno));
  }
}

struct dump_ctx {
  struct ferry_runc r;
  const char *id, *criu_dir, *work, *cfg, *result;
  struct ferry_criu_flags flags;
  int status_w;
};

static int dump_child(void *p)
{
  struct dump_ctx *c = p;
  raise_nofile();
  /* runc gets the status pipe as an inherited descriptor. */
  if (fcntl(c->status_w, F_SETFD, 0) < 0)
    return 1;
  c->r.same_group = 1;
  c->r.timeout_ms = 0; /* the parent keeps the deadlines */
  c->flags.lazy_pages = 1;
  c->flags.status_fd = c->status_w;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_runc_checkpoint(&c->r, c->id, c->criu_dir, c->work, &c->flags, c->cfg, &err) == 0)
    return 0;
  cleanup_free char *log = ferry_path_join(c->work, "dump.log");
  cleanup_free char *why = ferry_criu_explain(ferry_error_msg(&err), log);
  cleanup_error ferry_error ignore = FERRY_ERROR_INIT;
  if (ferry_write_file(c->result, why, strlen(why), &ignore) < 0)
    fprintf(stderr, "%s\n", why);
  return 1;
}

static char *read_result(const char *path, const char *fallback)
{
  cleanup_free char *text = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_read_file(path, &text, NULL, &err) < 0 || !*text)
    return ferry_strdup(fallback);
  return ferry_steal(&text);
}

/* A free loopback address for CRIU's page server: it listens on loopback only;
 * the relay is what the target reaches. */
static char *loopback_address(ferry_error *err)
{
  cleanup_close int probe = -1;
  char *addr = NULL;
  if (ferry_relay_listen("127.0.0.1:0", &probe, &addr, err) < 0)
    return NULL;
  return addr;
}

/* Forks the dump child; *status_r: the pipe CRIU says "served" on. */
static int fork_dump(struct dump_ctx *c, pid_t *pid, int *status_r, ferry_error *err)
{
  int sp[2];
  if (pipe2(sp, O_CLOEXEC) < 0)
    return ferry_error_set(err, errno, "pipe");
  c->status_w = sp[1];
  int forked = ferry_proc_fork_group(dump_child, c, pid, err);
  close(sp[1]);
  if (forked < 0) {
    close(sp[0]);
    return -1;
  }
  *status_r = sp[0];
  return 0;
}

/* Waits (at most timeout_ms) for CRIU's byte on status_r (closed here): the
 * image is written and the page server runs. Else why the dump failed. */
static int wait_served(struct lazy_source *ls, int status_r, int timeout_ms, ferry_error *err)
{
  struct pollfd p = { status_r, POLLIN, 0 };
  int pr;
  do
    pr = poll(&p, 1, timeout_ms > 0 ? timeout_ms : -1);
  while (pr < 0 && errno == EINTR);
  char byte;
  ssize_t n = pr > 0 ? read(status_r, &byte, 1) : -1;
  close(status_r);
  if (n == 1)
    return 0;
  if (pr == 0)
    return ferry_error_set(err, ETIMEDOUT, "the lazy dump did not finish within %d ms", timeout_ms);
  /* CRIU ended without serving: the dump failed. */
  int code = 0;
  ferry_proc_wait_child(ls->dump_pid, timeout_ms > 0 ? timeout_ms : -1, &code);
  ls->dump_pid = 0;
  cleanup_free char *why = read_result(ls->result, "runc checkpoint --lazy-pages ended before the page server started");
  return ferry_error_set(err, 0, "%s", why);
}

int lazy_dump_start(const struct ferry_runc *r, const char *id, const char *criu_dir, const char *work,
                    const struct ferry_criu_flags *flags, const char *criu_config, const char *listen,
                    uint64_t bytes_per_s, int timeout_ms, struct lazy_source *ls, ferry_error *err)
{
  memset(ls, 0, sizeof *ls);
  ls->result = ferry_path_join(work, "dump.result");
  ls->relay_stats = ferry_path_join(work, "relay.json");
  unlink(ls->result);
  unlink(ls->relay_stats);
  cleanup_free char *criu_addr = loopback_address(err);
  cleanup_close int lfd = -1;
  cleanup_close int status_r = -1;
  struct dump_ctx c = {
    .r = *r, .id = id, .criu_dir = criu_dir, .work = work, .cfg = criu_config, .result = ls->result, .flags = *flags
  };
  c.flags.page_server = criu_addr;
  /* The relay connects to CRIU only when the target does: it can start before CRIU serves. */
  if (criu_addr && ferry_relay_listen(listen, &lfd, &ls->page_server, err) == 0 &&
      fork_dump(&c, &ls->dump_pid, &status_r, err) == 0 &&
      ferry_relay_spawn(ferry_steal_fd(&lfd), criu_addr, bytes_per_s, timeout_ms, 1, ls->relay_stats, &ls->relay_pid,
                        err) == 0 &&
      wait_served(ls, ferry_steal_fd(&status_r), timeout_ms, err) == 0)
    return 0;
  if (status_r >= 0) /* before the abort, as CRIU may still write to it */
    close(ferry_steal_fd(&status_r));
  lazy_dump_abort(ls);
  return -1;
}

void lazy_dump_abort(struct lazy_source *ls)
{
  int code;
  if (ls->relay_pid > 0 && kill(ls->relay_pid, SIGUSR2) == 0 && ls->dump_pid > 0 &&
      ferry_proc_wait_child(ls->dump_pid, 10000, &code) == 1)
    ls->dump_pid = 0; /* CRIU saw the reset, thawed the container and ended */
  if (ls->dump_pid > 0)
    ferry_proc_kill_group(ls->dump_pid);
  ls->dump_pid = 0;
  if (ls->relay_pid > 0 && ferry_proc_wait_child(ls->relay_pid, 2000, &code) != 1)
    ferry_proc_kill_group(ls->relay_pid);
  ls->relay_pid = 0;
}

void lazy_dump_commit(struct lazy_source *ls)
{
  if (ls->relay_pid > 0 && kill(ls->relay_pid, SIGUSR1) < 0)
    log_warn("telling the relay to release the source: %s", strerror(errno));
}

int lazy_dump_finish(struct lazy_source *ls, int timeout_ms, char **why)
{
  int code = 0, ended = ls->dump_pid > 0 ? 0 : 1, committed = 0;
  int64_t deadline = timeout_ms >= 0 ? ferry_now_mono_ms() + timeout_ms : 0;
  while (!ended) {
    if (lazy_commit && !committed) {
      lazy_dump_commit(ls);
      committed = 1;
    }
    int left = timeout_ms < 0 ? -1 : (int)(deadline - ferry_now_mono_ms());
    if (timeout_ms >= 0 && left <= 0)
      break;
    int r = wait_or_stop(ls->dump_pid, left < 0 || left > WAIT_SLICE_MS ? WAIT_SLICE_MS : left, &code);
    if (r == 2 || r < 0)
      break; /* asked to stop, or the wait failed: CRIU has not ended */
    ended = r == 1;
  }
  if (!ended) {
    *why = lazy_stop ? ferry_strdup("stopped before the target had every page")
                     : ferry_asprintf("CRIU's page server did not finish within %d ms", timeout_ms);
    lazy_dump_abort(ls);
    return -1;
  }
  ls->dump_pid = 0;
  /* The relay ends when either side closes. */
  int rcode = 0;
  if (ls->relay_pid > 0 && ferry_proc_wait_child(ls->relay_pid, 5000, &rcode) != 1)
    ferry_proc_kill_group(ls->relay_pid);
  ls->relay_pid = 0;
  if (code != 0) {
    *why = read_result(ls->result, "runc checkpoint --lazy-pages failed");
    return -1;
  }
  return 0;
}

uint64_t lazy_source_bytes(const struct lazy_source *ls)
{
  struct ferry_relay_stats st;
  ferry_error err = FERRY_ERROR_INIT;
  uint64_t n = 0;
  if (ferry_relay_stats_load(ls->relay_stats, &st, &err) == 0) {
    n = st.to_client;
    ferry_relay_stats_free(&st);
  }
  ferry_error_clear(&err);
  return n;
}

void lazy_source_free(struct lazy_source *ls)
{
  lazy_dump_abort(ls);
  free(ls->page_server);
  free(ls->result);
  free(ls->relay_stats);
  memset(ls, 0, sizeof *ls);
}

struct daemon_ctx {
  const char *criu, *criu_dir, *work, *host, *port;
};

static int daemon_child(void *p)
{
  struct daemon_ctx *c = p;
  raise_nofile();
  const char *argv[] = { c->criu, "lazy-pages",    "--images-dir",   c->criu_dir, "--work-dir",
                         c->work, "--page-server", "--address",      c->host,     "--port",
                         c->port, "--log-file",    "lazy-pages.log", "-v2",       NULL };
  struct ferry_proc_opts o = FERRY_PROC_OPTS_INIT;
  o.argv = argv;
  o.same_group = 1;
  struct ferry_proc_result res;
  ferry_error err = FERRY_ERROR_INIT;
  if (ferry_proc_run(&o, &res, &err) < 0) {
    fprintf(stderr, "%s\n", ferry_error_msg(&err));
    ferry_error_clear(&err);
    return 1;
  }
  int ok = ferry_proc_ok(&res);
  if (!ok && res.errout && *res.errout)
    fprintf(stderr, "criu lazy-pages: %s", res.errout);
  ferry_proc_result_free(&res);
  return ok ? 0 : 1;
}

/* The restore connects to the daemon's socket: waits until the daemon made it.
 * Then records the daemon (FERRY_LAZY_DAEMON_RECORD): a restore that outlives it would
 * wait for it for ever, so ferry-runc stops the restore when it ends. */
int lazy_daemon_ready(const char *work, pid_t *pid, ferry_error *err)
{
  cleanup_free char *sock = ferry_path_join(work, FERRY_LAZY_SOCKET);
  for (int i = 0; i < DAEMON_SOCKET_POLLS; i++) {
    if (ferry_path_exists(sock)) {
      cleanup_free char *rec = ferry_path_join(work, FERRY_LAZY_DAEMON_RECORD);
      if (ferry_pidrec_write(rec, *pid, err) < 0) {
        ferry_proc_kill_group(*pid);
        *pid = 0;
        return -1;
      }
      return 0;
    }
    int code;
    if (ferry_proc_wait_child(*pid, 0, &code) == 1) {
      *pid = 0;
      cleanup_free char *log = ferry_path_join(work, "lazy-pages.log");
      cleanup_free char *why = ferry_criu_explain("criu lazy-pages exited before it was ready", log);
      return ferry_error_set(err, 0, "%s", why);
    }
    usleep(DAEMON_SOCKET_POLL_US);
  }
  ferry_proc_kill_group(*pid);
  *pid = 0;
  return ferry_error_set(err, ETIMEDOUT, "criu lazy-pages did not make its socket within 10 s");
}

int lazy_daemon_spawn(const char *criu, const char *criu_dir, const char *work, const char *page_server, pid_t *pid,
                      ferry_error *err)
{
  const char *colon = strrchr(page_server, ':');
  if (!colon || colon == page_server)
    return ferry_error_set(err, 0, "page server %s: expected ADDR:PORT", page_server);
  cleanup_free char *host = strndup(page_server, (size_t)(colon - page_server));
  if (!host)
    abort();
  if (host[0] == '[') { /* [v6]:port */
    memmove(host, host + 1, strlen(host));
    host[strcspn(host, "]")] = '\0';
  }
  cleanup_free char *sock = ferry_path_join(work, FERRY_LAZY_SOCKET);
  unlink(sock);
  struct daemon_ctx c = { .criu = criu, .criu_dir = criu_dir, .work = work, .host = host, .port = colon + 1 };
  return ferry_proc_fork_group(daemon_child, &c, pid, err);
}

int lazy_daemon_start(const char *criu, const char *criu_dir, const char *work, const char *page_server, pid_t *pid,
                      ferry_error *err)
{
  if (lazy_daemon_spawn(criu, criu_dir, work, page_server, pid, err) < 0)
    return -1;
  return lazy_daemon_ready(work, pid, err);
}

int lazy_daemon_wait(pid_t pid, const char *work, int timeout_ms, char **why)
{
  int code = 0;
  int ended = wait_or_stop(pid, timeout_ms, &code);
  if (ended == 1 && code == 0)
    return 0;
  cleanup_free char *log = ferry_path_join(work, "lazy-pages.log");
  cleanup_free char *what = NULL;
  if (ended != 1) {
    ferry_proc_kill_group(pid);
    what = ended == 2 ? ferry_strdup("stopped before every page arrived")
                      : ferry_asprintf("not every page arrived within %d ms", timeout_ms);
  } else {
    what = ferry_asprintf("criu lazy-pages failed (exit %d) before every page arrived", code);
  }
  *why = ferry_criu_explain(what, log);
  return -1;
}

static void on_stop(int sig)
{
  (void)sig;
  lazy_stop = 1;
}

static void on_commit(int sig)
{
  (void)sig;
  lazy_commit = 1;
}

void lazy_catch_signals(void)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = on_commit; /* the agent daemon: the target has every page */
  sigaction(SIGUSR1, &sa, NULL);
}
