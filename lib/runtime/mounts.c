/* SPDX-License-Identifier: Apache-2.0 */
#include "runtime/mounts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/util.h"
#include "runtime/cgroup.h"

#define NAMESPACES_MAX 64 /* the container's mount namespaces looked at */

/* ---------- CRIU 4.2's filesystems (criu/filesystems.c, fstypes[]) ---------- */

static const struct {
  const char *name;
  enum ferry_criu_fs what;
} criu_fs[] = {
  { "proc", FERRY_CRIU_FS_DUMPS },        { "sysfs", FERRY_CRIU_FS_DUMPS },
  { "devtmpfs", FERRY_CRIU_FS_DUMPS },    { "binfmt_misc", FERRY_CRIU_FS_DUMPS },
  { "tmpfs", FERRY_CRIU_FS_DUMPS },       { "devpts", FERRY_CRIU_FS_DUMPS },
  { "simfs", FERRY_CRIU_FS_DUMPS },       { "pstore", FERRY_CRIU_FS_EMPTY_ONLY },
  { "mqueue", FERRY_CRIU_FS_EMPTY_ONLY }, { "securityfs", FERRY_CRIU_FS_DUMPS },
  { "fusectl", FERRY_CRIU_FS_DUMPS },     { "debugfs", FERRY_CRIU_FS_DUMPS },
  { "tracefs", FERRY_CRIU_FS_DUMPS },     { "cgroup", FERRY_CRIU_FS_DUMPS },
  { "cgroup2", FERRY_CRIU_FS_DUMPS },     { "aufs", FERRY_CRIU_FS_DUMPS },
  { "fuse", FERRY_CRIU_FS_NEVER },        { "overlay", FERRY_CRIU_FS_DUMPS },
  { "autofs", FERRY_CRIU_FS_DUMPS },
  /* btrfs is in the table as "unsupported" (only its bind mounts are compared) */
};

enum ferry_criu_fs ferry_criu_fs_of(const char *fstype)
{
  size_t n = strcspn(fstype, ".");
  for (size_t i = 0; i < sizeof criu_fs / sizeof criu_fs[0]; i++)
    if (strlen(criu_fs[i].name) == n && !strncmp(criu_fs[i].name, fstype, n))
      return criu_fs[i].what;
  return FERRY_CRIU_FS_UNSUPPORTED;
}

/* ---------- /proc/PID/mountinfo ---------- */

/* A mountinfo field: up to the next space, its octal escapes (\040) decoded. */
static char *field(const char **p)
{
  const char *s = *p + strspn(*p, " "), *end = s + strcspn(s, " \n");
  char *out = ferry_malloc((size_t)(end - s) + 1), *o = out;
  while (s < end) {
    if (s[0] == '\\' && end - s >= 4 && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
        s[3] <= '7') {
      *o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
      s += 4;
    } else {
      *o++ = *s++;
    }
  }
  *o = '\0';
  *p = end;
  return out;
}

static void mount_free(struct ferry_mountinfo_entry *m)
{
  free(m->root);
  free(m->mountpoint);
  free(m->fstype);
}

/* One line: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS". */
static int parse_line(const char *line, struct ferry_mountinfo_entry *m)
{
  int used = 0, parent;
  memset(m, 0, sizeof *m);
  if (sscanf(line, "%d %d %u:%u %n", &m->id, &parent, &m->major, &m->minor, &used) != 4 || !used)
    return -1;
  const char *p = line + used, *sep = strstr(line, " - ");
  m->root = field(&p);
  m->mountpoint = field(&p);
  if (!sep || sep < p || !m->root[0] || !m->mountpoint[0])
    return -1;
  p = sep + 3;
  m->fstype = field(&p);
  return m->fstype[0] ? 0 : -1;
}

static void table_add(struct ferry_mount_table *t, const struct ferry_mountinfo_entry *m)
{
  if (t->n == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 32;
    struct ferry_mountinfo_entry *grown = realloc(t->mounts, t->cap * sizeof *grown);
    if (!grown)
      abort();
    t->mounts = grown;
  }
  t->mounts[t->n++] = *m;
}

int ferry_mountinfo_parse(const char *text, int ns, struct ferry_mount_table *t, ferry_error *err)
{
  for (const char *line = text; *line; line += strcspn(line, "\n"), line += *line == '\n') {
    if (*line == '\n')
      continue;
    struct ferry_mountinfo_entry m;
    if (parse_line(line, &m) < 0) {
      mount_free(&m);
      return ferry_error_set(err, EINVAL, "mountinfo line does not parse: %.*s", (int)strcspn(line, "\n"), line);
    }
    m.ns = ns;
    table_add(t, &m);
  }
  return 0;
}

void ferry_mount_table_free(struct ferry_mount_table *t)
{
  for (size_t i = 0; i < t->n; i++)
    mount_free(&t->mounts[i]);
  free(t->mounts);
  memset(t, 0, sizeof *t);
}

/* ---------- what runc declares external (its Checkpoint: binds, cgroup, masked paths, devices) ---------- */

/* runc adds these to every container's devices (specconv's AllowedDevices). */
static const char *const runc_devices[] = { "/dev/null", "/dev/random", "/dev/full",
                                            "/dev/tty",  "/dev/zero",   "/dev/urandom" };

static void add_path(char ***v, size_t *n, const char *path)
{
  char **grown = realloc(*v, (*n + 1) * sizeof *grown);
  if (!grown)
    abort();
  *v = grown;
  size_t len = strlen(path);
  while (len > 1 && path[len - 1] == '/')
    len--;
  (*v)[(*n)++] = ferry_asprintf("%.*s", (int)len, path);
}

static const char *str_of(json_object *o, const char *key)
{
  json_object *v;
  return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                                           : NULL;
}

static json_object *array_of(json_object *o, const char *key)
{
  json_object *v;
  return o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_array) ? v : NULL;
}

/* runc's rule: a bind mount is one of type "bind" or with a "bind" or "rbind" option. */
static int is_bind(json_object *m)
{
  const char *type = str_of(m, "type");
  if (type && !strcmp(type, "bind"))
    return 1;
  json_object *opts = array_of(m, "options");
  for (size_t i = 0; opts && i < json_object_array_length(opts); i++) {
    const char *o = json_object_get_string(json_object_array_get_idx(opts, i));
    if (o && (!strcmp(o, "bind") || !strcmp(o, "rbind")))
      return 1;
  }
  return 0;
}

static void declare_mounts(json_object *mounts, struct ferry_declared *d)
{
  for (size_t i = 0; mounts && i < json_object_array_length(mounts); i++) {
    json_object *m = json_object_array_get_idx(mounts, i);
    const char *dest = str_of(m, "destination"), *type = str_of(m, "type");
    if (!dest)
      continue;
    if (is_bind(m))
      add_path(&d->paths, &d->n_paths, dest);
    else if (type && !strcmp(type, "cgroup"))
      add_path(&d->trees, &d->n_trees, dest);
  }
}

static void declare_strings(json_object *list, const char *key, struct ferry_declared *d)
{
  for (size_t i = 0; list && i < json_object_array_length(list); i++) {
    json_object *e = json_object_array_get_idx(list, i);
    const char *path = key ? str_of(e, key) : json_object_get_string(e);
    if (path && json_object_is_type(key ? json_object_object_get(e, key) : e, json_type_string))
      add_path(&d->paths, &d->n_paths, path);
  }
}

int ferry_declared_parse(const char *config, struct ferry_declared *d, ferry_error *err)
{
  memset(d, 0, sizeof *d);
  cleanup_json json_object *o = json_tokener_parse(config);
  if (!o || !json_object_is_type(o, json_type_object))
    return ferry_error_set(err, EINVAL, "config.json is not a JSON object");
  json_object *linux_ = NULL;
  json_object_object_get_ex(o, "linux", &linux_);
  declare_mounts(array_of(o, "mounts"), d);
  declare_strings(array_of(linux_, "devices"), "path", d);
  declare_strings(array_of(linux_, "maskedPaths"), NULL, d);
  for (size_t i = 0; i < sizeof runc_devices / sizeof runc_devices[0]; i++)
    add_path(&d->paths, &d->n_paths, runc_devices[i]);
  return 0;
}

void ferry_declared_free(struct ferry_declared *d)
{
  for (size_t i = 0; i < d->n_paths; i++)
    free(d->paths[i]);
  for (size_t i = 0; i < d->n_trees; i++)
    free(d->trees[i]);
  free(d->paths);
  free(d->trees);
  memset(d, 0, sizeof *d);
}

/* The id of the mount at path inside the container's root (its symbolic links
 * followed inside it, as runc does), or -1. Without openat2 (before Linux 5.6,
 * or under valgrind) an absolute link leads out of that root, to a mount that
 * is not the container's: no id of its table. */
static int mount_id_at(int root_fd, const char *path)
{
  if (root_fd < 0)
    return -1;
  struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
  cleanup_close int fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof how);
  if (fd < 0 && errno == ENOSYS)
    fd = openat(root_fd, path + strspn(path, "/"), O_PATH | O_CLOEXEC);
  struct statx sx;
  if (fd < 0 || statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) < 0 || !(sx.stx_mask & STATX_MNT_ID))
    return -1;
  return (int)sx.stx_mnt_id;
}

/* The mountpoint in namespace 0 that path names: the mount found there, else path itself. */
static const char *resolve(const struct ferry_mount_table *t, const char *path, int root_fd)
{
  int id = mount_id_at(root_fd, path);
  for (size_t i = 0; id >= 0 && i < t->n; i++)
    if (t->mounts[i].ns == 0 && t->mounts[i].id == id)
      return t->mounts[i].mountpoint;
  return path;
}

/* 1 when path is dir or below it. */
static int at_or_below(const char *path, const char *dir)
{
  size_t n = strlen(dir);
  if (!strcmp(dir, "/"))
    return 1;
  return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

void ferry_mount_table_mark(struct ferry_mount_table *t, const struct ferry_declared *d, int root_fd)
{
  for (size_t k = 0; k < d->n_paths + d->n_trees; k++) {
    int tree = k >= d->n_paths;
    cleanup_free char *at = ferry_strdup(resolve(t, tree ? d->trees[k - d->n_paths] : d->paths[k], root_fd));
    for (size_t i = 0; i < t->n; i++) {
      struct ferry_mountinfo_entry *m = &t->mounts[i];
      if (m->ns == 0 && (tree ? at_or_below(m->mountpoint, at) : !strcmp(m->mountpoint, at)))
        m->declared = 1;
    }
  }
}

/* ---------- CRIU's decision (criu/mount.c: validate_mounts, dump_one_fs) ---------- */

static int same_fs(const struct ferry_mountinfo_entry *a, const struct ferry_mountinfo_entry *b)
{
  return a->major == b->major && a->minor == b->minor;
}

static int whole(const struct ferry_mountinfo_entry *m) { return !strcmp(m->root, "/"); }

/* A bind of part of a declared mount, or of the container's root: not looked into. */
static int left_to_runc(const struct ferry_mount_table *t, const struct ferry_mountinfo_entry *m)
{
  for (size_t i = 0; i < t->n; i++) {
    const struct ferry_mountinfo_entry *o = &t->mounts[i];
    int container_root = o->ns == 0 && !strcmp(o->mountpoint, "/");
    if ((o->declared || container_root) && same_fs(o, m) && at_or_below(m->root, o->root))
      return 1;
  }
  return 0;
}

/* A mount of the whole filesystem a bind shows part of (or a namespace's top one above it). */
static int has_whole_mount(const struct ferry_mount_table *t, const struct ferry_mountinfo_entry *m)
{
  for (size_t i = 0; i < t->n; i++) {
    const struct ferry_mountinfo_entry *o = &t->mounts[i];
    if (same_fs(o, m) && (whole(o) || (!strcmp(o->mountpoint, "/") && at_or_below(m->root, o->root))))
      return 1;
  }
  return 0;
}

static int mount_undumpable(const struct ferry_mount_table *t, const struct ferry_mountinfo_entry *m, char *why,
                            size_t len)
{
  if (left_to_runc(t, m))
    return 0;
  enum ferry_criu_fs fs = ferry_criu_fs_of(m->fstype);
  if (!whole(m) && !has_whole_mount(t, m)) {
    snprintf(why, len,
             "it has a bind mount at %s (%s of a %s filesystem) that is not one of its configured mounts, so CRIU "
             "cannot checkpoint it; make it a volume of the container",
             m->mountpoint, m->root, m->fstype);
    return 1;
  }
  if (!whole(m))
    return 0; /* its whole filesystem's mount is what CRIU dumps, and is looked at itself */
  if (fs == FERRY_CRIU_FS_UNSUPPORTED)
    snprintf(why, len,
             "it runs with a %s mount at %s that CRIU cannot checkpoint (CRIU mounts again only the filesystems it "
             "knows, such as tmpfs); use a volume (a bind mount) or tmpfs instead",
             m->fstype, m->mountpoint);
  else if (fs == FERRY_CRIU_FS_NEVER)
    snprintf(why, len, "it runs with a FUSE mount (%s) at %s that CRIU cannot checkpoint", m->fstype, m->mountpoint);
  else if (fs == FERRY_CRIU_FS_EMPTY_ONLY && m->not_empty)
    snprintf(why, len,
             "its %s mount at %s is not empty (CRIU checkpoints only an empty one): remove what the container "
             "created there (a POSIX message queue: mq_unlink) before moving it",
             m->fstype, m->mountpoint);
  else
    return 0;
  return 1;
}

int ferry_mount_table_undumpable(const struct ferry_mount_table *t, char *why, size_t len)
{
  for (size_t i = 0; i < t->n; i++)
    if (mount_undumpable(t, &t->mounts[i], why, len))
      return 1;
  return 0;
}

/* ---------- the container's processes ---------- */

/* 1 when the directory at mountpoint, as process pid sees it, has an entry. */
static int has_entries(pid_t pid, const char *mountpoint)
{
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "/proc/%d/root%s", (int)pid, mountpoint) >= (int)sizeof path)
    return 0;
  cleanup_dir DIR *dir = opendir(path);
  struct dirent *e;
  while (dir && (e = readdir(dir)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      return 1;
  return 0;
}

struct namespaces {
  ino_t ino[NAMESPACES_MAX];
  int n;
};

/* Adds process pid's mounts when its mount namespace is not in the table yet. */
static void add_process(struct ferry_mount_table *t, struct namespaces *seen, pid_t pid)
{
  char path[64];
  struct stat st;
  snprintf(path, sizeof path, "/proc/%d/ns/mnt", (int)pid);
  if (seen->n == NAMESPACES_MAX || stat(path, &st) < 0)
    return;
  for (int i = 0; i < seen->n; i++)
    if (seen->ino[i] == st.st_ino)
      return;
  snprintf(path, sizeof path, "/proc/%d/mountinfo", (int)pid);
  cleanup_free char *text = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  size_t from = t->n;
  if (ferry_read_file(path, &text, NULL, &err) < 0 || ferry_mountinfo_parse(text, seen->n, t, &err) < 0)
    return; /* gone meanwhile; a line it cannot read is CRIU's to judge */
  for (size_t i = from; i < t->n; i++)
    if (ferry_criu_fs_of(t->mounts[i].fstype) == FERRY_CRIU_FS_EMPTY_ONLY)
      t->mounts[i].not_empty = has_entries(pid, t->mounts[i].mountpoint);
  seen->ino[seen->n++] = st.st_ino;
}

/* The other processes of init's cgroup (init's is read first). */
static void add_cgroup(struct ferry_mount_table *t, struct namespaces *seen, pid_t init, size_t max)
{
  cleanup_free pid_t *pids = ferry_malloc((max ? max : 1) * sizeof *pids);
  int n = ferry_cgroup_pids(init, pids, max);
  for (int i = 0; i < n; i++)
    if (pids[i] != init)
      add_process(t, seen, pids[i]);
}

int ferry_container_undumpable_mount(pid_t init, const char *bundle, size_t max, char *why, size_t len)
{
  if (!bundle)
    return 0;
  cleanup_free char *cfg_path = ferry_path_join(bundle, "config.json");
  cleanup_free char *config = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  struct ferry_declared d;
  if (ferry_read_file(cfg_path, &config, NULL, &err) < 0 || ferry_declared_parse(config, &d, &err) < 0)
    return 0;
  struct ferry_mount_table t = { 0 };
  struct namespaces seen = { .n = 0 };
  add_process(&t, &seen, init);
  int r = 0;
  if (seen.n) {
    add_cgroup(&t, &seen, init, max);
    char root[64];
    snprintf(root, sizeof root, "/proc/%d/root", (int)init);
    cleanup_close int root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    ferry_mount_table_mark(&t, &d, root_fd);
    r = ferry_mount_table_undumpable(&t, why, len);
  }
  ferry_mount_table_free(&t);
  ferry_declared_free(&d);
  return r;
}
