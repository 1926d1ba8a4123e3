/* Restores a node has agreed to. When a PodMigration to a node reaches the
 * point where its target pod may be restored, the node's agent writes one
 * record per (pod namespace, pod name, container) naming the PodMigration and
 * the image; ferry-runc restores a container only when such a record matches
 * the pod's ferry.dev/restore-from annotation, so a pod author cannot make a
 * node restore an arbitrary image. Records are files DIR/NS_POD_CONTAINER.json
 * (Kubernetes names have no '_'), written atomically, readable by root only. */
#ifndef FERRY_ADMISSION_H
#define FERRY_ADMISSION_H

#include "error.h"

#define FERRY_ADMISSION_DIR "/var/lib/ferry/admitted"

struct ferry_admission {
  char *pod_migration; /* NS/NAME */
  char *store;         /* dir:///... */
  char *image;         /* the image's name in the store */
};

int ferry_admission_write(const char *dir, const char *ns, const char *pod, const char *container,
                          const struct ferry_admission *a, ferry_error *err);
/* -1 with ENOENT in err->errnum when there is no record. */
int ferry_admission_read(const char *dir, const char *ns, const char *pod, const char *container,
                         struct ferry_admission *a, ferry_error *err);
int ferry_admission_remove(const char *dir, const char *ns, const char *pod, const char *container, ferry_error *err);
void ferry_admission_free(struct ferry_admission *a);

#endif
