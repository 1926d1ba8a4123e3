/* SPDX-License-Identifier: Apache-2.0 */
/* Checkpointing a container into a store, step by step: every check that can
 * fail without touching it, the freeze (CRIU's dump, or a lazy dump for
 * post-copy), then the image written, encoded, hashed and published. Whatever
 * fails after the freeze puts the container back on the source. */
#include "engine/common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <json-c/json.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "engine/lazy.h"
#include "image/codec.h"
#include "image/follow.h"
#include "image/rootfs.h"
#include "runtime/criu.h"
#include "runtime/devices.h"
#include "runtime/freeze.h"
#include "runtime/kdat.h"
#include "runtime/mounts.h"
#include "runtime/userns.h"

#define CONTAINER_PROCS_MAX 4096 /* a container's processes looked at before the freeze */

/* One checkpoint, from the first check to the published image. */
struct checkpoint {
  const struct engine_opts *o;
  const char *root, *id, *name;
  const struct ferry_store *store;
  struct engine_source *src;
  struct lazy_source *ls; /* post-copy: the lazy dump's processes */
  enum engine_hold hold;
  struct ferry_follow *follow; /* hashing the memory files while CRIU writes them */
  struct ferry_manifest known; /* what it hashed */
  struct engine_result *res;
  struct ferry_runc r;
  struct ferry_runc_state st;
  struct ferry_manifest m, raw; /* raw: the files before encoding */
  char *tmpdir;                 /* the image in the store until it is published (removed when it is not) */
  char *work, *criu_v, *runc_v, *config, *criu_dir, *runc_log, *cfg;
  char *stage;     /* an encoded image is written here first, on this node's disk */
  const char *img; /* where the image is written: stage or tmpdir */
  int encode;
  const char *used; /* the rootfs diff mode that ran */
  uint64_t entries; /* in the rootfs diff */
  int64_t t_start, t_dumped, t_rootfs;
  ferry_error err;
};

static void checkpoint_free(struct checkpoint *c)
{
  ferry_follow_cancel(c->follow);
  ferry_manifest_free(&c->known);
  if (c->tmpdir)
    ferry_store_abort(c->tmpdir);
  free(c->tmpdir);
  free(c->work);
  free(c->criu_v);
  free(c->runc_v);
  free(c->config);
  free(c->criu_dir);
  free(c->runc_log);
  free(c->cfg);
  free(c->stage);
  ferry_runc_state_free(&c->st);
  ferry_manifest_free(&c->m);
  ferry_manifest_free(&c->raw);
  ferry_error_clear(&c->err);
}

static char *kernel_release(void)
{
  struct utsname u;
  return uname(&u) == 0 ? ferry_strdup(u.release) : ferry_strdup("unknown");
}

/* The failure before the freeze: nothing changed. */
static int untouched(struct checkpoint *c)
{
  engine_set_result(c->res, ENGINE_FAILED_UNTOUCHED, "failed", "%s", ferry_error_msg(&c->err));
  return -1;
}

/* Whether an OCI config names the container's cgroup (linux.cgroupsPath). */
static int names_cgroup(const char *config)
{
  cleanup_json json_object *cfg = json_tokener_parse(config);
  json_object *lx, *cg;
  return cfg && json_object_object_get_ex(cfg, "linux", &lx) && json_object_object_get_ex(lx, "cgroupsPath", &cg) &&
         json_object_get_string_len(cg) > 0;
}

/* Whether the source can be held (paused, whole) until the target runs. Not
 * when the held source would still act on what the target takes over:
 * established TCP connections (CRIU unlocks the source's network after a dump
 * that leaves it), file locks, or its cgroup (named in a config the target
 * shares). */
static enum engine_hold hold_or_kill(const struct checkpoint *c)
{
  const char *why = NULL;
  if (c->hold == ENGINE_DUMP_KILLS)
    return ENGINE_DUMP_KILLS;
  if (c->o->flags.tcp_established)
    why = "--tcp-established";
  else if (c->o->flags.file_locks)
    why = "--file-locks";
  else if (c->hold == ENGINE_DUMP_HOLDS && names_cgroup(c->config))
    why = "its config names a cgroup path the target would share";
  if (!why)
    return ENGINE_DUMP_HOLDS;
  log_debug("the source container %s is not held during the move (%s): the dump stops it", c->id, why);
  return ENGINE_DUMP_KILLS;
}

/* Before the freeze: every check that can fail without touching the container. */
static int before_freeze(struct checkpoint *c)
{
  if (ferry_image_name_valid(c->name, &c->err) < 0) {
    engine_set_result(c->res, ENGINE_USAGE, "failed", "%s", ferry_error_msg(&c->err));
    return -1;
  }
  if (ferry_runc_state(&c->r, c->id, &c->st, &c->err) < 0)
    return untouched(c);
  if (strcmp(c->st.status, "running") != 0 && strcmp(c->st.status, "paused") != 0) {
    engine_set_result(c->res, ENGINE_FAILED_UNTOUCHED, "failed", "container %s is %s, not running", c->id,
                      c->st.status);
    return -1;
  }
  if (strcmp(c->st.status, "running") != 0)
    c->hold = ENGINE_DUMP_KILLS; /* paused by someone else: a rollback's resume would not be ours to do */
  char why[2 * PATH_MAX + 256];
  if (ferry_container_undumpable_device(c->st.pid, CONTAINER_PROCS_MAX, why, sizeof why) ||
      ferry_container_undumpable_mount(c->st.pid, c->st.bundle, CONTAINER_PROCS_MAX, why, sizeof why) ||
      ferry_container_undumpable_userns(c->st.pid, why, sizeof why)) {
    engine_set_result(c->res, ENGINE_FAILED_UNTOUCHED, "failed", "container %s cannot be checkpointed: %s", c->id, why);
    return -1;
  }
  c->src->root = ferry_strdup(c->root);
  c->src->id = ferry_strdup(c->id);
  c->src->bundle = ferry_strdup(c->st.bundle);
  if (ferry_census_take(c->st.pid, CONTAINER_PROCS_MAX, &c->src->census, &c->err) < 0)
    return untouched(c);
  cleanup_free char *cfg_path = ferry_path_join(c->st.bundle, "config.json");
  if (ferry_read_file(cfg_path, &c->config, NULL, &c->err) < 0 ||
      ferry_criu_version(c->o->criu, &c->criu_v, &c->err) < 0 ||
      ferry_runc_version(c->o->runc, &c->runc_v, &c->err) < 0)
    return untouched(c);
  c->hold = hold_or_kill(c);
  if (ferry_store_begin(c->store, c->name, &c->tmpdir, &c->err) < 0)
    return untouched(c);
  /* With tcp-close a connection open at the freeze is closed on the target (the
   * address changes): one still in a listener's queue, not yet accepted, goes the
   * same way instead of failing the dump (a Service's clients keep connecting
   * until its endpoints drop the pod). */
  struct ferry_criu_conf conf = { .tcp_close = c->o->flags.tcp_close, .skip_in_flight = c->o->flags.tcp_close };
  if (!(c->work = engine_work_subdir(c->o, c->name, "dump", &c->err)) ||
      ferry_criu_write_config(c->work, &conf, &c->cfg, &c->err) < 0)
    return untouched(c);
  /* An encoded image (compressed, encrypted) is written on this node's own disk
   * first and encoded into the store after: the store never holds it raw. */
  if (c->encode && !(c->stage = engine_work_subdir(c->o, c->name, "stage", &c->err)))
    return untouched(c);
  c->img = c->encode ? c->stage : c->tmpdir;
  c->criu_dir = ferry_path_join(c->img, "criu");
  c->runc_log = ferry_path_join(c->work, "runc.log");
  c->r.log = c->runc_log;
  return 0;
}

/* An image stored as written has its memory files hashed while CRIU writes
 * them (image/follow.h); when that cannot start, they are hashed after. */
static void follow_memory(struct checkpoint *c)
{
  if (c->encode)
    return; /* the stored files are the encoded ones, hashed as they are encoded */
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_mkdir_p(c->criu_dir, 0700, &err) < 0 || ferry_follow_start(c->criu_dir, "criu", &c->follow, &err) < 0)
    log_warn("the memory files are hashed after the dump: %s", ferry_error_msg(&err));
}

/* The memory files' hashes from the follower (none when it failed: hashed again). */
static void followed(struct checkpoint *c)
{
  if (!c->follow)
    return;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  struct ferry_follow *f = c->follow;
  c->follow = NULL;
  if (ferry_follow_finish(f, &c->known, &err) < 0) {
    log_warn("%s; hashing them again", ferry_error_msg(&err));
    ferry_manifest_free(&c->known);
  }
}

/* The source paused through its cgroup (as runc pause does, without runc's
 * start inside the freeze); by runc when its cgroup cannot be found. */
static int pause_source(struct checkpoint *c)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_cgroup_freeze(c->st.pid, FERRY_FREEZE, &err) == 0)
    return 0;
  log_debug("pausing %s by runc: %s", c->id, ferry_error_msg(&err));
  return ferry_runc_pause(&c->r, c->id, &c->err);
}

/* A whole dump, holding the source when asked: paused first, so that CRIU
 * (--leave-running on a frozen cgroup) leaves it paused and whole. */
static int dump(struct checkpoint *c)
{
  struct ferry_criu_flags f = c->o->flags;
  follow_memory(c);
  if (c->hold == ENGINE_DUMP_HOLDS) {
    if (pause_source(c) < 0)
      return ferry_error_prefix(&c->err, "pausing the container for the dump");
    f.leave_running = 1;
  }
  if (ferry_runc_checkpoint(&c->r, c->id, c->criu_dir, c->work, &f, c->cfg, &c->err) < 0)
    return -1;
  c->src->held = c->hold == ENGINE_DUMP_HOLDS;
  return 0;
}

/* The freeze: CRIU's dump (or the lazy dump, which keeps serving the memory).
 * A failed dump is recovered: the container runs on the source, if it can. */
static int freeze(struct checkpoint *c)
{
  const struct engine_opts *o = c->o;
  c->m.freeze_start_ms = ferry_now_real_ms();
  c->src->freeze_mono_ms = ferry_now_mono_ms();
  log_info("checkpointing container %s (runc root %s) into %s%s", c->id, c->root, c->tmpdir,
           c->ls ? " (lazy pages: memory stays on the source)" : "");
  if (c->ls) {
    if (lazy_dump_start(&c->r, c->id, c->criu_dir, c->work, &o->flags, c->cfg,
                        o->page_server ? o->page_server : "127.0.0.1:0", o->bandwidth, o->timeout_ms, c->ls,
                        &c->err) < 0) {
      engine_recover_failed_dump(o, c->src, c->name, c->img, ferry_error_msg(&c->err), 1, c->res);
      return -1;
    }
  } else if (dump(c) < 0) {
    cleanup_free char *why = engine_criu_failure(&c->err, c->work, "dump.log");
    if (o->flags.leave_running)
      engine_set_result(c->res, ENGINE_FAILED_UNTOUCHED, "failed", "the dump failed: %s; the container still runs",
                        why);
    else
      engine_recover_failed_dump(o, c->src, c->name, c->img, why, 0, c->res);
    return -1;
  }
  c->t_dumped = ferry_now_mono_ms();
  c->res->dump_ms = c->t_dumped - c->src->freeze_mono_ms;
  return 0;
}

/* Whether the image must outlive a crash of this node: only when it is the
 * workload's one copy. A held source is whole until the target runs; a lazy
 * image holds no memory, and CRIU keeps the frozen source until every page
 * went (a rollback thaws it, never restores from the image). */
static int needs_durable_image(const struct checkpoint *c) { return !c->src->held && !c->ls; }

/* The steps after the freeze return what failed (NULL: nothing; c->err says why). */

/* CRIU's files on disk, and the files the container changed in its rootfs. */
static const char *save_files(struct checkpoint *c)
{
  const char *what = NULL;
  cleanup_free char *tar = ferry_path_join(c->img, "rootfs-diff.tar");
  if (needs_durable_image(c) && ferry_writeback_tree(c->img, &c->err) < 0)
    what = "writing the image failed";
  else if (ferry_rootfs_diff_create(c->st.rootfs, c->o->rootfs_diff, c->st.created_ms, tar, &c->used, &c->entries,
                                    &c->err) < 0)
    what = "saving the root filesystem changes failed";
  c->t_rootfs = ferry_now_mono_ms();
  c->res->rootfs_ms = c->t_rootfs - c->t_dumped;
  return what;
}

/* The container's config.json and CRIU's dump log. */
static const char *save_config_and_log(struct checkpoint *c)
{
  cleanup_free char *cfg_out = ferry_path_join(c->img, "config.json");
  cleanup_free char *logs = ferry_path_join(c->img, "logs");
  cleanup_free char *log_src = ferry_path_join(c->work, "dump.log");
  cleanup_free char *log_dst = ferry_path_join(logs, "dump.log");
  if (ferry_write_file(cfg_out, c->config, strlen(c->config), &c->err) < 0 || ferry_mkdir_p(logs, 0750, &c->err) < 0 ||
      ferry_copy_file(log_src, log_dst, &c->err) < 0)
    return "writing the image failed";
  return NULL;
}

/* The manifest's description of the checkpoint (its files come next). */
static void describe(struct checkpoint *c)
{
  const struct engine_opts *o = c->o;
  struct ferry_manifest *m = &c->m;
  m->name = ferry_strdup(c->name);
  m->container_id = ferry_strdup(c->id);
  m->source_node = ferry_strdup(o->node);
  m->strategy = ferry_strdup(engine_strategy_name(c->ls ? STRATEGY_POST_COPY : STRATEGY_STOP_AND_COPY));
  m->lazy_pages = c->ls != NULL;
  m->page_server = c->ls ? ferry_strdup(c->ls->page_server) : NULL;
  m->criu_version = ferry_steal(&c->criu_v);
  m->runc_version = ferry_steal(&c->runc_v);
  m->kernel = kernel_release();
  m->rootfs_diff = ferry_strdup(c->used);
  m->leave_running = o->flags.leave_running;
  m->tcp_established = o->flags.tcp_established;
  m->tcp_close = o->flags.tcp_close;
  m->file_locks = o->flags.file_locks;
  m->ext_unix_sk = o->flags.ext_unix_sk;
  m->shell_job = o->flags.shell_job;
  m->created_ms = ferry_now_real_ms();
  m->dump_ms = c->res->dump_ms;
  m->rootfs_ms = c->res->rootfs_ms;
}

/* An encoded image: how, and each file's size and hash before encoding. */
static const char *record_encoding(struct checkpoint *c)
{
  const struct ferry_codec *codec = c->o->codec;
  struct ferry_manifest *m = &c->m;
  m->compression = codec->comp != FERRY_COMP_NONE ? ferry_strdup(ferry_codec_compression_name(codec->comp)) : NULL;
  m->encryption = codec->encrypt ? ferry_strdup("aes-256-gcm") : NULL;
  m->key_id = codec->encrypt ? ferry_strdup(codec->key_id) : NULL;
  for (size_t i = 0; i < m->nfiles; i++) {
    const struct ferry_manifest_file *f = ferry_manifest_find(&c->raw, m->files[i].path);
    if (!f) {
      ferry_error_set(&c->err, 0, "%s was not encoded", m->files[i].path);
      return "encoding the image failed";
    }
    m->files[i].raw_size = f->raw_size;
    memcpy(m->files[i].raw_sha256, f->raw_sha256, sizeof m->files[i].raw_sha256);
    c->res->bytes_raw += f->raw_size;
  }
  return NULL;
}

/* The image's files into the store (encoded, when asked) and hashed. */
static const char *hash_files(struct checkpoint *c)
{
  if (c->encode && ferry_codec_encode_tree(c->o->codec, c->stage, c->tmpdir, &c->raw, &c->err) < 0)
    return "encoding the image failed";
  followed(c);
  if (ferry_manifest_scan_known(c->tmpdir, &c->known, &c->m, &c->err) < 0)
    return "hashing the image failed";
  return c->encode ? record_encoding(c) : NULL;
}

static const char *publish(struct checkpoint *c)
{
  c->m.write_ms = ferry_now_mono_ms() - c->t_rootfs;
  if (ferry_manifest_write(c->tmpdir, &c->m, c->res->image_digest, &c->err) < 0 ||
      ferry_store_publish(c->store, c->name, c->tmpdir,
                          needs_durable_image(c) ? FERRY_PUBLISH_DURABLE : FERRY_PUBLISH_CACHED, &c->err) < 0)
    return "publishing the image failed";
  return NULL;
}

static const char *after_freeze(struct checkpoint *c)
{
  const char *what;
  if ((what = save_files(c)) || (what = save_config_and_log(c)))
    return what;
  describe(c);
  if ((what = hash_files(c)) || (what = publish(c)))
    return what;
  return NULL;
}

/* Something failed after the freeze: the container runs on the source again. */
static void after_freeze_failed(struct checkpoint *c, const char *what)
{
  cleanup_free char *full = ferry_asprintf("%s: %s", what, ferry_error_msg(&c->err));
  if (c->o->flags.leave_running) {
    engine_set_result(c->res, ENGINE_FAILED_UNTOUCHED, "failed", "%s; the container still runs", full);
  } else if (c->ls) {
    /* CRIU still holds the frozen container: stop it, then thaw the container. */
    lazy_dump_abort(c->ls);
    engine_recover_failed_dump(c->o, c->src, c->name, c->img, full, 1, c->res);
  } else {
    engine_rollback(c->o, c->src, c->name, c->criu_dir, full, c->res);
  }
}

static void checkpointed(struct checkpoint *c)
{
  struct engine_result *res = c->res;
  res->write_ms = ferry_now_mono_ms() - c->t_rootfs;
  res->bytes = c->m.total_bytes;
  res->bytes_during_freeze = c->o->flags.leave_running ? 0 : c->m.total_bytes;
  res->strategy = engine_strategy_name(c->ls ? STRATEGY_POST_COPY : STRATEGY_STOP_AND_COPY);
  res->image_dir = ferry_store_image_dir(c->store, c->name);
  /* for a rollback: the raw images (encoded ones), else the published image's */
  res->criu_dir = c->encode ? ferry_strdup(c->criu_dir) : ferry_path_join(res->image_dir, "criu");
  res->total_ms = ferry_now_mono_ms() - c->t_start;
  engine_set_result(res, ENGINE_OK, "checkpointed",
                    "container %s checkpointed into %s (%llu bytes, rootfs diff: %s, %llu entries)", c->id,
                    res->image_dir, (unsigned long long)c->m.total_bytes, c->used, (unsigned long long)c->entries);
  free(c->tmpdir);
  c->tmpdir = NULL; /* published: nothing to remove */
}

/* A checkpoint of container id under root into store as name, not begun. */
static struct checkpoint checkpoint_start(const struct engine_opts *o, const char *root, const char *id,
                                          const struct ferry_store *store, const char *name, struct engine_source *src,
                                          struct lazy_source *ls, enum engine_hold hold, struct engine_result *res)
{
  memset(src, 0, sizeof *src);
  struct checkpoint c = {
    .o = o,
    .root = root,
    .id = id,
    .name = name,
    .store = store,
    .src = src,
    .ls = ls,
    .hold = hold,
    .res = res,
    .r = engine_runc_for(o, root, NULL),
    .encode = ferry_codec_active(o->codec),
    .used = "none",
    .t_start = ferry_now_mono_ms(),
    .err = FERRY_ERROR_INIT,
  };
  return c;
}

int engine_checkpoint_run(const struct engine_opts *o, const char *root, const char *id,
                          const struct ferry_store *store, const char *name, struct engine_source *src,
                          struct lazy_source *ls, enum engine_hold hold, struct engine_result *res)
{
  struct checkpoint c __attribute__((cleanup(checkpoint_free))) =
      checkpoint_start(o, root, id, store, name, src, ls, ls || o->flags.leave_running ? ENGINE_DUMP_KILLS : hold, res);
  ferry_criu_kdat_prepare(o->criu);
  if (before_freeze(&c) < 0 || freeze(&c) < 0)
    return -1;
  const char *what = after_freeze(&c);
  if (what) {
    after_freeze_failed(&c, what);
    return -1;
  }
  checkpointed(&c);
  return 0;
}

int engine_checkpoint(const struct engine_opts *o, const char *root, const char *id, const struct ferry_store *store,
                      const char *name, enum engine_hold hold, struct engine_source *src, struct engine_result *res)
{
  int strategy = engine_strategy_parse(o->strategy);
  if (strategy == STRATEGY_POST_COPY || strategy < 0) {
    engine_set_result(res, ENGINE_USAGE, "failed", "a whole-image checkpoint is stopAndCopy (or preCopy), not %s",
                      o->strategy);
    memset(src, 0, sizeof *src);
    return -1;
  }
  char *note = strategy == STRATEGY_PRE_COPY ? engine_precopy_note(o->criu) : NULL;
  int rc = engine_checkpoint_run(o, root, id, store, name, src, NULL, hold, res);
  res->strategy_note = note;
  if (res->exit_code != ENGINE_LOST) /* when lost, the raw image is what is left */
    engine_drop_stage(o, name);
  return rc;
}

/* ---------- finishing the image of a dump whose process died ---------- */

#define DUMP_DONE_LINE "Dumping finished successfully" /* CRIU's last line of a whole dump */

/* When the dump began: its work directory's birth (the wall clock, ms); 0 when unknown. */
static int64_t dump_began_ms(const char *work)
{
  struct statx sx;
  if (statx(AT_FDCWD, work, 0, STATX_BTIME, &sx) < 0 || !(sx.stx_mask & STATX_BTIME))
    return 0;
  return (int64_t)sx.stx_btime.tv_sec * 1000 + sx.stx_btime.tv_nsec / 1000000;
}

/* The dead step published the image before it could answer: that image, if it
 * is this container's from this node and whole, is the answer (returns 1). */
static int already_published(struct checkpoint *c)
{
  cleanup_free char *dir = ferry_store_image_dir(c->store, c->name);
  struct ferry_manifest m;
  ferry_error_clear(&c->err);
  if (!ferry_path_exists(dir))
    return ferry_error_set(&c->err, ENOENT, "the store holds neither the image %s nor its unpublished dump", c->name);
  if (ferry_manifest_load_digest(dir, &m, c->res->image_digest, &c->err) < 0)
    return -1;
  int ours = m.container_id && !strcmp(m.container_id, c->id) && m.source_node && c->o->node &&
             !strcmp(m.source_node, c->o->node);
  if (!ours || m.lazy_pages || ferry_manifest_verify(dir, &m, &c->err) < 0) {
    if (!ours)
      ferry_error_set(&c->err, EINVAL, "image %s in the store is not container %s's from this node", c->name, c->id);
    ferry_manifest_free(&m);
    return -1;
  }
  c->m.total_bytes = m.total_bytes;
  c->m.freeze_start_ms = m.freeze_start_ms;
  c->src->freeze_mono_ms = m.freeze_start_ms ? ferry_now_mono_ms() - (ferry_now_real_ms() - m.freeze_start_ms) : 0;
  ferry_manifest_free(&m);
  c->used = "as published";
  log_info("the image %s was published before its checkpoint step died: it is whole", c->name);
  return 1;
}

/* The container runc removed after the dump, as its bundle says: its root
 * filesystem (root.path, relative to the bundle or not); its creation time is
 * unknown (0). */
static int state_from_bundle(struct checkpoint *c, const char *bundle)
{
  cleanup_free char *cfg_path = ferry_path_join(bundle, "config.json");
  cleanup_free char *text = NULL;
  if (ferry_read_file(cfg_path, &text, NULL, &c->err) < 0)
    return -1;
  cleanup_json json_object *cfg = json_tokener_parse(text);
  json_object *root = NULL, *path = NULL;
  if (!cfg || !json_object_object_get_ex(cfg, "root", &root) || !json_object_object_get_ex(root, "path", &path))
    return ferry_error_set(&c->err, EINVAL, "%s names no root.path", cfg_path);
  const char *p = json_object_get_string(path);
  memset(&c->st, 0, sizeof c->st);
  c->st.status = ferry_strdup("stopped");
  c->st.bundle = ferry_strdup(bundle);
  c->st.rootfs = p[0] == '/' ? ferry_strdup(p) : ferry_path_join(bundle, p);
  return 0;
}

/* The container the dump stopped (runc's state, or BUNDLE once runc removed it),
 * and where its dump is: CRIU's log must say it finished, and the unpublished
 * image (or the stage of an encoded one) hold it. */
static int find_dump(struct checkpoint *c, const char *bundle)
{
  if (ferry_image_name_valid(c->name, &c->err) < 0) {
    engine_set_result(c->res, ENGINE_USAGE, "failed", "%s", ferry_error_msg(&c->err));
    return -1;
  }
  if (ferry_runc_state(&c->r, c->id, &c->st, &c->err) < 0) {
    if (c->err.errnum != ENOENT || !bundle)
      return -1;
    ferry_error_clear(&c->err);
    if (state_from_bundle(c, bundle) < 0)
      return -1;
  }
  if (strcmp(c->st.status, "stopped") != 0) {
    engine_set_result(c->res, ENGINE_FAILED_UNTOUCHED, "failed",
                      "container %s is %s: no dump stopped it, there is no image to finish", c->id, c->st.status);
    return -1;
  }
  c->src->root = ferry_strdup(c->root);
  c->src->id = ferry_strdup(c->id);
  c->src->bundle = ferry_strdup(c->st.bundle);
  c->work = ferry_asprintf("%s/%s/dump", c->o->work_dir, c->name);
  cleanup_free char *cfg_path = ferry_path_join(c->st.bundle, "config.json");
  cleanup_free char *log_path = ferry_path_join(c->work, "dump.log");
  cleanup_free char *log = NULL;
  if (ferry_read_file(log_path, &log, NULL, &c->err) < 0 || ferry_read_file(cfg_path, &c->config, NULL, &c->err) < 0 ||
      ferry_criu_version(c->o->criu, &c->criu_v, &c->err) < 0 ||
      ferry_runc_version(c->o->runc, &c->runc_v, &c->err) < 0)
    return -1;
  if (!strstr(log, DUMP_DONE_LINE))
    return ferry_error_set(&c->err, EINVAL, "CRIU's log %s does not say the dump finished", log_path);
  if (ferry_store_find_unpublished(c->store, c->name, &c->tmpdir, &c->err) < 0)
    return c->err.errnum == ENOENT ? already_published(c) : -1;
  c->stage = c->encode ? ferry_asprintf("%s/%s/stage", c->o->work_dir, c->name) : NULL;
  c->img = c->encode ? c->stage : c->tmpdir;
  c->criu_dir = ferry_path_join(c->img, "criu");
  if (!ferry_path_exists(c->criu_dir))
    return ferry_error_set(&c->err, ENOENT, "the dump %s is gone", c->criu_dir);
  int64_t began = dump_began_ms(c->work);
  c->m.freeze_start_ms = began;
  c->src->freeze_mono_ms = began ? ferry_now_mono_ms() - (ferry_now_real_ms() - began) : 0;
  return 0;
}

int engine_checkpoint_finish(const struct engine_opts *o, const char *root, const char *id, const char *bundle,
                             const struct ferry_store *store, const char *name, struct engine_source *src,
                             struct engine_result *res)
{
  struct checkpoint c __attribute__((cleanup(checkpoint_free))) =
      checkpoint_start(o, root, id, store, name, src, NULL, ENGINE_DUMP_KILLS, res);
  int rc = find_dump(&c, bundle);
  if (rc < 0 && res->exit_code == ENGINE_OK) {
    engine_set_result(res, ENGINE_LOST, "lost", "container %s: no complete dump to finish: %s", id,
                      ferry_error_msg(&c.err));
    free(c.tmpdir);
    c.tmpdir = NULL; /* not ours to remove: the collector takes it */
  }
  if (rc < 0)
    return -1;
  c.t_dumped = c.t_rootfs = ferry_now_mono_ms();
  if (rc == 1) { /* published already */
    checkpointed(&c);
    return 0;
  }
  log_info("finishing the image of container %s from its dump in %s", id, c.img);
  const char *what = after_freeze(&c);
  if (what) {
    engine_set_result(res, ENGINE_LOST, "lost", "container %s's dump was complete, but %s: %s", id, what,
                      ferry_error_msg(&c.err));
    free(c.tmpdir);
    c.tmpdir = NULL; /* kept for a look: the collector takes it */
    return -1;
  }
  checkpointed(&c);
  engine_drop_stage(o, name);
  return 0;
}
