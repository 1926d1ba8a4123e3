/* SPDX-License-Identifier: Apache-2.0 */
/* One move from the source to the target: checkpoint, (send the image to the
 * target's store,) restore, and roll back when the restore fails. Post-copy
 * restores a small image first and moves the memory after, by CRIU's lazy pages;
 * its two halves also run separately, one per node (the daemon's steps). */
#include "engine/common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/util.h"
#include "engine/lazy.h"
#include "image/stream.h"
#include "runtime/relay.h"
#include "runtime/kdat.h"

/* How long the source's CRIU may take to end once the target has every page. */
#define POSTCOPY_FINISH_MS 30000
/* How long a receiver may take to end after the sender failed. */
#define RECEIVER_GRACE_MS 10000

/* The source after a post-copy failed: CRIU stopped, the container thawed. */
static void postcopy_recover(const struct engine_opts *o, const struct engine_source *src, const char *name,
                             const char *why, struct engine_result *res)
{
  struct engine_result rr = { 0 };
  engine_recover_failed_dump(o, src, name, NULL, why, 1, &rr);
  if (rr.exit_code == ENGINE_FAILED_UNTOUCHED)
    engine_set_result(res, ENGINE_ROLLED_BACK, "rolled-back",
                      "%s; rolled back: container %s runs again on the "
                      "source from where it was frozen",
                      why, src->id);
  else
    engine_set_result(res, ENGINE_LOST, "lost", "%s", rr.message ? rr.message : why);
  log_warn("%s", res->message);
  engine_result_free(&rr);
}

static int page_timeout(const struct engine_opts *o) { return o->timeout_ms > 0 ? o->timeout_ms : -1; }

/* One post-copy migration on this node: both halves. */
struct postcopy {
  const struct engine_opts *o;
  const char *name;
  struct engine_source src;
  struct lazy_source ls;
  struct lazy_restore lr;
  struct engine_result rr; /* the restore's */
  char *why;
};

static void postcopy_free(struct postcopy *p)
{
  if (p->lr.daemon > 0)
    ferry_proc_kill_group(p->lr.daemon);
  free(p->lr.work);
  engine_drop_decoded("", &p->lr.decoded);
  free(p->why);
  lazy_source_free(&p->ls);
  engine_result_free(&p->rr);
  engine_source_free(&p->src);
  engine_drop_stage(p->o, p->name);
}

/* The pages stopped coming after the target started: the target has holes in
 * its memory and must not run on; the source resumes from its freeze. */
static void pages_failed(struct postcopy *p, const struct engine_target *t, const char *id, int64_t t_running,
                         struct engine_result *res)
{
  struct ferry_runc tr = engine_runc_for(p->o, t->root, NULL);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  const char *tid = t->id ? t->id : id;
  if (ferry_runc_remove(&tr, tid, &err) < 0)
    log_error("removing the half-restored target %s: %s", tid, ferry_error_msg(&err));
  /* The relay resets CRIU's session: CRIU fails the dump and thaws the container. */
  lazy_dump_abort(&p->ls);
  cleanup_free char *all = ferry_asprintf("post-copy failed after the target started (%lld ms): %s; the target was "
                                          "killed, what it did since it started is lost",
                                          (long long)(ferry_now_mono_ms() - t_running), p->why);
  postcopy_recover(p->o, &p->src, p->name, all, res);
}

/* Before the freeze: no container of the target's id exists yet (else the move
 * is refused with the source untouched); the restore then skips that check. */
static int target_checked(const struct engine_opts *o, const char *id, struct engine_target *t,
                          struct engine_result *res)
{
  if (engine_target_taken(o, t->root, t->id ? t->id : id, res))
    return -1;
  t->checked_free = 1;
  return 0;
}

/* Post-copy: a small image through the store, the memory from the source's page
 * server. Downtime ends when the target runs; the source is released only when
 * its last page arrived. */
static int migrate_postcopy(const struct engine_opts *o, const char *root, const char *id,
                            const struct engine_target *t, const struct ferry_store *store, const char *name,
                            struct engine_result *res)
{
  cleanup_free char *why_unsupported = lazy_unsupported_reason();
  if (why_unsupported) {
    engine_set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "postCopy is not possible on this node: %s",
                      why_unsupported);
    return -1;
  }
  struct postcopy p __attribute__((cleanup(postcopy_free))) = { .o = o, .name = name };
  int64_t t0 = ferry_now_mono_ms();
  struct engine_target tt = *t;
  if (target_checked(o, id, &tt, res) < 0 ||
      engine_checkpoint_run(o, root, id, store, name, &p.src, &p.ls, ENGINE_DUMP_KILLS, res) < 0)
    return -1;
  if (engine_restore_run(o, &tt, store, name, &p.lr, &p.rr) < 0) {
    lazy_dump_abort(&p.ls);
    postcopy_recover(o, &p.src, name, p.rr.message ? p.rr.message : "restore failed", res);
    return -1;
  }
  int64_t t_running = ferry_now_mono_ms();
  res->verify_ms = p.rr.verify_ms;
  res->restore_ms = p.rr.restore_ms;
  res->downtime_ms = t_running - p.src.freeze_mono_ms;
  log_info("container %s runs on the target after %lld ms; its memory follows from %s", id, (long long)res->downtime_ms,
           p.ls.page_server);
  int waited = lazy_daemon_wait(p.lr.daemon, p.lr.work, page_timeout(o), &p.why);
  p.lr.daemon = 0;
  if (waited < 0) {
    pages_failed(&p, t, id, t_running, res);
    return -1;
  }
  res->pages_ms = ferry_now_mono_ms() - t_running;
  lazy_dump_commit(&p.ls); /* the target has every page: CRIU may release the source */
  if (lazy_dump_finish(&p.ls, POSTCOPY_FINISH_MS, &p.why) < 0) {
    /* Every page arrived, yet the source's CRIU failed at its end: the target has
     * everything and runs; the source container may be left frozen. */
    log_warn("every page arrived but the source's CRIU ended badly: %s", p.why);
  }
  res->bytes_after_restore = lazy_source_bytes(&p.ls);
  res->total_ms = ferry_now_mono_ms() - t0;
  engine_set_result(res, ENGINE_OK, "migrated",
                    "container %s moved from runc root %s to %s as %s by post-copy (image "
                    "%s, %llu bytes of memory after the restore)",
                    id, root, t->root, t->id ? t->id : id, res->image_dir,
                    (unsigned long long)res->bytes_after_restore);
  return 0;
}

int engine_postcopy_checkpoint(const struct engine_opts *o, const char *root, const char *id,
                               const struct ferry_store *store, const char *name, struct engine_source *src,
                               struct lazy_source *ls, struct engine_result *res)
{
  cleanup_free char *why = lazy_unsupported_reason();
  if (why) {
    engine_set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "postCopy is not possible on this node: %s", why);
    memset(src, 0, sizeof *src);
    return -1;
  }
  if (o->flags.leave_running) {
    engine_set_result(res, ENGINE_USAGE, "failed", "postCopy moves the container: --leave-running does not apply");
    memset(src, 0, sizeof *src);
    return -1;
  }
  if (engine_checkpoint_run(o, root, id, store, name, src, ls, ENGINE_DUMP_KILLS, res) < 0)
    return -1;
  engine_set_result(res, ENGINE_OK, "serving", "container %s frozen, image %s published, memory served on %s", id,
                    res->image_dir, ls->page_server);
  return 0;
}

int engine_postcopy_release(const struct engine_opts *o, const struct engine_source *src, struct lazy_source *ls,
                            const char *name, struct engine_result *res)
{
  cleanup_free char *why = NULL;
  int64_t t0 = ferry_now_mono_ms();
  int rc = lazy_dump_finish(ls, page_timeout(o), &why);
  res->bytes_after_restore = lazy_source_bytes(ls);
  if (rc == 0) {
    res->pages_ms = ferry_now_mono_ms() - t0;
    engine_set_result(res, ENGINE_OK, "released",
                      "every page of container %s was sent (%llu bytes); it is gone from the source", src->id,
                      (unsigned long long)res->bytes_after_restore);
  } else {
    cleanup_free char *all = ferry_asprintf("post-copy did not finish: %s", why);
    postcopy_recover(o, src, name, all, res);
  }
  engine_drop_stage(o, name);
  return rc;
}

/* CRIU's lazy-pages daemon for the images in use_dir, with lazy_work (emptied) as its work directory. */
static int start_pages_daemon(const struct engine_opts *o, const char *use_dir, const char *lazy_work,
                              const char *page_server, pid_t *daemon, ferry_error *err)
{
  cleanup_free char *criu_dir = ferry_path_join(use_dir, "criu");
  if (ferry_rm_rf(lazy_work, err) < 0 || ferry_mkdir_p(lazy_work, 0700, err) < 0)
    return -1;
  return lazy_daemon_start(o->criu, criu_dir, lazy_work, page_server, daemon, err);
}

int engine_postcopy_pages(const struct engine_opts *o, const struct ferry_store *store, const char *name,
                          const char *lazy_work, struct engine_result *res)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  struct ferry_manifest m = { 0 };
  cleanup_free char *image_dir = NULL;
  cleanup_free char *why = NULL;
  char *use_dir = NULL;
  pid_t daemon = 0;
  ferry_criu_kdat_prepare(o->criu);
  int64_t t0 = ferry_now_mono_ms();
  if (engine_open_image(o, store, name, "decoded-pages", FERRY_VERIFY_ALL, &m, &image_dir, &use_dir, NULL, &err) < 0) {
    engine_set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "pages: %s", ferry_error_msg(&err));
  } else if (!m.lazy_pages) {
    engine_set_result(res, ENGINE_USAGE, "failed", "image %s is not a post-copy image", name);
  } else if (start_pages_daemon(o, use_dir, lazy_work, m.page_server, &daemon, &err) < 0) {
    engine_set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "pages: %s", ferry_error_msg(&err));
  } else {
    log_info("lazy-pages daemon for image %s ready in %s, fetching from %s", name, lazy_work, m.page_server);
    if (lazy_daemon_wait(daemon, lazy_work, page_timeout(o), &why) < 0) {
      engine_set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "%s", why);
    } else {
      res->pages_ms = ferry_now_mono_ms() - t0;
      engine_set_result(res, ENGINE_OK, "pages-arrived", "every page of image %s arrived from %s", name, m.page_server);
    }
  }
  engine_drop_decoded(image_dir, &use_dir);
  ferry_manifest_free(&m);
  return res->exit_code == ENGINE_OK ? 0 : -1;
}

/* The target's side of stream_to, in a child process: the image into its store. */
static void receive_child(const struct engine_opts *o, int lfd, const char *token, const struct ferry_store *to)
    __attribute__((noreturn));
static void receive_child(const struct engine_opts *o, int lfd, const char *token, const struct ferry_store *to)
{
  ferry_error e = FERRY_ERROR_INIT;
  char *got = NULL;
  uint64_t n = 0;
  int r = ferry_stream_receive(lfd, token, to, o->timeout_ms, &got, &n, &e);
  if (r < 0)
    log_error("%s", ferry_error_msg(&e));
  _exit(r < 0 ? 1 : 0);
}

/* Sends the image to the receiver on bound and waits for its verdict. */
static int send_to_receiver(const struct engine_opts *o, pid_t child, const char *dir, const char *name,
                            const char *bound, const char *token, uint64_t *sent, ferry_error *err)
{
  int sent_ok = ferry_stream_send(dir, name, bound, token, o->bandwidth, sent, err) == 0;
  int code = 1;
  if (ferry_proc_wait_child(child, sent_ok ? -1 : RECEIVER_GRACE_MS, &code) != 1)
    ferry_proc_kill_group(child);
  if (sent_ok && code != 0)
    ferry_error_set(err, 0, "the target's receiver failed (exit %d)", code);
  return sent_ok && code == 0 ? 0 : -1;
}

/* The image from this node's store straight into the target's, over TCP:
 * a receiver (the target's side, here a child process) publishes it there once
 * it verified. 0 when it arrived; else res says why. */
static int stream_to(const struct engine_opts *o, const struct ferry_store *from, const struct ferry_store *to,
                     const char *name, struct engine_result *res)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  char token[65];
  cleanup_free char *bound = NULL;
  cleanup_free char *dir = ferry_store_image_dir(from, name);
  cleanup_close int lfd = -1;
  int64_t t0 = ferry_now_mono_ms();
  uint64_t sent = 0;
  int rc = -1;
  if (ferry_stream_token(token, &err) == 0 &&
      ferry_relay_listen(o->page_server ? o->page_server : "127.0.0.1:0", &lfd, &bound, &err) == 0) {
    pid_t child = fork();
    if (child < 0)
      ferry_error_set(&err, errno, "fork the receiver");
    else if (child == 0)
      receive_child(o, lfd, token, to);
    else {
      close(ferry_steal_fd(&lfd));
      rc = send_to_receiver(o, child, dir, name, bound, token, &sent, &err);
    }
  }
  if (rc < 0) {
    engine_set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "sending the image to the target failed: %s",
                      ferry_error_msg(&err));
    return -1;
  }
  res->transfer_ms = ferry_now_mono_ms() - t0;
  res->bytes_during_freeze = sent;
  log_info("image %s sent to the target's store %s in %lld ms (%llu bytes)", name, to->url, (long long)res->transfer_ms,
           (unsigned long long)sent);
  return 0;
}

/* Checks a move's options before anything runs; the strategy, or -1 (res says why). */
static int migrate_strategy(const struct engine_opts *o, const struct engine_target *t, struct engine_result *res)
{
  if (o->flags.leave_running) {
    engine_set_result(res, ENGINE_USAGE, "failed",
                      "--leave-running makes a copy, not a move: use checkpoint and restore");
    return -1;
  }
  int strategy = engine_strategy_parse(o->strategy);
  if (strategy < 0) {
    engine_set_result(res, ENGINE_USAGE, "failed", "unknown strategy %s (stopAndCopy, preCopy, postCopy)", o->strategy);
    return -1;
  }
  if (strategy == STRATEGY_POST_COPY && t->store) {
    engine_set_result(res, ENGINE_USAGE, "failed",
                      "postCopy reads its small image from the source's store: "
                      "--to-store does not apply");
    return -1;
  }
  return strategy;
}

/* Whether the source can be held (paused, whole) until the target runs,
 * which spares the image its fsyncs and makes a rollback a resume: not when
 * the target has its container id, and so its cgroup on this machine (the
 * checkpoint checks the rest). */
static enum engine_hold migrate_hold(const char *id, const struct engine_target *t)
{
  if (t->id && strcmp(t->id, id) != 0)
    return ENGINE_DUMP_HOLDS;
  log_debug("the source container %s is not held during the move (the target has its container id, and so its "
            "cgroup): the dump stops it",
            id);
  return ENGINE_DUMP_KILLS;
}

int engine_migrate(const struct engine_opts *o, const char *root, const char *id, const struct engine_target *t,
                   const struct ferry_store *store, const char *name, struct engine_result *res)
{
  int strategy = migrate_strategy(o, t, res);
  if (strategy < 0)
    return -1;
  if (strategy == STRATEGY_POST_COPY)
    return migrate_postcopy(o, root, id, t, store, name, res);
  struct engine_target tt = *t;
  if (target_checked(o, id, &tt, res) < 0)
    return -1;
  t = &tt;
  char *note = strategy == STRATEGY_PRE_COPY ? engine_precopy_note(o->criu) : NULL;
  struct engine_source src;
  int64_t t0 = ferry_now_mono_ms();
  int ck = engine_checkpoint_run(o, root, id, store, name, &src, NULL, migrate_hold(id, t), res);
  res->strategy_note = note;
  if (ck < 0) {
    engine_source_free(&src);
    return -1;
  }
  struct engine_result rr = { 0 };
  int rc = 0;
  const struct ferry_store *from = store;
  if (t->store && stream_to(o, store, t->store, name, res) == 0)
    from = t->store;
  if ((t->store && from == store) || engine_restore_run(o, t, from, name, NULL, &rr) < 0) {
    cleanup_free char *what = ferry_asprintf("%s", res->exit_code != ENGINE_OK ? res->message
                                                   : rr.message                ? rr.message
                                                                               : "restore failed");
    cleanup_free char *criu_dir = ferry_strdup(res->criu_dir);
    engine_rollback(o, &src, name, criu_dir, what, res);
    rc = -1;
  } else {
    int64_t now = ferry_now_mono_ms();
    res->verify_ms = rr.verify_ms;
    res->restore_ms = rr.restore_ms;
    res->downtime_ms = now - src.freeze_mono_ms;
    res->total_ms = now - t0;
    engine_set_result(res, ENGINE_OK, "migrated", "container %s moved from runc root %s to %s as %s (image %s)", id,
                      root, t->root, t->id ? t->id : id, res->image_dir);
    engine_release_held(o, &src, res);
  }
  engine_result_free(&rr);
  engine_source_free(&src);
  if (res->exit_code != ENGINE_LOST)
    engine_drop_stage(o, name);
  return rc;
}
