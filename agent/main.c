/* ferry-agent: Ferry's node agent. This file is the command line; the engine is
 * in engine.c, the node self-test in check.c. See docs/agent-cli.md. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/check.h"
#include "runtime/criu.h"
#include "daemon.h"
#include "engine/engine.h"
#include "base/log.h"
#include "image/manifest.h"
#include "base/proc.h"
#include "engine/lazy.h"
#include "runtime/relay.h"
#include "image/stream.h"
#include <openssl/crypto.h>
#include "runtime/runc.h"
#include "image/store.h"
#include "base/util.h"

#ifndef FERRY_VERSION
#define FERRY_VERSION "0.1.0"
#endif

struct globals {
  const char *criu, *runc, *work_dir, *node;
  int json;
  char hostname[HOST_NAME_MAX + 1];
};

static void usage(FILE *f)
{
  fputs("usage: ferry-agent [--criu PATH] [--runc PATH] [--work-dir DIR] [--node NAME]\n"
        "                   [--log-level LEVEL] [--json] COMMAND [OPTIONS]\n"
        "\n"
        "commands:\n"
        "  check       what this node can do, with a checkpoint/restore self-test\n"
        "  run         start a container with pipes for its stdio (as containerd's shim does)\n"
        "  checkpoint  checkpoint a container into a store\n"
        "  restore     verify an image and restore its container on this node\n"
        "  migrate     checkpoint, restore on the target, roll back on failure\n"
        "  pages       post-copy on the target: fetch an image's memory from its source\n"
        "  send        send an image straight to another node's receive (no shared storage)\n"
        "  receive     receive one image from another node's send into this node's store\n"
        "  inspect     print and verify an image\n"
        "  daemon      do this node's part of PodMigrations (watches the Kubernetes API)\n"
        "\n"
        "exit codes: 0 done, 1 failed (nothing changed), 2 usage, 3 rolled back to the source,\n"
        "            4 rollback failed (container not running)\n"
        "See docs/agent-cli.md for every option.\n",
        f);
}

static const char *env_or(const char *name, const char *dflt)
{
  const char *v = getenv(name);
  return v && *v ? v : dflt;
}

/* Options of checkpoint/restore/migrate. */
struct cmd_opts {
  const char *root, *store, *image, *bundle, *netns, *id, *log;
  const char *to_root, *to_bundle, *to_netns, *to_store;
  int timeout_s;
  struct ferry_criu_flags flags;
  const char *rootfs_diff;
  const char *strategy, *page_server, *ready_file, *lazy_dir, *listen, *to, *token_file;
  uint64_t bandwidth;
  struct ferry_codec codec;
};

enum {
  O_ROOT = 256, O_STORE, O_IMAGE, O_BUNDLE, O_NETNS, O_ID, O_LOG, O_TO_ROOT, O_TO_BUNDLE, O_TO_NETNS, O_TIMEOUT,
  O_TCP_EST, O_TCP_CLOSE, O_FILE_LOCKS, O_EXT_UNIX, O_SHELL_JOB, O_LEAVE_RUNNING, O_CGROUPS_MODE, O_ROOTFS_DIFF,
  O_STRATEGY, O_PAGE_SERVER, O_BANDWIDTH, O_READY_FILE, O_LAZY_DIR, O_COMPRESS, O_KEY_FILE, O_TO_STORE, O_LISTEN, O_TO, O_TOKEN_FILE, O_HELP
};

static const struct option cmd_long[] = {
  { "root", required_argument, NULL, O_ROOT },
  { "store", required_argument, NULL, O_STORE },
  { "image", required_argument, NULL, O_IMAGE },
  { "bundle", required_argument, NULL, O_BUNDLE },
  { "netns", required_argument, NULL, O_NETNS },
  { "id", required_argument, NULL, O_ID },
  { "log", required_argument, NULL, O_LOG },
  { "to-root", required_argument, NULL, O_TO_ROOT },
  { "to-bundle", required_argument, NULL, O_TO_BUNDLE },
  { "to-netns", required_argument, NULL, O_TO_NETNS },
  { "to-store", required_argument, NULL, O_TO_STORE },
  { "listen", required_argument, NULL, O_LISTEN },
  { "to", required_argument, NULL, O_TO },
  { "token-file", required_argument, NULL, O_TOKEN_FILE },
  { "timeout", required_argument, NULL, O_TIMEOUT },
  { "tcp-established", no_argument, NULL, O_TCP_EST },
  { "tcp-close", no_argument, NULL, O_TCP_CLOSE },
  { "file-locks", no_argument, NULL, O_FILE_LOCKS },
  { "ext-unix-sk", no_argument, NULL, O_EXT_UNIX },
  { "shell-job", no_argument, NULL, O_SHELL_JOB },
  { "leave-running", no_argument, NULL, O_LEAVE_RUNNING },
  { "manage-cgroups-mode", required_argument, NULL, O_CGROUPS_MODE },
  { "rootfs-diff", required_argument, NULL, O_ROOTFS_DIFF },
  { "strategy", required_argument, NULL, O_STRATEGY },
  { "page-server", required_argument, NULL, O_PAGE_SERVER },
  { "bandwidth", required_argument, NULL, O_BANDWIDTH },
  { "ready-file", required_argument, NULL, O_READY_FILE },
  { "lazy-dir", required_argument, NULL, O_LAZY_DIR },
  { "compress", required_argument, NULL, O_COMPRESS },
  { "encryption-key-file", required_argument, NULL, O_KEY_FILE },
  { "help", no_argument, NULL, O_HELP },
  { NULL, 0, NULL, 0 },
};

/* allowed: the option codes this command takes. Returns 0, or 2 for a usage error. */
static int parse_cmd(int argc, char **argv, const char *cmd, const int *allowed, struct cmd_opts *c)
{
  memset(c, 0, sizeof *c);
  c->rootfs_diff = "auto";
  c->timeout_s = 300;
  optind = 0; /* 0, not 1: glibc then forgets the global scan's "+" ordering */
  opterr = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, "", cmd_long, NULL)) != -1) {
    if (opt == O_HELP) {
      usage(stdout);
      exit(0);
    }
    int ok = 0;
    for (const int *a = allowed; *a; a++)
      ok |= *a == opt;
    if (opt == '?' || !ok) {
      fprintf(stderr, "ferry-agent %s: unknown or misplaced option %s\n", cmd, argv[optind - 1]);
      return 2;
    }
    switch (opt) {
    case O_ROOT: c->root = optarg; break;
    case O_STORE: c->store = optarg; break;
    case O_IMAGE: c->image = optarg; break;
    case O_BUNDLE: c->bundle = optarg; break;
    case O_NETNS: c->netns = optarg; break;
    case O_ID: c->id = optarg; break;
    case O_LOG: c->log = optarg; break;
    case O_TO_ROOT: c->to_root = optarg; break;
    case O_TO_BUNDLE: c->to_bundle = optarg; break;
    case O_TO_NETNS: c->to_netns = optarg; break;
    case O_TO_STORE: c->to_store = optarg; break;
    case O_LISTEN: c->listen = optarg; break;
    case O_TO: c->to = optarg; break;
    case O_TOKEN_FILE: c->token_file = optarg; break;
    case O_TIMEOUT: {
      char *end;
      long v = strtol(optarg, &end, 10);
      if (*end || v <= 0 || v > 86400) {
        fprintf(stderr, "ferry-agent %s: --timeout takes seconds (1-86400), not %s\n", cmd, optarg);
        return 2;
      }
      c->timeout_s = (int)v;
      break;
    }
    case O_TCP_EST: c->flags.tcp_established = 1; break;
    case O_TCP_CLOSE: c->flags.tcp_close = 1; break;
    case O_FILE_LOCKS: c->flags.file_locks = 1; break;
    case O_EXT_UNIX: c->flags.ext_unix_sk = 1; break;
    case O_SHELL_JOB: c->flags.shell_job = 1; break;
    case O_LEAVE_RUNNING: c->flags.leave_running = 1; break;
    case O_CGROUPS_MODE:
      if (strcmp(optarg, "soft") && strcmp(optarg, "full") && strcmp(optarg, "strict")) {
        fprintf(stderr, "ferry-agent %s: --manage-cgroups-mode is soft, full or strict\n", cmd);
        return 2;
      }
      c->flags.manage_cgroups_mode = optarg;
      break;
    case O_ROOTFS_DIFF:
      if (strcmp(optarg, "auto") && strcmp(optarg, "overlay") && strcmp(optarg, "scan") && strcmp(optarg, "none")) {
        fprintf(stderr, "ferry-agent %s: --rootfs-diff is auto, overlay, scan or none\n", cmd);
        return 2;
      }
      c->rootfs_diff = optarg;
      break;
    case O_STRATEGY:
      if (engine_strategy_parse(optarg) < 0) {
        fprintf(stderr, "ferry-agent %s: --strategy is stopAndCopy, preCopy or postCopy, not %s\n", cmd, optarg);
        return 2;
      }
      c->strategy = optarg;
      break;
    case O_PAGE_SERVER: c->page_server = optarg; break;
    case O_READY_FILE: c->ready_file = optarg; break;
    case O_LAZY_DIR: c->lazy_dir = optarg; break;
    case O_COMPRESS:
    case O_KEY_FILE: {
      ferry_error e = FERRY_ERROR_INIT;
      if ((opt == O_COMPRESS ? ferry_codec_parse_compression(optarg, &c->codec, &e)
                             : ferry_codec_load_key(optarg, &c->codec, &e)) < 0) {
        fprintf(stderr, "ferry-agent %s: %s\n", cmd, ferry_error_msg(&e));
        ferry_error_clear(&e);
        return 2;
      }
      break;
    }
    case O_BANDWIDTH: {
      ferry_error e = FERRY_ERROR_INIT;
      if (ferry_relay_parse_bandwidth(optarg, &c->bandwidth, &e) < 0) {
        fprintf(stderr, "ferry-agent %s: --%s\n", cmd, ferry_error_msg(&e));
        ferry_error_clear(&e);
        return 2;
      }
      break;
    }
    }
  }
  if (c->flags.tcp_established && c->flags.tcp_close) {
    fprintf(stderr, "ferry-agent %s: --tcp-established and --tcp-close exclude each other\n", cmd);
    return 2;
  }
  return 0;
}

static int require(const char *cmd, const char *what, const char *v)
{
  if (!v || !*v) {
    fprintf(stderr, "ferry-agent %s: %s is required\n", cmd, what);
    return 2;
  }
  return 0;
}

static int check_image_arg(const char *cmd, const char *name)
{
  ferry_error err = FERRY_ERROR_INIT;
  if (require(cmd, "--image", name))
    return 2;
  if (ferry_image_name_valid(name, &err) < 0) {
    fprintf(stderr, "ferry-agent %s: %s\n", cmd, ferry_error_msg(&err));
    ferry_error_clear(&err);
    return 2;
  }
  return 0;
}

/* The JSON answer. extra (may be NULL, not taken): more fields. */
static json_object *result_json(const char *cmd, const char *container, const struct engine_result *r,
                                json_object *extra)
{
  {
    json_object *o = json_object_new_object();
    if (extra) {
      json_object_object_foreach(extra, ek, ev)
      {
        json_object_object_add(o, ek, json_object_get(ev));
      }
    }
    json_object_object_add(o, "command", json_object_new_string(cmd));
    json_object_object_add(o, "outcome", json_object_new_string(r->outcome ? r->outcome : "failed"));
    json_object_object_add(o, "exitCode", json_object_new_int(r->exit_code));
    if (container)
      json_object_object_add(o, "container", json_object_new_string(container));
    if (r->image_dir)
      json_object_object_add(o, "image", json_object_new_string(r->image_dir));
    json_object_object_add(o, "message", json_object_new_string(r->message ? r->message : ""));
    json_object *t = json_object_new_object();
    json_object_object_add(t, "dumpMs", json_object_new_int64(r->dump_ms));
    json_object_object_add(t, "rootfsMs", json_object_new_int64(r->rootfs_ms));
    json_object_object_add(t, "writeMs", json_object_new_int64(r->write_ms));
    json_object_object_add(t, "verifyMs", json_object_new_int64(r->verify_ms));
    json_object_object_add(t, "restoreMs", json_object_new_int64(r->restore_ms));
    json_object_object_add(t, "downtimeMs", json_object_new_int64(r->downtime_ms));
    json_object_object_add(t, "totalMs", json_object_new_int64(r->total_ms));
    json_object_object_add(t, "pagesMs", json_object_new_int64(r->pages_ms));
    json_object_object_add(t, "transferMs", json_object_new_int64(r->transfer_ms));
    json_object_object_add(o, "timings", t);
    json_object_object_add(o, "bytes", json_object_new_int64((int64_t)r->bytes));
    if (r->bytes_raw)
      json_object_object_add(o, "rawBytes", json_object_new_int64((int64_t)r->bytes_raw));
    json_object *b = json_object_new_object();
    json_object_object_add(b, "beforeFreeze", json_object_new_int64((int64_t)r->bytes_before_freeze));
    json_object_object_add(b, "duringFreeze", json_object_new_int64((int64_t)r->bytes_during_freeze));
    json_object_object_add(b, "afterRestore", json_object_new_int64((int64_t)r->bytes_after_restore));
    json_object_object_add(o, "bytesMoved", b);
    if (r->strategy)
      json_object_object_add(o, "strategy", json_object_new_string(r->strategy));
    if (r->strategy_note)
      json_object_object_add(o, "strategyNote", json_object_new_string(r->strategy_note));
    return o;
  }
}

/* extra (may be NULL, taken): more fields for the JSON answer. */
static void print_result(const struct globals *g, const char *cmd, const char *container,
                         const struct engine_result *r, json_object *extra)
{
  if (g->json) {
    json_object *o = result_json(cmd, container, r, extra);
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    fflush(stdout);
    json_object_put(o);
  } else if (r->exit_code == ENGINE_OK) {
    printf("%s: %s\n", r->outcome, r->message ? r->message : "");
    if (r->dump_ms)
      printf("  dump:      %6lld ms (container frozen and saved by CRIU)\n", (long long)r->dump_ms);
    if (r->rootfs_ms || r->write_ms)
      printf("  rootfs:    %6lld ms, image write %lld ms\n", (long long)r->rootfs_ms, (long long)r->write_ms);
    if (r->verify_ms)
      printf("  verify:    %6lld ms\n", (long long)r->verify_ms);
    if (r->restore_ms)
      printf("  restore:   %6lld ms\n", (long long)r->restore_ms);
    if (r->downtime_ms)
      printf("  downtime:  %6lld ms (frozen on the source to running here)\n", (long long)r->downtime_ms);
    if (r->transfer_ms)
      printf("  transfer:  %6lld ms (the image sent to the target's store)\n", (long long)r->transfer_ms);
    if (r->pages_ms)
      printf("  pages:     %6lld ms (running here to the last page from the source)\n", (long long)r->pages_ms);
    printf("  image:     %llu bytes\n", (unsigned long long)r->bytes);
    if (r->bytes_raw)
      printf("  encoded:   from %llu bytes\n", (unsigned long long)r->bytes_raw);
    if (r->bytes_after_restore)
      printf("  memory:    %llu bytes after the restore (post-copy)\n", (unsigned long long)r->bytes_after_restore);
    if (r->strategy)
      printf("  strategy:  %s%s%s\n", r->strategy, r->strategy_note ? ": " : "", r->strategy_note ? r->strategy_note : "");
  }
  if (r->exit_code != ENGINE_OK)
    log_error("%s %s: %s", cmd, r->outcome ? r->outcome : "failed", r->message ? r->message : "failed");
  json_object_put(extra);
}

/* A monotonic instant as wall-clock milliseconds (for comparing across nodes). */
static int64_t wall_of(int64_t mono_ms) { return ferry_now_real_ms() - (ferry_now_mono_ms() - mono_ms); }

static struct engine_opts engine_opts_for(const struct globals *g, const struct cmd_opts *c)
{
  struct engine_opts o = { .runc = g->runc, .criu = g->criu, .work_dir = g->work_dir, .node = g->node,
                           .flags = c->flags, .rootfs_diff = c->rootfs_diff, .timeout_ms = c->timeout_s * 1000,
                           .strategy = c->strategy, .page_server = c->page_server, .bandwidth = c->bandwidth,
                           .codec = &c->codec };
  return o;
}

static int open_store(const char *cmd, const char *url, struct ferry_store *s)
{
  ferry_error err = FERRY_ERROR_INIT;
  if (require(cmd, "--store", url))
    return 2;
  if (ferry_store_parse(url, s, &err) < 0) {
    fprintf(stderr, "ferry-agent %s: %s\n", cmd, ferry_error_msg(&err));
    ferry_error_clear(&err);
    return 2;
  }
  return 0;
}

static void on_term(int sig)
{
  (void)sig;
  lazy_stop = 1;
}

static void on_commit(int sig)
{
  (void)sig;
  lazy_commit = 1;
}

/* SIGTERM and SIGINT end a post-copy wait cleanly (CRIU stopped, the container
 * thawed); SIGUSR1 says the target has every page (the source may go). */
static void stop_on_term(void)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = on_commit; /* the agent daemon: the target has every page */
  sigaction(SIGUSR1, &sa, NULL);
}

/* The source's half of a post-copy: the answer "serving" goes to --ready-file
 * (or stdout) once the image is published; the process stays until the last page
 * went, then answers again (released, or rolled back). */
static int checkpoint_postcopy(const struct globals *g, const struct cmd_opts *c, const struct engine_opts *o,
                               const struct ferry_store *s, const char *id)
{
  stop_on_term();
  struct engine_result r = { 0 };
  struct engine_source src;
  struct lazy_source ls = { 0 };
  int rc;
  json_object *extra = json_object_new_object();
  if (engine_postcopy_checkpoint(o, c->root, id, s, c->image, &src, &ls, &r) == 0) {
    json_object_object_add(extra, "bundle", json_object_new_string(src.bundle));
    json_object_object_add(extra, "frozenAtMs", json_object_new_int64(wall_of(src.freeze_mono_ms)));
    json_object_object_add(extra, "pageServer", json_object_new_string(ls.page_server));
    json_object *ready = result_json("checkpoint", id, &r, extra);
    const char *text = json_object_to_json_string_ext(ready, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    ferry_error err = FERRY_ERROR_INIT;
    if (c->ready_file) {
      if (ferry_write_file_atomic(c->ready_file, text, strlen(text), &err) < 0) {
        log_error("%s", ferry_error_msg(&err)); /* no one will know to restore: give up now */
        lazy_stop = 1;
      }
    } else if (g->json) {
      printf("%s\n", text);
      fflush(stdout);
    } else {
      printf("serving: %s\n", r.message);
      fflush(stdout);
    }
    ferry_error_clear(&err);
    json_object_put(ready);
    engine_postcopy_release(o, &src, &ls, c->image, &r);
  }
  print_result(g, "checkpoint", id, &r, extra);
  rc = (int)r.exit_code;
  lazy_source_free(&ls);
  engine_source_free(&src);
  engine_result_free(&r);
  return rc;
}

/* A transfer's token from its file (64 hex characters). */
static int read_token(const char *cmd, const char *path, char out[65])
{
  char *text = NULL;
  ferry_error err = FERRY_ERROR_INIT;
  if (require(cmd, "--token-file", path))
    return 2;
  if (ferry_read_file(path, &text, NULL, &err) < 0) {
    fprintf(stderr, "ferry-agent %s: %s\n", cmd, ferry_error_msg(&err));
    ferry_error_clear(&err);
    return 2;
  }
  size_t l = strcspn(text, "\r\n");
  int ok = l == 64;
  if (ok)
    memcpy(out, text, 65), out[64] = '\0';
  OPENSSL_cleanse(text, strlen(text));
  free(text);
  if (!ok) {
    fprintf(stderr, "ferry-agent %s: %s: expected a 64-character token\n", cmd, path);
    return 2;
  }
  return 0;
}

/* The target's half of a direct transfer: one image, received into --store. */
static int cmd_receive(const struct globals *g, int argc, char **argv)
{
  static const int allowed[] = { O_STORE, O_LISTEN, O_TOKEN_FILE, O_READY_FILE, O_TIMEOUT, 0 };
  struct cmd_opts c;
  char token[65];
  int rc = parse_cmd(argc, argv, "receive", allowed, &c);
  if (rc || (rc = require("receive", "--listen", c.listen)) || (rc = read_token("receive", c.token_file, token)))
    return rc;
  struct ferry_store s;
  if ((rc = open_store("receive", c.store, &s)))
    return rc;
  struct engine_result r = { 0 };
  ferry_error err = FERRY_ERROR_INIT;
  int fd = -1;
  char *bound = NULL, *name = NULL;
  uint64_t bytes = 0;
  int64_t t0 = ferry_now_mono_ms();
  json_object *extra = json_object_new_object();
  if (ferry_relay_listen(c.listen, &fd, &bound, &err) < 0) {
    r.exit_code = ENGINE_FAILED_UNTOUCHED;
    r.message = ferry_strdup(ferry_error_msg(&err));
  } else {
    json_object_object_add(extra, "listen", json_object_new_string(bound));
    const char *text = json_object_to_json_string(extra);
    if (c.ready_file && ferry_write_file_atomic(c.ready_file, text, strlen(text), &err) < 0)
      log_error("%s", ferry_error_msg(&err));
    else if (!c.ready_file)
      fprintf(stderr, "receiving on %s\n", bound);
    ferry_error_clear(&err);
    if (ferry_stream_receive(fd, token, &s, c.timeout_s * 1000, &name, &bytes, &err) < 0) {
      r.exit_code = ENGINE_FAILED_UNTOUCHED;
      r.message = ferry_strdup(ferry_error_msg(&err));
    } else {
      r.outcome = "received";
      r.image_dir = ferry_store_image_dir(&s, name);
      r.bytes = bytes;
      r.transfer_ms = ferry_now_mono_ms() - t0;
      r.message = ferry_asprintf("image %s received into %s (%llu bytes)", name, s.url, (unsigned long long)bytes);
    }
    close(fd);
  }
  print_result(g, "receive", NULL, &r, extra);
  rc = (int)r.exit_code;
  OPENSSL_cleanse(token, sizeof token);
  free(bound);
  free(name);
  engine_result_free(&r);
  ferry_store_free(&s);
  ferry_error_clear(&err);
  return rc;
}

/* The source's half of a direct transfer. */
static int cmd_send(const struct globals *g, int argc, char **argv)
{
  static const int allowed[] = { O_STORE, O_IMAGE, O_TO, O_TOKEN_FILE, O_BANDWIDTH, O_TIMEOUT, 0 };
  struct cmd_opts c;
  char token[65];
  int rc = parse_cmd(argc, argv, "send", allowed, &c);
  if (rc || (rc = check_image_arg("send", c.image)) || (rc = require("send", "--to", c.to)) ||
      (rc = read_token("send", c.token_file, token)))
    return rc;
  struct ferry_store s;
  if ((rc = open_store("send", c.store, &s)))
    return rc;
  struct engine_result r = { 0 };
  ferry_error err = FERRY_ERROR_INIT;
  char *dir = NULL;
  uint64_t bytes = 0;
  int64_t t0 = ferry_now_mono_ms();
  if (ferry_store_open(&s, c.image, &dir, &err) < 0 ||
      ferry_stream_send(dir, c.image, c.to, token, c.bandwidth, &bytes, &err) < 0) {
    r.exit_code = ENGINE_FAILED_UNTOUCHED;
    r.message = ferry_strdup(ferry_error_msg(&err));
  } else {
    r.outcome = "sent";
    r.bytes = bytes;
    r.bytes_during_freeze = bytes;
    r.transfer_ms = ferry_now_mono_ms() - t0;
    r.message = ferry_asprintf("image %s sent to %s (%llu bytes)", c.image, c.to, (unsigned long long)bytes);
  }
  print_result(g, "send", NULL, &r, NULL);
  rc = (int)r.exit_code;
  OPENSSL_cleanse(token, sizeof token);
  free(dir);
  engine_result_free(&r);
  ferry_store_free(&s);
  ferry_error_clear(&err);
  return rc;
}

/* The target's half of a post-copy: CRIU's lazy-pages daemon, until every page arrived. */
static int cmd_pages(const struct globals *g, int argc, char **argv)
{
  static const int allowed[] = { O_STORE, O_IMAGE, O_LAZY_DIR, O_TIMEOUT, O_KEY_FILE, 0 };
  struct cmd_opts c;
  int rc = parse_cmd(argc, argv, "pages", allowed, &c);
  if (rc || (rc = check_image_arg("pages", c.image)) || (rc = require("pages", "--lazy-dir", c.lazy_dir)))
    return rc;
  struct ferry_store s;
  if ((rc = open_store("pages", c.store, &s)))
    return rc;
  stop_on_term();
  struct engine_opts o = engine_opts_for(g, &c);
  struct engine_result r = { 0 };
  engine_postcopy_pages(&o, &s, c.image, c.lazy_dir, &r);
  print_result(g, "pages", NULL, &r, NULL);
  rc = (int)r.exit_code;
  engine_result_free(&r);
  ferry_store_free(&s);
  return rc;
}

static int cmd_checkpoint(const struct globals *g, int argc, char **argv)
{
  static const int allowed[] = { O_ROOT, O_STORE, O_IMAGE, O_TIMEOUT, O_TCP_EST, O_TCP_CLOSE, O_FILE_LOCKS,
                                 O_EXT_UNIX, O_SHELL_JOB, O_LEAVE_RUNNING, O_CGROUPS_MODE, O_ROOTFS_DIFF,
                                 O_STRATEGY, O_PAGE_SERVER, O_BANDWIDTH, O_READY_FILE, O_COMPRESS, O_KEY_FILE, 0 };
  struct cmd_opts c;
  int rc = parse_cmd(argc, argv, "checkpoint", allowed, &c);
  if (rc || (rc = require("checkpoint", "--root", c.root)) || (rc = check_image_arg("checkpoint", c.image)))
    return rc;
  if (optind != argc - 1) {
    fprintf(stderr, "ferry-agent checkpoint: exactly one container ID is required\n");
    return 2;
  }
  struct ferry_store s;
  if ((rc = open_store("checkpoint", c.store, &s)))
    return rc;
  struct engine_opts o = engine_opts_for(g, &c);
  if (engine_strategy_parse(c.strategy) == STRATEGY_POST_COPY) {
    rc = checkpoint_postcopy(g, &c, &o, &s, argv[optind]);
    ferry_store_free(&s);
    return rc;
  }
  struct engine_result r = { 0 };
  struct engine_source src;
  memset(&src, 0, sizeof src);
  engine_checkpoint(&o, c.root, argv[optind], &s, c.image, &src, &r);
  json_object *extra = json_object_new_object();
  if (src.bundle)
    json_object_object_add(extra, "bundle", json_object_new_string(src.bundle));
  if (src.freeze_mono_ms)
    json_object_object_add(extra, "frozenAtMs", json_object_new_int64(wall_of(src.freeze_mono_ms)));
  print_result(g, "checkpoint", argv[optind], &r, extra);
  rc = (int)r.exit_code;
  engine_source_free(&src);
  engine_result_free(&r);
  ferry_store_free(&s);
  return rc;
}

static int cmd_restore(const struct globals *g, int argc, char **argv)
{
  static const int allowed[] = { O_ROOT, O_STORE, O_IMAGE, O_BUNDLE, O_NETNS, O_ID, O_LOG, O_TIMEOUT, O_TCP_EST,
                                 O_TCP_CLOSE, O_FILE_LOCKS, O_EXT_UNIX, O_SHELL_JOB, O_CGROUPS_MODE, O_KEY_FILE, 0 };
  struct cmd_opts c;
  int rc = parse_cmd(argc, argv, "restore", allowed, &c);
  if (rc || (rc = require("restore", "--root", c.root)) || (rc = require("restore", "--bundle", c.bundle)) ||
      (rc = check_image_arg("restore", c.image)))
    return rc;
  if (optind != argc) {
    fprintf(stderr, "ferry-agent restore: unexpected argument %s (use --id NEWID)\n", argv[optind]);
    return 2;
  }
  struct ferry_store s;
  if ((rc = open_store("restore", c.store, &s)))
    return rc;
  struct engine_opts o = engine_opts_for(g, &c);
  struct engine_target t = { c.root, c.bundle, c.netns, c.id, c.log, NULL };
  struct engine_result r = { 0 };
  engine_restore(&o, &t, &s, c.image, &r);
  json_object *extra = json_object_new_object();
  if (r.exit_code == ENGINE_OK)
    json_object_object_add(extra, "restoredAtMs", json_object_new_int64(ferry_now_real_ms()));
  print_result(g, "restore", c.id, &r, extra);
  rc = (int)r.exit_code;
  engine_result_free(&r);
  ferry_store_free(&s);
  return rc;
}

static int cmd_migrate(const struct globals *g, int argc, char **argv)
{
  static const int allowed[] = { O_ROOT, O_STORE, O_IMAGE, O_TO_ROOT, O_TO_BUNDLE, O_TO_NETNS, O_ID, O_LOG,
                                 O_TIMEOUT, O_TCP_EST, O_TCP_CLOSE, O_FILE_LOCKS, O_EXT_UNIX, O_SHELL_JOB,
                                 O_CGROUPS_MODE, O_ROOTFS_DIFF, O_LEAVE_RUNNING, O_STRATEGY,
                                 O_PAGE_SERVER, O_BANDWIDTH, O_COMPRESS, O_KEY_FILE, O_TO_STORE, 0 };
  struct cmd_opts c;
  int rc = parse_cmd(argc, argv, "migrate", allowed, &c);
  if (rc || (rc = require("migrate", "--root", c.root)) || (rc = require("migrate", "--to-root", c.to_root)) ||
      (rc = require("migrate", "--to-bundle", c.to_bundle)) || (rc = check_image_arg("migrate", c.image)))
    return rc;
  if (optind != argc - 1) {
    fprintf(stderr, "ferry-agent migrate: exactly one container ID is required\n");
    return 2;
  }
  struct ferry_store s;
  if ((rc = open_store("migrate", c.store, &s)))
    return rc;
  struct engine_opts o = engine_opts_for(g, &c);
  struct ferry_store to_store;
  int have_to = 0;
  if (c.to_store) {
    if ((rc = open_store("migrate", c.to_store, &to_store))) {
      ferry_store_free(&s);
      return rc;
    }
    have_to = 1;
  }
  struct engine_target t = { c.to_root, c.to_bundle, c.to_netns, c.id, c.log, have_to ? &to_store : NULL };
  struct engine_result r = { 0 };
  engine_migrate(&o, c.root, argv[optind], &t, &s, c.image, &r);
  print_result(g, "migrate", argv[optind], &r, NULL);
  rc = (int)r.exit_code;
  engine_result_free(&r);
  ferry_store_free(&s);
  if (have_to)
    ferry_store_free(&to_store);
  return rc;
}

static int cmd_run(const struct globals *g, int argc, char **argv)
{
  static const int allowed[] = { O_ROOT, O_BUNDLE, O_LOG, O_TIMEOUT, 0 };
  struct cmd_opts c;
  int rc = parse_cmd(argc, argv, "run", allowed, &c);
  if (rc || (rc = require("run", "--root", c.root)) || (rc = require("run", "--bundle", c.bundle)))
    return rc;
  if (optind != argc - 1) {
    fprintf(stderr, "ferry-agent run: exactly one container ID is required\n");
    return 2;
  }
  const char *id = argv[optind];
  ferry_error err = FERRY_ERROR_INIT;
  char *log = c.log ? ferry_strdup(c.log) : ferry_asprintf("%s/%s.log", g->work_dir, id);
  char *runc_log = ferry_asprintf("%s/%s.runc.log", g->work_dir, id);
  int in = -1, out = -1;
  struct ferry_runc r = { .runc = g->runc, .root = c.root, .log = runc_log, .timeout_ms = c.timeout_s * 1000 };
  rc = 0;
  if (ferry_mkdir_p(g->work_dir, 0700, &err) < 0 || ferry_stdio_relay(log, &in, &out, &err) < 0 ||
      ferry_runc_run_detached(&r, id, c.bundle, in, out, &err) < 0) {
    log_error("run %s: %s", id, ferry_error_msg(&err));
    rc = 1;
  } else if (g->json) {
    printf("{\"container\":\"%s\",\"log\":\"%s\"}\n", id, log);
  } else {
    printf("started container %s, output in %s\n", id, log);
  }
  if (in >= 0)
    close(in);
  if (out >= 0)
    close(out);
  ferry_error_clear(&err);
  free(log);
  free(runc_log);
  return rc;
}

static int cmd_inspect(const struct globals *g, int argc, char **argv)
{
  static const int allowed[] = { O_STORE, O_IMAGE, 0 };
  struct cmd_opts c;
  int rc = parse_cmd(argc, argv, "inspect", allowed, &c);
  if (rc || (rc = check_image_arg("inspect", c.image)))
    return rc;
  struct ferry_store s;
  if ((rc = open_store("inspect", c.store, &s)))
    return rc;
  ferry_error err = FERRY_ERROR_INIT;
  struct ferry_manifest m = { 0 };
  char *dir = NULL;
  if (ferry_store_open(&s, c.image, &dir, &err) < 0 || ferry_manifest_load(dir, &m, &err) < 0) {
    log_error("inspect: %s", ferry_error_msg(&err));
    rc = 1;
    goto out;
  }
  int64_t t0 = ferry_now_mono_ms();
  int ok = ferry_manifest_verify(dir, &m, &err) == 0;
  int64_t verify_ms = ferry_now_mono_ms() - t0;
  if (g->json) {
    char *text = ferry_manifest_to_json(&m);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "image", json_object_new_string(dir));
    json_object_object_add(o, "verified", json_object_new_boolean(ok));
    if (!ok)
      json_object_object_add(o, "error", json_object_new_string(ferry_error_msg(&err)));
    json_object_object_add(o, "verifyMs", json_object_new_int64(verify_ms));
    json_object_object_add(o, "manifest", json_tokener_parse(text));
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    free(text);
  } else {
    char created[32];
    ferry_format_time(m.created_ms, created, sizeof created);
    printf("image:       %s\ncontainer:   %s\nsource node: %s\nstrategy:    %s\ncreated:     %s\n", dir,
           m.container_id, m.source_node ? m.source_node : "-", m.strategy, created);
    printf("criu:        %s\nrunc:        %s\nkernel:      %s\nrootfs diff: %s\n", m.criu_version ? m.criu_version : "-",
           m.runc_version ? m.runc_version : "-", m.kernel ? m.kernel : "-", m.rootfs_diff);
    printf("timings:     dump %lld ms, rootfs %lld ms, write %lld ms\n", (long long)m.dump_ms, (long long)m.rootfs_ms,
           (long long)m.write_ms);
    if (ferry_manifest_encoded(&m))
      printf("encoding:    compression %s, encryption %s%s%s\n", m.compression ? m.compression : "none",
             m.encryption ? m.encryption : "none", m.key_id ? ", key " : "", m.key_id ? m.key_id : "");
    printf("files:       %zu, %llu bytes\n", m.nfiles, (unsigned long long)m.total_bytes);
    for (size_t i = 0; i < m.nfiles; i++)
      printf("  %12llu  %.16s  %s\n", (unsigned long long)m.files[i].size, m.files[i].sha256, m.files[i].path);
    printf("verified:    %s (%lld ms)\n", ok ? "yes" : "NO", (long long)verify_ms);
  }
  if (!ok) {
    log_error("inspect: %s", ferry_error_msg(&err));
    rc = 1;
  }
out:
  free(dir);
  ferry_manifest_free(&m);
  ferry_store_free(&s);
  ferry_error_clear(&err);
  return rc;
}

static int cmd_check(const struct globals *g, int argc, char **argv)
{
  static const int allowed[] = { O_TIMEOUT, 0 };
  struct cmd_opts c;
  int rc = parse_cmd(argc, argv, "check", allowed, &c);
  if (rc)
    return rc;
  if (c.timeout_s == 300)
    c.timeout_s = 30;
  json_object *o = json_object_new_object();
  json_object_object_add(o, "node", json_object_new_string(g->node));
  rc = ferry_check_node(g->criu, g->runc, g->work_dir, c.timeout_s * 1000, o) == 0 ? 0 : 1;
  const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
  /* Record it for the daemon and for operators: STATE_DIR/check.json. */
  char *state = ferry_strdup(g->work_dir);
  char *slash = strrchr(state, '/');
  if (slash && slash != state)
    *slash = '\0';
  char *rec = ferry_path_join(state, "check.json");
  ferry_error err = FERRY_ERROR_INIT;
  if (ferry_write_file_atomic(rec, text, strlen(text), &err) < 0)
    log_warn("could not record the check result: %s", ferry_error_msg(&err));
  ferry_error_clear(&err);
  if (g->json) {
    printf("%s\n", text);
  } else {
    struct json_object_iterator it = json_object_iter_begin(o), end = json_object_iter_end(o);
    for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
      const char *key = json_object_iter_peek_name(&it);
      json_object *val = json_object_iter_peek_value(&it);
      if (!json_object_is_type(val, json_type_object)) {
        printf("%-20s %s\n", key, json_object_get_string(val));
        continue;
      }
      printf("%s\n", key);
      struct json_object_iterator i2 = json_object_iter_begin(val), e2 = json_object_iter_end(val);
      for (; !json_object_iter_equal(&i2, &e2); json_object_iter_next(&i2))
        printf("  %-18s %s\n", json_object_iter_peek_name(&i2), json_object_get_string(json_object_iter_peek_value(&i2)));
    }
  }
  if (rc)
    log_error("check: this node cannot migrate containers (see selfTest above)");
  json_object_put(o);
  free(state);
  free(rec);
  return rc;
}

int main(int argc, char **argv)
{
  struct globals g = { 0 };
  if (gethostname(g.hostname, sizeof g.hostname) < 0)
    snprintf(g.hostname, sizeof g.hostname, "unknown");
  g.criu = ferry_criu_default_path();
  g.runc = env_or("FERRY_RUNC", "runc");
  g.work_dir = env_or("FERRY_WORK_DIR", "/var/lib/ferry/work");
  g.node = env_or("FERRY_NODE_NAME", g.hostname);
  static const struct option global_long[] = {
    { "criu", required_argument, NULL, 'c' },     { "runc", required_argument, NULL, 'r' },
    { "work-dir", required_argument, NULL, 'w' }, { "node", required_argument, NULL, 'n' },
    { "log-level", required_argument, NULL, 'l' }, { "log-format", required_argument, NULL, 'f' },
    { "json", no_argument, NULL, 'j' },           { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },        { NULL, 0, NULL, 0 },
  };
  opterr = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, "+h", global_long, NULL)) != -1) {
    switch (opt) {
    case 'c': g.criu = optarg; break;
    case 'r': g.runc = optarg; break;
    case 'w': g.work_dir = optarg; break;
    case 'n': g.node = optarg; break;
    case 'j': g.json = 1; break;
    case 'l':
      if (ferry_log_level_option("ferry-agent", optarg) < 0)
        return 2;
      break;
    case 'f':
      if (ferry_log_format_option("ferry-agent", optarg) < 0)
        return 2;
      break;
    case 'h': usage(stdout); return 0;
    case 'V': printf("ferry-agent %s\n", FERRY_VERSION); return 0;
    default:
      fprintf(stderr, "ferry-agent: unknown option %s\n", argv[optind - 1]);
      usage(stderr);
      return 2;
    }
  }
  if (optind >= argc) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[optind];
  int sub_argc = argc - optind;
  char **sub_argv = argv + optind;
  if (!strcmp(cmd, "check"))
    return cmd_check(&g, sub_argc, sub_argv);
  if (!strcmp(cmd, "run"))
    return cmd_run(&g, sub_argc, sub_argv);
  if (!strcmp(cmd, "checkpoint"))
    return cmd_checkpoint(&g, sub_argc, sub_argv);
  if (!strcmp(cmd, "restore"))
    return cmd_restore(&g, sub_argc, sub_argv);
  if (!strcmp(cmd, "migrate"))
    return cmd_migrate(&g, sub_argc, sub_argv);
  if (!strcmp(cmd, "send"))
    return cmd_send(&g, sub_argc, sub_argv);
  if (!strcmp(cmd, "receive"))
    return cmd_receive(&g, sub_argc, sub_argv);
  if (!strcmp(cmd, "pages"))
    return cmd_pages(&g, sub_argc, sub_argv);
  if (!strcmp(cmd, "inspect"))
    return cmd_inspect(&g, sub_argc, sub_argv);
  if (!strcmp(cmd, "daemon")) {
    struct daemon_globals dg = { g.criu, g.runc, g.work_dir, g.node };
    return agent_daemon(&dg, sub_argc, sub_argv);
  }
  fprintf(stderr, "ferry-agent: unknown command %s\n", cmd);
  usage(stderr);
  return 2;
}
