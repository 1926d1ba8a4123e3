/* SPDX-License-Identifier: Apache-2.0 */
/* Parsers of what other programs print: mountinfo, runc state and logs, CRIU logs. */
#include "testutil.h"

#include "runtime/criu.h"
#include "image/rootfs.h"
#include "runtime/runc.h"

static const char MOUNTINFO[] =
    "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "98 22 0:50 / /run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs rw,relatime shared:60 - overlay "
    "overlay "
    "rw,lowerdir=/var/lib/l1:/var/lib/l2,upperdir=/var/lib/snap\\054shots/42/fs,workdir=/var/lib/snap\\054shots/42/"
    "work\n"
    "99 22 0:51 / /tmp/with\\040space rw shared:61 master:3 - tmpfs tmpfs rw,size=1024k\n"
    "100 22 0:52 / /stacked rw - tmpfs tmpfs rw\n"
    "101 100 0:53 / /stacked rw - overlay overlay rw,lowerdir=/a,upperdir=/b,workdir=/c\n";

static void test_mountinfo_overlay(void **state)
{
  (void)state;
  struct ferry_mount m;
  assert_int_equal(
      ferry_mountinfo_find(MOUNTINFO, "/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs", &m), 0);
  assert_string_equal(m.fstype, "overlay");
  assert_string_equal(m.upperdir, "/var/lib/snap,shots/42/fs");
  ferry_mount_free(&m);
}

/* The mounts at a directory or under it, in mount order; not its namesakes. */
static void test_mountinfo_under(void **state)
{
  (void)state;
  static const char mi[] = "22 1 254:0 / / rw - ext4 /dev/vda rw\n"
                           "30 22 0:60 / /r/ctr/criu-root rw - overlay overlay rw\n"
                           "31 30 0:61 / /r/ctr/criu-root/proc rw - proc proc rw\n"
                           "32 22 0:62 / /r/ctr2/criu-root rw - overlay overlay rw\n"
                           "33 22 0:63 / /r/ctr rw - tmpfs tmpfs rw\n"
                           "34 22 0:64 / /r/c\\040tr/x rw - tmpfs tmpfs rw\n";
  size_t n = 0;
  char **mps = ferry_mountinfo_under(mi, "/r/ctr", &n);
  assert_int_equal(n, 3);
  assert_string_equal(mps[0], "/r/ctr/criu-root");
  assert_string_equal(mps[1], "/r/ctr/criu-root/proc");
  assert_string_equal(mps[2], "/r/ctr");
  for (size_t i = 0; i < n; i++)
    free(mps[i]);
  free(mps);
  mps = ferry_mountinfo_under(mi, "/r/c tr", &n);
  assert_int_equal(n, 1);
  assert_string_equal(mps[0], "/r/c tr/x");
  free(mps[0]);
  free(mps);
  assert_null(ferry_mountinfo_under(mi, "/nowhere", &n));
  assert_int_equal(n, 0);
}

static void test_mountinfo_escapes_and_stacking(void **state)
{
  (void)state;
  struct ferry_mount m;
  assert_int_equal(ferry_mountinfo_find(MOUNTINFO, "/tmp/with space", &m), 0);
  assert_string_equal(m.fstype, "tmpfs");
  assert_null(m.upperdir);
  ferry_mount_free(&m);
  /* The topmost of two mounts at one place wins. */
  assert_int_equal(ferry_mountinfo_find(MOUNTINFO, "/stacked", &m), 0);
  assert_string_equal(m.fstype, "overlay");
  assert_string_equal(m.upperdir, "/b");
  ferry_mount_free(&m);
  assert_int_equal(ferry_mountinfo_find(MOUNTINFO, "/nowhere", &m), -1);
  assert_int_equal(ferry_mountinfo_find("", "/", &m), -1);
  assert_int_equal(ferry_mountinfo_find("garbage without fields\n", "/", &m), -1);
}

static void test_runc_state(void **state)
{
  (void)state;
  struct ferry_runc_state st;
  ferry_error err = FERRY_ERROR_INIT;
  const char *json = "{\"ociVersion\":\"1.0.2-dev\",\"id\":\"c1\",\"pid\":4564,\"status\":\"running\","
                     "\"bundle\":\"/tmp/exp/bundle\",\"rootfs\":\"/tmp/exp/bundle/rootfs\","
                     "\"created\":\"2026-11-25T01:24:16.230062779Z\",\"owner\":\"\"}";
  assert_int_equal(ferry_runc_parse_state(json, &st, &err), 0);
  assert_string_equal(st.id, "c1");
  assert_int_equal(st.pid, 4564);
  assert_string_equal(st.status, "running");
  assert_string_equal(st.rootfs, "/tmp/exp/bundle/rootfs");
  assert_int_equal(st.created_ms, 1795569856230LL);
  ferry_runc_state_free(&st);
  assert_int_equal(ferry_runc_parse_state("{\"id\":\"x\"}", &st, &err), -1);
  assert_non_null(strstr(err.msg, "missing"));
  ferry_error_clear(&err);
  assert_int_equal(ferry_runc_parse_state("nonsense", &st, &err), -1);
  ferry_error_clear(&err);
}

static void test_runc_list(void **state)
{
  (void)state;
  struct ferry_runc_state *v = NULL;
  size_t n = 9;
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_runc_parse_list("null\n", &v, &n, &err), 0); /* runc's answer for no containers */
  assert_int_equal(n, 0);
  ferry_runc_list_free(v, n);
  const char *two = "[{\"ociVersion\":\"1.0.2\",\"id\":\"a\",\"pid\":10,\"status\":\"running\",\"bundle\":\"/b/a\"},"
                    "{\"id\":\"b\",\"pid\":0,\"status\":\"stopped\",\"bundle\":\"/b/b\"}]";
  assert_int_equal(ferry_runc_parse_list(two, &v, &n, &err), 0);
  assert_int_equal(n, 2);
  assert_string_equal(v[0].id, "a");
  assert_int_equal(v[0].pid, 10);
  assert_string_equal(v[1].status, "stopped");
  ferry_runc_list_free(v, n);
  assert_int_equal(ferry_runc_parse_list("{\"id\":\"a\"}", &v, &n, &err), -1);
  ferry_error_clear(&err);
  assert_int_equal(ferry_runc_parse_list("[{\"id\":\"a\"}]", &v, &n, &err), -1); /* no status, bundle, pid */
  assert_non_null(strstr(ferry_error_msg(&err), "runc list: container 0"));
  ferry_error_clear(&err);
}

static void test_runc_log_errors(void **state)
{
  (void)state;
  const char *log = "{\"level\":\"info\",\"msg\":\"fine\",\"time\":\"t\"}\n"
                    "not json at all\n"
                    "{\"level\":\"error\",\"msg\":\"criu failed: type NOTIFY errno 0\",\"time\":\"t\"}\n"
                    "{\"level\":\"error\",\"msg\":\"container still running\"}";
  char *e = ferry_runc_log_errors(log);
  assert_string_equal(e, "criu failed: type NOTIFY errno 0; container still running");
  free(e);
  assert_null(ferry_runc_log_errors("{\"level\":\"info\",\"msg\":\"ok\"}\n"));
  assert_null(ferry_runc_log_errors(""));
}

static void test_criu_log_errors(void **state)
{
  (void)state;
  const char *log = "(00.04) Warn  (criu/kerndat.c:1799): Hardware breakpoints don't seem to work\n"
                    "(00.05) Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not "
                    "permitted\n"
                    "(00.07) Error (criu/files-reg.c:1790): Can't lookup mount=26 for fd=1 path=/x\n"
                    "(00.07) Error (criu/cr-dump.c:1545): Dump files (pid: 3498) failed with -1\n"
                    "(00.11) Error (criu/cr-dump.c:1975): Dumping FAILED.\n";
  char *e = ferry_criu_log_errors_text(log, 2);
  assert_string_equal(e, "Error (criu/files-reg.c:1790): Can't lookup mount=26 for fd=1 path=/x; "
                         "Error (criu/cr-dump.c:1545): Dump files (pid: 3498) failed with -1");
  free(e);
  assert_null(ferry_criu_log_errors_text("(00.1) all good\n", 5));
  assert_null(ferry_criu_log_errors("/nonexistent/dump.log", 5));
}

static void test_time(void **state)
{
  (void)state;
  assert_int_equal(ferry_parse_time_ms("1970-01-01T00:00:01Z"), 1000);
  assert_int_equal(ferry_parse_time_ms("2026-11-25T01:24:16.5Z"), 1795569856500LL);
  assert_int_equal(ferry_parse_time_ms("yesterday"), 0);
  assert_int_equal(ferry_parse_time_ms(NULL), 0);
  char buf[32];
  ferry_format_time(1795569856500LL, buf, sizeof buf);
  assert_string_equal(buf, "2026-11-25T01:24:16Z");
}

static int64_t duration(const char *s)
{
  int64_t ms = -1;
  ferry_error err = FERRY_ERROR_INIT;
  if (ferry_parse_duration_ms(s, &ms, &err) < 0) {
    assert_non_null(err.msg);
    ferry_error_clear(&err);
    return -1;
  }
  return ms;
}

/* Go's (kubectl's) durations for the agent's --image-ttl and --image-orphan-grace. */
static void test_duration(void **state)
{
  (void)state;
  assert_int_equal(duration("0"), 0);
  assert_int_equal(duration("24h"), 24 * 3600 * 1000LL);
  assert_int_equal(duration("1h30m"), 5400 * 1000LL);
  assert_int_equal(duration("90s"), 90000);
  assert_int_equal(duration("250ms"), 250);
  assert_int_equal(duration("1m1s1ms"), 61001);
  assert_int_equal(duration(""), -1);
  assert_int_equal(duration("1d"), -1);
  assert_int_equal(duration("10"), -1);
  assert_int_equal(duration("h"), -1);
  assert_int_equal(duration("-1h"), -1);
  assert_int_equal(duration("99999999999999999h"), -1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mountinfo_overlay), cmocka_unit_test(test_mountinfo_escapes_and_stacking),
    cmocka_unit_test(test_mountinfo_under),   cmocka_unit_test(test_runc_state),
    cmocka_unit_test(test_runc_list),         cmocka_unit_test(test_runc_log_errors),
    cmocka_unit_test(test_criu_log_errors),   cmocka_unit_test(test_time),
    cmocka_unit_test(test_duration),
  };
  return cmocka_run_group_tests_name("parsers", tests, NULL, NULL);
}
