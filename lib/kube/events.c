/* SPDX-License-Identifier: Apache-2.0 */
#include "kube/events.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"

#define MAX_REMEMBERED 512

struct remembered {
  char *key;  /* involved uid + type + reason + message */
  char *name; /* the Event's name */
  char *ns;
  int count;
};

struct ferry_recorder {
  struct ferry_kube *kube;
  char *component, *host;
  struct remembered seen[MAX_REMEMBERED];
  size_t nseen, next;         /* a ring: the oldest is forgotten first */
  unsigned long long last_ns; /* the last Event name's stamp: each one later than the one before */
};

/* An Event name's suffix, as client-go's (the time in ns, hex), but never the
 * same twice from one recorder: two events on one object within the clock's
 * resolution would otherwise share a name, and the second be refused (409). */
static unsigned long long name_stamp(struct ferry_recorder *r)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  unsigned long long ns = (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
  r->last_ns = ns > r->last_ns ? ns : r->last_ns + 1;
  return r->last_ns;
}

struct ferry_recorder *ferry_recorder_new(struct ferry_kube *kube, const char *component, const char *host)
{
  struct ferry_recorder *r = calloc(1, sizeof *r);
  if (!r)
    abort();
  r->kube = kube;
  r->component = ferry_strdup(component);
  r->host = host ? ferry_strdup(host) : NULL;
  return r;
}

static void forget(struct remembered *m)
{
  free(m->key);
  free(m->name);
  free(m->ns);
  memset(m, 0, sizeof *m);
}

void ferry_recorder_free(struct ferry_recorder *r)
{
  if (!r)
    return;
  for (size_t i = 0; i < r->nseen; i++)
    forget(&r->seen[i]);
  free(r->component);
  free(r->host);
  free(r);
}

static void now_rfc3339(char *buf, size_t len) { ferry_format_time(ferry_now_real_ms(), buf, len); }

static void add_str(json_object *o, const char *k, const char *v)
{
  if (v)
    json_object_object_add(o, k, json_object_new_string(v));
}

/* The same event again (key) counted on the Event made before: 1 when done, 0
 * when there is none to count on (never made, or expired on the server), -1 on error. */
static int count_again(struct ferry_recorder *r, const char *key, const char *stamp, ferry_error *err)
{
  for (size_t i = 0; i < r->nseen; i++) {
    struct remembered *m = &r->seen[i];
    if (strcmp(m->key, key) != 0)
      continue;
    cleanup_free char *patch = ferry_asprintf("{\"count\":%d,\"lastTimestamp\":\"%s\"}", m->count + 1, stamp);
    struct ferry_kube_status st;
    if (ferry_kube_patch(r->kube, &FERRY_KUBE_EVENTS, m->ns, m->name, FERRY_PATCH_MERGE, patch, NULL, NULL, &st, err) ==
        0) {
      m->count++;
      return 1;
    }
    if (st.code != 404)
      return -1;
    ferry_error_clear(err); /* the event expired on the server: make a new one */
    forget(m);
    m->key = ferry_strdup(""); /* an empty slot never matches */
    return 0;
  }
  return 0;
}

/* A new Event object (name ev_name, in ns) about involved. */
static json_object *new_event(const struct ferry_recorder *r, json_object *involved, const char *ns,
                              const char *ev_name, const char *type, const char *reason, const char *msg,
                              const char *stamp)
{
  json_object *ev = json_object_new_object(), *meta = json_object_new_object(), *io = json_object_new_object(),
              *src = json_object_new_object();
  add_str(ev, "apiVersion", "v1");
  add_str(ev, "kind", "Event");
  add_str(meta, "name", ev_name);
  add_str(meta, "namespace", ns);
  json_object_object_add(ev, "metadata", meta);
  add_str(io, "apiVersion", ferry_kube_str(involved, "apiVersion"));
  add_str(io, "kind", ferry_kube_str(involved, "kind"));
  add_str(io, "name", ferry_kube_str(involved, "metadata.name"));
  add_str(io, "namespace", ferry_kube_str(involved, "metadata.namespace"));
  add_str(io, "uid", ferry_kube_str(involved, "metadata.uid"));
  add_str(io, "resourceVersion", ferry_kube_str(involved, "metadata.resourceVersion"));
  json_object_object_add(ev, "involvedObject", io);
  add_str(ev, "type", type);
  add_str(ev, "reason", reason);
  add_str(ev, "message", msg);
  add_str(src, "component", r->component);
  add_str(src, "host", r->host);
  json_object_object_add(ev, "source", src);
  add_str(ev, "reportingComponent", r->component);
  add_str(ev, "reportingInstance", r->host ? r->host : r->component);
  add_str(ev, "firstTimestamp", stamp);
  add_str(ev, "lastTimestamp", stamp);
  json_object_object_add(ev, "count", json_object_new_int(1));
  return ev;
}

/* Remembers the Event just made (the oldest remembered is forgotten). */
static void remember(struct ferry_recorder *r, char *key, const char *name, const char *ns)
{
  struct remembered *m = &r->seen[r->next];
  forget(m);
  m->key = key;
  m->name = ferry_strdup(name);
  m->ns = ferry_strdup(ns);
  m->count = 1;
  r->next = (r->next + 1) % MAX_REMEMBERED;
  if (r->nseen < MAX_REMEMBERED)
    r->nseen++;
}

int ferry_record_event(struct ferry_recorder *r, json_object *involved, const char *type, const char *reason,
                       ferry_error *err, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  cleanup_free char *msg = ferry_vasprintf(fmt, ap);
  va_end(ap);
  if (!msg)
    return ferry_error_set(err, 0, "out of memory");
  const char *name = ferry_kube_str(involved, "metadata.name"), *ons = ferry_kube_str(involved, "metadata.namespace");
  const char *uid = ferry_kube_str(involved, "metadata.uid");
  const char *ns = ons && *ons ? ons : "default"; /* events about cluster-scoped objects live in default */
  char stamp[32];
  now_rfc3339(stamp, sizeof stamp);
  cleanup_free char *key = ferry_asprintf("%s/%s/%s/%s/%s", uid ? uid : "", name ? name : "", type, reason, msg);
  int counted = count_again(r, key, stamp, err);
  if (counted != 0)
    return counted < 0 ? -1 : 0;
  cleanup_free char *ev_name = ferry_asprintf("%s.%llx", name ? name : "unknown", name_stamp(r));
  cleanup_json json_object *ev = new_event(r, involved, ns, ev_name, type, reason, msg, stamp);
  cleanup_json json_object *out = NULL;
  if (ferry_kube_create(r->kube, &FERRY_KUBE_EVENTS, ns, ev, &out, NULL, err) < 0)
    return -1;
  const char *stored = ferry_kube_str(out, "metadata.name");
  remember(r, ferry_steal(&key), stored ? stored : ev_name, ns);
  return 0;
}

void ferry_event(struct ferry_recorder *r, json_object *involved, const char *type, const char *reason, const char *fmt,
                 ...)
{
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (involved && ferry_record_event(r, involved, type, reason, &err, "%s", msg) < 0)
    log_warn("event %s on %s: %s", reason, ferry_kube_str(involved, "metadata.name") ?: "?", ferry_error_msg(&err));
}
