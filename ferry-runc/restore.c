/* SPDX-License-Identifier: Apache-2.0 */
/* create as restore. The bundle is the runtime's: its config.json carries the
 * sandbox's namespaces and the pod's annotations (containerd: pod_annotations;
 * CRI-O: allowed_annotations). A container (not the sandbox) of a pod annotated
 * ferry.dev/restore-from: NS/PODMIGRATION is restored when this node's agent
 * admitted that migration for this pod and container (lib/api/admission.h): the
 * image is verified into a private copy (named next to the admission while it
 * exists, for the agent's progress), the root filesystem changes it carries are applied to the
 * bundle's root, and `runc restore --detach` runs with the caller's global
 * options, --pid-file and --console-socket, and stdio; its outcome and timings
 * are recorded for the node's agent, and the admission is used up.
 * Any create of a container whose pod was checkpointed away from this node
 * (a departed record) is refused: the kubelet must not restart it here. */
#include <errno.h>
#include <openssl/crypto.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/admission.h"
#include "image/codec.h"
#include "runtime/criu.h"
#include "ferry_runc.h"
#include "image/manifest.h"
#include "api/podmigration.h"
#include "image/rootfs.h"
#include "image/store.h"
#include "base/cleanup.h"
#include "base/pidrec.h"
#include "base/proc.h"
#include "base/util.h"

#define DEFAULT_RUNC_ROOT "/run/runc" /* runc's own, as root */

enum {
  LAZY_RECORD_POLLS = 40,      /* the lazy-pages daemon's record looked for this often ... */
  LAZY_RECORD_POLL_US = 50000, /* ... this far apart (it is written as its socket appears) */
  RESTORE_STUCK_MS = 10000,    /* a restore still running this long after its lazy-pages daemon ended is stuck */
  CRIU_GONE_GRACE_MS = 3000,   /* runc not reaping its ended CRIU this long: it waits for CRIU's tasks */
  RESTORE_WATCH_MS = 200,      /* the restore looked at this often while runc runs */
};

static const char *annotation(json_object *cfg, const char *k1, const char *k2)
{
  json_object *ann, *v;
  if (!json_object_object_get_ex(cfg, "annotations", &ann))
    return NULL;
  if (json_object_object_get_ex(ann, k1, &v) || (k2 && json_object_object_get_ex(ann, k2, &v)))
    return json_object_get_string(v);
  return NULL;
}

struct create_opts {
  const char *bundle, *pid_file, *console_socket, *id;
  int no_pivot;
};

/* create's own flags (runc create --help). */
static int parse_create(const struct invocation *in, struct create_opts *o)
{
  memset(o, 0, sizeof *o);
  o->bundle = ".";
  for (int i = in->cmd_at + 1; i < in->argc; i++) {
    char *a = in->argv[i];
    const char *names[] = { "--bundle", "-b", "--pid-file", "--console-socket", "--preserve-fds" };
    const char **dst[] = { &o->bundle, &o->bundle, &o->pid_file, &o->console_socket, NULL };
    int matched = 0;
    for (int k = 0; k < 5 && !matched; k++) {
      size_t n = strlen(names[k]);
      if (!strncmp(a, names[k], n) && (a[n] == '=' || a[n] == '\0')) {
        const char *v = a[n] == '=' ? a + n + 1 : (i + 1 < in->argc ? in->argv[++i] : NULL);
        if (!v)
          return -1;
        if (dst[k])
          *dst[k] = v;
        matched = 1;
      }
    }
    if (matched)
      continue;
    if (!strcmp(a, "--no-pivot"))
      o->no_pivot = 1;
    else if (a[0] != '-')
      o->id = a;
  }
  return o->id ? 0 : -1;
}

/* One restore: what the bundle asks for, what was admitted, and what is made
 * on the way (released by restore_free, the decoded image removed). */
struct restore {
  const struct invocation *in;
  struct create_opts o;
  json_object *cfg; /* the bundle's config.json, owned: ns, pod, cname, from and uid point into it */
  const char *dir;  /* the admission records */
  const char *ns, *pod, *cname, *from;
  const char *uid; /* the pod's UID, as the runtime passes it */
  struct ferry_admission adm;
  int admitted; /* the admission matched: a failure from here on is recorded */
  struct ferry_store store;
  int store_ok;
  struct ferry_manifest m;
  char *image_dir, *decoded, *criu_dir, *work, *marker;
  char *criu_conf;    /* CRIU's options runc has no flag for (tcp-close), or NULL */
  int64_t copy_bytes; /* the private copy's size once whole */
  int copy_recorded;  /* its record is next to the admission (removed before the copy) */
  int copy_lock;      /* the copy held while this process runs (copies.c), or -1 */
  uint64_t entries;
  int64_t t0, t_verified, t_rootfs;
  ferry_error err;
};

static void restore_free(struct restore *r)
{
  cleanup_error ferry_error ce = FERRY_ERROR_INIT;
  if (r->copy_recorded && ferry_restore_copy_remove(r->dir, r->ns, r->pod, r->cname, &ce) < 0)
    report_info(r->in, "%s", ferry_error_msg(&ce));
  if (r->decoded) { /* CRIU has read what it needs; the copy (decoded: raw) must not linger */
    cleanup_error ferry_error e = FERRY_ERROR_INIT;
    if (ferry_rm_rf(r->decoded, &e) < 0)
      report_info(r->in, "removing %s: %s", r->decoded, ferry_error_msg(&e));
    else
      copy_forget(r->in, r->decoded);
    free(r->decoded);
  }
  if (r->copy_lock >= 0)
    close(r->copy_lock);
  free(r->image_dir);
  free(r->criu_dir);
  free(r->work);
  free(r->marker);
  free(r->criu_conf);
  ferry_manifest_free(&r->m);
  if (r->store_ok)
    ferry_store_free(&r->store);
  ferry_admission_free(&r->adm);
  ferry_error_clear(&r->err);
  if (r->cfg)
    json_object_put(r->cfg); /* last: the names above point into it */
}

static const char *admission_dir(void)
{
  const char *d = getenv("FERRY_ADMISSION_DIR");
  return d && *d ? d : FERRY_ADMISSION_DIR;
}

/* 1 (reported) when the pod's container was checkpointed away from this node:
 * never a second copy. */
static int departed(const struct restore *r, const char *puid)
{
  if (!puid || !r->cname)
    return 0;
  cleanup_free char *pm = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_departed_read(r->dir, puid, r->cname, &pm, &err) != 1)
    return 0;
  report_error(r->in,
               "container %s of pod %s/%s was checkpointed by PodMigration %s: it is not started again here "
               "(the migration restores it, here or on its target)",
               r->cname, r->ns ? r->ns : "", r->pod ? r->pod : "", pm);
  return 1;
}

/* 1 (reported) when this node admitted a restore of the container but the
 * create does not ask for it: the pod's ferry.dev/restore-from has not reached
 * the kubelet yet (a rollback through the runtime annotates the source pod,
 * then admits). Never a fresh start of a container that is to be restored. */
static int awaits_restore(struct restore *r)
{
  if (!r->ns || !r->pod || !r->cname)
    return 0;
  struct ferry_admission a;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_admission_read(r->dir, r->ns, r->pod, r->cname, &a, &err) < 0)
    return 0;
  report_error(r->in,
               "container %s of pod %s/%s is admitted to be restored by PodMigration %s, but the create does not ask "
               "for it (%s is not set yet): not started fresh",
               r->cname, r->ns, r->pod, a.pod_migration, FERRY_ANN_RESTORE_FROM);
  ferry_admission_free(&a);
  return 1;
}

/* A failed admitted restore, recorded for the node's agent (a rollback through the runtime waits for the outcome). */
static void record_failure(struct restore *r)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_restore_failed_write(r->dir, r->ns, r->pod, r->cname, r->from, report_last_error(), &err) < 0)
    report_info(r->in, "recording the failed restore of %s/%s: %s", r->ns, r->pod, ferry_error_msg(&err));
}

/* The admission is for one pod, by UID: another pod of the same name (deleted
 * and made again by someone else) is not restored into. */
static int same_pod(struct restore *r)
{
  if (r->adm.pod_uid && r->uid && !strcmp(r->adm.pod_uid, r->uid))
    return 0;
  report_error(r->in,
               "pod %s/%s (uid %s) asks to be restored from PodMigration %s, but this node admitted the restore for "
               "pod uid %s; refusing",
               r->ns, r->pod, r->uid ? r->uid : "not passed by the runtime", r->from,
               r->adm.pod_uid ? r->adm.pod_uid : "(none recorded)");
  return -1;
}

/* The admission matching the pod's restore-from: 0 when there is one, 1 when the
 * container was restored from it before (a restart: a plain create), -1 refused. */
static int admitted(struct restore *r)
{
  const struct invocation *in = r->in;
  if (!r->ns || !r->pod || !r->cname) {
    report_error(in,
                 "container %s: %s is set but the pod namespace, pod name or container name annotation is missing "
                 "(the runtime must pass io.kubernetes.cri.* or io.kubernetes.pod.* annotations)",
                 r->o.id, FERRY_ANN_RESTORE_FROM);
    return -1;
  }
  if (ferry_admission_read(r->dir, r->ns, r->pod, r->cname, &r->adm, &r->err) < 0) {
    struct ferry_restored done;
    cleanup_error ferry_error e2 = FERRY_ERROR_INIT;
    if (r->err.errnum == ENOENT && ferry_restored_read(r->dir, r->ns, r->pod, r->cname, &done, &e2) == 0) {
      int same = !strcmp(done.pod_migration, r->from);
      ferry_restored_free(&done);
      if (same) { /* the kubelet restarts a container restored before: it starts fresh, as any restart */
        report_info(in, "%s/%s container %s was restored by %s before; this create starts it fresh", r->ns, r->pod,
                    r->cname, r->from);
        return 1;
      }
    }
    report_error(in,
                 "pod %s/%s asks to be restored from PodMigration %s, but no migration of its container %s to this "
                 "node was admitted (%s); refusing",
                 r->ns, r->pod, r->from, r->cname, ferry_error_msg(&r->err));
    return -1;
  }
  if (strcmp(r->adm.pod_migration, r->from) != 0) {
    report_error(in, "pod %s/%s asks to be restored from PodMigration %s, but this node admitted %s for it; refusing",
                 r->ns, r->pod, r->from, r->adm.pod_migration);
    return -1;
  }
  return same_pod(r);
}

/* The directory of this container's restore state (next to its marker). */
static char *state_dir(const struct restore *r)
{
  char *mk = restored_marker(r->in, r->o.id);
  *strrchr(mk, '/') = '\0';
  return mk;
}

/* STATE/ROOT/work-ID: CRIU's work directory for the restore of container id. */
static char *work_dir_of(const struct invocation *in, const char *id)
{
  cleanup_free char *mk = restored_marker(in, id);
  *strrchr(mk, '/') = '\0';
  return ferry_asprintf("%s/work-%s", mk, id);
}

void forget_restore(const struct invocation *in, const char *id)
{
  cleanup_free char *marker = restored_marker(in, id), *work = work_dir_of(in, id);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (unlink(marker) < 0 && errno != ENOENT)
    report_error(in, "removing %s: %s", marker, strerror(errno));
  if (ferry_rm_rf(work, &err) < 0)
    report_error(in, "removing %s: %s", work, ferry_error_msg(&err));
}

/* The private copy's size once whole: every file of the image as it is decoded. */
static int64_t copy_size(const struct ferry_manifest *m)
{
  uint64_t n = 0;
  for (size_t i = 0; i < m->nfiles; i++)
    n += m->files[i].raw_sha256[0] ? m->files[i].raw_size : m->files[i].size;
  return (int64_t)n;
}

/* The private copy's record next to the admission, for the node's agent (the
 * restore's progress: it reads the copy's size off disk). Not recorded is no
 * reason to refuse the restore: only its progress is not seen. */
static void record_copy(struct restore *r)
{
  pid_t self = getpid();
  struct ferry_restore_copy c = { .pod_migration = (char *)r->from,
                                  .dir = r->decoded,
                                  .bytes = r->copy_bytes,
                                  .pid = self,
                                  .start = ferry_pidrec_start_time(self, NULL) };
  cleanup_error ferry_error e = FERRY_ERROR_INIT;
  if (ferry_restore_copy_write(r->dir, r->ns, r->pod, r->cname, &c, &e) < 0)
    report_info(r->in, "recording the private copy of %s: %s", r->adm.image, ferry_error_msg(&e));
  else
    r->copy_recorded = 1;
}

/* The image CRIU reads is this runtime's own copy in its state directory, each
 * file checked as it is written there: bytes changed in the store after the
 * check never reach CRIU. An encoded image (compressed, encrypted) is decoded
 * on the way; the key is the node's (FERRY_ENCRYPTION_KEY_FILE). */
static int private_copy(struct restore *r)
{
  struct ferry_codec codec = { 0 };
  const char *keyf = getenv("FERRY_ENCRYPTION_KEY_FILE");
  cleanup_free char *sdir = state_dir(r);
  copies_sweep(r->in, sdir);
  cleanup_free char *copy = ferry_asprintf("%s/image-%s", sdir, r->o.id);
  if (ferry_mkdir_p(sdir, 0700, &r->err) < 0 || (r->copy_lock = copy_hold(copy, &r->err)) < 0)
    return -1;
  r->decoded = copy; /* held: restore_free removes it */
  copy = NULL;
  cleanup_error ferry_error e2 = FERRY_ERROR_INIT;
  ferry_rm_rf(r->decoded, &e2);
  r->copy_bytes = copy_size(&r->m);
  record_copy(r);
  int rc = 0;
  if (r->m.encryption && (!keyf || !*keyf))
    rc = ferry_error_set(&r->err, 0,
                         "image %s is encrypted (key %s) and FERRY_ENCRYPTION_KEY_FILE is not set for ferry-runc",
                         r->adm.image, r->m.key_id);
  else if ((r->m.encryption && ferry_codec_load_key(keyf, &codec, &r->err) < 0) ||
           ferry_codec_decode_tree(r->m.encryption ? &codec : NULL, &r->m, r->image_dir, r->decoded, &r->err) < 0)
    rc = -1;
  OPENSSL_cleanse(&codec, sizeof codec);
  if (rc < 0)
    return -1;
  free(r->image_dir);
  r->image_dir = ferry_strdup(r->decoded);
  return 0;
}

/* The image: verified into a copy of this runtime's (and decoded) before
 * anything is touched; an encoded one's stored bytes are verified first too. */
static int open_image(struct restore *r)
{
  r->store_ok = ferry_store_parse(r->adm.store, &r->store, &r->err) == 0;
  if (!r->store_ok || ferry_store_open(&r->store, r->adm.image, &r->image_dir, &r->err) < 0 ||
      ferry_manifest_load_pinned(r->image_dir, r->adm.digest, &r->m, &r->err) < 0 ||
      (ferry_manifest_encoded(&r->m) && ferry_manifest_verify(r->image_dir, &r->m, &r->err) < 0) ||
      private_copy(r) < 0) {
    report_error(r->in, "restore of %s/%s (%s) refused: %s", r->ns, r->pod, r->from, ferry_error_msg(&r->err));
    return -1;
  }
  return 0;
}

/* The root filesystem changes the image carries, applied to the bundle's root. */
static int apply_rootfs(struct restore *r)
{
  json_object *root, *rp;
  const char *rpath = json_object_object_get_ex(r->cfg, "root", &root) && json_object_object_get_ex(root, "path", &rp)
                          ? json_object_get_string(rp)
                          : "rootfs";
  cleanup_free char *rootfs = rpath[0] == '/' ? ferry_strdup(rpath) : ferry_path_join(r->o.bundle, rpath);
  cleanup_free char *tar = ferry_path_join(r->image_dir, "rootfs-diff.tar");
  if (ferry_path_exists(tar) && ferry_rootfs_diff_apply(tar, rootfs, &r->entries, &r->err) < 0) {
    report_error(r->in, "restore of %s/%s: applying the root filesystem changes: %s", r->ns, r->pod,
                 ferry_error_msg(&r->err));
    return -1;
  }
  return 0;
}

/* The restored marker (its `start` is a no-op) and CRIU's work directory; for
 * post-copy, the lazy-pages daemon the agent started, whose socket runc's CRIU
 * finds in its work directory. */
static int prepare_work(struct restore *r)
{
  r->marker = restored_marker(r->in, r->o.id);
  cleanup_free char *mdir = state_dir(r);
  r->work = work_dir_of(r->in, r->o.id);
  if (ferry_mkdir_p(mdir, 0700, &r->err) < 0 || ferry_mkdir_p(r->work, 0700, &r->err) < 0 ||
      ferry_write_file(r->marker, r->from, strlen(r->from), &r->err) < 0) {
    report_error(r->in, "restore of %s/%s: %s", r->ns, r->pod, ferry_error_msg(&r->err));
    return -1;
  }
  r->criu_dir = ferry_path_join(r->image_dir, "criu");
  cleanup_free char *lazy_sock = r->adm.lazy_dir ? ferry_path_join(r->adm.lazy_dir, FERRY_LAZY_SOCKET) : NULL;
  if (r->m.lazy_pages && !(lazy_sock && ferry_path_exists(lazy_sock))) {
    report_error(r->in,
                 "restore of %s/%s: image %s holds no memory (post-copy) and no lazy-pages daemon runs for it%s%s",
                 r->ns, r->pod, r->adm.image, r->adm.lazy_dir ? " in " : "", r->adm.lazy_dir ? r->adm.lazy_dir : "");
    return -1;
  }
  return 0;
}

/* The image's options runc restore has no flag for, as the agent's restore
 * passes them: a CRIU configuration file (CRIU_CONFIG_FILE for runc's CRIU).
 * An image dumped with tcp-close restores only with it. */
static int criu_options(struct restore *r)
{
  struct ferry_criu_conf conf = { .tcp_close = r->m.tcp_close };
  if (ferry_criu_write_config(r->work, &conf, &r->criu_conf, &r->err) < 0) {
    report_error(r->in, "restore of %s/%s: %s", r->ns, r->pod, ferry_error_msg(&r->err));
    return -1;
  }
  return 0;
}

/* CRIU's work directory: the lazy-pages daemon's for post-copy (its socket is
 * found there), ferry-runc's own otherwise. */
static const char *criu_work_path(const struct restore *r) { return r->m.lazy_pages ? r->adm.lazy_dir : r->work; }

/* runc [global options as given] restore --detach ...: stdio and the console
 * socket are the caller's. NULL when out of memory. */
static char **restore_argv(const struct restore *r)
{
  const struct invocation *in = r->in;
  char **argv = calloc((size_t)in->argc + 24, sizeof *argv);
  if (!argv)
    return NULL;
  int n = 0;
  argv[n++] = (char *)in->runc;
  if (!in->criu) {
    argv[n++] = "--criu";
    argv[n++] =
        (char *)(getenv("FERRY_CRIU") && *getenv("FERRY_CRIU") ? getenv("FERRY_CRIU") : ferry_criu_default_path());
  }
  for (int i = 1; i < in->cmd_at; i++)
    argv[n++] = in->argv[i];
  const char *fixed[] = { "restore",      "--detach",  "--bundle",    r->o.bundle,
                          "--image-path", r->criu_dir, "--work-path", criu_work_path(r) };
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
    argv[n++] = (char *)fixed[i];
  const struct {
    int on;
    const char *flag, *value;
  } opt[] = {
    { r->m.lazy_pages, "--lazy-pages", NULL },
    { r->o.pid_file != NULL, "--pid-file", r->o.pid_file },
    { r->o.console_socket != NULL, "--console-socket", r->o.console_socket },
    { r->o.no_pivot, "--no-pivot", NULL },
    { r->m.tcp_established, "--tcp-established", NULL },
    { r->m.file_locks, "--file-locks", NULL },
    { r->m.ext_unix_sk, "--ext-unix-sk", NULL },
    { r->m.shell_job, "--shell-job", NULL },
  };
  for (size_t i = 0; i < sizeof opt / sizeof *opt; i++) {
    if (!opt[i].on)
      continue;
    argv[n++] = (char *)opt[i].flag;
    if (opt[i].value)
      argv[n++] = (char *)opt[i].value;
  }
  argv[n++] = (char *)r->o.id;
  argv[n] = NULL;
  return argv;
}

/* Post-copy: the record of the agent's lazy-pages daemon, which serves the
 * restore's memory (it appears with the daemon's socket; 2 s at the most).
 * NULL when not post-copy; reported and *gone when the daemon is not there. */
static char *lazy_daemon_record(const struct restore *r, int *gone)
{
  *gone = 0;
  if (!r->m.lazy_pages)
    return NULL;
  char *rec = ferry_path_join(r->adm.lazy_dir, FERRY_LAZY_DAEMON_RECORD);
  for (int i = 0; i < LAZY_RECORD_POLLS; i++) {
    if (ferry_pidrec_alive(rec))
      return rec;
    usleep(LAZY_RECORD_POLL_US);
  }
  report_error(r->in, "restore of %s/%s: no lazy-pages daemon runs for image %s (%s)", r->ns, r->pod, r->adm.image,
               rec);
  free(rec);
  *gone = 1;
  return NULL;
}

/* Every mount at dir or under it detached (with what is under each), latest first. */
static void detach_mounts_under(const struct restore *r, const char *dir)
{
  cleanup_free char *mi = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_read_file("/proc/self/mountinfo", &mi, NULL, &err) < 0) {
    report_info(r->in, "%s", ferry_error_msg(&err));
    return;
  }
  size_t n = 0;
  char **mps = ferry_mountinfo_under(mi, dir, &n);
  for (size_t i = n; i-- > 0;) {
    if (umount2(mps[i], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
      report_info(r->in, "unmounting %s: %s", mps[i], strerror(errno));
    free(mps[i]);
  }
  free(mps);
}

/* After a stopped restore, what runc and CRIU made goes, as their own failed
 * restore leaves nothing: the root filesystem runc mounted for CRIU (and what it
 * bound under it), CRIU's mounts in its work directory (its cgroup yard), the
 * container's state. */
static void clean_stopped_restore(const struct restore *r)
{
  cleanup_free char *dir = ferry_path_join(r->in->root ? r->in->root : DEFAULT_RUNC_ROOT, r->o.id);
  cleanup_free char *state = ferry_path_join(dir, "state.json");
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  detach_mounts_under(r, dir);
  detach_mounts_under(r, criu_work_path(r));
  if (ferry_path_exists(state)) {
    const char *argv[] = { r->in->runc, "--root", r->in->root ? r->in->root : DEFAULT_RUNC_ROOT, "delete", "--force",
                           r->o.id,     NULL };
    struct ferry_proc_opts o = FERRY_PROC_OPTS_INIT;
    o.argv = argv;
    struct ferry_proc_result res;
    if (ferry_proc_run(&o, &res, &err) == 0) {
      if (!ferry_proc_ok(&res))
        report_info(r->in, "runc delete --force %s: %s", r->o.id, res.errout);
      ferry_proc_result_free(&res);
    }
  } else if (ferry_rm_rf(dir, &err) < 0) {
    report_info(r->in, "removing %s: %s", dir, ferry_error_msg(&err));
  }
}

/* What wait_runc saw of the restore so far (monotonic ms, 0: not seen). */
struct restore_watch {
  int64_t daemon_gone_at;  /* the lazy-pages daemon ended */
  int64_t criu_gone_at;    /* runc's CRIU ended and runc has not reaped it */
  int64_t tasks_killed_at; /* what CRIU had restored was killed to free runc */
};

/* runc, its CRIU and what CRIU restored so far killed, what they made undone;
 * why, reported. */
static void stop_restore(const struct restore *r, pid_t child, int *status, const char *why)
{
  report_error(r->in, "restore of %s/%s container %s stopped: %s", r->ns, r->pod, r->o.id, why);
  ferry_pidrec_kill_tree(child);
  while (waitpid(child, status, 0) < 0 && errno == EINTR)
    ;
  clean_stopped_restore(r);
}

/* A CRIU that ended mid-restore (killed) leaves the tasks it had made, which
 * hold its RPC socket open: runc (their subreaper now) waits for CRIU's answer
 * for ever. Once CRIU has been a zombie CRIU_GONE_GRACE_MS, those tasks are
 * killed, and runc sees the socket close and fails (and cleans) as usual. */
static void free_runc_from_dead_criu(const struct restore *r, pid_t child, struct restore_watch *w, int64_t now)
{
  pid_t criu = ferry_pidrec_zombie_child(child);
  if (!criu) {
    w->criu_gone_at = 0;
    return;
  }
  if (!w->criu_gone_at)
    w->criu_gone_at = now;
  if (w->tasks_killed_at || now - w->criu_gone_at < CRIU_GONE_GRACE_MS)
    return;
  size_t n = ferry_pidrec_kill_descendants(child);
  report_error(r->in,
               "restore of %s/%s container %s: CRIU (pid %d) ended mid-restore; killed the %zu process%s it left "
               "below runc, which waited for it",
               r->ns, r->pod, r->o.id, (int)criu, n, n == 1 ? "" : "es");
  w->tasks_killed_at = now;
}

/* runc's restore as it ends; SIGCHLD (blocked, chld) wakes the wait at once,
 * and the restore is looked at every RESTORE_WATCH_MS:
 * - runc's CRIU ended and runc waits on: free_runc_from_dead_criu; runc still
 *   there RESTORE_STUCK_MS later: stopped;
 * - post-copy (daemon_rec): the lazy-pages daemon ended and the restore has
 *   not returned RESTORE_STUCK_MS later: CRIU waits for it for ever (and the
 *   kubelet's call with it): stopped.
 * The wait status, or -1. */
static int wait_runc(const struct restore *r, pid_t child, const char *daemon_rec, const sigset_t *chld)
{
  int status = 0;
  struct restore_watch w = { 0 };
  for (;;) {
    pid_t got = waitpid(child, &status, WNOHANG);
    if (got == child)
      return status;
    if (got < 0 && errno != EINTR) {
      report_error(r->in, "waitpid runc: %s", strerror(errno));
      return -1;
    }
    struct timespec ts = { 0, RESTORE_WATCH_MS * 1000000L };
    if (sigtimedwait(chld, NULL, &ts) < 0 && errno != EAGAIN && errno != EINTR) {
      report_error(r->in, "sigtimedwait: %s", strerror(errno));
      return -1;
    }
    int64_t now = ferry_now_mono_ms();
    free_runc_from_dead_criu(r, child, &w, now);
    if (daemon_rec && !w.daemon_gone_at && !ferry_pidrec_alive(daemon_rec))
      w.daemon_gone_at = now; /* (it also ends once every page moved, maybe just before runc returns) */
    if (waitpid(child, &status, WNOHANG) == child)
      return status;
    if (w.tasks_killed_at && now - w.tasks_killed_at >= RESTORE_STUCK_MS) {
      stop_restore(r, child, &status, "its CRIU ended and runc did not return");
      return -1;
    }
    if (w.daemon_gone_at && now - w.daemon_gone_at >= RESTORE_STUCK_MS) {
      stop_restore(r, child, &status, "the lazy-pages daemon serving its memory ended and the restore did not return");
      return -1;
    }
  }
}

/* After a failed restore, the processes left below ferry-runc (its subreaper):
 * a CRIU killed mid-restore leaves the tasks it had made so far waiting for it
 * for ever. Killed and reaped. */
static void end_orphans(const struct restore *r)
{
  size_t n = ferry_pidrec_kill_descendants(getpid());
  if (n > 0)
    report_info(r->in, "restore of %s/%s container %s: killed the %zu process%s the failed restore left", r->ns, r->pod,
                r->o.id, n, n == 1 ? "" : "es");
  while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
    ; /* those, and any that ended already */
}

/* runc restore as a child (SIGCHLD blocked meanwhile, for wait_runc); its wait
 * status, or -1 when it could not be started or was stopped (reported).
 * ferry-runc is the subreaper of what runc and CRIU start (end_orphans); the
 * restored container goes on to the caller's reaper (the shim) as ferry-runc
 * exits, as it would from runc. */
static int run_runc(const struct restore *r, char **argv)
{
  int gone;
  cleanup_free char *daemon_rec = lazy_daemon_record(r, &gone);
  if (gone)
    return -1;
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
    report_error(r->in, "prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(errno));
    return -1;
  }
  sigset_t chld, old;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &chld, &old) < 0) {
    report_error(r->in, "sigprocmask: %s", strerror(errno));
    return -1;
  }
  pid_t child = fork();
  if (child == 0) {
    if (sigprocmask(SIG_SETMASK, &old, NULL) < 0 || (r->criu_conf && setenv("CRIU_CONFIG_FILE", r->criu_conf, 1) < 0))
      _exit(127);
    execvp(r->in->runc, argv);
    report_error(r->in, "cannot run %s: %s", r->in->runc, strerror(errno));
    _exit(127);
  }
  int status = -1;
  if (child < 0)
    report_error(r->in, "fork: %s", strerror(errno));
  else
    status = wait_runc(r, child, daemon_rec, &chld);
  sigprocmask(SIG_SETMASK, &old, NULL);
  return status;
}

/* Runs the restore; its answer is recorded for the node's agent (and the
 * admission used up: a restart of this container starts it fresh). */
static int run_restore(struct restore *r)
{
  const struct invocation *in = r->in;
  char **argv = restore_argv(r);
  if (!argv) {
    report_error(in, "out of memory");
    return -1;
  }
  /* (not on stderr: the caller's stdio is the container's) */
  report_info(in, "restoring %s/%s container %s from %s (%s, %llu root filesystem changes)", r->ns, r->pod, r->o.id,
              r->image_dir, r->from, (unsigned long long)r->entries);
  int status = run_runc(r, argv);
  free(argv);
  if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    if (status >= 0)
      report_error(in, "restore of %s/%s container %s from %s failed (runc %s %d; its log: %s)", r->ns, r->pod, r->o.id,
                   r->from, WIFEXITED(status) ? "exit status" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), in->log ? in->log : "none");
    end_orphans(r);
    /* a CRIU killed mid-restore leaves its cgroup yard mounted in its work
     * directory (runc's own failure cleans the rest) */
    detach_mounts_under(r, criu_work_path(r));
    unlink(r->marker);
    return -1;
  }
  struct ferry_restored done = { (char *)r->from,
                                 (char *)r->o.id,
                                 ferry_now_real_ms(),
                                 r->t_verified - r->t0,
                                 r->t_rootfs - r->t_verified,
                                 ferry_now_mono_ms() - r->t_rootfs,
                                 r->copy_bytes };
  if (ferry_restored_write(r->dir, r->ns, r->pod, r->cname, &done, &r->err) < 0 ||
      ferry_admission_remove(r->dir, r->ns, r->pod, r->cname, &r->err) < 0 ||
      ferry_restore_failed_remove(r->dir, r->ns, r->pod, r->cname, &r->err) < 0)
    report_info(in, "recording the restore of %s/%s: %s", r->ns, r->pod, ferry_error_msg(&r->err));
  report_info(in, "restored %s/%s container %s (verify %lld ms, rootfs %lld ms, restore %lld ms)", r->ns, r->pod,
              r->o.id, (long long)done.verify_ms, (long long)done.rootfs_ms, (long long)done.restore_ms);
  return 0;
}

/* An admitted restore, step by step. */
static int restore(struct restore *r)
{
  int adm = admitted(r);
  if (adm != 0)
    return adm;
  r->admitted = 1;
  r->t0 = ferry_now_mono_ms();
  if (open_image(r) < 0)
    return -1;
  r->t_verified = ferry_now_mono_ms();
  if (apply_rootfs(r) < 0)
    return -1;
  r->t_rootfs = ferry_now_mono_ms();
  if (prepare_work(r) < 0 || criu_options(r) < 0)
    return -1;
  return run_restore(r);
}

int maybe_restore(const struct invocation *in)
{
  __attribute__((cleanup(restore_free))) struct restore r = { .in = in, .copy_lock = -1, .err = FERRY_ERROR_INIT };
  if (parse_create(in, &r.o) < 0)
    return 1; /* runc says what is wrong with the command line */
  cleanup_free char *cfg_path = ferry_path_join(r.o.bundle, "config.json");
  cleanup_free char *text = NULL;
  if (ferry_read_file(cfg_path, &text, NULL, &r.err) < 0)
    return 1;                                          /* runc reports a missing or broken config.json its own way */
  json_object *cfg = r.cfg = json_tokener_parse(text); /* put by restore_free */
  if (!cfg)
    return 1;
  r.from = annotation(cfg, FERRY_ANN_RESTORE_FROM, NULL);
  const char *type = annotation(cfg, "io.kubernetes.cri.container-type", "io.kubernetes.cri-o.ContainerType");
  if (type && strcmp(type, "container") != 0)
    return 1; /* the sandbox: a plain create */
  r.ns = annotation(cfg, "io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace");
  r.pod = annotation(cfg, "io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name");
  r.cname = annotation(cfg, "io.kubernetes.cri.container-name", "io.kubernetes.container.name");
  r.dir = admission_dir();
  r.uid = annotation(cfg, "io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid");
  if (departed(&r, r.uid))
    return -1;
  if (!r.from)
    return awaits_restore(&r) ? -1 : 1; /* not asked for: a plain create */
  int rc = restore(&r);
  if (rc < 0 && r.admitted)
    record_failure(&r);
  return rc;
}
