/* SPDX-License-Identifier: Apache-2.0 */
/* Restoring a container from an image: verify it (decoding an encoded one), put
 * its config and root filesystem changes in the target's bundle, and have runc
 * and CRIU restore it. The same last step puts a container back on the source
 * after a failed migration (rollback), and a failed dump is recovered here. */
#include "engine/common.h"

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/util.h"
#include "engine/lazy.h"
#include "image/codec.h"
#include "image/rootfs.h"
#include "runtime/criu.h"
#include "runtime/freeze.h"
#include "runtime/kdat.h"

/* Where runc restore writes the restored init's pid, in the work directory. */
#define RESTORED_PID "restored.pid"

/* CRIU writes its restore statistics into the images directory; the image stays
 * as its manifest lists it, so a later restore or rollback verifies again. */
static void drop_restore_stats(const char *criu_dir)
{
  cleanup_free char *p = ferry_path_join(criu_dir, "stats-restore");
  if (unlink(p) < 0 && errno != ENOENT)
    log_warn("remove %s: %s", p, strerror(errno));
}

/* Restores `id` under `root` from the CRIU images in criu_dir (no verification,
 * no rootfs changes): the shared last step of restore and rollback. On failure
 * whatever runc left of the container is removed. */
static int restore_from(const struct engine_opts *o, const char *root, const char *bundle, const char *id,
                        const char *criu_dir, const struct ferry_criu_flags *flags, const char *work,
                        const char *log_path, char **why)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  cleanup_free char *runc_log = ferry_path_join(work, "runc.log");
  cleanup_free char *cfg = NULL;
  cleanup_close int in = -1;
  cleanup_close int out = -1;
  struct ferry_runc r = engine_runc_for(o, root, runc_log);
  /* CRIU reads the images through paths and fds after it entered the container's
   * mount namespace: it must be given the directory itself, not links to it. */
  struct ferry_criu_conf conf = { .tcp_close = flags->tcp_close, .leave_stopped = flags->leave_stopped };
  if (ferry_criu_write_config(work, &conf, &cfg, &err) < 0 || ferry_stdio_relay(log_path, &in, &out, &err) < 0) {
    *why = ferry_strdup(ferry_error_msg(&err));
    return -1;
  }
  int restored = ferry_runc_restore(&r, id, bundle, criu_dir, work, flags, cfg, in, out, &err);
  drop_restore_stats(criu_dir);
  if (restored < 0) {
    *why = engine_criu_failure(&err, work, "restore.log");
    ferry_error_clear(&err);
    if (ferry_runc_remove(&r, id, &err) < 0)
      log_error("after the failed restore: %s", ferry_error_msg(&err));
    return -1;
  }
  return 0;
}

/* A held source: resumed where it was frozen. */
static void resume_held(const struct engine_opts *o, const struct engine_source *src, const char *what_failed,
                        struct engine_result *res)
{
  struct ferry_runc r = engine_runc_for(o, src->root, NULL);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  log_warn("%s; resuming container %s, held paused on the source", what_failed, src->id);
  if (ferry_runc_resume(&r, src->id, &err) == 0) {
    engine_set_result(res, ENGINE_ROLLED_BACK, "rolled-back",
                      "%s; rolled back: container %s runs again on the source from where it was frozen", what_failed,
                      src->id);
    log_warn("rolled back: container %s resumed on the source (runc root %s)", src->id, src->root);
    return;
  }
  engine_set_result(res, ENGINE_LOST, "lost",
                    "%s; ROLLBACK FAILED, container %s is held paused on the source and could not be resumed: %s; "
                    "resume it by hand with runc --root %s resume %s",
                    what_failed, src->id, ferry_error_msg(&err), src->root, src->id);
  log_error("%s", res->message);
}

void engine_release_held(const struct engine_opts *o, struct engine_source *src, struct engine_result *res)
{
  if (!src->held)
    return;
  struct ferry_runc r = engine_runc_for(o, src->root, NULL);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_runc_remove(&r, src->id, &err) < 0) {
    log_error("the target runs, but the source container %s (held paused) could not be removed: %s", src->id,
              ferry_error_msg(&err));
    cleanup_free char *msg = ferry_asprintf("%s; the source container %s, held paused, could not be removed: %s",
                                            res->message ? res->message : "", src->id, ferry_error_msg(&err));
    free(res->message);
    res->message = ferry_steal(&msg);
    return;
  }
  src->held = 0;
  log_info("the held source container %s is removed (runc root %s)", src->id, src->root);
}

void engine_rollback(const struct engine_opts *o, const struct engine_source *src, const char *name,
                     const char *criu_dir, const char *what_failed, struct engine_result *res)
{
  if (src->held) {
    resume_held(o, src, what_failed, res);
    return;
  }
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  cleanup_free char *work = engine_work_subdir(o, name, "rollback", &err);
  cleanup_free char *why = NULL;
  if (!work) {
    why = ferry_strdup(ferry_error_msg(&err));
  } else {
    cleanup_free char *log = ferry_asprintf("%s/%s/%s.log", o->work_dir, name, src->id);
    struct ferry_criu_flags f = o->flags;
    f.leave_running = 0;
    log_warn("%s; restoring container %s on the source from %s", what_failed, src->id, criu_dir);
    if (restore_from(o, src->root, src->bundle, src->id, criu_dir, &f, work, log, &why) == 0) {
      engine_set_result(res, ENGINE_ROLLED_BACK, "rolled-back",
                        "%s; rolled back: container %s runs again on the source", what_failed, src->id);
      log_warn("rolled back: container %s runs again on the source (runc root %s)", src->id, src->root);
    }
  }
  if (why) {
    engine_set_result(res, ENGINE_LOST, "lost",
                      "%s; ROLLBACK FAILED, container %s is not running: %s. Its image is in %s; restore it by hand "
                      "with ferry-agent restore",
                      what_failed, src->id, why, criu_dir);
    log_error("%s", res->message);
  }
}

enum source_after_dump { SOURCE_KNOWN, SOURCE_GONE, SOURCE_UNKNOWN };

/* The source container's state after a failed dump, a paused one resumed first
 * (CRIU died with the cgroup frozen). SOURCE_UNKNOWN: res says why. */
static enum source_after_dump state_after_dump(struct ferry_runc *r, const char *id, const char *why,
                                               struct ferry_runc_state *st, struct engine_result *res)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_runc_state(r, id, st, &err) < 0)
    return SOURCE_GONE;
  if (strcmp(st->status, "paused") != 0)
    return SOURCE_KNOWN;
  log_warn("container %s was left paused by the failed dump; resuming it", id);
  if (ferry_runc_resume(r, id, &err) < 0)
    log_error("resume %s: %s", id, ferry_error_msg(&err));
  ferry_runc_state_free(st);
  ferry_error_clear(&err);
  if (ferry_runc_state(r, id, st, &err) < 0) {
    engine_set_result(res, ENGINE_LOST, "lost", "the dump failed: %s; the container's state is unknown: %s", why,
                      ferry_error_msg(&err));
    return SOURCE_UNKNOWN;
  }
  return SOURCE_KNOWN;
}

/* A CRIU that died mid-dump leaves the network locked: traffic dropped. */
static void unlock_network(const char *id, pid_t pid)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  cleanup_free char *netns = ferry_asprintf("/proc/%d/ns/net", (int)pid);
  int locked = 0;
  if (ferry_criu_netns_unlock(netns, &locked, &err) < 0)
    log_error("container %s runs but its network may still be locked by CRIU: %s", id, ferry_error_msg(&err));
  else if (locked)
    log_warn("removed the network lock the failed dump left on container %s", id);
}

/* The container runs on after a failed dump: so should every process it had
 * (census.h). One CRIU left stopped is continued; one that died is named:
 * the container runs on without it, and nothing brings that back. */
static void still_running(const struct engine_source *src, const char *why, struct engine_result *res)
{
  char died[1024];
  int continued = 0;
  int gone = ferry_census_check(&src->census, &continued, died, sizeof died);
  if (!gone) {
    engine_set_result(res, ENGINE_FAILED_UNTOUCHED, "failed",
                      "the dump failed: %s; the container still runs on the source%s", why,
                      continued ? " (processes the dump left stopped were continued)" : "");
    return;
  }
  log_error("container %s: %d of its processes ended during the failed dump: %s", src->id, gone, died);
  engine_set_result(res, ENGINE_FAILED_UNTOUCHED, "failed",
                    "the dump failed: %s; the container still runs on the source, but %d of its %zu processes ended "
                    "during the dump: %s (the state they held is gone; the pod's own restart policy and probes "
                    "decide what happens next)",
                    why, gone, src->census.n, died);
}

void engine_recover_failed_dump(const struct engine_opts *o, const struct engine_source *src, const char *name,
                                const char *tmpdir, const char *why, int lazy, struct engine_result *res)
{
  struct ferry_runc r = engine_runc_for(o, src->root, NULL);
  struct ferry_runc_state st = { 0 };
  enum source_after_dump found = state_after_dump(&r, src->id, why, &st, res);
  if (found == SOURCE_UNKNOWN)
    return;
  if (found == SOURCE_KNOWN) {
    int running = strcmp(st.status, "running") == 0;
    if (running)
      unlock_network(src->id, st.pid);
    ferry_runc_state_free(&st);
    if (running) {
      still_running(src, why, res);
    } else {
      engine_set_result(res, ENGINE_LOST, "lost",
                        "the dump failed: %s; the container is no longer running on the source", why);
    }
    return;
  }
  if (lazy || !tmpdir) {
    /* A lazy image holds no memory: nothing to restore from. */
    engine_set_result(res, ENGINE_LOST, "lost",
                      "%s; the container %s is gone from the source and its memory was "
                      "never written anywhere (post-copy)",
                      why, src->id);
    return;
  }
  /* Gone: the dump finished but something after it failed. Restore from what CRIU wrote. */
  cleanup_free char *criu_dir = ferry_path_join(tmpdir, "criu");
  cleanup_free char *what = ferry_asprintf("the dump failed after the container stopped: %s", why);
  engine_rollback(o, src, name, criu_dir, what, res);
}

/* Points the config's network namespace at netns (adding one when it has none). */
static int set_netns(json_object *o, const char *netns, const char *src, ferry_error *err)
{
  json_object *linux_ = NULL, *nss = NULL;
  if (!json_object_object_get_ex(o, "linux", &linux_) || !json_object_object_get_ex(linux_, "namespaces", &nss) ||
      !json_object_is_type(nss, json_type_array))
    return ferry_error_set(err, 0, "%s: no linux.namespaces to put the network namespace in", src);
  int set = 0;
  for (size_t i = 0; i < json_object_array_length(nss); i++) {
    json_object *ns = json_object_array_get_idx(nss, i), *type;
    if (json_object_object_get_ex(ns, "type", &type) && !strcmp(json_object_get_string(type), "network")) {
      json_object_object_add(ns, "path", json_object_new_string(netns));
      set = 1;
    }
  }
  if (!set) {
    json_object *ns = json_object_new_object();
    json_object_object_add(ns, "type", json_object_new_string("network"));
    json_object_object_add(ns, "path", json_object_new_string(netns));
    json_object_array_add(nss, ns);
  }
  return 0;
}

/* The target's config.json: the image's, with the root at "rootfs" and the
 * network namespace at netns. An existing config.json (the runtime's) is kept,
 * only its network namespace replaced when netns is given. */
static int prepare_config(const char *image_dir, const char *bundle, const char *netns, char **rootfs, ferry_error *err)
{
  cleanup_free char *dst = ferry_path_join(bundle, "config.json");
  int have = ferry_path_exists(dst);
  cleanup_free char *src = have ? ferry_strdup(dst) : ferry_path_join(image_dir, "config.json");
  cleanup_free char *text = NULL;
  if (ferry_read_file(src, &text, NULL, err) < 0)
    return -1;
  cleanup_json json_object *o = json_tokener_parse(text);
  json_object *root = NULL, *path = NULL;
  if (!o || !json_object_object_get_ex(o, "root", &root) || !json_object_object_get_ex(root, "path", &path))
    return ferry_error_set(err, 0, "%s: not an OCI config (no root.path)", src);
  if (!have)
    json_object_object_add(root, "path", json_object_new_string("rootfs"));
  json_object_object_get_ex(root, "path", &path);
  const char *rp = json_object_get_string(path);
  *rootfs = rp[0] == '/' ? ferry_strdup(rp) : ferry_path_join(bundle, rp);
  if (netns && set_netns(o, netns, src, err) < 0)
    return -1;
  if (!have || netns) {
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (ferry_write_file_atomic(dst, s, strlen(s), err) < 0)
      return -1;
  }
  if (!ferry_is_dir(*rootfs)) {
    ferry_error_set(err, ENOENT, "target root filesystem %s (the node prepares it from the container image)", *rootfs);
    free(*rootfs);
    *rootfs = NULL;
    return -1;
  }
  return 0;
}

int engine_open_image(const struct engine_opts *o, const struct ferry_store *store, const char *name, const char *sub,
                      enum ferry_verify_scope scope, struct ferry_manifest *m, char **image_dir, char **use_dir,
                      int *memory_left, ferry_error *err)
{
  if (ferry_store_open(store, name, image_dir, err) < 0 || ferry_manifest_load(*image_dir, m, err) < 0)
    return -1;
  if (ferry_manifest_encoded(m))
    scope = FERRY_VERIFY_ALL; /* decoding reads every byte anyway */
  if (ferry_manifest_verify_scope(*image_dir, m, scope, err) < 0)
    return -1;
  if (memory_left)
    *memory_left = scope == FERRY_VERIFY_ALL_BUT_MEMORY;
  if (!ferry_manifest_encoded(m)) {
    *use_dir = ferry_strdup(*image_dir);
    return 0;
  }
  char *dir = engine_work_subdir(o, name, sub, err);
  if (!dir)
    return -1;
  if (ferry_codec_decode_tree(o->codec, m, *image_dir, dir, err) < 0) {
    cleanup_error ferry_error e2 = FERRY_ERROR_INIT;
    ferry_rm_rf(dir, &e2);
    free(dir);
    return -1;
  }
  *use_dir = dir;
  return 0;
}

void engine_drop_decoded(const char *image_dir, char **use_dir)
{
  if (*use_dir && image_dir && strcmp(*use_dir, image_dir) != 0) {
    cleanup_error ferry_error err = FERRY_ERROR_INIT;
    if (ferry_rm_rf(*use_dir, &err) < 0)
      log_warn("removing the decoded image %s: %s", *use_dir, ferry_error_msg(&err));
  }
  free(*use_dir);
  *use_dir = NULL;
}

/* One restore, from opening the image to the container running. */
struct restore {
  const struct engine_opts *o;
  const struct engine_target *t;
  const char *name;
  struct lazy_restore *lazy;
  struct engine_result *res;
  const char *id; /* the restored container's */
  struct ferry_manifest m;
  char *image_dir, *use_dir, *rootfs, *work, *criu_dir, *log;
  uint64_t entries; /* in the root filesystem changes */
  int memory_left;  /* the memory files are hashed while CRIU restores (memory_check) */
  int64_t t0;
  ferry_error err;
};

static void restore_free(struct restore *c)
{
  engine_drop_decoded(c->image_dir, &c->use_dir);
  free(c->image_dir);
  free(c->rootfs);
  free(c->work);
  free(c->criu_dir);
  free(c->log);
  ferry_manifest_free(&c->m);
  ferry_error_clear(&c->err);
}

/* Verifies (and decodes) the image; refuses one of the other kind (whole or lazy). */
static int open_verified(struct restore *c, const struct ferry_store *store)
{
  if (ferry_image_name_valid(c->name, &c->err) < 0) {
    engine_set_result(c->res, ENGINE_USAGE, "failed", "%s", ferry_error_msg(&c->err));
    return -1;
  }
  cleanup_free char *dsub = ferry_asprintf("decoded-%s", c->t->id ? c->t->id : "restore");
  /* A whole image's memory is hashed while CRIU restores it (run_restore);
   * every file CRIU parses is checked before. */
  enum ferry_verify_scope scope = c->lazy ? FERRY_VERIFY_ALL : FERRY_VERIFY_ALL_BUT_MEMORY;
  if (engine_open_image(c->o, store, c->name, dsub, scope, &c->m, &c->image_dir, &c->use_dir, &c->memory_left,
                        &c->err) < 0) {
    engine_set_result(c->res, ENGINE_FAILED_UNTOUCHED, "failed", "restore refused: %s", ferry_error_msg(&c->err));
    return -1;
  }
  c->res->verify_ms = ferry_now_mono_ms() - c->t0;
  if (c->m.lazy_pages && !c->lazy) {
    engine_set_result(c->res, ENGINE_FAILED_UNTOUCHED, "failed",
                      "restore refused: image %s holds no memory (post-copy: its pages were served by the source's "
                      "page server %s while the migration ran)",
                      c->name, c->m.page_server);
    return -1;
  }
  if (!c->m.lazy_pages && c->lazy) {
    engine_set_result(c->res, ENGINE_FAILED_UNTOUCHED, "failed", "image %s is not a post-copy image", c->name);
    return -1;
  }
  return 0;
}

int engine_target_taken(const struct engine_opts *o, const char *root, const char *id, struct engine_result *res)
{
  struct ferry_runc r = engine_runc_for(o, root, NULL);
  struct ferry_runc_state st;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_runc_state(&r, id, &st, &err) < 0)
    return 0;
  ferry_runc_state_free(&st);
  engine_set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "a container %s already exists in runc root %s", id, root);
  return 1;
}

/* The restore's work directory, log and CRIU images; for post-copy, CRIU's
 * lazy-pages daemon started there (it gets ready while the bundle is prepared). */
static int prepare_work(struct restore *c)
{
  cleanup_free char *sub = ferry_asprintf("restore-%s", c->id);
  if (!(c->work = engine_work_subdir(c->o, c->name, sub, &c->err))) {
    engine_set_result(c->res, ENGINE_FAILED_UNTOUCHED, "failed", "%s", ferry_error_msg(&c->err));
    return -1;
  }
  c->log = c->t->log ? ferry_strdup(c->t->log) : ferry_asprintf("%s/%s/%s.log", c->o->work_dir, c->name, c->id);
  c->criu_dir = ferry_path_join(c->use_dir, "criu");
  if (c->lazy && lazy_daemon_spawn(c->o->criu, c->criu_dir, c->work, c->m.page_server, &c->lazy->daemon, &c->err) < 0) {
    engine_set_result(c->res, ENGINE_FAILED_UNTOUCHED, "failed", "restore failed, nothing runs on the target: %s",
                      ferry_error_msg(&c->err));
    return -1;
  }
  return 0;
}

/* The target's bundle: the config written, the root filesystem changes applied. */
static int prepare_bundle(struct restore *c)
{
  const struct engine_target *t = c->t;
  if (prepare_config(c->use_dir, t->bundle, t->netns, &c->rootfs, &c->err) < 0) {
    engine_set_result(c->res, ENGINE_FAILED_UNTOUCHED, "failed", "restore: %s", ferry_error_msg(&c->err));
    return -1;
  }
  cleanup_free char *tar = ferry_path_join(c->use_dir, "rootfs-diff.tar");
  if (ferry_path_exists(tar) && ferry_rootfs_diff_apply(tar, c->rootfs, &c->entries, &c->err) < 0) {
    engine_set_result(c->res, ENGINE_FAILED_UNTOUCHED, "failed", "restore: applying the root filesystem changes: %s",
                      ferry_error_msg(&c->err));
    return -1;
  }
  return 0;
}

/* No container of that id yet, the work directory, the bundle. */
static int prepare_target(struct restore *c)
{
  const struct engine_target *t = c->t;
  c->id = t->id ? t->id : c->m.container_id;
  if (!t->checked_free && engine_target_taken(c->o, t->root, c->id, c->res))
    return -1;
  if (prepare_work(c) < 0)
    return -1;
  if (prepare_bundle(c) == 0)
    return 0;
  if (c->lazy && c->lazy->daemon > 0) {
    ferry_proc_kill_group(c->lazy->daemon);
    c->lazy->daemon = 0;
  }
  return -1;
}

/* The restored tasks, left stopped by CRIU, continue: SIGCONT to every process
 * of the container's cgroup (as runc kill --all does, without runc's start
 * inside the downtime); by runc when the restored pid is unknown. */
static int let_run(struct restore *c, const struct ferry_runc *r, ferry_error *err)
{
  cleanup_free char *pid_file = ferry_path_join(c->work, RESTORED_PID);
  cleanup_free char *text = NULL;
  cleanup_error ferry_error why = FERRY_ERROR_INIT;
  long pid = 0;
  if (ferry_read_file(pid_file, &text, NULL, &why) == 0 && (pid = strtol(text, NULL, 10)) > 0 &&
      ferry_cgroup_signal_all((pid_t)pid, SIGCONT, &why) == 0)
    return 0;
  log_debug("continuing %s by runc: %s", c->id, why.msg ? ferry_error_msg(&why) : "no pid");
  return ferry_runc_kill_all(r, c->id, "CONT", err);
}

/* A restore made with its tasks stopped while the memory was hashed: they run
 * only when every memory file matched; else the stopped target is removed.
 * restored: whether runc restored it (when not, the caller reports why). */
static int memory_verdict(struct restore *c, struct memory_check *mc, int restored)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  int64_t t = ferry_now_mono_ms();
  int matched = engine_memory_check_wait(mc, &err) == 0;
  c->res->verify_ms += ferry_now_mono_ms() - t; /* what the hashing took beyond the restore */
  struct ferry_runc r = engine_runc_for(c->o, c->t->root, NULL);
  if (matched && (!restored || let_run(c, &r, &err) == 0))
    return 0;
  cleanup_error ferry_error rm = FERRY_ERROR_INIT;
  if (restored && ferry_runc_remove(&r, c->id, &rm) < 0)
    log_error("removing the stopped target %s: %s", c->id, ferry_error_msg(&rm));
  if (!matched)
    engine_set_result(c->res, ENGINE_FAILED_UNTOUCHED, "failed",
                      "restore refused: %s; the restored process never ran%s", ferry_error_msg(&err),
                      restored ? " and was removed" : "");
  else
    engine_set_result(c->res, ENGINE_FAILED_UNTOUCHED, "failed",
                      "restore failed, nothing runs on the target: letting the restored process run: %s",
                      ferry_error_msg(&err));
  return -1;
}

/* runc restore (with the lazy-pages daemon first for post-copy). A whole
 * image's memory is hashed meanwhile, its tasks left stopped until it matched. */
static int run_restore(struct restore *c)
{
  const struct engine_target *t = c->t;
  struct lazy_restore *lazy = c->lazy;
  /* Options the dump was made with must be given to the restore too. */
  struct ferry_criu_flags f = c->o->flags;
  f.tcp_established |= c->m.tcp_established;
  f.file_locks |= c->m.file_locks;
  f.ext_unix_sk |= c->m.ext_unix_sk;
  f.shell_job |= c->m.shell_job;
  f.leave_running = 0;
  int64_t t_restore = ferry_now_mono_ms();
  if (lazy) {
    f.lazy_pages = 1;
    if (lazy_daemon_ready(c->work, &lazy->daemon, &c->err) < 0) {
      engine_set_result(c->res, ENGINE_FAILED_UNTOUCHED, "failed", "restore failed, nothing runs on the target: %s",
                        ferry_error_msg(&c->err));
      return -1;
    }
  }
  log_info("restoring container %s (runc root %s, bundle %s) from %s%s", c->id, t->root, t->bundle, c->image_dir,
           lazy ? ", memory from the source's page server" : "");
  cleanup_free char *why = NULL;
  struct memory_check mc;
  cleanup_free char *pid_file = ferry_path_join(c->work, RESTORED_PID);
  if (c->memory_left) {
    f.leave_stopped = 1;
    f.pid_file = pid_file;
    engine_memory_check_start(&mc, c->use_dir, &c->m);
  }
  int restored = restore_from(c->o, t->root, t->bundle, c->id, c->criu_dir, &f, c->work, c->log, &why) == 0;
  c->res->restore_ms = ferry_now_mono_ms() - t_restore;
  if (c->memory_left && memory_verdict(c, &mc, restored) < 0)
    return -1;
  if (!restored) {
    engine_set_result(c->res, ENGINE_FAILED_UNTOUCHED, "failed", "restore failed, nothing runs on the target: %s", why);
    if (lazy && lazy->daemon > 0) {
      ferry_proc_kill_group(lazy->daemon);
      lazy->daemon = 0;
    }
    return -1;
  }
  if (lazy) {
    lazy->work = ferry_strdup(c->work);
    if (strcmp(c->use_dir, c->image_dir) != 0) /* the daemon reads it until the last page */
      lazy->decoded = ferry_steal(&c->use_dir);
  }
  return 0;
}

int engine_restore_run(const struct engine_opts *o, const struct engine_target *t, const struct ferry_store *store,
                       const char *name, struct lazy_restore *lazy, struct engine_result *res)
{
  struct restore c __attribute__((cleanup(restore_free))) = {
    .o = o,
    .t = t,
    .name = name,
    .lazy = lazy,
    .res = res,
    .t0 = ferry_now_mono_ms(),
    .err = FERRY_ERROR_INIT,
  };
  ferry_criu_kdat_prepare(o->criu);
  if (open_verified(&c, store) < 0 || prepare_target(&c) < 0 || run_restore(&c) < 0)
    return -1;
  res->total_ms = ferry_now_mono_ms() - c.t0;
  if (c.m.freeze_start_ms > 0 && !c.m.leave_running)
    res->downtime_ms = ferry_now_real_ms() - c.m.freeze_start_ms;
  res->bytes = c.m.total_bytes;
  res->strategy = engine_strategy_name(c.m.lazy_pages ? STRATEGY_POST_COPY : STRATEGY_STOP_AND_COPY);
  res->image_dir = ferry_strdup(c.image_dir);
  engine_set_result(res, ENGINE_OK, "restored",
                    "container %s restored under runc root %s from %s (%llu rootfs entries)", c.id, t->root,
                    c.image_dir, (unsigned long long)c.entries);
  return 0;
}

int engine_restore(const struct engine_opts *o, const struct engine_target *t, const struct ferry_store *store,
                   const char *name, struct engine_result *res)
{
  return engine_restore_run(o, t, store, name, NULL, res);
}
