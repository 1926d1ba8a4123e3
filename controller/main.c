/* ferry-controller: watches Pods, Nodes, PodMigrations, MigrationPolicies,
 * Services, EndpointSlices, Endpoints and the agents' Leases; drives every
 * PodMigration through its state machine (reconcile.c). Runs as several
 * replicas: the one holding the Lease acts, the others keep warm caches. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller.h"
#include "kube/leader.h"
#include "base/log.h"
#include "api/podmigration.h"
#include "base/util.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static void usage(FILE *f)
{
  fprintf(f, "usage: ferry-controller [--kubeconfig FILE] [--context NAME] [--namespace NS]\n"
             "                        [--identity ID] [--lease-seconds N] [--no-leader-elect]\n"
             "                        [--agent-stale-seconds N] [--runtime-class NAME]\n"
             "                        [--webhook-listen IP:PORT --webhook-cert FILE --webhook-key FILE]\n"
             "                        [--log-level LEVEL] [--log-format text|json]\n"
             "  --namespace: where the controller's Lease and the agents' Leases are (default ferry-system)\n"
             "  --runtime-class: the RuntimeClass whose handler is ferry-runc; pods must run with it to move\n"
             "                   (default ferry; \"\": no check, for clusters where ferry-runc is the default runtime)\n"
             "  --webhook-*: serve the pod admission webhook (HTTPS, POST /mutate-pods) that lets ReplicaSet pods move\n");
}

/* ---------- informer handlers: everything ends as a queue key ---------- */

static void enqueue(struct ctl *c, const char *kind, const char *ns, const char *name)
{
  char *key = ferry_asprintf("%s/%s/%s", kind, ns ? ns : "", name ? name : "");
  queue_add(c->q, key, ferry_now_mono_ms());
  free(key);
}

static void pm_changed(void *ctx, json_object *pm) { ctl_enqueue_pm(ctx, pm); }
static void pm_updated(void *ctx, json_object *old, json_object *pm) { (void)old; ctl_enqueue_pm(ctx, pm); }

static void pod_changed(void *ctx, json_object *pod)
{
  struct ctl *c = ctx;
  json_object *meta, *ann, *v;
  if (!json_object_object_get_ex(pod, "metadata", &meta) || !json_object_object_get_ex(meta, "annotations", &ann))
    return;
  const char *ns = ferry_kube_str(pod, "metadata.namespace"), *name = ferry_kube_str(pod, "metadata.name");
  if (json_object_object_get_ex(ann, FERRY_ANN_MIGRATE_TO, &v) || json_object_object_get_ex(ann, FERRY_ANN_MIGRATABLE, &v))
    enqueue(c, "pod", ns, name);
  /* a target pod's status moves its migration */
  if (json_object_object_get_ex(ann, FERRY_ANN_RESTORE_FROM, &v)) {
    const char *ref = json_object_get_string(v), *slash = strchr(ref, '/');
    if (slash) {
      char *key = ferry_asprintf("pm/%s", ref);
      queue_add(c->q, key, ferry_now_mono_ms());
      free(key);
    }
  }
}
static void pod_updated(void *ctx, json_object *old, json_object *pod) { (void)old; pod_changed(ctx, pod); }

/* A cordoned node: its migratable pods are looked at (trigger.c moves them). */
struct on_node {
  struct ctl *c;
  const char *node;
};
static void pod_on_node(void *ctx, json_object *pod)
{
  struct on_node *o = ctx;
  if (!strcmp(ferry_kube_str(pod, "spec.nodeName") ?: "", o->node))
    pod_changed(o->c, pod);
}
static void node_updated(void *ctx, json_object *old, json_object *node)
{
  struct ctl *c = ctx;
  (void)old;
  json_object *spec, *u;
  if (json_object_object_get_ex(node, "spec", &spec) && json_object_object_get_ex(spec, "unschedulable", &u) &&
      json_object_get_boolean(u)) {
    struct on_node o = { c, ferry_kube_str(node, "metadata.name") ?: "" };
    ferry_informer_each(c->pods, pod_on_node, &o);
  }
}

static int add_informer(struct ctl *c, const struct ferry_kube_resource *r, const char *ns, void (*add)(void *, json_object *),
                        void (*upd)(void *, json_object *, json_object *), struct ferry_informer **out, ferry_error *err)
{
  struct ferry_informer_handlers h = { add, upd, NULL, c };
  return ferry_informer_add(c->inf, r, ns, NULL, NULL, &h, out, err);
}

static int all_synced(struct ctl *c)
{
  struct ferry_informer *all[] = { c->pods, c->nodes, c->pms, c->policies, c->services, c->slices, c->endpoints, c->leases };
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (!ferry_informer_synced(all[i]))
      return 0;
  return 1;
}

struct requeue_ctx {
  struct ctl *c;
};
static void requeue_all(void *ctx, json_object *pm) { ctl_enqueue_pm(((struct requeue_ctx *)ctx)->c, pm); }

/* Runs due keys for at most budget_ms. */
static void work(struct ctl *c, int64_t budget_ms)
{
  int64_t until = ferry_now_mono_ms() + budget_ms, wait;
  char *key;
  while (!stop && ferry_now_mono_ms() < until && (key = queue_pop(c->q, ferry_now_mono_ms(), &wait))) {
    char kind[8] = "", *ns = NULL, *name = NULL;
    char *copy = ferry_strdup(key), *s1 = strchr(copy, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    if (s1 && s2) {
      *s1 = *s2 = '\0';
      snprintf(kind, sizeof kind, "%s", copy);
      ns = s1 + 1;
      name = s2 + 1;
    }
    ferry_error err = FERRY_ERROR_INIT;
    int64_t again = 0;
    int rc = 0;
    if (!strcmp(kind, "pm"))
      rc = ctl_reconcile_pm(c, ns, name, &again, &err);
    else if (!strcmp(kind, "pod"))
      rc = ctl_reconcile_pod(c, ns, name, &again, &err);
    if (rc < 0) {
      int64_t d = queue_add_rate_limited(c->q, key, ferry_now_mono_ms());
      log_warn("%s: %s (retry in %lld ms)", key, ferry_error_msg(&err), (long long)d);
    } else {
      queue_forget(c->q, key);
      if (again > 0)
        queue_add_after(c->q, key, ferry_now_mono_ms(), again);
    }
    ferry_error_clear(&err);
    free(copy);
    free(key);
  }
}

int main(int argc, char **argv)
{
  const char *kubeconfig = NULL, *context = NULL, *ns = "ferry-system", *identity = NULL, *runtime_class = "ferry";
  const char *webhook_listen = NULL, *webhook_cert = NULL, *webhook_key = NULL;
  int lease_seconds = 15, elect = 1, stale = 40;
  static const struct option opts[] = {
    { "kubeconfig", required_argument, NULL, 'k' }, { "context", required_argument, NULL, 'c' },
    { "namespace", required_argument, NULL, 'n' },  { "identity", required_argument, NULL, 'i' },
    { "lease-seconds", required_argument, NULL, 'l' }, { "no-leader-elect", no_argument, NULL, 'N' },
    { "agent-stale-seconds", required_argument, NULL, 's' }, { "log-level", required_argument, NULL, 'L' },
    { "log-format", required_argument, NULL, 'F' }, { "help", no_argument, NULL, 'h' },
    { "runtime-class", required_argument, NULL, 'R' },  { "webhook-listen", required_argument, NULL, 'W' },
    { "webhook-cert", required_argument, NULL, 'C' },   { "webhook-key", required_argument, NULL, 'K' },
    { NULL, 0, NULL, 0 },
  };
  int o;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
    case 'k': kubeconfig = optarg; break;
    case 'c': context = optarg; break;
    case 'n': ns = optarg; break;
    case 'i': identity = optarg; break;
    case 'l': lease_seconds = atoi(optarg); break;
    case 'N': elect = 0; break;
    case 's': stale = atoi(optarg); break;
    case 'R': runtime_class = optarg; break;
    case 'W': webhook_listen = optarg; break;
    case 'C': webhook_cert = optarg; break;
    case 'K': webhook_key = optarg; break;
    case 'L':
      if (ferry_log_level_option("ferry-controller", optarg) < 0)
        return 2;
      break;
    case 'F':
      if (ferry_log_format_option("ferry-controller", optarg) < 0)
        return 2;
      break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc || lease_seconds < 2 || stale < 1 || (webhook_listen && (!webhook_cert || !webhook_key))) {
    usage(stderr);
    return 2;
  }
  char host[256] = "controller", id[320];
  if (gethostname(host, sizeof host) < 0)
    snprintf(host, sizeof host, "controller");
  snprintf(id, sizeof id, "%s_%d", host, (int)getpid());
  if (!identity)
    identity = id;

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0) {
    log_error("sigaction: %m");
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);

  ferry_error err = FERRY_ERROR_INIT;
  struct ferry_kube_config cfg;
  memset(&cfg, 0, sizeof cfg);
  ferry_kube_global_init();
  struct ctl c;
  memset(&c, 0, sizeof c);
  c.agent_ns = ns;
  c.agent_stale_s = stale;
  c.runtime_class = runtime_class;
  int rc = 1;
  if (ferry_kube_config_auto(kubeconfig, context, &cfg, &err) < 0 || ferry_kube_open(&cfg, &c.kube, &err) < 0 ||
      ferry_informers_new(&cfg, &c.inf, &err) < 0) {
    log_error("%s", ferry_error_msg(&err));
    goto out;
  }
  c.q = queue_new(5, 60000);
  c.rec = ferry_recorder_new(c.kube, "ferry-controller", NULL);
  if (!c.q || !c.rec) {
    log_error("out of memory");
    goto out;
  }
  if (add_informer(&c, &FERRY_KUBE_PODS, NULL, pod_changed, pod_updated, &c.pods, &err) < 0 ||
      add_informer(&c, &FERRY_KUBE_NODES, NULL, NULL, node_updated, &c.nodes, &err) < 0 ||
      add_informer(&c, &FERRY_KUBE_PODMIGRATIONS, NULL, pm_changed, pm_updated, &c.pms, &err) < 0 ||
      add_informer(&c, &FERRY_KUBE_MIGRATIONPOLICIES, NULL, NULL, NULL, &c.policies, &err) < 0 ||
      add_informer(&c, &FERRY_KUBE_SERVICES, NULL, NULL, NULL, &c.services, &err) < 0 ||
      add_informer(&c, &FERRY_KUBE_ENDPOINTSLICES, NULL, NULL, NULL, &c.slices, &err) < 0 ||
      add_informer(&c, &FERRY_KUBE_ENDPOINTS, NULL, NULL, NULL, &c.endpoints, &err) < 0 ||
      add_informer(&c, &FERRY_KUBE_LEASES, ns, NULL, NULL, &c.leases, &err) < 0) {
    log_error("%s", ferry_error_msg(&err));
    goto out;
  }
  if (webhook_listen) {
    int wport = 0;
    if (webhook_start(webhook_listen, webhook_cert, webhook_key, &c.webhook, &wport, &err) < 0) {
      log_error("webhook: %s", ferry_error_msg(&err));
      goto out;
    }
    log_info("admission webhook on https://%s (port %d)/mutate-pods", webhook_listen, wport);
  }
  struct ferry_leader leader;
  ferry_leader_init(&leader, c.kube, ns, "ferry-controller", identity, lease_seconds);
  log_info("ferry-controller %s starting as %s (leader election %s)", FERRY_VERSION, identity, elect ? "on" : "off");
  int leading = !elect, was_leading = 0, synced = 0;
  int64_t next_tick = 0, next_resync = 0;
  rc = 0;
  while (!stop) {
    int64_t now = ferry_now_mono_ms();
    if (elect && now >= next_tick) {
      if (ferry_leader_tick(&leader, now, (int64_t)lease_seconds * 1000 * 2 / 3, &err) < 0) {
        log_warn("leader election: %s", ferry_error_msg(&err));
        ferry_error_clear(&err);
      }
      leading = leader.leading;
      next_tick = now + (leading ? lease_seconds * 1000 / 3 : 1000);
    }
    if (leading != was_leading) {
      log_info("%s", leading ? "leading: reconciling" : "lost the lease: standing by");
      was_leading = leading;
      if (leading)
        next_resync = 0; /* pick up every migration where it stands */
    }
    int64_t wait = -1;
    char *peek = queue_pop(c.q, ferry_now_mono_ms(), &wait);
    if (peek) { /* due now: put it back, run below */
      queue_add(c.q, peek, ferry_now_mono_ms());
      free(peek);
      wait = 0;
    }
    long timeout = leading && synced && wait >= 0 && wait < 200 ? (long)wait : 200;
    if (ferry_informers_run(c.inf, timeout, &err) < 0) {
      log_error("informers: %s", ferry_error_msg(&err));
      rc = 1;
      break;
    }
    if (!synced && all_synced(&c)) {
      synced = 1;
      log_info("caches synced");
    }
    if (leading && synced) {
      if (ferry_now_mono_ms() >= next_resync) { /* a periodic resync, as controllers have */
        struct requeue_ctx rq = { &c };
        ferry_informer_each(c.pms, requeue_all, &rq);
        next_resync = ferry_now_mono_ms() + 30000;
      }
      work(&c, 500);
    }
    webhook_publish(c.webhook, c.pms);
  }
  if (elect && leader.leading && ferry_leader_release(&leader, &err) < 0)
    log_warn("releasing the lease: %s", ferry_error_msg(&err));
  ferry_error_clear(&err);
  ferry_leader_free(&leader);
  log_info("ferry-controller stopped");
out:
  ferry_error_clear(&err);
  webhook_stop(c.webhook);
  ferry_recorder_free(c.rec);
  queue_free(c.q);
  ferry_informers_free(c.inf);
  ferry_kube_close(c.kube);
  ferry_kube_config_free(&cfg);
  return rc;
}
