/* SPDX-License-Identifier: Apache-2.0 */
/* The collector: what this node keeps of ended migrations, removed by the
 * rules of lib/api/retention.h (docs/retention.md). Runs at start, on a tick
 * of the loop and soon after a migration of this node ended:
 *
 *   images   in the node's store (s3://: its local copies), each judged by the
 *            PodMigration it is named after; a partial image (.NAME.tmp-PID, a
 *            checkpoint that died with its agent) once older than the grace period
 *   records  under the admission directory: an admission, restored or
 *            restore-failed record once its pod is gone from this node and its
 *            migration ended or is gone; a departed record likewise (its pod UID);
 *            a private copy's record once the ferry-runc that wrote it ended (it
 *            was killed: ferry-runc removes its own; the copy itself is swept by
 *            the next ferry-runc, ferry-runc/copies.c)
 *
 * Each removal is logged, counted in ferry_agent_gc_removed_total by kind and,
 * for an image whose migration is still there, an ImageCollected event on it. */
#include "daemon.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/admission.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/pidrec.h"
#include "base/util.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "kube/kube.h"
#include "metrics.h"

enum gc_kind {
  GC_IMAGE,
  GC_PARTIAL,
  GC_ADMISSION,
  GC_RESTORED,
  GC_RESTORE_FAILED,
  GC_RESTORE_COPY,
  GC_DEPARTED,
  GC_KINDS
};
static const char *const KIND_NAMES[GC_KINDS] = { "image",         "partial",     "admission", "restored",
                                                  "restoreFailed", "restoreCopy", "departed" };

int gc_start(struct daemon *d, ferry_error *err)
{
  if (ferry_store_parse(d->store, &d->local, err) < 0 || ferry_mkdir_p(d->local.path, 0700, err) < 0) {
    ferry_store_free(&d->local);
    memset(&d->local, 0, sizeof d->local);
    return -1;
  }
  for (int k = 0; k < GC_KINDS; k++)
    metrics_gc_removed(d->m, KIND_NAMES[k], 0);
  return 0;
}

void gc_stop(struct daemon *d)
{
  if (d->local.path)
    ferry_store_free(&d->local);
}

static int64_t mtime_ms(const struct stat *st)
{
  return (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
}

/* ---------- images ---------- */

/* image name -> the PodMigration it is named after (its own name, and status.image's). */
static void index_image(void *ctx, json_object *pm)
{
  json_object *by_image = ctx;
  cleanup_free char *name = image_name(pm);
  json_object_object_add(by_image, name, json_object_get(pm));
  const char *published = ferry_kube_str(pm, "status.image");
  if (published && strcmp(image_base(published), name) != 0)
    json_object_object_add(by_image, image_base(published), json_object_get(pm));
}

struct image_scan {
  struct ferry_gc_image *imgs;
  json_object **pms;
  uint64_t *bytes;
  size_t n, cap;
};

static void scan_free(struct image_scan *s)
{
  for (size_t i = 0; i < s->n; i++) {
    free((char *)s->imgs[i].name);
    free((char *)s->imgs[i].pod);
  }
  free(s->imgs);
  free(s->pms);
  free(s->bytes);
}

static void scan_add(struct daemon *d, struct image_scan *s, const char *name, const struct stat *st, json_object *pm)
{
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 16;
    s->imgs = realloc(s->imgs, s->cap * sizeof *s->imgs);
    s->pms = realloc(s->pms, s->cap * sizeof *s->pms);
    s->bytes = realloc(s->bytes, s->cap * sizeof *s->bytes);
    if (!s->imgs || !s->pms || !s->bytes)
      abort();
  }
  struct ferry_gc_image *i = &s->imgs[s->n];
  memset(i, 0, sizeof *i);
  i->name = ferry_strdup(name);
  i->pod = pm ? ferry_asprintf("%s/%s", ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "spec.pod") ?: "")
              : NULL;
  i->use = ferry_image_use_of(pm);
  i->keep = ferry_retention_of(pm, d->retention);
  i->created_ms = mtime_ms(st);
  s->pms[s->n] = pm;
  cleanup_free char *dir = ferry_path_join(d->local.path, name);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  s->bytes[s->n] = 0;
  if (ferry_tree_size(dir, &s->bytes[s->n], &err) < 0)
    log_warn("collector: %s", ferry_error_msg(&err));
  s->n++;
}

/* A partial image (a checkpoint's temporary directory) past the grace period: removed. */
static void partial_image(struct daemon *d, const char *name, const struct stat *st, int64_t now_ms)
{
  if (!strstr(name, ".tmp-") || now_ms - mtime_ms(st) < d->orphan_grace_ms)
    return;
  cleanup_free char *dir = ferry_path_join(d->local.path, name);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_rm_rf(dir, &err) < 0) {
    log_warn("collector: %s", ferry_error_msg(&err));
    return;
  }
  log_info("collector: removed the partial image %s (a checkpoint that never finished, older than %lld s)", name,
           (long long)(d->orphan_grace_ms / 1000));
  metrics_gc_removed(d->m, KIND_NAMES[GC_PARTIAL], 1);
}

/* Every image directory of the store, with its migration (partial images dealt with at once). */
static int scan_store(struct daemon *d, json_object *by_image, struct image_scan *s, int64_t now_ms)
{
  cleanup_dir DIR *dir = opendir(d->local.path);
  if (!dir) {
    log_warn("collector: opendir %s: %m", d->local.path);
    return -1;
  }
  struct dirent *e;
  while ((e = readdir(dir))) {
    struct stat st;
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
        fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
      continue;
    if (e->d_name[0] == '.') {
      partial_image(d, e->d_name, &st, now_ms);
      continue;
    }
    json_object *pm = NULL;
    json_object_object_get_ex(by_image, e->d_name, &pm);
    scan_add(d, s, e->d_name, &st, pm);
  }
  return 0;
}

/* Why an image went, for the log and the event. */
static void removal_why(const struct daemon *d, const struct ferry_gc_image *i, json_object *pm, char *buf, size_t len)
{
  if (i->verdict == FERRY_GC_EXPIRED)
    snprintf(buf, len, "its migration %s; older than the image TTL of %lld s",
             ferry_kube_str(pm, "status.phase") ?: "ended", (long long)(i->keep.ttl_ms / 1000));
  else if (i->verdict == FERRY_GC_OVER_COUNT && i->keep.count == 0)
    snprintf(buf, len, "its migration Succeeded and the target restored it (image retention count 0)");
  else if (i->verdict == FERRY_GC_OVER_COUNT)
    snprintf(buf, len, "its migration Succeeded and the target restored it; pod %s keeps its last %d", i->pod,
             i->keep.count);
  else
    snprintf(buf, len, "no PodMigration names it, older than the grace period of %lld s",
             (long long)(d->orphan_grace_ms / 1000));
}

/* Removes image i of the scan; 0 when it went. */
static int remove_image(struct daemon *d, const struct image_scan *s, size_t i)
{
  const struct ferry_gc_image *img = &s->imgs[i];
  cleanup_free char *dir = ferry_path_join(d->local.path, img->name);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_rm_rf(dir, &err) < 0) {
    log_warn("collector: %s", ferry_error_msg(&err));
    return -1;
  }
  char why[300], size[32];
  removal_why(d, img, s->pms[i], why, sizeof why);
  ferry_format_bytes((int64_t)s->bytes[i], size, sizeof size);
  log_info("collector: removed image %s (%s): %s", img->name, size, why);
  if (s->pms[i])
    ferry_event(d->rec, s->pms[i], "Normal", "ImageCollected", "%s: image %s removed (%s): %s", d->g->node, img->name,
                size, why);
  metrics_gc_removed(d->m, KIND_NAMES[GC_IMAGE], 1);
  return 0;
}

static void gc_images(struct daemon *d, int64_t now_ms)
{
  cleanup_json json_object *by_image = json_object_new_object();
  ferry_informer_each(d->pms, index_image, by_image);
  struct image_scan s = { 0 };
  if (scan_store(d, by_image, &s, now_ms) == 0) {
    ferry_gc_decide(s.imgs, s.n, now_ms, d->orphan_grace_ms);
    size_t left = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < s.n; i++) {
      if (ferry_gc_removes(s.imgs[i].verdict) && remove_image(d, &s, i) == 0)
        continue;
      left++;
      bytes += s.bytes[i];
    }
    metrics_store(d->m, left, bytes);
  }
  scan_free(&s);
}

/* ---------- records ---------- */

/* The migration NS/NAME ended (or is gone): its records are no use to it. */
static int migration_over(struct daemon *d, const char *ref)
{
  const char *slash = ref ? strchr(ref, '/') : NULL;
  if (!slash)
    return 1;
  cleanup_free char *ns = strndup(ref, (size_t)(slash - ref));
  json_object *pm = ns ? ferry_informer_get(d->pms, ns, slash + 1) : NULL;
  return !pm || pm_phase_is_terminal(pm_phase(pm));
}

static void removed_record(struct daemon *d, enum gc_kind kind, const char *file, const char *ref, ferry_error *err,
                           int rc)
{
  if (rc < 0) {
    log_warn("collector: %s", ferry_error_msg(err));
    return;
  }
  log_info("collector: removed the %s record %s (its pod is gone from %s, its migration %s ended or is gone)",
           KIND_NAMES[kind], file, d->g->node, ref ? ref : "?");
  metrics_gc_removed(d->m, KIND_NAMES[kind], 1);
}

/* DIR/NS_POD_CONTAINER{.json,.restored.json,.failed.json,.copy.json}: its parts; 0 when the name is no record's. */
static int record_name(const char *file, char *ns, char *pod, char *container, size_t len, enum gc_kind *kind)
{
  const char *a = strchr(file, '_'), *b = a ? strchr(a + 1, '_') : NULL, *dot = b ? strchr(b + 1, '.') : NULL;
  if (!dot || strchr(b + 1, '_') || (size_t)(a - file) >= len || (size_t)(b - a - 1) >= len ||
      (size_t)(dot - b - 1) >= len)
    return 0;
  if (!strcmp(dot, ".json"))
    *kind = GC_ADMISSION;
  else if (!strcmp(dot, ".restored.json"))
    *kind = GC_RESTORED;
  else if (!strcmp(dot, ".failed.json"))
    *kind = GC_RESTORE_FAILED;
  else if (!strcmp(dot, ".copy.json"))
    *kind = GC_RESTORE_COPY;
  else
    return 0;
  snprintf(ns, len, "%.*s", (int)(a - file), file);
  snprintf(pod, len, "%.*s", (int)(b - a - 1), a + 1);
  snprintf(container, len, "%.*s", (int)(dot - b - 1), b + 1);
  return 1;
}

/* A private copy's record NS_POD_C.copy.json: removed once its writer ended. */
static void gc_copy_record(struct daemon *d, const char *file, const char *ns, const char *pod, const char *c)
{
  struct ferry_restore_copy rc = { 0 };
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_restore_copy_read(d->admission_dir, ns, pod, c, &rc, &err) < 0) {
    if (err.errnum != ENOENT)
      log_warn("collector: %s", ferry_error_msg(&err));
    return;
  }
  int writer_runs = rc.pid > 0 && ferry_pidrec_running(rc.pid, rc.start);
  ferry_restore_copy_free(&rc);
  if (writer_runs)
    return;
  if (ferry_restore_copy_remove(d->admission_dir, ns, pod, c, &err) < 0) {
    if (err.errnum != ENOENT)
      log_warn("collector: %s", ferry_error_msg(&err));
    return;
  }
  log_info("collector: removed the restoreCopy record %s (the ferry-runc that wrote it ended without removing it)",
           file);
  metrics_gc_removed(d->m, KIND_NAMES[GC_RESTORE_COPY], 1);
}

/* One record of the admission directory: removed when its pod and its migration are gone. */
static void gc_record(struct daemon *d, const char *file)
{
  char ns[256], pod[256], c[256];
  enum gc_kind kind;
  if (file[0] == '.' || !record_name(file, ns, pod, c, sizeof ns, &kind))
    return;
  if (kind == GC_RESTORE_COPY) {
    gc_copy_record(d, file, ns, pod, c);
    return;
  }
  if (kind != GC_ADMISSION && ferry_informer_get(d->pods, ns, pod))
    return; /* a restarted container of it is to start fresh (restored), or a retry reads why (failed) */
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  cleanup_free char *ref = NULL, *message = NULL;
  int rc;
  if (kind == GC_ADMISSION) {
    struct ferry_admission a = { 0 };
    rc = ferry_admission_read(d->admission_dir, ns, pod, c, &a, &err);
    ref = rc == 0 ? ferry_strdup(a.pod_migration) : NULL;
    ferry_admission_free(&a);
  } else if (kind == GC_RESTORED) {
    struct ferry_restored r = { 0 };
    rc = ferry_restored_read(d->admission_dir, ns, pod, c, &r, &err);
    ref = rc == 0 ? ferry_strdup(r.pod_migration) : NULL;
    ferry_restored_free(&r);
  } else {
    rc = ferry_restore_failed_read(d->admission_dir, ns, pod, c, &ref, &message, &err) < 0 ? -1 : 0;
  }
  if (rc < 0) {
    if (err.errnum != ENOENT)
      log_warn("collector: %s", ferry_error_msg(&err));
    return;
  }
  if (!migration_over(d, ref))
    return;
  rc = kind == GC_ADMISSION  ? ferry_admission_remove(d->admission_dir, ns, pod, c, &err)
       : kind == GC_RESTORED ? ferry_restored_remove(d->admission_dir, ns, pod, c, &err)
                             : ferry_restore_failed_remove(d->admission_dir, ns, pod, c, &err);
  removed_record(d, kind, file, ref, &err, rc);
}

static void index_uid(void *ctx, json_object *pod)
{
  const char *uid = ferry_kube_str(pod, "metadata.uid");
  if (uid)
    json_object_object_add(ctx, uid, NULL);
}

/* DIR/departed/PODUID_CONTAINER: removed when no pod of that UID is on this node and its migration is over. */
static void gc_departed(struct daemon *d)
{
  cleanup_free char *sub = ferry_path_join(d->admission_dir, "departed");
  cleanup_dir DIR *dir = opendir(sub);
  if (!dir) {
    if (errno != ENOENT)
      log_warn("collector: opendir %s: %m", sub);
    return;
  }
  cleanup_json json_object *uids = json_object_new_object();
  ferry_informer_each(d->pods, index_uid, uids);
  struct dirent *e;
  while ((e = readdir(dir))) {
    char uid[128];
    const char *us = strchr(e->d_name, '_');
    if (e->d_name[0] == '.' || !us || (size_t)(us - e->d_name) >= sizeof uid)
      continue;
    snprintf(uid, sizeof uid, "%.*s", (int)(us - e->d_name), e->d_name);
    if (json_object_object_get_ex(uids, uid, NULL))
      continue;
    cleanup_error ferry_error err = FERRY_ERROR_INIT;
    cleanup_free char *ref = NULL;
    int rc = ferry_departed_read(d->admission_dir, uid, us + 1, &ref, &err);
    if (rc < 0)
      log_warn("collector: %s", ferry_error_msg(&err));
    if (rc <= 0 || !migration_over(d, ref))
      continue;
    rc = ferry_departed_remove(d->admission_dir, uid, us + 1, &err);
    removed_record(d, GC_DEPARTED, e->d_name, ref, &err, rc);
  }
}

static void gc_records(struct daemon *d)
{
  cleanup_dir DIR *dir = opendir(d->admission_dir);
  if (!dir) {
    log_warn("collector: opendir %s: %m", d->admission_dir);
    return;
  }
  struct dirent *e;
  while ((e = readdir(dir)))
    if (e->d_type == DT_REG || e->d_type == DT_UNKNOWN)
      gc_record(d, e->d_name);
  gc_departed(d);
}

void gc_pass(struct daemon *d)
{
  if (!d->local.path)
    return;
  gc_images(d, ferry_now_real_ms());
  gc_records(d);
  store_space_refresh(d);
}
