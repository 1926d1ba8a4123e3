/* SPDX-License-Identifier: Apache-2.0 */
/* Refusing before the freeze what the node's CRIU cannot dump: the agent's
 * node check as its Lease publishes it (agent/daemon/dumpable.c), the
 * credentials of a container's process and whether reading its rlimits needs
 * CAP_SYS_RESOURCE, and the controller's side (controller/target.c): the check
 * read back, the pod's user from its securityContext, the CannotCheckpoint
 * message. */
#include "testutil.h"

#include <json-c/json.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "controller.h"
#include "base/cleanup.h"
#include "daemon/daemon.h"
#include "runtime/devices.h"

static const char STATUS_999[] = "Name:\tworkload\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t42\nPid:\t42\n"
                                 "PPid:\t1\nUid:\t999\t999\t999\t999\nGid:\t0\t0\t0\t0\nFDSize:\t64\n";

static void test_node_check_json(void **state)
{
  (void)state;
  struct node_check nc = { .probed = 1, .criu = "4.2", .runc = "1.1.5" };
  cleanup_free char *no = node_check_json(&nc, "the kernel has no usable userfaultfd");
  assert_string_equal(no, "{\"criu\":\"4.2\",\"runc\":\"1.1.5\",\"strategies\":{\"stopAndCopy\":{\"ok\":true},"
                          "\"postCopy\":{\"ok\":false,\"reason\":\"the kernel has no usable userfaultfd\"}},"
                          "\"nonRootContainers\":{\"ok\":false,\"reason\":\"this node's CRIU lacks "
                          "CAP_SYS_RESOURCE\"}}");
  nc.sys_resource = 1;
  cleanup_free char *yes = node_check_json(&nc, NULL);
  assert_string_equal(yes, "{\"criu\":\"4.2\",\"runc\":\"1.1.5\",\"strategies\":{\"stopAndCopy\":{\"ok\":true},"
                           "\"postCopy\":{\"ok\":true}},\"nonRootContainers\":{\"ok\":true}}");
}

/* No CRIU: nothing can be dumped, and every verdict says why. */
static void test_node_check_no_criu(void **state)
{
  (void)state;
  struct node_check nc = { .probed = 1, .runc = "1.1.5", .criu_why = "criu: No such file", .sys_resource = 1 };
  cleanup_free char *text = node_check_json(&nc, NULL);
  cleanup_json json_object *o = json_tokener_parse(text);
  assert_non_null(o);
  assert_null(ferry_kube_str(o, "criu"));
  assert_false(json_object_get_boolean(ferry_kube_obj(o, "strategies.stopAndCopy.ok")));
  assert_string_equal(ferry_kube_str(o, "strategies.postCopy.reason"), "CRIU cannot run: criu: No such file");
  assert_string_equal(ferry_kube_str(o, "nonRootContainers.reason"), "CRIU cannot run: criu: No such file");
}

static void test_proc_creds(void **state)
{
  (void)state;
  struct proc_creds c;
  char what[32];
  assert_int_equal(proc_creds_parse(STATUS_999, &c), 0);
  assert_string_equal(c.name, "workload");
  assert_int_equal(c.uid[0], 999);
  assert_int_equal(c.gid[2], 0);
  assert_int_equal(creds_need_sys_resource(&c, 0, 0, what, sizeof what), 1);
  assert_string_equal(what, "uid 999");
  assert_int_equal(creds_need_sys_resource(&c, 999, 0, what, sizeof what), 0); /* its own user may read them */
  /* a saved uid alone, or a group alone, is enough to need the capability */
  assert_int_equal(proc_creds_parse("Name:\tsh\nUid:\t0\t0\t1000\t0\nGid:\t0\t0\t0\t0\n", &c), 0);
  assert_int_equal(creds_need_sys_resource(&c, 0, 0, what, sizeof what), 1);
  assert_string_equal(what, "uid 1000");
  assert_int_equal(proc_creds_parse("Name:\tsh\nUid:\t0\t0\t0\t0\nGid:\t999\t999\t999\t999\n", &c), 0);
  assert_int_equal(creds_need_sys_resource(&c, 0, 0, what, sizeof what), 1);
  assert_string_equal(what, "gid 999");
  assert_int_equal(proc_creds_parse("Name:\tsh\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n", &c), 0);
  assert_int_equal(creds_need_sys_resource(&c, 0, 0, what, sizeof what), 0);
  assert_int_equal(proc_creds_parse("Name:\tsh\nGid:\t0\t0\t0\t0\n", &c), -1);
  assert_int_equal(proc_creds_parse("Name:\tsh\nUid:\tx\nGid:\t0\t0\t0\t0\n", &c), -1);
}

static void test_controller_reads_the_check(void **state)
{
  (void)state;
  char reason[128] = "";
  struct node_check nc = { .probed = 1, .criu = "4.2", .runc = "1.1.5" };
  cleanup_free char *no = node_check_json(&nc, NULL);
  assert_int_equal(ctl_node_check_nonroot_refused(no, reason, sizeof reason), 1);
  assert_string_equal(reason, FERRY_NODE_CHECK_LACKS_SYS_RESOURCE);
  nc.sys_resource = 1;
  cleanup_free char *yes = node_check_json(&nc, NULL);
  assert_int_equal(ctl_node_check_nonroot_refused(yes, reason, sizeof reason), 0);
  /* an agent from before the check, or a check that says nothing: no refusal */
  assert_int_equal(ctl_node_check_nonroot_refused(NULL, reason, sizeof reason), 0);
  assert_int_equal(ctl_node_check_nonroot_refused("not json", reason, sizeof reason), 0);
  assert_int_equal(ctl_node_check_nonroot_refused("{\"nonRootContainers\":{}}", reason, sizeof reason), 0);
  assert_int_equal(ctl_node_check_nonroot_refused("{\"nonRootContainers\":{\"ok\":false}}", reason, sizeof reason), 1);
  assert_string_equal(reason, "no reason given");
}

static json_object *pod(const char *json)
{
  json_object *o = json_tokener_parse(json);
  assert_non_null(o);
  return o;
}

static void test_pod_runs_as(void **state)
{
  (void)state;
  char as[32];
  cleanup_json json_object *root = pod("{\"spec\":{\"containers\":[{\"name\":\"main\"}]}}");
  assert_int_equal(ctl_pod_runs_as(root, "main", as, sizeof as), 0);
  cleanup_json json_object *ctr = pod(
      "{\"spec\":{\"containers\":[{\"name\":\"side\"},{\"name\":\"main\",\"securityContext\":{\"runAsUser\":999}}]}}");
  assert_int_equal(ctl_pod_runs_as(ctr, "main", as, sizeof as), 1);
  assert_string_equal(as, "uid 999");
  assert_int_equal(ctl_pod_runs_as(ctr, "side", as, sizeof as), 0);
  /* the pod's, unless the container says otherwise (root included) */
  cleanup_json json_object *p = pod("{\"spec\":{\"securityContext\":{\"runAsUser\":1000},\"containers\":[{\"name\":"
                                    "\"main\"},{\"name\":\"r\",\"securityContext\":{\"runAsUser\":0}}]}}");
  assert_int_equal(ctl_pod_runs_as(p, "main", as, sizeof as), 1);
  assert_string_equal(as, "uid 1000");
  assert_int_equal(ctl_pod_runs_as(p, "r", as, sizeof as), 0);
  cleanup_json json_object *g =
      pod("{\"spec\":{\"securityContext\":{\"runAsGroup\":5},\"containers\":[{\"name\":\"main\"}]}}");
  assert_int_equal(ctl_pod_runs_as(g, "main", as, sizeof as), 1);
  assert_string_equal(as, "gid 5");
}

static void test_message(void **state)
{
  (void)state;
  char msg[256];
  ctl_cannot_dump_message("node-a", "main", "uid 999", FERRY_NODE_CHECK_LACKS_SYS_RESOURCE, msg, sizeof msg);
  assert_string_equal(msg, "container main runs as uid 999 and node-a's CRIU lacks CAP_SYS_RESOURCE (it cannot dump "
                           "a non-root process's rlimits)");
  ctl_cannot_dump_message("node-a", "main", "gid 5", "CRIU cannot run: gone", msg, sizeof msg);
  assert_string_equal(msg, "container main runs as gid 5 and node-a cannot dump a non-root process: CRIU cannot run: "
                           "gone");
}

/* CRIU's character devices: the memory ones, tun, autofs, terminals; not fuse, kvm or a GPU's. */
static void test_criu_dumps_chrdev(void **state)
{
  (void)state;
  assert_true(ferry_criu_dumps_chrdev(1, 3));    /* /dev/null */
  assert_true(ferry_criu_dumps_chrdev(1, 9));    /* /dev/urandom */
  assert_true(ferry_criu_dumps_chrdev(5, 0));    /* /dev/tty */
  assert_true(ferry_criu_dumps_chrdev(5, 2));    /* /dev/ptmx */
  assert_true(ferry_criu_dumps_chrdev(136, 4));  /* /dev/pts/4 */
  assert_true(ferry_criu_dumps_chrdev(128, 0));  /* a pty master */
  assert_true(ferry_criu_dumps_chrdev(10, 200)); /* /dev/net/tun */
  assert_true(ferry_criu_dumps_chrdev(4, 1));    /* /dev/tty1 */
  assert_false(ferry_criu_dumps_chrdev(4, 64));  /* /dev/ttyS0 */
  assert_false(ferry_criu_dumps_chrdev(5, 3));
  assert_false(ferry_criu_dumps_chrdev(10, 229)); /* /dev/fuse */
  assert_false(ferry_criu_dumps_chrdev(10, 232)); /* /dev/kvm */
  assert_false(ferry_criu_dumps_chrdev(195, 0));  /* /dev/nvidia0 */
}

/* A process holding /dev/fuse open is named with the device; without it, nothing. */
static void test_process_undumpable_device(void **state)
{
  (void)state;
  char why[512] = "";
  assert_int_equal(ferry_process_undumpable_device(getpid(), why, sizeof why), 0);
  int fd = open("/dev/fuse", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    assert_int_equal(errno, ENOENT); /* no fuse on this machine: only the classifier is checked */
    return;
  }
  assert_int_equal(ferry_process_undumpable_device(getpid(), why, sizeof why), 1);
  assert_non_null(strstr(why, "has /dev/fuse open (character device 10:229), which CRIU cannot dump"));
  assert_int_equal(ferry_container_undumpable_device(getpid(), 4096, why, sizeof why), 1);
  close(fd);
  assert_int_equal(ferry_process_undumpable_device(getpid(), why, sizeof why), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_node_check_json),   cmocka_unit_test(test_node_check_no_criu),
    cmocka_unit_test(test_proc_creds),        cmocka_unit_test(test_controller_reads_the_check),
    cmocka_unit_test(test_pod_runs_as),       cmocka_unit_test(test_message),
    cmocka_unit_test(test_criu_dumps_chrdev), cmocka_unit_test(test_process_undumpable_device),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
