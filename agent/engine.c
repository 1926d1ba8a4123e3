#include "engine.h"

#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "runtime/criu.h"
#include "lazy.h"
#include "base/log.h"
#include "image/manifest.h"
#include "base/proc.h"
#include "runtime/relay.h"
#include "image/rootfs.h"
#include "image/stream.h"
#include "base/util.h"

int engine_strategy_parse(const char *name)
{
  if (!name || !strcmp(name, "stopAndCopy"))
    return STRATEGY_STOP_AND_COPY;
  if (!strcmp(name, "preCopy"))
    return STRATEGY_PRE_COPY;
  if (!strcmp(name, "postCopy"))
    return STRATEGY_POST_COPY;
  return -1;
}

/* What a preCopy request runs as on this node, said once in the log. */
static char *precopy_note(const char *criu)
{
  char *note = engine_precopy_unsupported(criu);
  if (!note) /* a node with soft-dirty tracking: the pre-dump rounds are not written yet */
    note = ferry_strdup("preCopy: iterative pre-dumps are not implemented yet; preCopy migrations run as stopAndCopy");
  log_warn("%s", note);
  return note;
}

void engine_result_free(struct engine_result *r)
{
  free(r->message);
  free(r->image_dir);
  free(r->strategy_note);
  free(r->criu_dir);
  memset(r, 0, sizeof *r);
}

void engine_source_free(struct engine_source *s)
{
  free(s->root);
  free(s->id);
  free(s->bundle);
  memset(s, 0, sizeof *s);
}

static void set_result(struct engine_result *r, enum engine_exit code, const char *outcome, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_result(struct engine_result *r, enum engine_exit code, const char *outcome, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *m = NULL;
  if (vasprintf(&m, fmt, ap) < 0)
    m = NULL;
  va_end(ap);
  free(r->message);
  r->message = m;
  r->exit_code = code;
  r->outcome = outcome;
}

static struct ferry_runc runc_for(const struct engine_opts *o, const char *root, const char *log)
{
  struct ferry_runc r = { .runc = o->runc, .criu = o->criu, .root = root, .log = log, .timeout_ms = o->timeout_ms };
  return r;
}

/* A fresh work directory WORK/NAME/WHAT. */
static char *work_subdir(const struct engine_opts *o, const char *name, const char *what, ferry_error *err)
{
  char *d = ferry_asprintf("%s/%s/%s", o->work_dir, name, what);
  if (ferry_rm_rf(d, err) < 0 || ferry_mkdir_p(d, 0700, err) < 0) {
    free(d);
    return NULL;
  }
  return d;
}

/* runc's error plus the error lines of CRIU's log in the work directory. */
static char *describe_criu_failure(const ferry_error *err, const char *work, const char *logname)
{
  char *log = ferry_path_join(work, logname);
  char *m = ferry_criu_explain(ferry_error_msg(err), log);
  free(log);
  return m;
}

/* CRIU writes its restore statistics into the images directory; the image stays
 * as its manifest lists it, so a later restore or rollback verifies again. */
static void drop_restore_stats(const char *criu_dir)
{
  char *p = ferry_path_join(criu_dir, "stats-restore");
  if (unlink(p) < 0 && errno != ENOENT)
    log_warn("remove %s: %s", p, strerror(errno));
  free(p);
}

/* Restores `id` under `root` from the CRIU images in criu_dir (no verification,
 * no rootfs changes): the shared last step of restore and rollback. On failure
 * whatever runc left of the container is removed. */
static int restore_from(const struct engine_opts *o, const char *root, const char *bundle, const char *id,
                        const char *criu_dir, const struct ferry_criu_flags *flags, const char *work,
                        const char *log_path, char **why)
{
  ferry_error err = FERRY_ERROR_INIT;
  char *runc_log = ferry_path_join(work, "runc.log");
  char *cfg = NULL;
  int in = -1, out = -1, rc = -1;
  struct ferry_runc r = runc_for(o, root, runc_log);
  /* CRIU reads the images through paths and fds after it entered the container's
   * mount namespace: it must be given the directory itself, not links to it. */
  if (ferry_criu_write_config(work, flags->tcp_close, &cfg, &err) < 0 ||
      ferry_stdio_relay(log_path, &in, &out, &err) < 0) {
    *why = ferry_strdup(ferry_error_msg(&err));
    goto out;
  }
  int restored = ferry_runc_restore(&r, id, bundle, criu_dir, work, flags, cfg, in, out, &err);
  drop_restore_stats(criu_dir);
  if (restored < 0) {
    *why = describe_criu_failure(&err, work, "restore.log");
    ferry_error_clear(&err);
    if (ferry_runc_remove(&r, id, &err) < 0)
      log_error("after the failed restore: %s", ferry_error_msg(&err));
    goto out;
  }
  rc = 0;
out:
  if (in >= 0)
    close(in);
  if (out >= 0)
    close(out);
  ferry_error_clear(&err);
  free(runc_log);
  free(cfg);
  return rc;
}

/* After the freeze: put the container back on the source from criu_dir. */
static void rollback(const struct engine_opts *o, const struct engine_source *src, const char *name,
                     const char *criu_dir, const char *what_failed, struct engine_result *res)
{
  ferry_error err = FERRY_ERROR_INIT;
  char *work = work_subdir(o, name, "rollback", &err);
  char *why = NULL;
  if (!work) {
    why = ferry_strdup(ferry_error_msg(&err));
  } else {
    char *log = ferry_asprintf("%s/%s/%s.log", o->work_dir, name, src->id);
    struct ferry_criu_flags f = o->flags;
    f.leave_running = 0;
    log_warn("%s; restoring container %s on the source from %s", what_failed, src->id, criu_dir);
    if (restore_from(o, src->root, src->bundle, src->id, criu_dir, &f, work, log, &why) == 0) {
      set_result(res, ENGINE_ROLLED_BACK, "rolled-back", "%s; rolled back: container %s runs again on the source",
                 what_failed, src->id);
      log_warn("rolled back: container %s runs again on the source (runc root %s)", src->id, src->root);
    }
    free(log);
  }
  if (why) {
    set_result(res, ENGINE_LOST, "lost",
               "%s; ROLLBACK FAILED, container %s is not running: %s. Its image is in %s; restore it by hand with "
               "ferry-agent restore",
               what_failed, src->id, why, criu_dir);
    log_error("%s", res->message);
  }
  free(why);
  free(work);
  ferry_error_clear(&err);
}

static char *kernel_release(void)
{
  struct utsname u;
  return uname(&u) == 0 ? ferry_strdup(u.release) : ferry_strdup("unknown");
}

/* After a failed `runc checkpoint`: make sure the container runs on the source. */
static void recover_failed_dump(const struct engine_opts *o, const struct engine_source *src, const char *name,
                                const char *tmpdir, const char *why, int lazy, struct engine_result *res)
{
  ferry_error err = FERRY_ERROR_INIT;
  struct ferry_runc r = runc_for(o, src->root, NULL);
  struct ferry_runc_state st;
  if (ferry_runc_state(&r, src->id, &st, &err) == 0) {
    if (strcmp(st.status, "paused") == 0) {
      /* CRIU died with the cgroup frozen: thaw it. */
      log_warn("container %s was left paused by the failed dump; resuming it", src->id);
      if (ferry_runc_resume(&r, src->id, &err) < 0)
        log_error("resume %s: %s", src->id, ferry_error_msg(&err));
      ferry_runc_state_free(&st);
      ferry_error_clear(&err);
      if (ferry_runc_state(&r, src->id, &st, &err) < 0) {
        set_result(res, ENGINE_LOST, "lost", "the dump failed: %s; the container's state is unknown: %s", why,
                   ferry_error_msg(&err));
        ferry_error_clear(&err);
        return;
      }
    }
    int running = strcmp(st.status, "running") == 0;
    /* A CRIU that died mid-dump leaves the network locked: traffic dropped. */
    int locked = 0;
    char *netns = ferry_asprintf("/proc/%d/ns/net", (int)st.pid);
    if (running && ferry_criu_netns_unlock(netns, &locked, &err) < 0) {
      log_error("container %s runs but its network may still be locked by CRIU: %s", src->id, ferry_error_msg(&err));
      ferry_error_clear(&err);
    } else if (locked) {
      log_warn("removed the network lock the failed dump left on container %s", src->id);
    }
    free(netns);
    set_result(res, running ? ENGINE_FAILED_UNTOUCHED : ENGINE_LOST, running ? "failed" : "lost",
               "the dump failed: %s; the container %s on the source", why,
               running ? "still runs" : "is no longer running");
    ferry_runc_state_free(&st);
    ferry_error_clear(&err);
    return;
  }
  ferry_error_clear(&err);
  if (lazy || !tmpdir) {
    /* A lazy image holds no memory: nothing to restore from. */
    set_result(res, ENGINE_LOST, "lost", "%s; the container %s is gone from the source and its memory was never "
               "written anywhere (post-copy)", why, src->id);
    return;
  }
  /* Gone: the dump finished but something after it failed. Restore from what CRIU wrote. */
  char *criu_dir = ferry_path_join(tmpdir, "criu");
  char *what = ferry_asprintf("the dump failed after the container stopped: %s", why);
  rollback(o, src, name, criu_dir, what, res);
  free(what);
  free(criu_dir);
}

/* The raw image an encoded checkpoint was written to on this node's disk. */
static void drop_stage(const struct engine_opts *o, const char *name)
{
  if (!ferry_codec_active(o->codec))
    return;
  char *d = ferry_asprintf("%s/%s/stage", o->work_dir, name);
  ferry_error err = FERRY_ERROR_INIT;
  if (ferry_rm_rf(d, &err) < 0)
    log_warn("removing %s: %s", d, ferry_error_msg(&err));
  ferry_error_clear(&err);
  free(d);
}

/* ls: NULL for a full dump; for post-copy, the lazy dump's processes, left
 * running (serving pages) when this returns 0. */
static int checkpoint_impl(const struct engine_opts *o, const char *root, const char *id,
                           const struct ferry_store *store, const char *name, struct engine_source *src,
                           struct lazy_source *ls, struct engine_result *res)
{
  memset(src, 0, sizeof *src);
  ferry_error err = FERRY_ERROR_INIT;
  struct ferry_runc_state st = { 0 };
  struct ferry_manifest m = { 0 };
  char *tmpdir = NULL, *work = NULL, *criu_v = NULL, *runc_v = NULL, *config = NULL;
  char *criu_dir = NULL, *runc_log = NULL, *cfg = NULL, *stage = NULL;
  struct ferry_runc r = runc_for(o, root, NULL);
  int64_t t_start = ferry_now_mono_ms();
  int encode = ferry_codec_active(o->codec);
  struct ferry_manifest raw = { 0 };

  /* Before the freeze: every check that can fail without touching the container. */
  if (ferry_image_name_valid(name, &err) < 0) {
    set_result(res, ENGINE_USAGE, "failed", "%s", ferry_error_msg(&err));
    goto out;
  }
  if (ferry_runc_state(&r, id, &st, &err) < 0) {
    set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "%s", ferry_error_msg(&err));
    goto out;
  }
  if (strcmp(st.status, "running") != 0 && strcmp(st.status, "paused") != 0) {
    set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "container %s is %s, not running", id, st.status);
    goto out;
  }
  src->root = ferry_strdup(root);
  src->id = ferry_strdup(id);
  src->bundle = ferry_strdup(st.bundle);
  char *cfg_path = ferry_path_join(st.bundle, "config.json");
  int rc = ferry_read_file(cfg_path, &config, NULL, &err);
  free(cfg_path);
  if (rc < 0 || ferry_criu_version(o->criu, &criu_v, &err) < 0 || ferry_runc_version(o->runc, &runc_v, &err) < 0) {
    set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "%s", ferry_error_msg(&err));
    goto out;
  }
  if (ferry_store_begin(store, name, &tmpdir, &err) < 0) {
    set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "%s", ferry_error_msg(&err));
    goto out;
  }
  if (!(work = work_subdir(o, name, "dump", &err)) || ferry_criu_write_config(work, o->flags.tcp_close, &cfg, &err) < 0) {
    set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "%s", ferry_error_msg(&err));
    goto out;
  }
  /* An encoded image (compressed, encrypted) is written on this node's own disk
   * first and encoded into the store after: the store never holds it raw. */
  if (encode && !(stage = work_subdir(o, name, "stage", &err))) {
    set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "%s", ferry_error_msg(&err));
    goto out;
  }
  const char *img = encode ? stage : tmpdir;
  criu_dir = ferry_path_join(img, "criu");
  runc_log = ferry_path_join(work, "runc.log");
  r.log = runc_log;

  /* The freeze. */
  m.freeze_start_ms = ferry_now_real_ms();
  src->freeze_mono_ms = ferry_now_mono_ms();
  log_info("checkpointing container %s (runc root %s) into %s%s", id, root, tmpdir,
           ls ? " (lazy pages: memory stays on the source)" : "");
  if (ls) {
    if (lazy_dump_start(&r, id, criu_dir, work, &o->flags, cfg, o->page_server ? o->page_server : "127.0.0.1:0",
                        o->bandwidth, o->timeout_ms, ls, &err) < 0) {
      recover_failed_dump(o, src, name, img, ferry_error_msg(&err), 1, res);
      goto out;
    }
  } else if (ferry_runc_checkpoint(&r, id, criu_dir, work, &o->flags, cfg, &err) < 0) {
    char *why = describe_criu_failure(&err, work, "dump.log");
    if (o->flags.leave_running)
      set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "the dump failed: %s; the container still runs", why);
    else
      recover_failed_dump(o, src, name, img, why, 0, res);
    free(why);
    goto out;
  }
  int64_t t_dumped = ferry_now_mono_ms();
  res->dump_ms = t_dumped - src->freeze_mono_ms;

  /* After the freeze: anything that fails now is rolled back from criu_dir. */
  const char *what = NULL;
  if (ferry_writeback_tree(img, &err) < 0)
    what = "writing the image failed";
  char *tar = ferry_path_join(img, "rootfs-diff.tar");
  const char *used = "none";
  uint64_t entries = 0;
  if (!what && ferry_rootfs_diff_create(st.rootfs, o->rootfs_diff, st.created_ms, tar, &used, &entries, &err) < 0)
    what = "saving the root filesystem changes failed";
  free(tar);
  int64_t t_rootfs = ferry_now_mono_ms();
  res->rootfs_ms = t_rootfs - t_dumped;
  if (!what) {
    char *cfg_out = ferry_path_join(img, "config.json");
    char *logs = ferry_path_join(img, "logs");
    char *log_src = ferry_path_join(work, "dump.log"), *log_dst = ferry_path_join(logs, "dump.log");
    if (ferry_write_file(cfg_out, config, strlen(config), &err) < 0 || ferry_mkdir_p(logs, 0750, &err) < 0 ||
        ferry_copy_file(log_src, log_dst, &err) < 0)
      what = "writing the image failed";
    free(cfg_out);
    free(logs);
    free(log_src);
    free(log_dst);
  }
  if (!what) {
    m.name = ferry_strdup(name);
    m.container_id = ferry_strdup(id);
    m.source_node = ferry_strdup(o->node);
    m.strategy = ferry_strdup(ls ? "postCopy" : "stopAndCopy");
    m.lazy_pages = ls != NULL;
    m.page_server = ls ? ferry_strdup(ls->page_server) : NULL;
    m.criu_version = criu_v;
    m.runc_version = runc_v;
    criu_v = runc_v = NULL;
    m.kernel = kernel_release();
    m.rootfs_diff = ferry_strdup(used);
    m.leave_running = o->flags.leave_running;
    m.tcp_established = o->flags.tcp_established;
    m.tcp_close = o->flags.tcp_close;
    m.file_locks = o->flags.file_locks;
    m.ext_unix_sk = o->flags.ext_unix_sk;
    m.shell_job = o->flags.shell_job;
    m.created_ms = ferry_now_real_ms();
    m.dump_ms = res->dump_ms;
    m.rootfs_ms = res->rootfs_ms;
    if (encode && ferry_codec_encode_tree(o->codec, stage, tmpdir, &raw, &err) < 0)
      what = "encoding the image failed";
    else if (ferry_manifest_scan(tmpdir, &m, &err) < 0)
      what = "hashing the image failed";
  }
  if (!what && encode) {
    m.compression = o->codec->comp != FERRY_COMP_NONE ? ferry_strdup(ferry_codec_compression_name(o->codec->comp)) : NULL;
    m.encryption = o->codec->encrypt ? ferry_strdup("aes-256-gcm") : NULL;
    m.key_id = o->codec->encrypt ? ferry_strdup(o->codec->key_id) : NULL;
    for (size_t i = 0; i < m.nfiles; i++) {
      const struct ferry_manifest_file *f = ferry_manifest_find(&raw, m.files[i].path);
      if (!f) {
        ferry_error_set(&err, 0, "%s was not encoded", m.files[i].path);
        what = "encoding the image failed";
        break;
      }
      m.files[i].raw_size = f->raw_size;
      memcpy(m.files[i].raw_sha256, f->raw_sha256, 65);
      res->bytes_raw += f->raw_size;
    }
  }
  if (!what) {
    m.write_ms = ferry_now_mono_ms() - t_rootfs;
    if (ferry_manifest_write(tmpdir, &m, &err) < 0 || ferry_store_publish(store, name, tmpdir, &err) < 0)
      what = "publishing the image failed";
  }
  if (what) {
    char *full = ferry_asprintf("%s: %s", what, ferry_error_msg(&err));
    if (o->flags.leave_running) {
      set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "%s; the container still runs", full);
    } else if (ls) {
      /* CRIU still holds the frozen container: stop it, then thaw the container. */
      lazy_dump_abort(ls);
      recover_failed_dump(o, src, name, img, full, 1, res);
    } else {
      rollback(o, src, name, criu_dir, full, res);
    }
    free(full);
    goto out;
  }
  res->write_ms = ferry_now_mono_ms() - t_rootfs;
  res->bytes = m.total_bytes;
  res->bytes_during_freeze = o->flags.leave_running ? 0 : m.total_bytes;
  res->strategy = ls ? "postCopy" : "stopAndCopy";
  res->image_dir = ferry_store_image_dir(store, name);
  /* for a rollback: the raw images (encoded ones), else the published image's */
  res->criu_dir = encode ? ferry_strdup(criu_dir) : ferry_path_join(res->image_dir, "criu");
  res->total_ms = ferry_now_mono_ms() - t_start;
  set_result(res, ENGINE_OK, "checkpointed", "container %s checkpointed into %s (%llu bytes, rootfs diff: %s, %llu entries)",
             id, res->image_dir, (unsigned long long)m.total_bytes, used, (unsigned long long)entries);
  free(tmpdir);
  tmpdir = NULL; /* published: nothing to remove */
out:
  if (tmpdir)
    ferry_store_abort(tmpdir);
  free(tmpdir);
  free(work);
  free(criu_v);
  free(runc_v);
  free(config);
  free(criu_dir);
  free(runc_log);
  free(cfg);
  free(stage);
  ferry_runc_state_free(&st);
  ferry_manifest_free(&m);
  ferry_manifest_free(&raw);
  ferry_error_clear(&err);
  return res->exit_code == ENGINE_OK ? 0 : -1;
}

int engine_checkpoint(const struct engine_opts *o, const char *root, const char *id, const struct ferry_store *store,
                      const char *name, struct engine_source *src, struct engine_result *res)
{
  int strategy = engine_strategy_parse(o->strategy);
  if (strategy == STRATEGY_POST_COPY || strategy < 0) {
    set_result(res, ENGINE_USAGE, "failed", "a whole-image checkpoint is stopAndCopy (or preCopy), not %s", o->strategy);
    memset(src, 0, sizeof *src);
    return -1;
  }
  char *note = strategy == STRATEGY_PRE_COPY ? precopy_note(o->criu) : NULL;
  int rc = checkpoint_impl(o, root, id, store, name, src, NULL, res);
  res->strategy_note = note;
  if (res->exit_code != ENGINE_LOST) /* when lost, the raw image is what is left */
    drop_stage(o, name);
  return rc;
}

/* The target's config.json: the image's, with the root at "rootfs" and the
 * network namespace at netns. An existing config.json (the runtime's) is kept,
 * only its network namespace replaced when netns is given. */
static int prepare_config(const char *image_dir, const char *bundle, const char *netns, char **rootfs,
                          ferry_error *err)
{
  char *dst = ferry_path_join(bundle, "config.json");
  int have = ferry_path_exists(dst);
  char *src = have ? ferry_strdup(dst) : ferry_path_join(image_dir, "config.json");
  char *text = NULL;
  int rc = -1;
  json_object *o = NULL;
  if (ferry_read_file(src, &text, NULL, err) < 0)
    goto out;
  o = json_tokener_parse(text);
  json_object *root = NULL, *path = NULL, *linux_ = NULL, *nss = NULL;
  if (!o || !json_object_object_get_ex(o, "root", &root) || !json_object_object_get_ex(root, "path", &path)) {
    ferry_error_set(err, 0, "%s: not an OCI config (no root.path)", src);
    goto out;
  }
  if (!have)
    json_object_object_add(root, "path", json_object_new_string("rootfs"));
  json_object_object_get_ex(root, "path", &path);
  const char *rp = json_object_get_string(path);
  *rootfs = rp[0] == '/' ? ferry_strdup(rp) : ferry_path_join(bundle, rp);
  if (netns) {
    if (!json_object_object_get_ex(o, "linux", &linux_) || !json_object_object_get_ex(linux_, "namespaces", &nss) ||
        !json_object_is_type(nss, json_type_array)) {
      ferry_error_set(err, 0, "%s: no linux.namespaces to put the network namespace in", src);
      goto out;
    }
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
  }
  if (!have || netns) {
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (ferry_write_file_atomic(dst, s, strlen(s), err) < 0)
      goto out;
  }
  if (!ferry_is_dir(*rootfs)) {
    ferry_error_set(err, ENOENT, "target root filesystem %s (the node prepares it from the container image)", *rootfs);
    free(*rootfs);
    *rootfs = NULL;
    goto out;
  }
  rc = 0;
out:
  json_object_put(o);
  free(text);
  free(src);
  free(dst);
  return rc;
}

/* lazy: NULL for a whole image; for post-copy, *lazy->daemon is set to the
 * lazy-pages daemon left running (pulling pages) when this returns 0, and
 * lazy->work to its work directory. */
struct lazy_restore {
  pid_t daemon;
  char *work;
  char *decoded; /* the decoded image the daemon reads, removed at the end */
};

/* Verifies image NAME; an encoded one is decoded (and checked) into the work
 * directory WORK/NAME/SUB, which *use_dir then names (the caller removes it);
 * else *use_dir is the image itself. */
static int open_image(const struct engine_opts *o, const struct ferry_store *store, const char *name, const char *sub,
                      struct ferry_manifest *m, char **image_dir, char **use_dir, ferry_error *err)
{
  if (ferry_store_open(store, name, image_dir, err) < 0 || ferry_manifest_load(*image_dir, m, err) < 0 ||
      ferry_manifest_verify(*image_dir, m, err) < 0)
    return -1;
  if (!ferry_manifest_encoded(m)) {
    *use_dir = ferry_strdup(*image_dir);
    return 0;
  }
  char *dir = work_subdir(o, name, sub, err);
  if (!dir)
    return -1;
  if (ferry_codec_decode_tree(o->codec, m, *image_dir, dir, err) < 0) {
    ferry_error e2 = FERRY_ERROR_INIT;
    ferry_rm_rf(dir, &e2);
    ferry_error_clear(&e2);
    free(dir);
    return -1;
  }
  *use_dir = dir;
  return 0;
}

/* Removes a decoded copy of an image (raw memory must not linger on disk). */
static void drop_decoded(const char *image_dir, char **use_dir)
{
  if (*use_dir && image_dir && strcmp(*use_dir, image_dir) != 0) {
    ferry_error err = FERRY_ERROR_INIT;
    if (ferry_rm_rf(*use_dir, &err) < 0)
      log_warn("removing the decoded image %s: %s", *use_dir, ferry_error_msg(&err));
    ferry_error_clear(&err);
  }
  free(*use_dir);
  *use_dir = NULL;
}

static int restore_impl(const struct engine_opts *o, const struct engine_target *t, const struct ferry_store *store,
                        const char *name, struct lazy_restore *lazy, struct engine_result *res)
{
  ferry_error err = FERRY_ERROR_INIT;
  struct ferry_manifest m = { 0 };
  char *image_dir = NULL, *rootfs = NULL, *work = NULL, *criu_dir = NULL, *tar = NULL, *log = NULL, *why = NULL;
  char *use_dir = NULL;
  int64_t t0 = ferry_now_mono_ms();
  const char *id = NULL;
  if (ferry_image_name_valid(name, &err) < 0) {
    set_result(res, ENGINE_USAGE, "failed", "%s", ferry_error_msg(&err));
    goto out;
  }
  char *dsub = ferry_asprintf("decoded-%s", t->id ? t->id : "restore");
  int opened = open_image(o, store, name, dsub, &m, &image_dir, &use_dir, &err);
  free(dsub);
  if (opened < 0) {
    set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "restore refused: %s", ferry_error_msg(&err));
    goto out;
  }
  int64_t t_verified = ferry_now_mono_ms();
  res->verify_ms = t_verified - t0;
  if (m.lazy_pages && !lazy) {
    set_result(res, ENGINE_FAILED_UNTOUCHED, "failed",
               "restore refused: image %s holds no memory (post-copy: its pages were served by the source's page "
               "server %s while the migration ran)",
               name, m.page_server);
    goto out;
  }
  if (!m.lazy_pages && lazy) {
    set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "image %s is not a post-copy image", name);
    goto out;
  }
  id = t->id ? t->id : m.container_id;
  struct ferry_runc r = runc_for(o, t->root, NULL);
  struct ferry_runc_state st;
  if (ferry_runc_state(&r, id, &st, &err) == 0) {
    ferry_runc_state_free(&st);
    set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "a container %s already exists in runc root %s", id, t->root);
    goto out;
  }
  ferry_error_clear(&err);
  if (prepare_config(use_dir, t->bundle, t->netns, &rootfs, &err) < 0) {
    set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "restore: %s", ferry_error_msg(&err));
    goto out;
  }
  tar = ferry_path_join(use_dir, "rootfs-diff.tar");
  uint64_t entries = 0;
  if (ferry_path_exists(tar) && ferry_rootfs_diff_apply(tar, rootfs, &entries, &err) < 0) {
    set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "restore: applying the root filesystem changes: %s",
               ferry_error_msg(&err));
    goto out;
  }
  char *sub = ferry_asprintf("restore-%s", id);
  work = work_subdir(o, name, sub, &err);
  free(sub);
  if (!work) {
    set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "%s", ferry_error_msg(&err));
    goto out;
  }
  log = t->log ? ferry_strdup(t->log) : ferry_asprintf("%s/%s/%s.log", o->work_dir, name, id);
  criu_dir = ferry_path_join(use_dir, "criu");
  /* Options the dump was made with must be given to the restore too. */
  struct ferry_criu_flags f = o->flags;
  f.tcp_established |= m.tcp_established;
  f.file_locks |= m.file_locks;
  f.ext_unix_sk |= m.ext_unix_sk;
  f.shell_job |= m.shell_job;
  f.leave_running = 0;
  int64_t t_restore = ferry_now_mono_ms();
  if (lazy) {
    f.lazy_pages = 1;
    if (lazy_daemon_start(o->criu, criu_dir, work, m.page_server, &lazy->daemon, &err) < 0) {
      set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "restore failed, nothing runs on the target: %s",
                 ferry_error_msg(&err));
      goto out;
    }
  }
  log_info("restoring container %s (runc root %s, bundle %s) from %s%s", id, t->root, t->bundle, image_dir,
           lazy ? ", memory from the source's page server" : "");
  if (restore_from(o, t->root, t->bundle, id, criu_dir, &f, work, log, &why) < 0) {
    set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "restore failed, nothing runs on the target: %s", why);
    if (lazy && lazy->daemon > 0) {
      ferry_proc_kill_group(lazy->daemon);
      lazy->daemon = 0;
    }
    goto out;
  }
  if (lazy) {
    lazy->work = ferry_strdup(work);
    if (strcmp(use_dir, image_dir) != 0) { /* the daemon reads it until the last page */
      lazy->decoded = use_dir;
      use_dir = NULL;
    }
  }
  int64_t t_done = ferry_now_mono_ms();
  res->restore_ms = t_done - t_restore;
  res->total_ms = t_done - t0;
  if (m.freeze_start_ms > 0 && !m.leave_running)
    res->downtime_ms = ferry_now_real_ms() - m.freeze_start_ms;
  res->bytes = m.total_bytes;
  res->strategy = m.lazy_pages ? "postCopy" : "stopAndCopy";
  res->image_dir = ferry_strdup(image_dir);
  set_result(res, ENGINE_OK, "restored", "container %s restored under runc root %s from %s (%llu rootfs entries)", id,
             t->root, image_dir, (unsigned long long)entries);
out:
  drop_decoded(image_dir, &use_dir);
  free(image_dir);
  free(rootfs);
  free(work);
  free(criu_dir);
  free(tar);
  free(log);
  free(why);
  ferry_manifest_free(&m);
  ferry_error_clear(&err);
  return res->exit_code == ENGINE_OK ? 0 : -1;
}

int engine_restore(const struct engine_opts *o, const struct engine_target *t, const struct ferry_store *store,
                   const char *name, struct engine_result *res)
{
  return restore_impl(o, t, store, name, NULL, res);
}

char *engine_precopy_unsupported(const char *criu)
{
  int track = ferry_criu_feature(criu, "mem_dirty_track");
  if (track == 1)
    return NULL;
  return ferry_strdup(track == 0 ? "preCopy needs the kernel's soft-dirty page tracking, which this node does not "
                                   "have (criu check --feature mem_dirty_track): preCopy migrations run as stopAndCopy"
                                 : "preCopy: could not tell whether this node tracks dirty memory (criu check "
                                   "--feature mem_dirty_track failed): preCopy migrations run as stopAndCopy");
}

/* The source after a post-copy failed: CRIU stopped, the container thawed. */
static void postcopy_recover(const struct engine_opts *o, const struct engine_source *src, const char *name,
                             const char *why, struct engine_result *res)
{
  struct engine_result rr = { 0 };
  recover_failed_dump(o, src, name, NULL, why, 1, &rr);
  if (rr.exit_code == ENGINE_FAILED_UNTOUCHED)
    set_result(res, ENGINE_ROLLED_BACK, "rolled-back", "%s; rolled back: container %s runs again on the source "
               "from where it was frozen", why, src->id);
  else
    set_result(res, ENGINE_LOST, "lost", "%s", rr.message ? rr.message : why);
  log_warn("%s", res->message);
  engine_result_free(&rr);
}

/* Post-copy: a small image through the store, the memory from the source's page
 * server. Downtime ends when the target runs; the source is released only when
 * its last page arrived. */
static int migrate_postcopy(const struct engine_opts *o, const char *root, const char *id,
                            const struct engine_target *t, const struct ferry_store *store, const char *name,
                            struct engine_result *res)
{
  char *why_unsupported = lazy_unsupported_reason();
  if (why_unsupported) {
    set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "postCopy is not possible on this node: %s", why_unsupported);
    free(why_unsupported);
    return -1;
  }
  struct engine_source src;
  struct lazy_source ls = { 0 };
  struct lazy_restore lr = { 0 };
  struct engine_result rr = { 0 };
  char *why = NULL;
  int rc = -1;
  int64_t t0 = ferry_now_mono_ms();
  if (checkpoint_impl(o, root, id, store, name, &src, &ls, res) < 0)
    goto out;
  if (restore_impl(o, t, store, name, &lr, &rr) < 0) {
    lazy_dump_abort(&ls);
    postcopy_recover(o, &src, name, rr.message ? rr.message : "restore failed", res);
    goto out;
  }
  int64_t t_running = ferry_now_mono_ms();
  res->verify_ms = rr.verify_ms;
  res->restore_ms = rr.restore_ms;
  res->downtime_ms = t_running - src.freeze_mono_ms;
  log_info("container %s runs on the target after %lld ms; its memory follows from %s", id,
           (long long)res->downtime_ms, ls.page_server);
  int page_timeout = o->timeout_ms > 0 ? o->timeout_ms : -1;
  if (lazy_daemon_wait(lr.daemon, lr.work, page_timeout, &why) < 0) {
    lr.daemon = 0;
    /* The target has holes in its memory: it must not run on. */
    struct ferry_runc tr = runc_for(o, t->root, NULL);
    ferry_error err = FERRY_ERROR_INIT;
    const char *tid = t->id ? t->id : id;
    if (ferry_runc_remove(&tr, tid, &err) < 0)
      log_error("removing the half-restored target %s: %s", tid, ferry_error_msg(&err));
    ferry_error_clear(&err);
    /* The relay resets CRIU's session: CRIU fails the dump and thaws the container. */
    lazy_dump_abort(&ls);
    char *all = ferry_asprintf("post-copy failed after the target started (%lld ms): %s; the target was killed, what "
                               "it did since it started is lost",
                               (long long)(ferry_now_mono_ms() - t_running), why);
    postcopy_recover(o, &src, name, all, res);
    free(all);
    goto out;
  }
  lr.daemon = 0;
  res->pages_ms = ferry_now_mono_ms() - t_running;
  lazy_dump_commit(&ls); /* the target has every page: CRIU may release the source */
  if (lazy_dump_finish(&ls, 30000, &why) < 0) {
    /* Every page arrived, yet the source's CRIU failed at its end: the target has
     * everything and runs; the source container may be left frozen. */
    log_warn("every page arrived but the source's CRIU ended badly: %s", why);
  }
  res->bytes_after_restore = lazy_source_bytes(&ls);
  res->total_ms = ferry_now_mono_ms() - t0;
  set_result(res, ENGINE_OK, "migrated", "container %s moved from runc root %s to %s as %s by post-copy (image %s, "
             "%llu bytes of memory after the restore)", id, root, t->root, t->id ? t->id : id, res->image_dir,
             (unsigned long long)res->bytes_after_restore);
  rc = 0;
out:
  if (lr.daemon > 0)
    ferry_proc_kill_group(lr.daemon);
  free(lr.work);
  drop_decoded("", &lr.decoded);
  free(why);
  lazy_source_free(&ls);
  engine_result_free(&rr);
  engine_source_free(&src);
  drop_stage(o, name);
  return rc;
}

int engine_postcopy_checkpoint(const struct engine_opts *o, const char *root, const char *id,
                               const struct ferry_store *store, const char *name, struct engine_source *src,
                               struct lazy_source *ls, struct engine_result *res)
{
  char *why = lazy_unsupported_reason();
  if (why) {
    set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "postCopy is not possible on this node: %s", why);
    free(why);
    memset(src, 0, sizeof *src);
    return -1;
  }
  if (o->flags.leave_running) {
    set_result(res, ENGINE_USAGE, "failed", "postCopy moves the container: --leave-running does not apply");
    memset(src, 0, sizeof *src);
    return -1;
  }
  if (checkpoint_impl(o, root, id, store, name, src, ls, res) < 0)
    return -1;
  set_result(res, ENGINE_OK, "serving", "container %s frozen, image %s published, memory served on %s", id,
             res->image_dir, ls->page_server);
  return 0;
}

int engine_postcopy_release(const struct engine_opts *o, const struct engine_source *src, struct lazy_source *ls,
                            const char *name, struct engine_result *res)
{
  char *why = NULL;
  int64_t t0 = ferry_now_mono_ms();
  int rc = lazy_dump_finish(ls, o->timeout_ms > 0 ? o->timeout_ms : -1, &why);
  res->bytes_after_restore = lazy_source_bytes(ls);
  if (rc == 0) {
    res->pages_ms = ferry_now_mono_ms() - t0;
    set_result(res, ENGINE_OK, "released", "every page of container %s was sent (%llu bytes); it is gone from the source",
               src->id, (unsigned long long)res->bytes_after_restore);
  } else {
    char *all = ferry_asprintf("post-copy did not finish: %s", why);
    postcopy_recover(o, src, name, all, res);
    free(all);
  }
  free(why);
  drop_stage(o, name);
  return rc;
}

int engine_postcopy_pages(const struct engine_opts *o, const struct ferry_store *store, const char *name,
                          const char *lazy_work, struct engine_result *res)
{
  ferry_error err = FERRY_ERROR_INIT;
  struct ferry_manifest m = { 0 };
  char *image_dir = NULL, *criu_dir = NULL, *why = NULL, *use_dir = NULL;
  pid_t daemon = 0;
  int64_t t0 = ferry_now_mono_ms();
  if (open_image(o, store, name, "decoded-pages", &m, &image_dir, &use_dir, &err) < 0) {
    set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "pages: %s", ferry_error_msg(&err));
    goto out;
  }
  if (!m.lazy_pages) {
    set_result(res, ENGINE_USAGE, "failed", "image %s is not a post-copy image", name);
    goto out;
  }
  criu_dir = ferry_path_join(use_dir, "criu");
  if (ferry_rm_rf(lazy_work, &err) < 0 || ferry_mkdir_p(lazy_work, 0700, &err) < 0 ||
      lazy_daemon_start(o->criu, criu_dir, lazy_work, m.page_server, &daemon, &err) < 0) {
    set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "pages: %s", ferry_error_msg(&err));
    goto out;
  }
  log_info("lazy-pages daemon for image %s ready in %s, fetching from %s", name, lazy_work, m.page_server);
  if (lazy_daemon_wait(daemon, lazy_work, o->timeout_ms > 0 ? o->timeout_ms : -1, &why) < 0) {
    set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "%s", why);
    goto out;
  }
  res->pages_ms = ferry_now_mono_ms() - t0;
  set_result(res, ENGINE_OK, "pages-arrived", "every page of image %s arrived from %s", name, m.page_server);
out:
  drop_decoded(image_dir, &use_dir);
  free(image_dir);
  free(criu_dir);
  free(why);
  ferry_manifest_free(&m);
  ferry_error_clear(&err);
  return res->exit_code == ENGINE_OK ? 0 : -1;
}

/* The image from this node's store straight into the target's, over TCP:
 * a receiver (the target's side, here a child process) publishes it there once
 * it verified. 0 when it arrived; else res says why. */
static int stream_to(const struct engine_opts *o, const struct ferry_store *from, const struct ferry_store *to,
                     const char *name, struct engine_result *res)
{
  ferry_error err = FERRY_ERROR_INIT;
  char token[65], *bound = NULL, *dir = ferry_store_image_dir(from, name);
  int lfd = -1, rc = -1;
  int64_t t0 = ferry_now_mono_ms();
  uint64_t sent = 0;
  if (ferry_stream_token(token, &err) < 0 ||
      ferry_relay_listen(o->page_server ? o->page_server : "127.0.0.1:0", &lfd, &bound, &err) < 0)
    goto out;
  pid_t child = fork();
  if (child < 0) {
    ferry_error_set(&err, errno, "fork the receiver");
    goto out;
  }
  if (child == 0) {
    ferry_error e = FERRY_ERROR_INIT;
    char *got = NULL;
    uint64_t n = 0;
    int r = ferry_stream_receive(lfd, token, to, o->timeout_ms, &got, &n, &e);
    if (r < 0)
      log_error("%s", ferry_error_msg(&e));
    _exit(r < 0 ? 1 : 0);
  }
  close(lfd);
  lfd = -1;
  int sent_ok = ferry_stream_send(dir, name, bound, token, o->bandwidth, &sent, &err) == 0;
  int code = 1;
  if (ferry_proc_wait_child(child, sent_ok ? -1 : 10000, &code) != 1)
    ferry_proc_kill_group(child);
  if (sent_ok && code != 0)
    ferry_error_set(&err, 0, "the target's receiver failed (exit %d)", code);
  if (!sent_ok || code != 0)
    goto out;
  res->transfer_ms = ferry_now_mono_ms() - t0;
  res->bytes_during_freeze = sent;
  log_info("image %s sent to the target's store %s in %lld ms (%llu bytes)", name, to->url,
           (long long)res->transfer_ms, (unsigned long long)sent);
  rc = 0;
out:
  if (rc < 0)
    set_result(res, ENGINE_FAILED_UNTOUCHED, "failed", "sending the image to the target failed: %s",
               ferry_error_msg(&err));
  if (lfd >= 0)
    close(lfd);
  free(bound);
  free(dir);
  ferry_error_clear(&err);
  return rc;
}

int engine_migrate(const struct engine_opts *o, const char *root, const char *id, const struct engine_target *t,
                   const struct ferry_store *store, const char *name, struct engine_result *res)
{
  if (o->flags.leave_running) {
    set_result(res, ENGINE_USAGE, "failed", "--leave-running makes a copy, not a move: use checkpoint and restore");
    return -1;
  }
  int strategy = engine_strategy_parse(o->strategy);
  if (strategy < 0) {
    set_result(res, ENGINE_USAGE, "failed", "unknown strategy %s (stopAndCopy, preCopy, postCopy)", o->strategy);
    return -1;
  }
  if (strategy == STRATEGY_POST_COPY && t->store) {
    set_result(res, ENGINE_USAGE, "failed", "postCopy reads its small image from the source's store: --to-store does "
               "not apply");
    return -1;
  }
  if (strategy == STRATEGY_POST_COPY)
    return migrate_postcopy(o, root, id, t, store, name, res);
  char *note = strategy == STRATEGY_PRE_COPY ? precopy_note(o->criu) : NULL;
  struct engine_source src;
  int64_t t0 = ferry_now_mono_ms();
  int ck = checkpoint_impl(o, root, id, store, name, &src, NULL, res);
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
  if ((t->store && from == store) || restore_impl(o, t, from, name, NULL, &rr) < 0) {
    char *what = ferry_asprintf("%s", res->exit_code != ENGINE_OK ? res->message
                                      : rr.message ? rr.message : "restore failed");
    char *criu_dir = ferry_strdup(res->criu_dir);
    rollback(o, &src, name, criu_dir, what, res);
    free(criu_dir);
    free(what);
    rc = -1;
  } else {
    int64_t now = ferry_now_mono_ms();
    res->verify_ms = rr.verify_ms;
    res->restore_ms = rr.restore_ms;
    res->downtime_ms = now - src.freeze_mono_ms;
    res->total_ms = now - t0;
    set_result(res, ENGINE_OK, "migrated", "container %s moved from runc root %s to %s as %s (image %s)", id, root,
               t->root, t->id ? t->id : id, res->image_dir);
  }
  engine_result_free(&rr);
  engine_source_free(&src);
  if (res->exit_code != ENGINE_LOST)
    drop_stage(o, name);
  return rc;
}
