/* create as restore. The bundle is the runtime's: its config.json carries the
 * sandbox's namespaces and the pod's annotations (containerd: pod_annotations;
 * CRI-O: allowed_annotations). A container (not the sandbox) of a pod annotated
 * ferry.dev/restore-from: NS/PODMIGRATION is restored when this node's agent
 * admitted that migration for this pod and container (lib/api/admission.h): the
 * image is verified, the root filesystem changes it carries are applied to the
 * bundle's root, and `runc restore --detach` runs with the caller's global
 * options, --pid-file and --console-socket, and stdio; its outcome and timings
 * are recorded for the node's agent, and the admission is used up.
 * Any create of a container whose pod was checkpointed away from this node
 * (a departed record) is refused: the kubelet must not restart it here. */
#include <errno.h>
#include <openssl/crypto.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#include "base/util.h"

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

int maybe_restore(const struct invocation *in)
{
  struct create_opts o;
  if (parse_create(in, &o) < 0)
    return 1; /* runc says what is wrong with the command line */
  char *cfg_path = ferry_path_join(o.bundle, "config.json"), *text = NULL;
  size_t len;
  ferry_error err = FERRY_ERROR_INIT;
  json_object *cfg = NULL;
  int rc = 1;
  if (ferry_read_file(cfg_path, &text, &len, &err) < 0 || !(cfg = json_tokener_parse(text)))
    goto out; /* runc reports a missing or broken config.json its own way */
  const char *from = annotation(cfg, FERRY_ANN_RESTORE_FROM, NULL);
  const char *type = annotation(cfg, "io.kubernetes.cri.container-type", "io.kubernetes.cri-o.ContainerType");
  if (type && strcmp(type, "container") != 0)
    goto out; /* the sandbox: a plain create */
  const char *ns = annotation(cfg, "io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace");
  const char *pod = annotation(cfg, "io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name");
  const char *cname = annotation(cfg, "io.kubernetes.cri.container-name", "io.kubernetes.container.name");
  const char *puid = annotation(cfg, "io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid");
  const char *dir = getenv("FERRY_ADMISSION_DIR") && *getenv("FERRY_ADMISSION_DIR") ? getenv("FERRY_ADMISSION_DIR")
                                                                                      : FERRY_ADMISSION_DIR;
  if (puid && cname) { /* checkpointed away: never a second copy */
    char *pm = NULL;
    int departed = ferry_departed_read(dir, puid, cname, &pm, &err);
    ferry_error_clear(&err);
    if (departed == 1) {
      report_error(in, "container %s of pod %s/%s was checkpointed by PodMigration %s: it is not started again here "
                       "(the migration restores it, here or on its target)",
                   cname, ns ? ns : "", pod ? pod : "", pm);
      free(pm);
      rc = -1;
      goto out;
    }
  }
  if (!from)
    goto out; /* not asked for: a plain create */
  rc = -1;
  if (!ns || !pod || !cname) {
    report_error(in, "container %s: %s is set but the pod namespace, pod name or container name annotation is missing "
                     "(the runtime must pass io.kubernetes.cri.* or io.kubernetes.pod.* annotations)", o.id,
                 FERRY_ANN_RESTORE_FROM);
    goto out;
  }
  struct ferry_admission adm;
  if (ferry_admission_read(dir, ns, pod, cname, &adm, &err) < 0) {
    struct ferry_restored done;
    ferry_error e2 = FERRY_ERROR_INIT;
    if (err.errnum == ENOENT && ferry_restored_read(dir, ns, pod, cname, &done, &e2) == 0) {
      int same = !strcmp(done.pod_migration, from);
      ferry_restored_free(&done);
      if (same) { /* the kubelet restarts a container restored before: it starts fresh, as any restart */
        report_info(in, "%s/%s container %s was restored by %s before; this create starts it fresh", ns, pod, cname, from);
        rc = 1;
        goto out;
      }
    }
    ferry_error_clear(&e2);
    report_error(in, "pod %s/%s asks to be restored from PodMigration %s, but no migration of its container %s to this "
                     "node was admitted (%s); refusing",
                 ns, pod, from, cname, ferry_error_msg(&err));
    goto out;
  }
  if (strcmp(adm.pod_migration, from) != 0) {
    report_error(in, "pod %s/%s asks to be restored from PodMigration %s, but this node admitted %s for it; refusing", ns,
                 pod, from, adm.pod_migration);
    ferry_admission_free(&adm);
    goto out;
  }
  /* the image: verified before anything is touched */
  struct ferry_store store;
  struct ferry_manifest m = { 0 };
  char *image_dir = NULL, *tar = NULL, *rootfs = NULL, *criu_dir = NULL, *work = NULL, *marker = NULL;
  char *decoded = NULL;
  int64_t t0 = ferry_now_mono_ms(), t_verified, t_rootfs;
  int store_ok = ferry_store_parse(adm.store, &store, &err) == 0;
  if (!store_ok || ferry_store_open(&store, adm.image, &image_dir, &err) < 0 ||
      ferry_manifest_load(image_dir, &m, &err) < 0 || ferry_manifest_verify(image_dir, &m, &err) < 0) {
    report_error(in, "restore of %s/%s (%s) refused: %s", ns, pod, from, ferry_error_msg(&err));
    goto fail;
  }
  /* an encoded image (compressed, encrypted) is decoded and checked into this
   * runtime's state directory first; the key is the node's (FERRY_ENCRYPTION_KEY_FILE) */
  if (ferry_manifest_encoded(&m)) {
    struct ferry_codec codec = { 0 };
    const char *keyf = getenv("FERRY_ENCRYPTION_KEY_FILE");
    char *mk = restored_marker(in, o.id);
    *strrchr(mk, '/') = '\0';
    decoded = ferry_asprintf("%s/image-%s", mk, o.id);
    free(mk);
    ferry_error e2 = FERRY_ERROR_INIT;
    ferry_rm_rf(decoded, &e2);
    ferry_error_clear(&e2);
    if ((m.encryption && (!keyf || !*keyf)) ||
        (m.encryption && ferry_codec_load_key(keyf, &codec, &err) < 0) ||
        ferry_codec_decode_tree(m.encryption ? &codec : NULL, &m, image_dir, decoded, &err) < 0) {
      if (m.encryption && (!keyf || !*keyf))
        ferry_error_set(&err, 0, "image %s is encrypted (key %s) and FERRY_ENCRYPTION_KEY_FILE is not set for ferry-runc",
                        adm.image, m.key_id);
      report_error(in, "restore of %s/%s (%s) refused: %s", ns, pod, from, ferry_error_msg(&err));
      OPENSSL_cleanse(&codec, sizeof codec);
      goto fail;
    }
    OPENSSL_cleanse(&codec, sizeof codec);
    free(image_dir);
    image_dir = ferry_strdup(decoded);
  }
  t_verified = ferry_now_mono_ms();
  json_object *root, *rp;
  const char *rpath = json_object_object_get_ex(cfg, "root", &root) && json_object_object_get_ex(root, "path", &rp)
                          ? json_object_get_string(rp)
                          : "rootfs";
  rootfs = rpath[0] == '/' ? ferry_strdup(rpath) : ferry_path_join(o.bundle, rpath);
  tar = ferry_path_join(image_dir, "rootfs-diff.tar");
  uint64_t entries = 0;
  if (ferry_path_exists(tar) && ferry_rootfs_diff_apply(tar, rootfs, &entries, &err) < 0) {
    report_error(in, "restore of %s/%s: applying the root filesystem changes: %s", ns, pod, ferry_error_msg(&err));
    goto fail;
  }
  t_rootfs = ferry_now_mono_ms();
  marker = restored_marker(in, o.id);
  char *mdir = ferry_strdup(marker);
  *strrchr(mdir, '/') = '\0';
  work = ferry_asprintf("%s/work-%s", mdir, o.id);
  int made = ferry_mkdir_p(mdir, 0700, &err) == 0 && ferry_mkdir_p(work, 0700, &err) == 0 &&
             ferry_write_file(marker, from, strlen(from), &err) == 0;
  free(mdir);
  if (!made) {
    report_error(in, "restore of %s/%s: %s", ns, pod, ferry_error_msg(&err));
    goto fail;
  }
  criu_dir = ferry_path_join(image_dir, "criu");
  /* post-copy: the memory comes from the lazy-pages daemon the agent started,
   * whose socket runc's CRIU finds in its work directory */
  char *lazy_sock = adm.lazy_dir ? ferry_path_join(adm.lazy_dir, "lazy-pages.socket") : NULL;
  int lazy_ok = !m.lazy_pages || (lazy_sock && ferry_path_exists(lazy_sock));
  free(lazy_sock);
  if (!lazy_ok) {
    report_error(in, "restore of %s/%s: image %s holds no memory (post-copy) and no lazy-pages daemon runs for it%s%s",
                 ns, pod, adm.image, adm.lazy_dir ? " in " : "", adm.lazy_dir ? adm.lazy_dir : "");
    goto fail;
  }
  /* runc [global options as given] restore --detach ...: stdio and the console socket are the caller's */
  char **argv = calloc((size_t)in->argc + 24, sizeof *argv);
  if (!argv) {
    report_error(in, "out of memory");
    goto fail;
  }
  int n = 0;
  argv[n++] = (char *)in->runc;
  if (!in->criu) {
    argv[n++] = "--criu";
    argv[n++] = (char *)(getenv("FERRY_CRIU") && *getenv("FERRY_CRIU") ? getenv("FERRY_CRIU") : ferry_criu_default_path());
  }
  for (int i = 1; i < in->cmd_at; i++)
    argv[n++] = in->argv[i];
  argv[n++] = "restore";
  argv[n++] = "--detach";
  argv[n++] = "--bundle";
  argv[n++] = (char *)o.bundle;
  argv[n++] = "--image-path";
  argv[n++] = criu_dir;
  argv[n++] = "--work-path";
  argv[n++] = m.lazy_pages ? adm.lazy_dir : work;
  if (m.lazy_pages)
    argv[n++] = "--lazy-pages";
  if (o.pid_file) {
    argv[n++] = "--pid-file";
    argv[n++] = (char *)o.pid_file;
  }
  if (o.console_socket) {
    argv[n++] = "--console-socket";
    argv[n++] = (char *)o.console_socket;
  }
  if (o.no_pivot)
    argv[n++] = "--no-pivot";
  if (m.tcp_established)
    argv[n++] = "--tcp-established";
  if (m.file_locks)
    argv[n++] = "--file-locks";
  if (m.ext_unix_sk)
    argv[n++] = "--ext-unix-sk";
  if (m.shell_job)
    argv[n++] = "--shell-job";
  argv[n++] = (char *)o.id;
  argv[n] = NULL;
  /* (not on stderr: the caller's stdio is the container's) */
  report_info(in, "restoring %s/%s container %s from %s (%s, %llu root filesystem changes)", ns, pod, o.id, image_dir,
              from, (unsigned long long)entries);
  /* runc restore as a child: its answer is recorded for the node's agent */
  int status = 0;
  pid_t child = fork();
  if (child == 0) {
    execvp(in->runc, argv);
    report_error(in, "cannot run %s: %s", in->runc, strerror(errno));
    _exit(127);
  }
  free(argv);
  if (child < 0) {
    report_error(in, "fork: %s", strerror(errno));
  } else {
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
      ;
  }
  if (child > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    struct ferry_restored done = { (char *)from, (char *)o.id, ferry_now_real_ms(), t_verified - t0, t_rootfs - t_verified,
                                   ferry_now_mono_ms() - t_rootfs };
    /* the admission is used up: a restart of this container starts it fresh */
    if (ferry_restored_write(dir, ns, pod, cname, &done, &err) < 0 || ferry_admission_remove(dir, ns, pod, cname, &err) < 0)
      report_info(in, "recording the restore of %s/%s: %s", ns, pod, ferry_error_msg(&err));
    report_info(in, "restored %s/%s container %s (verify %lld ms, rootfs %lld ms, restore %lld ms)", ns, pod, o.id,
                (long long)done.verify_ms, (long long)done.rootfs_ms, (long long)done.restore_ms);
    rc = 0;
  } else {
    if (child > 0)
      report_error(in, "restore of %s/%s container %s from %s failed (runc %s %d; its log: %s)", ns, pod, o.id, from,
                   WIFEXITED(status) ? "exit status" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                   in->log ? in->log : "none");
    unlink(marker);
  }
fail:
  if (decoded) { /* CRIU has read what it needs; the raw image must not linger */
    ferry_error e3 = FERRY_ERROR_INIT;
    if (ferry_rm_rf(decoded, &e3) < 0)
      report_info(in, "removing %s: %s", decoded, ferry_error_msg(&e3));
    ferry_error_clear(&e3);
    free(decoded);
  }
  free(image_dir);
  free(tar);
  free(rootfs);
  free(criu_dir);
  free(work);
  free(marker);
  ferry_manifest_free(&m);
  if (store_ok)
    ferry_store_free(&store);
  ferry_admission_free(&adm);
out:
  json_object_put(cfg);
  free(text);
  free(cfg_path);
  ferry_error_clear(&err);
  return rc;
}
