/* SPDX-License-Identifier: Apache-2.0 */
#include "kube/leader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/util.h"

void ferry_leader_init(struct ferry_leader *l, struct ferry_kube *kube, const char *ns, const char *name,
                       const char *identity, int lease_seconds)
{
  memset(l, 0, sizeof *l);
  l->kube = kube;
  l->ns = ferry_strdup(ns);
  l->name = ferry_strdup(name);
  l->identity = ferry_strdup(identity);
  l->lease_seconds = lease_seconds > 0 ? lease_seconds : 15;
}

void ferry_leader_free(struct ferry_leader *l)
{
  free(l->ns);
  free(l->name);
  free(l->identity);
  free(l->observed_rv);
  memset(l, 0, sizeof *l);
}

/* MicroTime: RFC 3339 with microseconds, UTC. */
static void micro_time(char *buf, size_t len)
{
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, len - n, ".%06ldZ", ts.tv_nsec / 1000);
}

static void set_spec(json_object *lease, const char *holder, int lease_seconds, int acquire, unsigned transitions)
{
  json_object *spec;
  if (!json_object_object_get_ex(lease, "spec", &spec) || !json_object_is_type(spec, json_type_object)) {
    spec = json_object_new_object();
    json_object_object_add(lease, "spec", spec);
  }
  char now[40];
  micro_time(now, sizeof now);
  json_object_object_add(spec, "holderIdentity", json_object_new_string(holder));
  json_object_object_add(spec, "leaseDurationSeconds", json_object_new_int(lease_seconds));
  json_object_object_add(spec, "renewTime", json_object_new_string(now));
  if (acquire) {
    json_object_object_add(spec, "acquireTime", json_object_new_string(now));
    json_object_object_add(spec, "leaseTransitions", json_object_new_int((int)transitions));
  }
}

static void observe(struct ferry_leader *l, const char *rv, int64_t now_ms)
{
  if (!l->observed_rv || !rv || strcmp(l->observed_rv, rv) != 0) {
    free(l->observed_rv);
    l->observed_rv = rv ? ferry_strdup(rv) : NULL;
    l->observed_at_ms = now_ms;
  }
}

/* After a successful write of the lease holding it. */
static int now_leading(struct ferry_leader *l, json_object *stored, int64_t now_ms, const char *how)
{
  observe(l, ferry_kube_str(stored, "metadata.resourceVersion"), now_ms);
  l->last_renew_ms = now_ms;
  if (!l->leading)
    log_info("leader election %s/%s: %s acquired the lease%s", l->ns, l->name, l->identity, how);
  l->leading = 1;
  return 1;
}

static int give_up_if_stale(struct ferry_leader *l, int64_t now_ms, int64_t renew_deadline_ms)
{
  if (l->leading && now_ms - l->last_renew_ms > renew_deadline_ms) {
    log_error("leader election %s/%s: could not renew for %lld ms; giving up leadership", l->ns, l->name,
              (long long)(now_ms - l->last_renew_ms));
    l->leading = 0;
  }
  return -1;
}

int ferry_leader_tick(struct ferry_leader *l, int64_t now_ms, int64_t renew_deadline_ms, ferry_error *err)
{
  json_object *lease = NULL, *out = NULL;
  struct ferry_kube_status st;
  int rc;
  if (ferry_kube_get(l->kube, &FERRY_KUBE_LEASES, l->ns, l->name, &lease, &st, err) < 0) {
    if (st.code != 404)
      return give_up_if_stale(l, now_ms, renew_deadline_ms);
    ferry_error_clear(err);
    /* No lease yet: create it holding it. */
    lease = json_object_new_object();
    json_object_object_add(lease, "apiVersion", json_object_new_string("coordination.k8s.io/v1"));
    json_object_object_add(lease, "kind", json_object_new_string("Lease"));
    json_object *meta = json_object_new_object();
    json_object_object_add(meta, "name", json_object_new_string(l->name));
    json_object_object_add(meta, "namespace", json_object_new_string(l->ns));
    json_object_object_add(lease, "metadata", meta);
    set_spec(lease, l->identity, l->lease_seconds, 1, 0);
    rc = ferry_kube_create(l->kube, &FERRY_KUBE_LEASES, l->ns, lease, &out, &st, err);
    json_object_put(lease);
    if (rc < 0) {
      if (st.code == 409) { /* another candidate created it first */
        ferry_error_clear(err);
        l->leading = 0;
        return 0;
      }
      return give_up_if_stale(l, now_ms, renew_deadline_ms);
    }
    now_leading(l, out, now_ms, "");
    json_object_put(out);
    return 1;
  }
  const char *holder = ferry_kube_str(lease, "spec.holderIdentity");
  observe(l, ferry_kube_str(lease, "metadata.resourceVersion"), now_ms);
  int mine = holder && strcmp(holder, l->identity) == 0;
  int vacant = !holder || !*holder;
  int expired = now_ms - l->observed_at_ms > (int64_t)l->lease_seconds * 1000;
  if (!mine && !vacant && !expired) {
    if (l->leading)
      log_warn("leader election %s/%s: %s holds the lease now; %s stops leading", l->ns, l->name, holder, l->identity);
    l->leading = 0;
    json_object_put(lease);
    return 0;
  }
  json_object *tr;
  json_object *spec = NULL;
  unsigned transitions = 0;
  if (json_object_object_get_ex(lease, "spec", &spec) && json_object_object_get_ex(spec, "leaseTransitions", &tr))
    transitions = (unsigned)json_object_get_int(tr);
  set_spec(lease, l->identity, l->lease_seconds, !mine, mine ? transitions : transitions + 1);
  /* Conditional on the resourceVersion we read: a concurrent writer makes this 409. */
  rc = ferry_kube_update(l->kube, &FERRY_KUBE_LEASES, l->ns, lease, NULL, &out, &st, err);
  json_object_put(lease);
  if (rc < 0) {
    if (st.code == 409) { /* the record changed since we read it: read again next round */
      ferry_error_clear(err);
      if (mine && l->leading) {
        give_up_if_stale(l, now_ms, renew_deadline_ms);
        return l->leading; /* still ours until the renew deadline passes */
      }
      l->leading = 0;
      return 0;
    }
    return give_up_if_stale(l, now_ms, renew_deadline_ms);
  }
  if (!l->leading)
    l->transitions = mine ? transitions : transitions + 1;
  now_leading(l, out, now_ms, vacant ? " (released by its holder)" : mine ? "" : " (the holder stopped renewing)");
  json_object_put(out);
  return 1;
}

static int release_mutate(json_object *lease, void *ctx, ferry_error *err)
{
  struct ferry_leader *l = ctx;
  const char *holder = ferry_kube_str(lease, "spec.holderIdentity");
  if (!holder || strcmp(holder, l->identity) != 0)
    return ferry_error_set(err, 0, "lease %s/%s is held by %s, not %s", l->ns, l->name, holder ? holder : "nobody",
                           l->identity);
  json_object *spec;
  json_object_object_get_ex(lease, "spec", &spec);
  json_object_object_add(spec, "holderIdentity", json_object_new_string(""));
  return 0;
}

int ferry_leader_release(struct ferry_leader *l, ferry_error *err)
{
  if (!l->leading)
    return 0;
  l->leading = 0;
  if (ferry_kube_update_retry(l->kube, &FERRY_KUBE_LEASES, l->ns, l->name, NULL, release_mutate, l, 3, NULL, err) < 0)
    return -1;
  log_info("leader election %s/%s: %s released the lease", l->ns, l->name, l->identity);
  return 0;
}
