/* The page relay between nodes: copies both ways on loopback, counts bytes,
 * never goes faster than its bandwidth, reports an upstream that is not there. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#include "error.h"
#include "relay.h"
#include "util.h"

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
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)),
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
  assert_int_equal(ferry_relay_spawn(rl, up_addr, rate, 5000, stats, &relay, &err), 0);
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
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int s = socket(AF_INET, SOCK_STREAM, 0);
    _exit(s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof sa) == 0 ? 0 : 1);
  }
  struct ferry_relay_stats st;
  assert_int_equal(ferry_relay_run(rl, dead, 0, 5000, &st, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "connect to"));
  int status;
  waitpid(p, &status, 0);
  ferry_error_clear(&err);
  /* nobody connecting at all */
  assert_int_equal(ferry_relay_run(rl, dead, 0, 100, &st, &err), -1);
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

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_copies_and_counts),
    cmocka_unit_test(test_bandwidth_bound),
    cmocka_unit_test(test_upstream_missing),
    cmocka_unit_test(test_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
