/* SPDX-License-Identifier: Apache-2.0 */
/* ferry-controller: watches Pods, Nodes, PodMigrations, MigrationPolicies,
 * Services, EndpointSlices, Endpoints and the agents' Leases; drives every
 * PodMigration through its state machine (reconcile.c). Runs as several
 * replicas: the one holding the Lease acts, the others keep warm caches. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller.h"
#include "rebalancer.h"
#include "base/cleanup.h"
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

struct options {
  const char *kubeconfig, *context, *ns, *identity, *runtime_class;
  const char *webhook_listen, *webhook_cert, *webhook_key, *metrics_listen;
  int lease_seconds, elect, stale, rebalance_s;
  char id[320]; /* the default identity: HOST_PID */
};

static void usage(FILE *f)
{
  fprintf(f,
          "usage: ferry-controller [--kubeconfig FILE] [--context NAME] [--namespace NS]\n"
          "                        [--identity ID] [--lease-seconds N] [--no-leader-elect]\n"
          "                        [--agent-stale-seconds N] [--runtime-class NAME]\n"
          "                        [--webhook-listen IP:PORT --webhook-cert FILE --webhook-key FILE]\n"
          "                        [--metrics-listen IP:PORT] [--rebalance-interval SECONDS]\n"
          "                        [--log-level LEVEL] [--log-format text|json] [--version] [--help]\n"
          "  --namespace: where the controller's Lease and the agents' Leases are (default ferry-system)\n"
          "  --runtime-class: the RuntimeClass whose handler is ferry-runc; pods must run with it to move\n"
          "                   (default ferry; \"\": no check, for clusters where ferry-runc is the default runtime)\n"
          "  --webhook-*: serve the pod admission webhook (HTTPS, POST /mutate-pods) that lets ReplicaSet pods move\n"
          "  --metrics-listen: serve /healthz, /readyz and Prometheus /metrics over HTTP (default: not served)\n"
          "  --rebalance-interval: seconds between the rebalancer's rounds, which move pods as the\n"
          "                        MigrationPolicies' load and locality rules say (default 10; 0: off)\n");
}

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

/* 0: run; -1: exit 0 (--help, --version); else the exit code (2: a bad option). */
static int parse_options(int argc, char **argv, struct options *o)
{
  static const struct option opts[] = {
    { "kubeconfig", required_argument, NULL, 'k' },
    { "context", required_argument, NULL, 'c' },
    { "namespace", required_argument, NULL, 'n' },
    { "identity", required_argument, NULL, 'i' },
    { "lease-seconds", required_argument, NULL, 'l' },
    { "no-leader-elect", no_argument, NULL, 'N' },
    { "agent-stale-seconds", required_argument, NULL, 's' },
    { "log-level", required_argument, NULL, 'L' },
    { "log-format", required_argument, NULL, 'F' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { "runtime-class", required_argument, NULL, 'R' },
    { "webhook-listen", required_argument, NULL, 'W' },
    { "webhook-cert", required_argument, NULL, 'C' },
    { "webhook-key", required_argument, NULL, 'K' },
    { "metrics-listen", required_argument, NULL, 'M' },
    { "rebalance-interval", required_argument, NULL, 'B' },
    { NULL, 0, NULL, 0 },
  };
  int opt;
  while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (opt) {
    case 'k':
      o->kubeconfig = optarg;
      break;
    case 'c':
      o->context = optarg;
      break;
    case 'n':
      o->ns = optarg;
      break;
    case 'i':
      o->identity = optarg;
      break;
    case 'l':
      o->lease_seconds = atoi(optarg);
      break;
    case 'N':
      o->elect = 0;
      break;
    case 's':
      o->stale = atoi(optarg);
      break;
    case 'R':
      o->runtime_class = optarg;
      break;
    case 'W':
      o->webhook_listen = optarg;
      break;
    case 'C':
      o->webhook_cert = optarg;
      break;
    case 'K':
      o->webhook_key = optarg;
      break;
    case 'M':
      o->metrics_listen = optarg;
      break;
    case 'B':
      if (seconds_option("--rebalance-interval", optarg, 86400, &o->rebalance_s) < 0)
        return 2;
      break;
    case 'L':
      if (ferry_log_level_option("ferry-controller", optarg) < 0)
        return 2;
      break;
    case 'F':
      if (ferry_log_format_option("ferry-controller", optarg) < 0)
        return 2;
      break;
    case 'h':
      usage(stdout);
      return -1;
    case 'V':
      printf("ferry-controller %s\n", FERRY_VERSION);
      return -1;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (optind != argc || o->lease_seconds < 2 || o->stale < 1 ||
      (o->webhook_listen && (!o->webhook_cert || !o->webhook_key))) {
    usage(stderr);
    return 2;
  }
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
