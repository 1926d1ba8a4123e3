/* SPDX-License-Identifier: Apache-2.0 */
/* Restores a node has agreed to. When a PodMigration to a node reaches the
 * point where its target pod may be restored, the node's agent writes one
 * record per (pod namespace, pod name, container) naming the PodMigration and
 * the image; ferry-runc restores a container only when such a record matches
 * the pod's ferry.dev/restore-from annotation, so a pod author cannot make a
 * node restore an arbitrary image. Records are files DIR/NS_POD_CONTAINER.json
 * (Kubernetes names have no '_'), written atomically, readable by root only. */
#ifndef FERRY_ADMISSION_H
#define FERRY_ADMISSION_H

#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

#define FERRY_ADMISSION_DIR "/var/lib/ferry/admitted"

struct ferry_admission {
  char *pod_migration; /* NS/NAME */
  char *store;         /* dir:///... */
  char *image;         /* the image's name in the store */
  char *lazy_dir;      /* post-copy: the work directory of the lazy-pages daemon (NULL otherwise) */
  char *pod_uid;       /* the target pod's UID: only that pod's container is restored (NULL: none recorded) */
  char *digest;        /* the image's digest as its migration recorded it ("sha256:..."; NULL: none) */
};

int ferry_admission_write(const char *dir, const char *ns, const char *pod, const char *container,
                          const struct ferry_admission *a, ferry_error *err);
/* -1 with ENOENT in err->errnum when there is no record. */
int ferry_admission_read(const char *dir, const char *ns, const char *pod, const char *container,
                         struct ferry_admission *a, ferry_error *err);
int ferry_admission_remove(const char *dir, const char *ns, const char *pod, const char *container, ferry_error *err);
void ferry_admission_free(struct ferry_admission *a);

/* What ferry-runc writes once it restored an admitted container, consuming the
 * admission: DIR/NS_POD_CONTAINER.restored.json. A later create of the same
 * container (the kubelet restarting it after a crash) then starts it fresh. */
struct ferry_restored {
  char *pod_migration, *container_id;
  int64_t restored_at_ms; /* unix ms: running again */
  int64_t verify_ms, rootfs_ms, restore_ms;
  int64_t copy_bytes; /* the size of the private copy of the image it restored from (0: not recorded) */
};
int ferry_restored_write(const char *dir, const char *ns, const char *pod, const char *container,
                         const struct ferry_restored *r, ferry_error *err);
/* -1 with ENOENT in err->errnum when there is none. */
int ferry_restored_read(const char *dir, const char *ns, const char *pod, const char *container,
                        struct ferry_restored *r, ferry_error *err);
int ferry_restored_remove(const char *dir, const char *ns, const char *pod, const char *container, ferry_error *err);
void ferry_restored_free(struct ferry_restored *r);

/* What ferry-runc leaves while it holds its private copy of the image it
 * restores (DIR/NS_POD_CONTAINER.copy.json, written before the copy begins,
 * removed before the copy is): the PodMigration, the copy's directory as
 * ferry-runc sees it, the copy's size once whole, and ferry-runc's process (PID
 * and start time, base/pidrec.h). The node's agent reads the copy's size off
 * disk for the migration's progress, through /proc/PID/root: its own container
 * need not mount ferry-runc's state directory; a record whose process is gone
 * (a killed ferry-runc) is nobody's. */
struct ferry_restore_copy {
  char *pod_migration, *dir;
  int64_t bytes;
  pid_t pid;
  unsigned long long start;
};
int ferry_restore_copy_write(const char *dir, const char *ns, const char *pod, const char *container,
                             const struct ferry_restore_copy *c, ferry_error *err);
/* -1 with ENOENT in err->errnum when there is none. */
int ferry_restore_copy_read(const char *dir, const char *ns, const char *pod, const char *container,
                            struct ferry_restore_copy *c, ferry_error *err);
int ferry_restore_copy_remove(const char *dir, const char *ns, const char *pod, const char *container,
                              ferry_error *err);
void ferry_restore_copy_free(struct ferry_restore_copy *c);

/* What ferry-runc writes when an admitted restore failed:
 * DIR/NS_POD_CONTAINER.failed.json naming the PodMigration and ferry-runc's
 * message. The admission stays (the kubelet's next attempt tries again); a
 * restore that succeeds removes the record. The agent rolling a migration back
 * through the container runtime reads it: the outcome, not the kubelet's
 * waiting reason, which may be an earlier attempt's. */
int ferry_restore_failed_write(const char *dir, const char *ns, const char *pod, const char *container,
                               const char *pod_migration, const char *message, ferry_error *err);
/* 1 and *pod_migration, *message (caller frees) when recorded, 0 when not, -1 on error. */
int ferry_restore_failed_read(const char *dir, const char *ns, const char *pod, const char *container,
                              char **pod_migration, char **message, ferry_error *err);
int ferry_restore_failed_remove(const char *dir, const char *ns, const char *pod, const char *container,
                                ferry_error *err);

/* A source pod's container that was checkpointed away: the source agent
 * records it (DIR/departed/PODUID_CONTAINER, holding the PodMigration) before
 * the freeze, and ferry-runc refuses to create it again, so the kubelet's
 * restart of a container that vanished into a checkpoint cannot make a second
 * copy. Removed when the workload is to run here again (a rollback). */
int ferry_departed_write(const char *dir, const char *pod_uid, const char *container, const char *pod_migration,
                         ferry_error *err);
/* 1 and *pod_migration (caller frees) when recorded, 0 when not, -1 on error. */
int ferry_departed_read(const char *dir, const char *pod_uid, const char *container, char **pod_migration,
                        ferry_error *err);
int ferry_departed_remove(const char *dir, const char *pod_uid, const char *container, ferry_error *err);

#endif
