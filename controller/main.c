/* SPDX-License-Identifier: Apache-2.0 */
/* ferry-controller: watches Pods, Nodes, PodMigrations, MigrationPolicies,
 * Services, EndpointSlices, Endpoints and the agents' Leases; drives every
 * PodMigration through its state machine (reconcile.c). Runs as several
 * replicas: the one holding the Lease acts, the others keep warm caches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller.h"
#include "rebalancer.h"
#include "base/cleanup.h"
#include "base/cmdline.h"
#include "base/log.h"
#include "base/signals.h"
#include "base/util.h"
#include "kube/leader.h"

#define DEFAULT_LEASE_SECONDS 15
#define DEFAULT_AGENT_STALE_S 40
#define DEFAULT_REBALANCE_S 10
#define QUEUE_BACKOFF_BASE_MS 5    /* a failed key's first retry; doubles per failure */
#define QUEUE_BACKOFF_MAX_MS 60000 /* ... up to this */
#define FOLLOWER_RETRY_MS 1000     /* how often a replica without the lease tries for it */
#define POLL_MS 200                /* the longest the informers are waited on */
#define RESYNC_MS 30000            /* every PodMigration is looked at this often */
#define WORK_BUDGET_MS 500         /* the longest one pass reconciles before the informers run again */
#define CTL_STR_(X) #X
#define CTL_STR(X) CTL_STR_(X)

struct options {
  const char *kubeconfig, *context, *ns, *identity, *runtime_class;
  const char *webhook_listen, *webhook_cert, *webhook_key, *metrics_listen;
  int lease_seconds, elect, stale, rebalance_s;
  char id[320]; /* the default identity: HOST_PID */
};

#define FERRY_CMD_ARG(NAME, VAL, ARG, HELP, DFLT)                                                                      \
  {                                                                                                                    \
    NAME, required_argument, VAL, 0, 0, ARG, HELP, DFLT                                                                \
  }

static const struct ferry_cmd_opt ctl_opts[] = {
  FERRY_CMD_OPT_KUBECONFIG('k'),
  FERRY_CMD_ARG("context", 'c', "NAME", "the kubeconfig's context", "its current context"),
  FERRY_CMD_ARG("namespace", 'n', "NS", "where the controller's Lease and the agents' Leases are", "ferry-system"),
  FERRY_CMD_ARG("identity", 'i', "ID", "this replica's name in the Lease", "HOST_PID"),
  FERRY_CMD_ARG("lease-seconds", 'l', "N", "the leader Lease's duration (at least 2)", CTL_STR(DEFAULT_LEASE_SECONDS)),
  FERRY_CMD_FLAG("no-leader-elect", 'N', "act without holding the Lease (one replica only)"),
  FERRY_CMD_ARG("agent-stale-seconds", 's', "N",
                "an agent whose Lease is older than this is taken as gone (at least 1)",
                CTL_STR(DEFAULT_AGENT_STALE_S)),
  FERRY_CMD_ARG(
      "runtime-class", 'R', "NAME",
      "the RuntimeClass whose handler is ferry-runc; pods must run with it to move (\"\": no check, for clusters "
      "where ferry-runc is the default runtime)",
      "ferry"),
  FERRY_CMD_ARG("webhook-listen", 'W', "IP:PORT",
                "serve the pod admission webhook (HTTPS, POST /mutate-pods) that lets ReplicaSet pods move; needs "
                "--webhook-cert and --webhook-key",
                "not served"),
  FERRY_CMD_ARG("webhook-cert", 'C', "FILE", "the webhook's serving certificate (PEM)", NULL),
  FERRY_CMD_ARG("webhook-key", 'K', "FILE", "the webhook's private key (PEM)", NULL),
  FERRY_CMD_ARG("metrics-listen", 'M', "IP:PORT", "serve /healthz, /readyz and Prometheus /metrics over HTTP",
                "not served"),
  FERRY_CMD_ARG(
      "rebalance-interval", 'B', "SECONDS",
      "seconds between the rebalancer's rounds, which move pods as the MigrationPolicies' load and locality rules "
      "say (0: off)",
      CTL_STR(DEFAULT_REBALANCE_S)),
  FERRY_CMD_OPT_LOG_LEVEL('L'),
  FERRY_CMD_OPT_LOG_FORMAT('F'),
  FERRY_CMD_FLAG("version", 'V', "print the version and exit"),
  FERRY_CMD_OPT_HELP,
  FERRY_CMD_OPT_END,
};

static const struct ferry_cmd ctl_cmd = {
  .name = "ferry-controller",
  .prog = "ferry-controller",
  .synopsis = "ferry-controller",
  .summary = "Ferry's controller: drives every PodMigration, decides what moves where, makes Services follow.",
  .exits = "  0  stopped (SIGTERM, SIGINT), or --help, --version\n  1  could not start\n  2  usage error\n",
  .more = "docs/controller.md",
  .opts = ctl_opts,
};

/* ---------- the work queue ---------- */

/* One key: "pm/NS/NAME" or "pod/NS/NAME" reconciled; a failure retried with backoff, a requeue after its delay. */
static void work_one(struct ctl *c, const char *key)
{
  char kind[8] = "", *ns = NULL, *name = NULL;
  cleanup_free char *copy = ferry_strdup(key);
  char *s1 = strchr(copy, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
  if (s1 && s2) {
    *s1 = *s2 = '\0';
    snprintf(kind, sizeof kind, "%s", copy);
    ns = s1 + 1;
    name = s2 + 1;
  }
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  int64_t again = 0, started = ferry_now_mono_ms();
  int rc = 0;
  if (!strcmp(kind, "pm"))
    rc = ctl_reconcile_pm(c, ns, name, &again, &err);
  else if (!strcmp(kind, "pod"))
    rc = ctl_reconcile_pod(c, ns, name, &again, &err);
  ctl_metrics_reconciled(c, !strcmp(kind, "pm") ? "podmigration" : "pod", rc >= 0,
                         (double)(ferry_now_mono_ms() - started) / 1000.0);
  if (rc < 0) {
    int64_t d = queue_add_rate_limited(c->q, key, ferry_now_mono_ms());
    log_warn("%s: %s (retry in %lld ms)", key, ferry_error_msg(&err), (long long)d);
  } else {
    queue_forget(c->q, key);
    if (again > 0)
      queue_add_after(c->q, key, ferry_now_mono_ms(), again);
  }
}

/* Runs due keys for at most budget_ms. */
static void work(struct ctl *c, int64_t budget_ms)
{
  int64_t until = ferry_now_mono_ms() + budget_ms, wait;
  char *key;
  while (!ferry_stopping && ferry_now_mono_ms() < until && (key = queue_pop(c->q, ferry_now_mono_ms(), &wait))) {
    work_one(c, key);
    free(key);
  }
}

/* How long the informers may be waited on: until the next due key when leading, else POLL_MS. */
static long poll_timeout(struct ctl *c, int ready)
{
  int64_t wait = -1;
  char *peek = queue_pop(c->q, ferry_now_mono_ms(), &wait);
  if (peek) { /* due now: put it back, run below */
    queue_add(c->q, peek, ferry_now_mono_ms());
    free(peek);
    wait = 0;
  }
  return ready && wait >= 0 && wait < POLL_MS ? (long)wait : POLL_MS;
}

/* ---------- options ---------- */

/* Without --identity: HOST_PID, unique among the replicas. */
static void default_identity(struct options *o)
{
  char host[256] = "controller";
  if (gethostname(host, sizeof host) < 0)
    snprintf(host, sizeof host, "controller");
  snprintf(o->id, sizeof o->id, "%s_%d", host, (int)getpid());
  if (!o->identity)
    o->identity = o->id;
}

/* A whole number of seconds within 0..max, else says which option is wrong. */
static int seconds_option(const char *flag, const char *arg, int max, int *out)
{
  char *end;
  long v = strtol(arg, &end, 10);
  if (*end == 's' && end != arg)
    end++;
  if (end == arg || *end || v < 0 || v > max) {
    fprintf(stderr, "ferry-controller: %s: not a number of seconds within 0..%d: %s\n", flag, max, arg);
    return -1;
  }
  *out = (int)v;
  return 0;
}

/* One option into o: 0, -1 to exit 0 (--version), or 2 for a bad value. */
static int apply_option(struct options *o, int opt, const char *arg)
{
  switch (opt) {
  case 'k':
    o->kubeconfig = arg;
    break;
  case 'c':
    o->context = arg;
    break;
  case 'n':
    o->ns = arg;
    break;
  case 'i':
    o->identity = arg;
    break;
  case 'l':
    o->lease_seconds = atoi(arg);
    break;
  case 'N':
    o->elect = 0;
    break;
  case 's':
    o->stale = atoi(arg);
    break;
  case 'R':
    o->runtime_class = arg;
    break;
  case 'W':
    o->webhook_listen = arg;
    break;
  case 'C':
    o->webhook_cert = arg;
    break;
  case 'K':
    o->webhook_key = arg;
    break;
  case 'M':
    o->metrics_listen = arg;
    break;
  case 'B':
    return seconds_option("--rebalance-interval", arg, 86400, &o->rebalance_s) < 0 ? 2 : 0;
  case 'L':
    return ferry_log_level_option("ferry-controller", arg) < 0 ? 2 : 0;
  case 'F':
    return ferry_log_format_option("ferry-controller", arg) < 0 ? 2 : 0;
  case 'V':
    printf("ferry-controller %s\n", FERRY_VERSION);
    return -1;
  }
  return 0;
}

/* 0: run; -1: exit 0 (--help, --version); else the exit code (2: a bad option). */
static int parse_options(int argc, char **argv, struct options *o)
{
  struct ferry_cmd_parse p;
  ferry_cmd_start(&p, &ctl_cmd);
  int opt, rc;
  while ((opt = ferry_cmd_next(&p, argc, argv)) != FERRY_CMD_DONE) {
    if (opt == FERRY_CMD_HELP)
      return -1;
    if (opt == FERRY_CMD_BAD)
      return 2;
    if ((rc = apply_option(o, opt, optarg)))
      return rc;
  }
  if (optind != argc)
    return ferry_cmd_usage_error(&ctl_cmd, "unexpected argument %s", argv[optind]);
  if (o->lease_seconds < 2 || o->stale < 1)
    return ferry_cmd_usage_error(&ctl_cmd, "--lease-seconds must be at least 2, --agent-stale-seconds at least 1");
  if (o->webhook_listen && (!o->webhook_cert || !o->webhook_key))
    return ferry_cmd_usage_error(&ctl_cmd, "--webhook-listen needs --webhook-cert and --webhook-key");
  default_identity(o);
  return 0;
}

/* ---------- start-up ---------- */

/* The API client, the informers, the queue, the recorder and the webhook. Logs what failed. */
static int start(struct ctl *c, const struct options *o, struct ferry_kube_config *cfg)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  c->agent_ns = o->ns;
  c->agent_stale_s = o->stale;
  c->runtime_class = o->runtime_class;
  if (ferry_kube_config_auto(o->kubeconfig, o->context, cfg, &err) < 0 || ferry_kube_open(cfg, &c->kube, &err) < 0 ||
      ferry_informers_new(cfg, &c->inf, &err) < 0) {
    log_error("%s", ferry_error_msg(&err));
    return -1;
  }
  c->q = queue_new(QUEUE_BACKOFF_BASE_MS, QUEUE_BACKOFF_MAX_MS);
  c->rec = ferry_recorder_new(c->kube, "ferry-controller", NULL);
  c->rebalancer = rebalancer_new(o->rebalance_s);
  if (!c->q || !c->rec || !c->rebalancer) {
    log_error("out of memory");
    return -1;
  }
  if (ctl_watch(c, o->ns, &err) < 0) {
    log_error("%s", ferry_error_msg(&err));
    return -1;
  }
  if (o->webhook_listen) {
    int wport = 0;
    if (webhook_start(o->webhook_listen, o->webhook_cert, o->webhook_key, &c->webhook, &wport, &err) < 0) {
      log_error("webhook: %s", ferry_error_msg(&err));
      return -1;
    }
    log_info("admission webhook on https://%s (port %d)/mutate-pods", o->webhook_listen, wport);
  }
  if (o->metrics_listen) {
    int mport = 0;
    if (ctl_metrics_start(c, o->metrics_listen, o->identity, &mport, &err) < 0) {
      log_error("metrics: %s", ferry_error_msg(&err));
      return -1;
    }
    log_info("/healthz, /readyz and /metrics on http://%s (port %d)", o->metrics_listen, mport);
  }
  return 0;
}

static void stop_all(struct ctl *c, struct ferry_kube_config *cfg)
{
  ctl_metrics_stop(c);
  rebalancer_free(c->rebalancer);
  ctl_inflight_free(c);
  webhook_stop(c->webhook);
  ferry_recorder_free(c->rec);
  queue_free(c->q);
  ferry_informers_free(c->inf);
  ferry_kube_close(c->kube);
  ferry_kube_config_free(cfg);
}

/* ---------- the loop ---------- */

struct loop {
  struct ferry_leader leader;
  int elect, lease_seconds;
  int leading, was_leading, synced;
  int64_t next_tick, next_resync;
};

/* Leader election: renew or try for the lease when due; a change is logged. */
static void elect(struct ctl *c, struct loop *l)
{
  int64_t now = ferry_now_mono_ms();
  if (l->elect && now >= l->next_tick) {
    cleanup_error ferry_error err = FERRY_ERROR_INIT;
    if (ferry_leader_tick(&l->leader, now, (int64_t)l->lease_seconds * 1000 * 2 / 3, &err) < 0)
      log_warn("leader election: %s", ferry_error_msg(&err));
    l->leading = l->leader.leading;
    l->next_tick = now + (l->leading ? l->lease_seconds * 1000 / 3 : FOLLOWER_RETRY_MS);
  }
  if (l->leading != l->was_leading) {
    log_info("%s", l->leading ? "leading: reconciling" : "lost the lease: standing by");
    l->was_leading = l->leading;
    rebalancer_forget(c->rebalancer); /* another leader may have moved pods meanwhile */
    if (l->leading)
      l->next_resync = 0; /* pick up every migration where it stands */
  }
}

/* Reconciles until a stop signal (0) or the informers fail (1). */
static int run(struct ctl *c, struct loop *l)
{
  while (!ferry_stopping) {
    elect(c, l);
    cleanup_error ferry_error err = FERRY_ERROR_INIT;
    if (ferry_informers_run(c->inf, poll_timeout(c, l->leading && l->synced), &err) < 0) {
      log_error("informers: %s", ferry_error_msg(&err));
      return 1;
    }
    if (!l->synced && ctl_synced(c)) {
      l->synced = 1;
      log_info("caches synced");
    }
    if (l->leading && l->synced) {
      if (ferry_now_mono_ms() >= l->next_resync) { /* a periodic resync, as controllers have */
        ctl_enqueue_all_pms(c);
        l->next_resync = ferry_now_mono_ms() + RESYNC_MS;
      }
      work(c, WORK_BUDGET_MS);
      rebalancer_tick(c, c->rebalancer);
    }
    webhook_publish(c->webhook, c->pms);
    ctl_metrics_loop(c, l->leading, l->synced);
  }
  return 0;
}

static int lead_and_run(struct ctl *c, const struct options *o)
{
  struct loop l = { .elect = o->elect, .lease_seconds = o->lease_seconds, .leading = !o->elect };
  ferry_leader_init(&l.leader, c->kube, o->ns, "ferry-controller", o->identity, o->lease_seconds);
  log_info("ferry-controller %s starting as %s (leader election %s)", FERRY_VERSION, o->identity,
           o->elect ? "on" : "off");
  int rc = run(c, &l);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (o->elect && l.leader.leading && ferry_leader_release(&l.leader, &err) < 0)
    log_warn("releasing the lease: %s", ferry_error_msg(&err));
  ferry_leader_free(&l.leader);
  log_info("ferry-controller stopped");
  return rc;
}

int main(int argc, char **argv)
{
  struct options o = { .ns = "ferry-system",
                       .runtime_class = "ferry",
                       .lease_seconds = DEFAULT_LEASE_SECONDS,
                       .elect = 1,
                       .stale = DEFAULT_AGENT_STALE_S,
                       .rebalance_s = DEFAULT_REBALANCE_S };
  int exit_code = parse_options(argc, argv, &o);
  if (exit_code)
    return exit_code < 0 ? 0 : exit_code;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_catch_stop_signals(&err) < 0) {
    log_error("%s", ferry_error_msg(&err));
    return 1;
  }
  struct ferry_kube_config cfg;
  memset(&cfg, 0, sizeof cfg);
  ferry_kube_global_init();
  struct ctl c;
  memset(&c, 0, sizeof c);
  int rc = start(&c, &o, &cfg) < 0 ? 1 : lead_and_run(&c, &o);
  stop_all(&c, &cfg);
  return rc;
}
