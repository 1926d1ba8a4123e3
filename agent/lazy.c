#include "lazy.h"

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

#include "runtime/criu.h"
#include "base/log.h"
#include "base/proc.h"
#include "runtime/relay.h"
#include "base/util.h"

/* CRIU's page server tees pages through a pipe it grows to 1 << PAGE_ALLOC_COSTLY_ORDER
 * pages' worth of pipe buffers; the kernel rounds that up to 4 MiB. Beyond
 * fs.pipe-max-size this needs CAP_SYS_RESOURCE, and CRIU 4.2 ignores the failure
 * and later splices into an fd it never opened ("page-pipe: splice: -1: Bad file
 * descriptor", the lazy transfer fails). */
#define CRIU_PAGE_PIPE_BYTES 4194304L

volatile sig_atomic_t lazy_stop, lazy_commit;

/* ferry_proc_wait_child in slices, giving up when lazy_stop is set (returns 2). */
static int wait_or_stop(pid_t pid, int timeout_ms, int *code)
{
  int64_t deadline = timeout_ms >= 0 ? ferry_now_mono_ms() + timeout_ms : 0;
  for (;;) {
    int64_t left = timeout_ms >= 0 ? deadline - ferry_now_mono_ms() : 200;
    int r = ferry_proc_wait_child(pid, left < 0 ? 0 : left > 200 ? 200 : (int)left, code);
    if (r != 0)
      return r;
    if (lazy_stop)
      return 2;
    if (timeout_ms >= 0 && ferry_now_mono_ms() >= deadline)
      return 0;
  }
}

static int has_cap(int cap)
{
  char *text = NULL;
  ferry_error err = FERRY_ERROR_INIT;
  if (ferry_read_file("/proc/self/status", &text, NULL, &err) < 0) {
    ferry_error_clear(&err);
    return 0;
  }
  unsigned long long eff = 0;
  const char *p = strstr(text, "\nCapEff:");
  if (p)
    eff = strtoull(p + 8, NULL, 16);
  free(text);
  return (eff >> cap) & 1;
}

char *lazy_unsupported_reason(void)
{
  long fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return ferry_asprintf("the kernel has no usable userfaultfd (%s), which CRIU's lazy pages need", strerror(errno));
  close((int)fd);
  if (has_cap(24 /* CAP_SYS_RESOURCE */))
    return NULL;
  char *text = NULL;
  ferry_error err = FERRY_ERROR_INIT;
  if (ferry_read_file("/proc/sys/fs/pipe-max-size", &text, NULL, &err) < 0) {
    char *r = ferry_asprintf("cannot read fs.pipe-max-size: %s", ferry_error_msg(&err));
    ferry_error_clear(&err);
    return r;
  }
  long max = strtol(text, NULL, 10);
  free(text);
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
  ferry_error err = FERRY_ERROR_INIT;
  if (ferry_runc_checkpoint(&c->r, c->id, c->criu_dir, c->work, &c->flags, c->cfg, &err) == 0)
    return 0;
  char *log = ferry_path_join(c->work, "dump.log");
  char *why = ferry_criu_explain(ferry_error_msg(&err), log);
  ferry_error ignore = FERRY_ERROR_INIT;
  if (ferry_write_file(c->result, why, strlen(why), &ignore) < 0)
    fprintf(stderr, "%s\n", why);
  ferry_error_clear(&ignore);
  free(why);
  free(log);
  ferry_error_clear(&err);
  return 1;
}

static char *read_result(const char *path, const char *fallback)
{
  char *text = NULL;
  ferry_error err = FERRY_ERROR_INIT;
  if (ferry_read_file(path, &text, NULL, &err) < 0 || !*text) {
    ferry_error_clear(&err);
    free(text);
    return ferry_strdup(fallback);
  }
  return text;
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
  /* CRIU's page server listens on loopback only; the relay is what the target reaches. */
  int probe = -1, lfd = -1;
  char *criu_addr = NULL, *probe_addr = NULL;
  if (ferry_relay_listen("127.0.0.1:0", &probe, &probe_addr, err) < 0)
    goto fail;
  close(probe);
  criu_addr = probe_addr;
  probe_addr = NULL;
  if (ferry_relay_listen(listen, &lfd, &ls->page_server, err) < 0)
    goto fail;
  int sp[2];
  if (pipe2(sp, O_CLOEXEC) < 0) {
    ferry_error_set(err, errno, "pipe");
    goto fail;
  }
  struct dump_ctx c = { .r = *r, .id = id, .criu_dir = criu_dir, .work = work, .cfg = criu_config,
                        .result = ls->result, .flags = *flags, .status_w = sp[1] };
  c.flags.page_server = criu_addr;
  int forked = ferry_proc_fork_group(dump_child, &c, &ls->dump_pid, err);
  close(sp[1]);
  if (forked < 0) {
    close(sp[0]);
    goto fail;
  }
  /* The relay connects to CRIU only when the target does: it can start now. */
  if (ferry_relay_spawn(lfd, criu_addr, bytes_per_s, timeout_ms, 1, ls->relay_stats, &ls->relay_pid, err) < 0) {
    lfd = -1;
    close(sp[0]);
    goto fail;
  }
  lfd = -1;
  struct pollfd p = { sp[0], POLLIN, 0 };
  int pr;
  do
    pr = poll(&p, 1, timeout_ms > 0 ? timeout_ms : -1);
  while (pr < 0 && errno == EINTR);
  char byte;
  ssize_t n = pr > 0 ? read(sp[0], &byte, 1) : -1;
  close(sp[0]);
  if (n == 1) {
    free(criu_addr);
    return 0;
  }
  if (pr == 0) {
    ferry_error_set(err, ETIMEDOUT, "the lazy dump did not finish within %d ms", timeout_ms);
    goto fail;
  }
  /* CRIU ended without serving: the dump failed. */
  int code = 0;
  ferry_proc_wait_child(ls->dump_pid, timeout_ms > 0 ? timeout_ms : -1, &code);
  ls->dump_pid = 0;
  char *why = read_result(ls->result, "runc checkpoint --lazy-pages ended before the page server started");
  ferry_error_set(err, 0, "%s", why);
  free(why);
fail:
  if (lfd >= 0)
    close(lfd);
  lazy_dump_abort(ls);
  free(criu_addr);
  free(probe_addr);
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
    ended = wait_or_stop(ls->dump_pid, left < 0 || left > 200 ? 200 : left, &code);
    if (ended == 2 || ended < 0)
      break;
    ended = ended == 1;
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
  const char *argv[] = { c->criu, "lazy-pages", "--images-dir", c->criu_dir, "--work-dir", c->work, "--page-server",
                         "--address", c->host, "--port", c->port, "--log-file", "lazy-pages.log", "-v2", NULL };
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

int lazy_daemon_start(const char *criu, const char *criu_dir, const char *work, const char *page_server,
                      pid_t *pid, ferry_error *err)
{
  const char *colon = strrchr(page_server, ':');
  if (!colon || colon == page_server)
    return ferry_error_set(err, 0, "page server %s: expected ADDR:PORT", page_server);
  char *host = strndup(page_server, (size_t)(colon - page_server));
  if (!host)
    abort();
  if (host[0] == '[') { /* [v6]:port */
    memmove(host, host + 1, strlen(host));
    host[strcspn(host, "]")] = '\0';
  }
  char *sock = ferry_path_join(work, "lazy-pages.socket");
  unlink(sock);
  struct daemon_ctx c = { .criu = criu, .criu_dir = criu_dir, .work = work, .host = host, .port = colon + 1 };
  int rc = ferry_proc_fork_group(daemon_child, &c, pid, err);
  free(host);
  if (rc < 0) {
    free(sock);
    return -1;
  }
  /* The restore connects to this socket: wait until the daemon made it. */
  for (int i = 0; i < 2000; i++) {
    if (ferry_path_exists(sock)) {
      free(sock);
      return 0;
    }
    int code;
    if (ferry_proc_wait_child(*pid, 0, &code) == 1) {
      *pid = 0;
      char *log = ferry_path_join(work, "lazy-pages.log");
      char *why = ferry_criu_explain("criu lazy-pages exited before it was ready", log);
      ferry_error_set(err, 0, "%s", why);
      free(why);
      free(log);
      free(sock);
      return -1;
    }
    usleep(5000);
  }
  free(sock);
  ferry_proc_kill_group(*pid);
  *pid = 0;
  return ferry_error_set(err, ETIMEDOUT, "criu lazy-pages did not make its socket within 10 s");
}

int lazy_daemon_wait(pid_t pid, const char *work, int timeout_ms, char **why)
{
  int code = 0;
  int ended = wait_or_stop(pid, timeout_ms, &code);
  if (ended == 1 && code == 0)
    return 0;
  char *log = ferry_path_join(work, "lazy-pages.log");
  if (ended != 1) {
    ferry_proc_kill_group(pid);
    char *what = ended == 2 ? ferry_strdup("stopped before every page arrived")
                            : ferry_asprintf("not every page arrived within %d ms", timeout_ms);
    *why = ferry_criu_explain(what, log);
    free(what);
  } else {
    char *what = ferry_asprintf("criu lazy-pages failed (exit %d) before every page arrived", code);
    *why = ferry_criu_explain(what, log);
    free(what);
  }
  free(log);
  return -1;
}
