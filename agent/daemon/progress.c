/* SPDX-License-Identifier: Apache-2.0 */
/* Live progress of this node's long steps in its migrations' status, at most
 * every PROGRESS_INTERVAL_MS and only when it moved: status.progress (stage,
 * bytesDone against totalBytes, updateTime) and, while post-copy pages flow,
 * status.bytesMoved.afterRestore. Read off what the steps leave on disk, so
 * no step has to report: the image being written into the store (the
 * checkpoint on the source; a direct transfer received on the target), the
 * relay's running count (the pages the target fetched). */
#include "daemon.h"

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "kube/informer.h"
#include "kube/kube.h"
#include "runtime/relay.h"

enum progress_stage { STAGE_NONE, STAGE_CHECKPOINTING, STAGE_TRANSFERRING, STAGE_FETCHING_PAGES };

static const char *const STAGE_NAMES[] = { [STAGE_NONE] = "",
                                           [STAGE_CHECKPOINTING] = "Checkpointing",
                                           [STAGE_TRANSFERRING] = "Transferring",
                                           [STAGE_FETCHING_PAGES] = "FetchingPages" };

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
    tree_bytes = 0;
    if (nftw(path, add_file, 8, FTW_PHYS) == 0)
      total = (total < 0 ? 0 : total) + (int64_t)tree_bytes;
  }
  return total;
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
static enum progress_stage stage_of(struct daemon *d, json_object *pm, int64_t *bytes)
{
  cleanup_free char *image = image_name(pm);
  if (!image)
    return STAGE_NONE;
  enum pm_phase phase = pm_phase(pm);
  if (phase == PM_CHECKPOINTING && on_node(d, pm, "sourceNode"))
    return (*bytes = partial_bytes(d, image)) >= 0 ? STAGE_CHECKPOINTING : STAGE_NONE;
  if (phase == PM_TRANSFERRING && on_node(d, pm, "targetNode")) /* (a direct transfer being received) */
    return (*bytes = partial_bytes(d, image)) >= 0 ? STAGE_TRANSFERRING : STAGE_NONE;
  if (is_postcopy(pm) && (phase == PM_RESTORING || phase == PM_SUCCEEDED) && on_node(d, pm, "sourceNode") &&
      !pm_condition_true(pm, "MemoryTransferred") && !pm_condition_true(pm, "SourceReleased")) {
    *bytes = (int64_t)pages_bytes(d, image);
    return STAGE_FETCHING_PAGES;
  }
  return STAGE_NONE;
}

/* status.progress and, for pages, bytesMoved.afterRestore: written only when
 * the bytes moved on since what pm holds. */
static void publish(struct daemon *d, json_object *pm, enum progress_stage stage, int64_t bytes)
{
  json_object *had = ferry_kube_obj(ferry_kube_obj(pm, "status"), "progress");
  if (had && !strcmp(ferry_kube_str(had, "stage") ?: "", STAGE_NAMES[stage]) &&
      json_object_get_int64(ferry_kube_obj(had, "bytesDone")) == bytes)
    return;
  char now[40];
  ferry_format_time(ferry_now_real_ms(), now, sizeof now);
  json_object *p = json_object_new_object();
  json_object_object_add(p, "stage", json_object_new_string(STAGE_NAMES[stage]));
  json_object_object_add(p, "bytesDone", json_object_new_int64(bytes));
  json_object_object_add(
      p, "totalBytes",
      json_object_new_int64(json_object_get_int64(ferry_kube_obj(ferry_kube_obj(pm, "status"), "memoryBytes"))));
  json_object_object_add(p, "updateTime", json_object_new_string(now));
  json_object *patch = pm_status_patch(PM_NONE, NULL, NULL);
  pm_patch_set(patch, "progress", p);
  if (stage == STAGE_FETCHING_PAGES) {
    json_object *bm = json_object_new_object();
    json_object_object_add(bm, "afterRestore", json_object_new_int64(bytes));
    pm_patch_set(patch, "bytesMoved", bm);
  }
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  struct ferry_kube_status st = { 0 };
  /* (not conditional: it changes only what no one else writes meanwhile) */
  if (pm_write_status(d->kube, pm, patch, 0, NULL, &st, &err) < 0)
    log_debug("%s: progress: %s", ferry_kube_str(pm, "metadata.name"), ferry_error_msg(&err));
  json_object_put(patch);
}

static void progress_of(void *ctx, json_object *pm)
{
  struct daemon *d = ctx;
  int64_t bytes = 0;
  enum progress_stage stage = stage_of(d, pm, &bytes);
  if (stage != STAGE_NONE)
    publish(d, pm, stage, bytes);
}

void progress_pass(struct daemon *d) { ferry_informer_each(d->pms, progress_of, d); }
