/* SPDX-License-Identifier: Apache-2.0 */
/* The page relay between nodes: copies both ways on loopback, counts bytes,
 * never goes faster than its bandwidth, reports an upstream that is not there. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#include "base/error.h"
#include "runtime/relay.h"
#include "base/util.h"

/* An upstream that reads a 4-byte request, answers with n bytes of a pattern, closes. */
static pid_t serve(int lfd, size_t n)
{
  pid_t p = fork();
  if (p == 0) {
    int c = accept(lfd, NULL, NULL);
    if (c < 0)
      _exit(1);
    char req[4];
    if (recv(c, req, 4, MSG_WAITALL) != 4 || memcmp(req, "PING", 4) != 0)
      _exit(2);
    char buf[8192];
    size_t sent = 0;
    while (sent < n) {
      size_t k = n - sent < sizeof buf ? n - sent : sizeof buf;
      for (size_t i = 0; i < k; i++)
        buf[i] = (char)((sent + i) * 7);
      ssize_t w = send(c, buf, k, MSG_NOSIGNAL);
      if (w <= 0)
        _exit(3);
      sent += (size_t)w;
    }
    close(c);
    _exit(0);
  }
  return p;
}

/* Connects to the relay, sends PING, reads everything; returns the bytes read
 * (checked against the pattern). */
static size_t client(const char *addr)
{
  const char *colon = strrchr(addr, ':');
  struct sockaddr_in sa = { .sin_family = AF_INET,
                            .sin_port = htons((uint16_t)atoi(colon + 1)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  int s = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(s >= 0);
  assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(send(s, "PING", 4, 0), 4);
  size_t got = 0;
  char buf[8192];
  ssize_t r;
  while ((r = recv(s, buf, sizeof buf, 0)) > 0) {
    for (ssize_t i = 0; i < r; i++)
      assert_int_equal((unsigned char)buf[i], (unsigned char)((got + (size_t)i) * 7));
    got += (size_t)r;
  }
  close(s);
  return got;
}

static void run_case(size_t n, uint64_t rate, int64_t *ms, struct ferry_relay_stats *st)
{
  ferry_error err = FERRY_ERROR_INIT;
  int up = -1, rl = -1;
  char *up_addr = NULL, *relay_addr = NULL;
  assert_int_equal(ferry_relay_listen("127.0.0.1:0", &up, &up_addr, &err), 0);
  assert_int_equal(ferry_relay_listen("127.0.0.1:0", &rl, &relay_addr, &err), 0);
  pid_t srv = serve(up, n);
  char *stats = ferry_asprintf("/tmp/ferry-relay-test-%d.json", (int)getpid());
  pid_t relay;
  assert_int_equal(ferry_relay_spawn(rl, up_addr, rate, 5000, 0, stats, &relay, &err), 0);
  int64_t t0 = ferry_now_mono_ms();
  assert_int_equal(client(relay_addr), n);
  *ms = ferry_now_mono_ms() - t0;
  int status;
  assert_int_equal(waitpid(relay, &status, 0), relay);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  assert_int_equal(waitpid(srv, &status, 0), srv);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  assert_int_equal(ferry_relay_stats_load(stats, st, &err), 0);
  unlink(stats);
  free(stats);
  close(up);
  free(up_addr);
  free(relay_addr);
}

static void test_copies_and_counts(void **state)
{
  (void)state;
  struct ferry_relay_stats st;
  int64_t ms;
  run_case(3 << 20, 0, &ms, &st);
  assert_int_equal(st.to_client, 3 << 20);
  assert_int_equal(st.from_client, 4);
  assert_null(st.error);
  ferry_relay_stats_free(&st);
}

/* 1 MiB at 2 MiB/s cannot arrive in less than about half a second (the first
 * burst is 256 KiB): a lower bound that only a broken limiter misses. */
static void test_bandwidth_bound(void **state)
{
  (void)state;
  struct ferry_relay_stats st;
  int64_t ms;
  run_case(1 << 20, 2 << 20, &ms, &st);
  assert_int_equal(st.to_client, 1 << 20);
  assert_true(ms >= 350);
  ferry_relay_stats_free(&st);
}

static void test_upstream_missing(void **state)
{
  (void)state;
  ferry_error err = FERRY_ERROR_INIT;
  int probe, rl;
  char *dead = NULL, *relay_addr = NULL;
  /* a port nobody listens on: bound, then closed */
  assert_int_equal(ferry_relay_listen("127.0.0.1:0", &probe, &dead, &err), 0);
  close(probe);
  assert_int_equal(ferry_relay_listen("127.0.0.1:0", &rl, &relay_addr, &err), 0);
  pid_t p = fork();
  if (p == 0) {
    const char *colon = strrchr(relay_addr, ':');
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t)atoi(colon + 1)),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int s = socket(AF_INET, SOCK_STREAM, 0);
    _exit(s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof sa) == 0 ? 0 : 1);
  }
  struct ferry_relay_stats st;
  assert_int_equal(ferry_relay_run(rl, dead, 0, 5000, 0, &st, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "connect to"));
  int status;
  waitpid(p, &status, 0);
  ferry_error_clear(&err);
  /* nobody connecting at all */
  assert_int_equal(ferry_relay_run(rl, dead, 0, 100, 0, &st, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "nobody connected"));
  ferry_error_clear(&err);
  close(rl);
  free(dead);
  free(relay_addr);
}

static void test_parse(void **state)
{
  (void)state;
  ferry_error err = FERRY_ERROR_INIT;
  uint64_t b = 1;
  assert_int_equal(ferry_relay_parse_bandwidth("64Mi", &b, &err), 0);
  assert_int_equal(b, 64ULL << 20);
  assert_int_equal(ferry_relay_parse_bandwidth("100M", &b, &err), 0);
  assert_int_equal(b, 100000000ULL);
  assert_int_equal(ferry_relay_parse_bandwidth("0", &b, &err), 0);
  assert_int_equal(b, 0);
  assert_int_equal(ferry_relay_parse_bandwidth("lots", &b, &err), -1);
  ferry_error_clear(&err);
  assert_int_equal(ferry_relay_parse_bandwidth("-1Mi", &b, &err), -1);
  ferry_error_clear(&err);
  assert_int_equal(ferry_relay_parse_bandwidth("100", &b, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "at least 4Ki"));
  ferry_error_clear(&err);
  int fd;
  char *bound = NULL;
  assert_int_equal(ferry_relay_listen("nohost", &fd, &bound, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "expected ADDR:PORT"));
  ferry_error_clear(&err);
  assert_int_equal(ferry_relay_listen("127.0.0.1:99999", &fd, &bound, &err), -1);
  ferry_error_clear(&err);
}

/* ---------- a lazy session through the relay (hold_close) ---------- */

#define REC 32
enum ending { END_NONE, END_CLOSE, END_RESET, END_EOF };

/* Plays CRIU's page server: answers each GET with 8 bytes, a close with an int32 0. */
struct fake_criu {
  pthread_t th;
  int lfd;
  enum ending how;
};

static void *criu_main(void *p)
{
  struct fake_criu *f = p;
  int c = accept(f->lfd, NULL, NULL);
  unsigned char rec[REC];
  for (;;) {
    ssize_t n = recv(c, rec, REC, MSG_WAITALL);
    if (n == 0) {
      f->how = END_EOF;
      break;
    }
    if (n < 0) {
      f->how = errno == ECONNRESET ? END_RESET : END_NONE;
      break;
    }
    uint32_t cmd;
    memcpy(&cmd, rec, 4);
    if (cmd == 0x1023) {
      int32_t ok = 0;
      send(c, &ok, 4, MSG_NOSIGNAL);
      f->how = END_CLOSE;
      break;
    }
    send(c, "PAGEDATA", 8, MSG_NOSIGNAL);
  }
  close(c);
  return NULL;
}

static int connect_to(const char *addr)
{
  ferry_error err = FERRY_ERROR_INIT;
  int fd = ferry_tcp_connect(addr, &err);
  assert_true(fd >= 0);
  return fd;
}

static void send_rec(int fd, uint32_t cmd)
{
  unsigned char rec[REC] = { 0 };
  memcpy(rec, &cmd, 4);
  assert_int_equal(send(fd, rec, REC, 0), REC);
}

/* Starts the fake CRIU and a holding relay; *client is connected through it. */
static void lazy_session(struct fake_criu *f, pid_t *relay, int *client, char *stats)
{
  ferry_error err = FERRY_ERROR_INIT;
  int rl;
  char *up_addr = NULL, *relay_addr = NULL;
  assert_int_equal(ferry_relay_listen("127.0.0.1:0", &f->lfd, &up_addr, &err), 0);
  assert_int_equal(ferry_relay_listen("127.0.0.1:0", &rl, &relay_addr, &err), 0);
  f->how = END_NONE;
  assert_int_equal(pthread_create(&f->th, NULL, criu_main, f), 0);
  assert_int_equal(ferry_relay_spawn(rl, up_addr, 0, 5000, 1, stats, relay, &err), 0);
  *client = connect_to(relay_addr);
  send_rec(*client, 7); /* PS_IOV_GET */
  char page[8];
  assert_int_equal(recv(*client, page, 8, MSG_WAITALL), 8);
  assert_memory_equal(page, "PAGEDATA", 8);
  free(up_addr);
  free(relay_addr);
}

static void finish_session(struct fake_criu *f, pid_t relay)
{
  int st;
  assert_int_equal(waitpid(relay, &st, 0), relay);
  assert_int_equal(pthread_join(f->th, NULL), 0);
  close(f->lfd);
}

/* While the session runs, the relay's count is in its stats file (the agent's
 * progress reads it), rewritten each second. */
static void test_live_count(void **state)
{
  (void)state;
  struct fake_criu f;
  pid_t relay;
  int client;
  char stats[64];
  snprintf(stats, sizeof stats, "/tmp/ferry-relay-live-%d.json", (int)getpid());
  unlink(stats);
  lazy_session(&f, &relay, &client, stats);
  struct ferry_relay_stats st = { 0 };
  int seen = 0;
  for (int i = 0; i < 60 && !seen; i++) { /* (the first write after the page may take a second) */
    ferry_error err = FERRY_ERROR_INIT;
    if (ferry_relay_stats_load(stats, &st, &err) == 0) {
      seen = st.to_client == 8;
      ferry_relay_stats_free(&st);
    }
    ferry_error_clear(&err);
    if (!seen)
      usleep(50000);
  }
  assert_true(seen);
  assert_int_equal(waitpid(relay, NULL, WNOHANG), 0); /* still relaying */
  close(client);
  finish_session(&f, relay);
  unlink(stats);
}

/* The daemon goes away without its close: CRIU must see a reset, never an end. */
static void test_hold_gone_without_close(void **state)
{
  (void)state;
  struct fake_criu f;
  pid_t relay;
  int client;
  char stats[64];
  snprintf(stats, sizeof stats, "/tmp/ferry-relay-hold-%d.json", (int)getpid());
  lazy_session(&f, &relay, &client, stats);
  close(client);
  finish_session(&f, relay);
  assert_int_equal(f.how, END_RESET);
  unlink(stats);
}

/* The daemon's close is answered by the relay; CRIU gets it only on commit. */
static void test_hold_then_commit(void **state)
{
  (void)state;
  struct fake_criu f;
  pid_t relay;
  int client;
  char stats[64];
  snprintf(stats, sizeof stats, "/tmp/ferry-relay-hold-%d.json", (int)getpid());
  lazy_session(&f, &relay, &client, stats);
  send_rec(client, 0x1023);
  int32_t ans = -1;
  assert_int_equal(recv(client, &ans, 4, MSG_WAITALL), 4);
  assert_int_equal(ans, 0);
  close(client);
  usleep(300000);
  assert_int_equal(f.how, END_NONE); /* held: CRIU still waits */
  assert_int_equal(kill(relay, SIGUSR1), 0);
  finish_session(&f, relay);
  assert_int_equal(f.how, END_CLOSE);
  struct ferry_relay_stats st;
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_relay_stats_load(stats, &st, &err), 0);
  assert_true(st.committed);
  ferry_relay_stats_free(&st);
  unlink(stats);
}

/* A held close that is aborted: CRIU sees a reset. */
static void test_hold_then_abort(void **state)
{
  (void)state;
  struct fake_criu f;
  pid_t relay;
  int client;
  char stats[64];
  snprintf(stats, sizeof stats, "/tmp/ferry-relay-hold-%d.json", (int)getpid());
  lazy_session(&f, &relay, &client, stats);
  send_rec(client, 0x1023);
  int32_t ans = -1;
  assert_int_equal(recv(client, &ans, 4, MSG_WAITALL), 4);
  close(client);
  assert_int_equal(kill(relay, SIGUSR2), 0);
  finish_session(&f, relay);
  assert_int_equal(f.how, END_RESET);
  unlink(stats);
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_copies_and_counts), cmocka_unit_test(test_bandwidth_bound),
    cmocka_unit_test(test_upstream_missing),  cmocka_unit_test(test_parse),
    cmocka_unit_test(test_live_count),        cmocka_unit_test(test_hold_gone_without_close),
    cmocka_unit_test(test_hold_then_commit),  cmocka_unit_test(test_hold_then_abort),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
