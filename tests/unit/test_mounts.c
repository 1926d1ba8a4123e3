/* SPDX-License-Identifier: Apache-2.0 */
/* The mounts CRIU 4.2 cannot dump, found before the freeze (lib/runtime/mounts.c):
 * its filesystem table, mountinfo read, what runc declares external from
 * config.json, and the decision over a container's mounts; and the user
 * namespace check (lib/runtime/userns.c) on this process. */
#include "testutil.h"

#include <fcntl.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "runtime/mounts.h"
#include "runtime/userns.h"

/* A runc container's mounts (runc spec's, overlay root), as its init sees them. */
static const char CONTAINER[] =
    "180 150 0:45 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/b,upperdir=/u,workdir=/w\n"
    "181 180 0:50 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n"
    "182 180 0:51 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755\n"
    "183 182 0:52 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw,gid=5,mode=620,ptmxmode=666\n"
    "184 182 0:53 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=65536k\n"
    "185 182 0:49 / /dev/mqueue rw,nosuid,nodev,noexec,relatime - mqueue mqueue rw\n"
    "186 180 0:54 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro\n"
    "187 186 0:26 /user.slice /sys/fs/cgroup/cpu ro,nosuid - cgroup cgroup rw,cpu\n"
    "188 180 254:1 /srv/volumes/data /data rw,relatime - ext4 /dev/vda1 rw\n"
    "189 181 0:51 /null /proc/keys rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755\n"
    "190 181 0:55 / /proc/acpi ro,relatime - tmpfs tmpfs ro\n";

static const char CONFIG[] =
    "{\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
    "{\"destination\":\"/sys/fs/cgroup\",\"type\":\"cgroup\",\"source\":\"cgroup\"},"
    "{\"destination\":\"/data/\",\"type\":\"none\",\"source\":\"/srv/volumes/data\",\"options\":[\"rbind\",\"rw\"]},"
    "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"/srv/hosts\"}],"
    "\"linux\":{\"devices\":[{\"path\":\"/dev/fuse\",\"type\":\"c\"}],\"maskedPaths\":[\"/proc/keys\",\"/proc/"
    "acpi\"]}}";

/* The container's mounts, plus extra (its init's namespace), marked from CONFIG by path. */
static void table_with(struct ferry_mount_table *t, const char *extra)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  struct ferry_declared d;
  memset(t, 0, sizeof *t);
  assert_int_equal(ferry_mountinfo_parse(CONTAINER, 0, t, &err), 0);
  assert_int_equal(ferry_mountinfo_parse(extra, 0, t, &err), 0);
  assert_int_equal(ferry_declared_parse(CONFIG, &d, &err), 0);
  ferry_mount_table_mark(t, &d, -1);
  ferry_declared_free(&d);
}

static void test_criu_fs_table(void **state)
{
  (void)state;
  assert_int_equal(ferry_criu_fs_of("tmpfs"), FERRY_CRIU_FS_DUMPS);
  assert_int_equal(ferry_criu_fs_of("overlay"), FERRY_CRIU_FS_DUMPS);
  assert_int_equal(ferry_criu_fs_of("cgroup2"), FERRY_CRIU_FS_DUMPS);
  assert_int_equal(ferry_criu_fs_of("devpts"), FERRY_CRIU_FS_DUMPS);
  assert_int_equal(ferry_criu_fs_of("mqueue"), FERRY_CRIU_FS_EMPTY_ONLY);
  assert_int_equal(ferry_criu_fs_of("pstore"), FERRY_CRIU_FS_EMPTY_ONLY);
  assert_int_equal(ferry_criu_fs_of("fuse"), FERRY_CRIU_FS_NEVER);
  assert_int_equal(ferry_criu_fs_of("fuse.sshfs"), FERRY_CRIU_FS_NEVER); /* the subtype is not looked at */
  assert_int_equal(ferry_criu_fs_of("ramfs"), FERRY_CRIU_FS_UNSUPPORTED);
  assert_int_equal(ferry_criu_fs_of("ext4"), FERRY_CRIU_FS_UNSUPPORTED);
  assert_int_equal(ferry_criu_fs_of("nfs4"), FERRY_CRIU_FS_UNSUPPORTED);
  assert_int_equal(ferry_criu_fs_of("btrfs"), FERRY_CRIU_FS_UNSUPPORTED);
  assert_int_equal(ferry_criu_fs_of("fuseblk"), FERRY_CRIU_FS_UNSUPPORTED);
  assert_int_equal(ferry_criu_fs_of("tmp"), FERRY_CRIU_FS_UNSUPPORTED); /* a prefix is not a name */
}

static void test_mountinfo_parse(void **state)
{
  (void)state;
  struct ferry_mount_table t = { 0 };
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_mountinfo_parse(CONTAINER, 0, &t, &err), 0);
  assert_int_equal(t.n, 11);
  assert_int_equal(t.mounts[0].id, 180);
  assert_string_equal(t.mounts[0].mountpoint, "/");
  assert_string_equal(t.mounts[0].fstype, "overlay");
  assert_int_equal(t.mounts[8].major, 254);
  assert_int_equal(t.mounts[8].minor, 1);
  assert_string_equal(t.mounts[8].root, "/srv/volumes/data");
  /* escapes decoded, several optional fields, another namespace appended */
  assert_int_equal(
      ferry_mountinfo_parse("300 180 0:60 / /my\\040dir rw shared:3 master:2 - fuse.sshfs u@h:/ rw\n", 1, &t, &err), 0);
  assert_int_equal(t.n, 12);
  assert_string_equal(t.mounts[11].mountpoint, "/my dir");
  assert_string_equal(t.mounts[11].fstype, "fuse.sshfs");
  assert_int_equal(t.mounts[11].ns, 1);
  assert_int_equal(ferry_mountinfo_parse("301 180 0:61 / /x rw\n", 0, &t, &err), -1); /* no " - " */
  assert_non_null(strstr(ferry_error_msg(&err), "does not parse"));
  assert_int_equal(ferry_mountinfo_parse("garbage\n", 0, &t, &err), -1);
  assert_int_equal(t.n, 12);
  ferry_mount_table_free(&t);
}

static void test_declared(void **state)
{
  (void)state;
  struct ferry_declared d;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_declared_parse(CONFIG, &d, &err), 0);
  /* /data (its slash dropped), /etc/hosts, /dev/fuse, the masked paths, runc's six devices */
  assert_int_equal(d.n_paths, 11);
  assert_string_equal(d.paths[0], "/data");
  assert_string_equal(d.paths[1], "/etc/hosts");
  assert_string_equal(d.paths[2], "/dev/fuse");
  assert_string_equal(d.paths[3], "/proc/keys");
  assert_string_equal(d.paths[5], "/dev/null");
  assert_int_equal(d.n_trees, 1);
  assert_string_equal(d.trees[0], "/sys/fs/cgroup");
  ferry_declared_free(&d);
  assert_int_equal(ferry_declared_parse("[]", &d, &err), -1);
  assert_int_equal(ferry_declared_parse("{\"mounts\":3,\"linux\":{\"maskedPaths\":[1]}}", &d, &err), 0);
  assert_int_equal(d.n_paths, 6);
  ferry_declared_free(&d);
}

/* runc's mounts, a volume, a cgroup bind, a masked file, tmpfs: all dumped. */
static void test_container_dumpable(void **state)
{
  (void)state;
  struct ferry_mount_table t;
  char why[512] = "";
  table_with(&t, "");
  assert_int_equal(ferry_mount_table_undumpable(&t, why, sizeof why), 0);
  ferry_mount_table_free(&t);
  /* a bind of part of the root, of a volume, of a tmpfs it has: CRIU binds them again */
  table_with(&t, "200 180 0:45 /srv /srv rw - overlay overlay rw\n"
                 "201 180 254:1 /srv/volumes/data/sub /sub rw - ext4 /dev/vda1 rw\n"
                 "202 180 0:53 /x /x rw - tmpfs shm rw\n"
                 "203 180 0:56 / /scratch rw - tmpfs tmpfs rw\n");
  assert_int_equal(ferry_mount_table_undumpable(&t, why, sizeof why), 0);
  ferry_mount_table_free(&t);
}

static void test_unsupported_fs(void **state)
{
  (void)state;
  struct ferry_mount_table t;
  char why[512];
  table_with(&t, "200 180 0:57 / /scratch rw - ramfs ramfs rw\n");
  assert_int_equal(ferry_mount_table_undumpable(&t, why, sizeof why), 1);
  assert_non_null(strstr(why, "it runs with a ramfs mount at /scratch that CRIU cannot checkpoint"));
  ferry_mount_table_free(&t);
  /* declared as a bind mount of a host directory: runc mounts it again, CRIU does not look */
  table_with(&t, "200 180 0:57 / /etc/hosts rw - ramfs ramfs rw\n");
  assert_int_equal(ferry_mount_table_undumpable(&t, why, sizeof why), 0);
  ferry_mount_table_free(&t);
}

static void test_fuse(void **state)
{
  (void)state;
  struct ferry_mount_table t;
  char why[512];
  table_with(&t, "200 188 0:60 / /data/remote rw - fuse.sshfs u@h:/ rw\n");
  assert_int_equal(ferry_mount_table_undumpable(&t, why, sizeof why), 1);
  assert_non_null(strstr(why, "FUSE mount (fuse.sshfs) at /data/remote"));
  ferry_mount_table_free(&t);
}

static void test_not_empty(void **state)
{
  (void)state;
  struct ferry_mount_table t;
  char why[512];
  table_with(&t, "");
  t.mounts[5].not_empty = 1; /* /dev/mqueue */
  assert_int_equal(ferry_mount_table_undumpable(&t, why, sizeof why), 1);
  assert_non_null(strstr(why, "its mqueue mount at /dev/mqueue is not empty"));
  ferry_mount_table_free(&t);
}

/* A bind from a filesystem none of the container's mounts shows whole, nor declared. */
static void test_stray_bind(void **state)
{
  (void)state;
  struct ferry_mount_table t;
  char why[512];
  table_with(&t, "200 188 254:2 /exports/x /data/x rw - xfs /dev/vdb rw\n");
  assert_int_equal(ferry_mount_table_undumpable(&t, why, sizeof why), 1);
  assert_non_null(strstr(why, "a bind mount at /data/x (/exports/x of a xfs filesystem)"));
  ferry_mount_table_free(&t);
  /* in another of its mount namespaces: the same */
  table_with(&t, "");
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_mountinfo_parse("400 300 254:2 /exports/x /x rw - xfs /dev/vdb rw\n", 1, &t, &err), 0);
  assert_int_equal(ferry_mount_table_undumpable(&t, why, sizeof why), 1);
  ferry_mount_table_free(&t);
  /* a declared path counts in the init's namespace only */
  table_with(&t, "");
  assert_int_equal(ferry_mountinfo_parse("401 300 0:57 / /etc/hosts rw - ramfs ramfs rw\n", 1, &t, &err), 0);
  assert_int_equal(ferry_mount_table_undumpable(&t, why, sizeof why), 1);
  ferry_mount_table_free(&t);
}

/* Declared paths are resolved in the container's root: here, this process's. */
static void test_mark_resolves(void **state)
{
  (void)state;
  struct ferry_mount_table t = { 0 };
  cleanup_free char *text = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_read_file("/proc/self/mountinfo", &text, NULL, &err), 0);
  assert_int_equal(ferry_mountinfo_parse(text, 0, &t, &err), 0);
  struct ferry_declared d;
  assert_int_equal(
      ferry_declared_parse("{\"mounts\":[{\"destination\":\"/proc/self/../self/..\",\"type\":\"bind\"}]}", &d, &err),
      0);
  cleanup_close int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_true(root >= 0);
  ferry_mount_table_mark(&t, &d, root);
  int proc_marked = 0;
  for (size_t i = 0; i < t.n; i++)
    if (!strcmp(t.mounts[i].mountpoint, "/proc") && t.mounts[i].declared)
      proc_marked = 1;
  assert_true(proc_marked);
  ferry_declared_free(&d);
  ferry_mount_table_free(&t);
}

/* This process: the unit tests' own mounts and namespaces. */
static void test_this_process(void **state)
{
  (void)state;
  char why[512] = "";
  assert_int_equal(ferry_container_undumpable_userns(getpid(), why, sizeof why), 0); /* the agent's user namespace */
  assert_int_equal(ferry_container_undumpable_mount(getpid(), "/nonexistent", 16, why, sizeof why), 0);
  assert_int_equal(ferry_container_undumpable_mount(getpid(), NULL, 16, why, sizeof why), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_criu_fs_table),  cmocka_unit_test(test_mountinfo_parse),
    cmocka_unit_test(test_declared),       cmocka_unit_test(test_container_dumpable),
    cmocka_unit_test(test_unsupported_fs), cmocka_unit_test(test_fuse),
    cmocka_unit_test(test_not_empty),      cmocka_unit_test(test_stray_bind),
    cmocka_unit_test(test_mark_resolves),  cmocka_unit_test(test_this_process),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
