/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry-agent daemon`: its options, its start-up, and the loop: the informers
 * put a migration of this node on the work queue when it (or its target pod)
 * changes, or when one of its steps' child process ends; step() hands it to
 * this node's side (source.c, target.c), which asks to look again later while
 * there is more to do. The loop also renews the node's agent Lease. */
#include "daemon.h"

#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/admission.h"
#include "base/cleanup.h"
#include "base/cmdline.h"
#include "base/log.h"
#include "base/signals.h"
#include "base/util.h"
#include "image/codec.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "kube/kube.h"
#include "kube/quantity.h"
#include "kube/queue.h"
#include "metrics.h"
#include "runtime/kdat.h"
#include "runtime/relay.h"

enum {
  QUEUE_BASE_DELAY_MS = 50,    /* a failed step's first retry; it doubles each time */
  QUEUE_MAX_DELAY_MS = 30000,  /* ... up to this */
  LEASE_RETRY_MS = 2000,       /* a failed Lease renewal is tried again this soon */
  LOOP_CHILD_WAIT_MS = 20,     /* a step's end is noticed within this while one runs */
  LOOP_IDLE_WAIT_MS = 200,     /* the longest the informers run before the loop looks around */
  WATCHDOG_INTERVAL_MS = 5000, /* how often the node's containers are looked at for a freeze or a CRIU */
  WATCHDOG_HELD_MS = 1000,     /* ... while one is held */
  PROGRESS_INTERVAL_MS = 1000, /* how often long steps' progress goes into their migrations' status (progress.c) */
  GC_INTERVAL_MS = 60000,      /* how often the collector looks at the store and the records (gc.c) */
  DEFAULT_LEASE_SECONDS = 40,
  MIN_LEASE_SECONDS = 3,
};
/* --postcopy-threshold's default: published until the node measured its own (docs/strategies.md) */
#define DEFAULT_POSTCOPY_THRESHOLD "256Mi"
/* the collector's and the store's defaults (docs/retention.md) */
#define DEFAULT_RETENTION_COUNT "1"
#define DEFAULT_IMAGE_TTL "24h"
#define DEFAULT_ORPHAN_GRACE "1h"
#define DEFAULT_STORE_MIN_FREE "1Gi"

/* ---------- the informers' handlers: the work queue ---------- */

static void enqueue(void *ctx, json_object *pm)
{
  struct daemon *d = ctx;
  const char *s = ferry_kube_str(pm, "status.sourceNode") ?: "", *t = ferry_kube_str(pm, "status.targetNode") ?: "";
  if (strcmp(s, d->g->node) != 0 && strcmp(t, d->g->node) != 0)
    return;
  if (pm_phase_is_terminal(pm_phase(pm)))
    d->gc_soon = 1; /* what it leaves here may go now */
  cleanup_free char *key = pm_ref(pm);
  queue_add(d->q, key, ferry_now_mono_ms());
}
static void enqueue_upd(void *ctx, json_object *old, json_object *pm)
{
  (void)old;
  enqueue(ctx, pm);
}

/* A pod of this node changed: the migration it is the target of looks again. */
static void pod_changed(void *ctx, json_object *pod)
{
  struct daemon *d = ctx;
  json_object *v =
      ferry_kube_key(ferry_kube_obj(ferry_kube_obj(pod, "metadata"), "annotations"), FERRY_ANN_RESTORE_FROM);
  const char *ref = v ? json_object_get_string(v) : NULL;
  if (ref && strchr(ref, '/'))
    queue_add(d->q, ref, ferry_now_mono_ms());
}
static void pod_updated(void *ctx, json_object *old, json_object *pod)
{
  (void)old;
  pod_changed(ctx, pod);
}

/* One pass over the migration NAMESPACE/NAME: this node's source side, then its target side. */
static int step(struct daemon *d, const char *key, int64_t *requeue_ms, ferry_error *err)
{
  char ns[256];
  const char *slash = strchr(key, '/');
  if (!slash || (size_t)(slash - key) >= sizeof ns)
    return 0;
  memcpy(ns, key, (size_t)(slash - key));
  ns[slash - key] = '\0';
  json_object *found = ferry_informer_get(d->pms, ns, slash + 1);
  if (!found)
    return 0;
  cleanup_json json_object *pm = json_object_get(found); /* the cache may change under a long step */
  int rc = 0;
  if (!strcmp(ferry_kube_str(pm, "status.sourceNode") ?: "", d->g->node))
    rc = source_step(d, pm, requeue_ms, err);
  if (rc == 0 && !strcmp(ferry_kube_str(pm, "status.targetNode") ?: "", d->g->node)) {
    int64_t again = 0;
    rc = target_step(d, pm, &again, err);
    if (again && (!*requeue_ms || again < *requeue_ms))
      *requeue_ms = again;
  }
  return rc;
}

/* ---------- options ---------- */

/* containerd's runc root for the CRI's namespace (its runc handler's default Root plus the namespace). */
#define DEFAULT_RUNC_ROOT "/run/containerd/runc/k8s.io"

enum {
  OPT_KUBECONFIG = 256,
  OPT_STORE,
  OPT_RUNC_ROOT,
  OPT_STATE_DIR,
  OPT_NAMESPACE,
  OPT_METRICS_LISTEN,
  OPT_ADMISSION_DIR,
  OPT_LEASE_SECONDS,
  OPT_MIGRATION_ADDRESS,
  OPT_MIGRATION_BANDWIDTH,
  OPT_POSTCOPY_THRESHOLD,
  OPT_TRANSFER_KEY_FILE,
  /* (the codec and retention options keep their letters: codec_option, retention_option) */
};

static const struct ferry_cmd_opt daemon_opts[] = {
  FERRY_CMD_REQ("store", OPT_STORE, "URL", "where images go: dir://PATH or s3://BUCKET[/PREFIX]"),
  FERRY_CMD_OPT_KUBECONFIG(OPT_KUBECONFIG),
  FERRY_CMD_ARG("runc-root", OPT_RUNC_ROOT, "DIR",
                "the runtime's state root of this node's pod containers (containerd's runc handler's Root plus "
                "/k8s.io)",
                DEFAULT_RUNC_ROOT),
  FERRY_CMD_ARG("state-dir", OPT_STATE_DIR, "DIR", "the steps' records and logs", "/var/lib/ferry"),
  FERRY_CMD_ARG("namespace", OPT_NAMESPACE, "NS", "where the agent's Lease is", "ferry-system"),
  FERRY_CMD_ARG("metrics-listen", OPT_METRICS_LISTEN, "IP:PORT", "/metrics, /healthz and /readyz", "0.0.0.0:9470"),
  FERRY_CMD_ARG("lease-seconds", OPT_LEASE_SECONDS, "N",
                "the agent Lease's duration (at least 3; renewed at a quarter)", "40"),
  FERRY_CMD_ARG("admission-dir", OPT_ADMISSION_DIR, "DIR", "where restores are admitted for ferry-runc",
                FERRY_ADMISSION_DIR),
  FERRY_CMD_ARG("migration-address", OPT_MIGRATION_ADDRESS, "IP",
                "where other nodes fetch post-copy memory and direct transfers from", "the Node's InternalIP"),
  FERRY_CMD_ARG("migration-bandwidth", OPT_MIGRATION_BANDWIDTH, "QUANTITY",
                "at most this many bytes/s of post-copy memory leave this node (e.g. 100Mi)", "unlimited"),
  FERRY_CMD_ARG("postcopy-threshold", OPT_POSTCOPY_THRESHOLD, "QUANTITY",
                "strategy auto moves pods using more memory than this by post-copy, until this node has measured "
                "where post-copy starts to pay",
                DEFAULT_POSTCOPY_THRESHOLD),
  FERRY_CMD_ARG("image-compression", 'C', "zstd|lz4[:LEVEL]", "images written compressed", "not compressed"),
  FERRY_CMD_ARG("encryption-key-file", 'K', "FILE",
                "images encrypted with this key (every node needs the same; ferry-runc reads it from "
                "FERRY_ENCRYPTION_KEY_FILE)",
                "not encrypted"),
  FERRY_CMD_ARG("transfer-key-file", OPT_TRANSFER_KEY_FILE, "FILE",
                "the key every node shares (32 bytes, 64 hex or 44 base64 characters) from which both agents derive "
                "a direct transfer's one-time token; without it this node neither sends nor receives images straight "
                "from another node's store",
                "none"),
  FERRY_CMD_ARG("image-retention-count", 'R', "N", "images of a pod's succeeded migrations kept",
                DEFAULT_RETENTION_COUNT),
  FERRY_CMD_ARG("image-ttl", 't', "DURATION", "images of ended migrations removed once this old, 0 for never",
                DEFAULT_IMAGE_TTL),
  FERRY_CMD_ARG("image-orphan-grace", 'O', "DURATION", "images no PodMigration names removed once this old",
                DEFAULT_ORPHAN_GRACE),
  FERRY_CMD_ARG("store-min-free", 'F', "QUANTITY|N%",
                "checkpoints refused (StoreFull) when they would leave the store less free space than this",
                DEFAULT_STORE_MIN_FREE),
  FERRY_CMD_OPT_HELP,
  FERRY_CMD_OPT_END,
};

const struct ferry_cmd daemon_cmd = {
  .name = "daemon",
  .prog = "ferry-agent daemon",
  .synopsis = "ferry-agent [GLOBAL OPTIONS] daemon",
  .summary = "do this node's part of PodMigrations (watches the Kubernetes API)",
  .details = "Runs until SIGTERM: renews the agent Lease (its load and node check), checkpoints, transfers and\n"
             "restores for the PodMigrations of this node, serves /metrics, collects old images.\n",
  .exits = "  0  stopped (SIGTERM, SIGINT), or --help\n  1  could not start\n  2  usage error\n",
  .more = "docs/agent-cli.md",
  .opts = daemon_opts,
};

/* --image-compression (o 'C') or --encryption-key-file ('K'), checked now. */
static int codec_option(struct daemon *d, int o, const char *arg)
{
  struct ferry_codec c = { 0 };
  cleanup_error ferry_error e = FERRY_ERROR_INIT;
  if ((o == 'C' ? ferry_codec_parse_compression(arg, &c, &e) : ferry_codec_load_key(arg, &c, &e)) < 0) {
    fprintf(stderr, "ferry-agent daemon: %s\n", ferry_error_msg(&e));
    return -1;
  }
  if (o == 'C')
    d->compress = c.comp == FERRY_COMP_NONE ? NULL : arg;
  else
    d->key_file = arg;
  OPENSSL_cleanse(&c, sizeof c);
  return 0;
}

/* --transfer-key-file, read now (the key, not the file, is kept). */
static int transfer_key_option(struct daemon *d, const char *arg)
{
  cleanup_error ferry_error e = FERRY_ERROR_INIT;
  if (transfer_key_load(d, arg, &e) < 0) {
    fprintf(stderr, "ferry-agent daemon: --transfer-key-file: %s\n", ferry_error_msg(&e));
    return -1;
  }
  return 0;
}

static int bandwidth_option(struct daemon *d, const char *arg)
{
  uint64_t bps;
  cleanup_error ferry_error e = FERRY_ERROR_INIT;
  if (ferry_relay_parse_bandwidth(arg, &bps, &e) < 0) {
    fprintf(stderr, "ferry-agent daemon: --migration-%s\n", ferry_error_msg(&e));
    return -1;
  }
  d->bandwidth = arg;
  return 0;
}

/* --postcopy-threshold: a memory quantity of whole bytes, at least 0. */
static int threshold_option(struct daemon *d, const char *arg)
{
  int64_t milli;
  cleanup_error ferry_error e = FERRY_ERROR_INIT;
  if (ferry_quantity_milli(arg, &milli, &e) < 0) {
    fprintf(stderr, "ferry-agent daemon: --postcopy-threshold: %s\n", ferry_error_msg(&e));
    return -1;
  }
  if (milli < 0) {
    fprintf(stderr, "ferry-agent daemon: --postcopy-threshold: %s is below 0 bytes\n", arg);
    return -1;
  }
  d->postcopy_threshold = milli / 1000;
  return 0;
}

/* --image-retention-count, --image-ttl, --image-orphan-grace, --store-min-free (o: R, t, O, F). */
static int retention_option(struct daemon *d, int o, const char *arg)
{
  cleanup_error ferry_error e = FERRY_ERROR_INIT;
  int64_t ms = 0;
  char *end;
  if (o == 'R') {
    long n = strtol(arg, &end, 10);
    if (*arg && !*end && n >= 0 && n <= 100000) {
      d->retention.count = (int)n;
      return 0;
    }
    ferry_error_set(&e, 0, "--image-retention-count %s: a whole number from 0", arg);
  } else if (o == 'F') {
    if (store_min_free_option(d, arg, &e) == 0)
      return 0;
  } else if (ferry_parse_duration_ms(arg, &ms, &e) == 0) {
    *(o == 't' ? &d->retention.ttl_ms : &d->orphan_grace_ms) = ms;
    return 0;
  } else {
    ferry_error_prefix(&e, "%s", o == 't' ? "--image-ttl" : "--image-orphan-grace");
  }
  fprintf(stderr, "ferry-agent daemon: %s\n", ferry_error_msg(&e));
  return -1;
}

/* The options' defaults that are parsed as given ones are. */
static int option_defaults(struct daemon *d)
{
  d->state_dir = "/var/lib/ferry";
  d->ns = "ferry-system";
  d->metrics_listen = "0.0.0.0:9470";
  d->lease_seconds = DEFAULT_LEASE_SECONDS;
  d->admission_dir = FERRY_ADMISSION_DIR;
  if (threshold_option(d, DEFAULT_POSTCOPY_THRESHOLD) < 0 || retention_option(d, 'R', DEFAULT_RETENTION_COUNT) < 0 ||
      retention_option(d, 't', DEFAULT_IMAGE_TTL) < 0 || retention_option(d, 'O', DEFAULT_ORPHAN_GRACE) < 0 ||
      retention_option(d, 'F', DEFAULT_STORE_MIN_FREE) < 0)
    return -1;
  return 0;
}

/* --lease-seconds: a whole number of seconds, at least MIN_LEASE_SECONDS. */
static int lease_option(struct daemon *d, const char *arg)
{
  char *end;
  long n = strtol(arg, &end, 10);
  if (!*arg || *end || n < MIN_LEASE_SECONDS || n > 3600) {
    ferry_cmd_usage_error(&daemon_cmd, "--lease-seconds %s: a whole number of seconds from %d to 3600", arg,
                          MIN_LEASE_SECONDS);
    return -1;
  }
  d->lease_seconds = (int)n;
  return 0;
}

/* One option into d: 0, or -1 when its value is bad (said). */
static int apply_option(struct daemon *d, int o, const char *arg)
{
  switch (o) {
  case OPT_KUBECONFIG:
    d->kubeconfig = arg;
    return 0;
  case OPT_STORE:
    d->store = arg;
    return 0;
  case OPT_RUNC_ROOT:
    d->runc_root = arg;
    return 0;
  case OPT_STATE_DIR:
    d->state_dir = arg;
    return 0;
  case OPT_NAMESPACE:
    d->ns = arg;
    return 0;
  case OPT_METRICS_LISTEN:
    d->metrics_listen = arg;
    return 0;
  case OPT_ADMISSION_DIR:
    d->admission_dir = arg;
    return 0;
  case OPT_LEASE_SECONDS:
    return lease_option(d, arg);
  case OPT_MIGRATION_ADDRESS:
    free(d->migration_address);
    d->migration_address = ferry_strdup(arg);
    return 0;
  case OPT_MIGRATION_BANDWIDTH:
    return bandwidth_option(d, arg);
  case OPT_POSTCOPY_THRESHOLD:
    return threshold_option(d, arg);
  case OPT_TRANSFER_KEY_FILE:
    return transfer_key_option(d, arg);
  case 'C':
  case 'K':
    return codec_option(d, o, arg);
  default: /* 'R', 't', 'O', 'F' */
    return retention_option(d, o, arg);
  }
}

/* 1 when the daemon is to run; otherwise *code is the exit code (help, a bad option). */
static int parse_options(struct daemon *d, int argc, char **argv, int *code)
{
  *code = 2;
  if (option_defaults(d) < 0)
    return 0;
  struct ferry_cmd_parse p;
  ferry_cmd_start(&p, &daemon_cmd);
  int o;
  while ((o = ferry_cmd_next(&p, argc, argv)) != FERRY_CMD_DONE) {
    if (o == FERRY_CMD_HELP || o == FERRY_CMD_BAD) {
      *code = ferry_cmd_exit_code(o);
      return 0;
    }
    if (apply_option(d, o, optarg) < 0)
      return 0;
  }
  if (optind != argc) {
    ferry_cmd_usage_error(&daemon_cmd, "unexpected argument %s", argv[optind]);
    return 0;
  }
  if (!d->runc_root)
    d->runc_root = DEFAULT_RUNC_ROOT;
  return 1;
}

/* ---------- start-up ---------- */

/* This binary's path, which the steps run as. */
static int find_self(struct daemon *d)
{
  ssize_t n = readlink("/proc/self/exe", d->self, sizeof d->self - 1);
  if (n <= 0) {
    log_error("readlink /proc/self/exe: %m");
    return -1;
  }
  d->self[n] = '\0';
  return 0;
}

/* The state directories, the API client and the informers, the metrics endpoint,
 * the work queue and the event recorder; the migration address. */
static int daemon_start(struct daemon *d, struct ferry_kube_config *cfg, ferry_error *err)
{
  const struct daemon_globals *g = d->g;
  /* now, not in the first restore, which would make it inside a workload's downtime */
  ferry_criu_kdat_prepare(g->criu);
  ferry_kube_global_init();
  int port = 0;
  cleanup_free char *ops = ferry_asprintf("%s/ops", d->state_dir);
  cleanup_free char *fs = ferry_asprintf("spec.nodeName=%s", g->node);
  if (ferry_mkdir_p(ops, 0700, err) < 0 || ferry_mkdir_p(d->admission_dir, 0700, err) < 0 ||
      ferry_mkdir_p(g->work_dir, 0700, err) < 0 || ferry_kube_config_auto(d->kubeconfig, NULL, cfg, err) < 0 ||
      ferry_kube_open(cfg, &d->kube, err) < 0 || ferry_informers_new(cfg, &d->inf, err) < 0 ||
      metrics_start(d->metrics_listen, g->node, &d->m, &port, err) < 0) {
    log_error("daemon: %s", ferry_error_msg(err));
    return -1;
  }
  d->q = queue_new(QUEUE_BASE_DELAY_MS, QUEUE_MAX_DELAY_MS);
  d->rec = ferry_recorder_new(d->kube, "ferry-agent", g->node);
  /* Both informers cache whole objects (no ferry_informer_keep, kube/trim.h):
   * the pods are only this node's (a field selector, 110 at most by default)
   * and the PodMigrations one per migration, so trimming would save little;
   * the controller's cluster-wide caches are the ones trimmed (controller/keep.c). */
  struct ferry_informer_handlers h = { enqueue, enqueue_upd, NULL, d }, hp = { pod_changed, pod_updated, NULL, d };
  if (!d->q || !d->rec ||
      ferry_informer_add(d->inf, &FERRY_KUBE_PODMIGRATIONS, NULL, NULL, NULL, &h, &d->pms, err) < 0 ||
      ferry_informer_add(d->inf, &FERRY_KUBE_PODS, NULL, NULL, fs, &hp, &d->pods, err) < 0) {
    log_error("daemon: %s", ferry_error_msg(err));
    return -1;
  }
  if (!d->migration_address)
    d->migration_address = node_internal_ip(d);
  moves_start(d);
  cleanup_error ferry_error gerr = FERRY_ERROR_INIT;
  if (gc_start(d, &gerr) < 0)
    log_warn("the collector and the free-space check are off: %s", ferry_error_msg(&gerr));
  d->gc_soon = 1; /* once at start, when the caches are synced */
  log_info("ferry-agent daemon on node %s: store %s, runc root %s, metrics on port %d, post-copy memory served on %s",
           g->node, d->store, d->runc_root, port,
           d->migration_address ? d->migration_address : "(no InternalIP: none)");
  return 0;
}

static void daemon_free(struct daemon *d, struct ferry_kube_config *cfg)
{
  gc_stop(d);
  metrics_stop(d->m);
  ferry_recorder_free(d->rec);
  queue_free(d->q);
  ferry_informers_free(d->inf);
  ferry_kube_close(d->kube);
  ferry_kube_config_free(cfg);
  children_free(d);
  free(d->migration_address);
  transfer_key_forget(d);
  json_object_put(d->usage_prev);
}

/* ---------- the loop ---------- */

/* Renews the agent Lease when it is due; *last_ok: when it last was. */
static void lease_tick(struct daemon *d, int64_t now, int64_t *next, int64_t *last_ok)
{
  if (now < *next)
    return;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (renew_lease(d, &err) < 0) {
    log_warn("renewing the agent lease: %s", ferry_error_msg(&err));
    *next = now + LEASE_RETRY_MS;
  } else {
    *last_ok = now;
    *next = now + d->lease_seconds * 1000 / 4;
  }
}

/* The collector, every GC_INTERVAL_MS and soon after a migration of this node ended. */
static void gc_tick(struct daemon *d, int64_t now, int64_t *next)
{
  if (!d->gc_soon && now < *next)
    return;
  d->gc_soon = 0;
  gc_pass(d);
  *next = now + GC_INTERVAL_MS;
}

/* Steps the migration key; a failure is retried with backoff, more to do is looked at after the step's delay. */
static void work(struct daemon *d, const char *key)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  int64_t again = 0;
  if (step(d, key, &again, &err) < 0) {
    int64_t delay = queue_add_rate_limited(d->q, key, ferry_now_mono_ms());
    log_warn("%s: %s (retry in %lld ms)", key, ferry_error_msg(&err), (long long)delay);
    return;
  }
  queue_forget(d->q, key);
  if (again)
    queue_add_after(d->q, key, ferry_now_mono_ms(), again);
}

/* Until SIGTERM/SIGINT: children reaped, the Lease renewed, readiness told, one
 * migration stepped per pass, the informers run in between. */
static int daemon_loop(struct daemon *d, ferry_error *err)
{
  int64_t next_lease = 0, last_lease_ok = 0, next_watch = 0, next_gc = 0, next_progress = 0;
  int rc = 0;
  while (!ferry_stopping) {
    reap(d);
    int64_t now = ferry_now_mono_ms();
    lease_tick(d, now, &next_lease, &last_lease_ok);
    int synced = ferry_informer_synced(d->pms) && ferry_informer_synced(d->pods),
        lease_ok = last_lease_ok && now - last_lease_ok < d->lease_seconds * 1000;
    if (synced && now >= next_watch) {
      watchdog_pass(d);
      next_watch = now + (d->held ? WATCHDOG_HELD_MS : WATCHDOG_INTERVAL_MS);
    }
    if (synced)
      gc_tick(d, now, &next_gc);
    if (synced && now >= next_progress) {
      progress_pass(d);
      next_progress = now + PROGRESS_INTERVAL_MS;
    }
    metrics_set_ready(d->m, synced && lease_ok && !d->held,
                      !synced     ? "PodMigrations not listed yet"
                      : !lease_ok ? "the agent Lease is not renewed"
                                  : d->held_why);
    int64_t wait = -1;
    cleanup_free char *key = synced ? queue_pop(d->q, ferry_now_mono_ms(), &wait) : NULL;
    if (key) {
      work(d, key);
      continue;
    }
    long cap = children_running(d) ? LOOP_CHILD_WAIT_MS : LOOP_IDLE_WAIT_MS;
    long timeout = wait >= 0 && wait < cap ? (long)wait : cap;
    if (ferry_informers_run(d->inf, timeout, err) < 0) {
      log_error("informers: %s", ferry_error_msg(err));
      rc = 1;
      break;
    }
  }
  log_info("ferry-agent daemon stopped (steps still running go on; their answers are picked up at the next start)");
  return rc;
}

int agent_daemon(const struct daemon_globals *g, int argc, char **argv)
{
  struct daemon d;
  memset(&d, 0, sizeof d);
  d.g = g;
  int code;
  if (!parse_options(&d, argc, argv, &code)) {
    free(d.migration_address);
    return code;
  }
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (find_self(&d) < 0 || ferry_catch_stop_signals(&err) < 0) {
    if (err.msg)
      log_error("%s", ferry_error_msg(&err));
    free(d.migration_address);
    return 1;
  }
  struct ferry_kube_config cfg;
  memset(&cfg, 0, sizeof cfg);
  int rc = 1;
  if (daemon_start(&d, &cfg, &err) == 0)
    rc = daemon_loop(&d, &err);
  daemon_free(&d, &cfg);
  return rc;
}
