/* SPDX-License-Identifier: Apache-2.0 */
/* Live progress of this node's long steps in its migrations' status, at most
 * every PROGRESS_INTERVAL_MS and only when it moved: status.progress (stage,
 * bytesDone against totalBytes, updateTime) and, while post-copy pages flow,
 * status.bytesMoved.afterRestore. Read off what the steps leave on disk, so
 * no step has to report: the image being written into the store (the
 * checkpoint on the source; a direct transfer received on the target), the
 * private copy ferry-runc verifies the image into on the target (named by its
 * record next to the admission, lib/api/admission.h), the relay's running
 * count (the pages the target fetched). A sample a second may miss a stage's
 * end: the target's steps write it as they see the stage ended
 * (progress_received_into, progress_verified). */
#include "daemon.h"

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "api/admission.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/pidrec.h"
#include "base/util.h"
#include "kube/informer.h"
#include "kube/kube.h"
#include "runtime/relay.h"

enum progress_stage { STAGE_NONE, STAGE_CHECKPOINTING, STAGE_TRANSFERRING, STAGE_VERIFYING, STAGE_FETCHING_PAGES };

static const char *const STAGE_NAMES[] = { [STAGE_NONE] = "",
                                           [STAGE_CHECKPOINTING] = "Checkpointing",
                                           [STAGE_TRANSFERRING] = "Transferring",
                                           [STAGE_VERIFYING] = "Verifying",
                                           [STAGE_FETCHING_PAGES] = "FetchingPages" };

/* What a stage has done: bytes of total (total -1: the container's memory, status.memoryBytes). */
struct sample {
  enum progress_stage stage;
  int64_t done, total;
};

/* Bytes under a directory (nftw's callback adds regular files up). */
static uint64_t tree_bytes;
static int add_file(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
  (void)path;
  (void)ftw;
  if (type == FTW_F)
    tree_bytes += (uint64_t)st->st_size;
  return 0;
}

/* The bytes of the regular files under path; -1 when it cannot be walked (not there). */
static int64_t tree_size(const char *path)
{
  tree_bytes = 0;
  return nftw(path, add_file, 8, FTW_PHYS) == 0 ? (int64_t)tree_bytes : -1;
}

/* An image being written into this node's store: the bytes of its partial
 * directories (.NAME.tmp-PID: the checkpoint's, or a direct transfer's as it
 * is received); -1 when there is none. */
static int64_t partial_bytes(struct daemon *d, const char *image)
{
  if (!d->local.path)
    return -1;
  cleanup_dir DIR *dir = opendir(d->local.path);
  if (!dir)
    return -1;
  cleanup_free char *prefix = ferry_asprintf(".%s.tmp-", image);
  int64_t total = -1;
  struct dirent *e;
  while ((e = readdir(dir))) {
    if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
      continue;
    cleanup_free char *path = ferry_path_join(d->local.path, e->d_name);
    int64_t n = tree_size(path);
    if (n >= 0)
      total = (total < 0 ? 0 : total) + n;
  }
  return total;
}

/* The target's restore: the bytes of ferry-runc's private copy of the image so
 * far, *total its size once whole. Its directory is looked at through
 * ferry-runc's process (/proc/PID/root or, for a relative path, cwd): this
 * agent's container need not mount ferry-runc's state directory. -1 while
 * there is none: no record, another migration's, its ferry-runc gone (its PID
 * ended or is another process's now), the copy not begun. */
static int64_t copy_bytes(struct daemon *d, json_object *pm, int64_t *total)
{
  const char *tpod = ferry_kube_str(pm, "status.targetPod"), *cname = container_name(pm);
  struct ferry_restore_copy c;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (!tpod || !cname ||
      ferry_restore_copy_read(d->admission_dir, ferry_kube_str(pm, "metadata.namespace"), tpod, cname, &c, &err) < 0)
    return -1;
  cleanup_free char *ref = pm_ref(pm);
  int64_t n = -1;
  if (!strcmp(c.pod_migration, ref) && c.pid > 0 && c.start && *c.dir && ferry_pidrec_running(c.pid, c.start)) {
    cleanup_free char *path = ferry_asprintf("/proc/%d/%s%s", (int)c.pid, c.dir[0] == '/' ? "root" : "cwd/", c.dir);
    if ((n = tree_size(path)) >= 0)
      *total = c.bytes;
  }
  ferry_restore_copy_free(&c);
  return n;
}

/* Post-copy: the pages the relay has passed to the target so far (its count,
 * written every second while it runs). */
static uint64_t pages_bytes(struct daemon *d, const char *image)
{
  cleanup_free char *path = ferry_asprintf("%s/%s/dump/relay.json", d->g->work_dir, image);
  struct ferry_relay_stats st;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_relay_stats_load(path, &st, &err) < 0)
    return 0;
  uint64_t n = st.to_client;
  ferry_relay_stats_free(&st);
  return n;
}

static int on_node(struct daemon *d, json_object *pm, const char *field)
{
  return !strcmp(ferry_kube_str(ferry_kube_obj(pm, "status"), field) ?: "", d->g->node);
}

/* What this node is doing for pm that takes long: its stage and bytes so far
 * (STAGE_NONE when nothing, or nothing measurable yet). */
static enum progress_stage stage_of(struct daemon *d, json_object *pm, struct sample *s)
{
  cleanup_free char *image = image_name(pm);
  if (!image)
    return STAGE_NONE;
  enum pm_phase phase = pm_phase(pm);
  if (phase == PM_CHECKPOINTING && on_node(d, pm, "sourceNode"))
    return (s->done = partial_bytes(d, image)) >= 0 ? STAGE_CHECKPOINTING : STAGE_NONE;
  if (phase == PM_TRANSFERRING && on_node(d, pm, "targetNode")) /* (a direct transfer being received) */
    return (s->done = partial_bytes(d, image)) >= 0 ? STAGE_TRANSFERRING : STAGE_NONE;
  /* (post-copy: the image holds no memory, its copy is small; the source's FetchingPages is the stage) */
  if (phase == PM_RESTORING && on_node(d, pm, "targetNode") && !is_postcopy(pm))
    return (s->done = copy_bytes(d, pm, &s->total)) >= 0 ? STAGE_VERIFYING : STAGE_NONE;
  if (is_postcopy(pm) && (phase == PM_RESTORING || phase == PM_SUCCEEDED) && on_node(d, pm, "sourceNode") &&
      !pm_condition_true(pm, "MemoryTransferred") && !pm_condition_true(pm, "SourceReleased")) {
    s->done = (int64_t)pages_bytes(d, image);
    return STAGE_FETCHING_PAGES;
  }
  return STAGE_NONE;
}

/* status.progress for a sample (a new object). */
static json_object *progress_object(json_object *pm, const struct sample *s)
{
  char now[40];
  ferry_format_time(ferry_now_real_ms(), now, sizeof now);
  int64_t total =
      s->total >= 0 ? s->total : json_object_get_int64(ferry_kube_obj(ferry_kube_obj(pm, "status"), "memoryBytes"));
  json_object *p = json_object_new_object();
  json_object_object_add(p, "stage", json_object_new_string(STAGE_NAMES[s->stage]));
  json_object_object_add(p, "bytesDone", json_object_new_int64(s->done));
  json_object_object_add(p, "totalBytes", json_object_new_int64(total));
  json_object_object_add(p, "updateTime", json_object_new_string(now));
  return p;
}

/* status.progress and, for pages, bytesMoved.afterRestore: written only when
 * the bytes moved on since what pm holds. The stored object after the write
 * (caller puts), NULL when not written (a failure is logged, never more: a
 * progress holds nothing up). */
static json_object *publish(struct daemon *d, json_object *pm, const struct sample *s)
{
  json_object *had = ferry_kube_obj(ferry_kube_obj(pm, "status"), "progress");
  if (had && !strcmp(ferry_kube_str(had, "stage") ?: "", STAGE_NAMES[s->stage]) &&
      json_object_get_int64(ferry_kube_obj(had, "bytesDone")) == s->done &&
      (s->total < 0 || json_object_get_int64(ferry_kube_obj(had, "totalBytes")) == s->total))
    return NULL;
  json_object *patch = pm_status_patch(PM_NONE, NULL, NULL);
  pm_patch_set(patch, "progress", progress_object(pm, s));
  if (s->stage == STAGE_FETCHING_PAGES) {
    json_object *bm = json_object_new_object();
    json_object_object_add(bm, "afterRestore", json_object_new_int64(s->done));
    pm_patch_set(patch, "bytesMoved", bm);
  }
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  struct ferry_kube_status st = { 0 };
  json_object *out = NULL;
  /* (not conditional: it changes only what no one else writes meanwhile) */
  if (pm_write_status(d->kube, pm, patch, 0, &out, &st, &err) < 0)
    log_debug("%s: progress: %s", ferry_kube_str(pm, "metadata.name"), ferry_error_msg(&err));
  json_object_put(patch);
  return out;
}

static void progress_of(void *ctx, json_object *pm)
{
  struct daemon *d = ctx;
  struct sample s = { STAGE_NONE, 0, -1 };
  s.stage = stage_of(d, pm, &s);
  if (s.stage != STAGE_NONE)
    json_object_put(publish(d, pm, &s));
}

void progress_pass(struct daemon *d) { ferry_informer_each(d->pms, progress_of, d); }

void progress_received_into(struct daemon *d, json_object *pm, json_object *patch, const char *image)
{
  cleanup_free char *path = d->local.path ? ferry_path_join(d->local.path, image) : NULL;
  struct sample s = { STAGE_TRANSFERRING, path ? tree_size(path) : -1, -1 };
  if (s.done >= 0)
    pm_patch_set(patch, "progress", progress_object(pm, &s));
}

json_object *progress_verified(struct daemon *d, json_object *pm, int64_t copy_bytes)
{
  struct sample s = { STAGE_VERIFYING, copy_bytes, copy_bytes };
  return copy_bytes > 0 && !is_postcopy(pm) ? publish(d, pm, &s) : NULL;
}
