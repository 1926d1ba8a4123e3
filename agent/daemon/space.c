/* SPDX-License-Identifier: Apache-2.0 */
/* The free space of this node's image store (dir://: its directory; s3://: the
 * local copies): measured with statvfs, published on the node's Lease
 * (ferry.dev/store) and in ferry_agent_store_free_bytes, and held against
 * --store-min-free before a checkpoint starts, so a full disk refuses a
 * migration up front (StoreFull) instead of failing it after the freeze. */
#include "daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "kube/quantity.h"
#include "metrics.h"

int store_min_free_option(struct daemon *d, const char *arg, ferry_error *err)
{
  size_t l = strlen(arg);
  if (l > 1 && arg[l - 1] == '%') {
    char *end;
    errno = 0;
    long pct = strtol(arg, &end, 10);
    if (errno || end != arg + l - 1 || pct < 0 || pct >= 100)
      return ferry_error_set(err, 0, "--store-min-free %s: a percent is a whole number from 0 to 99", arg);
    d->min_free.percent = (int)pct;
    d->min_free.bytes = 0;
    return 0;
  }
  int64_t milli;
  if (ferry_quantity_milli(arg, &milli, err) < 0)
    return ferry_error_prefix(err, "--store-min-free (bytes, e.g. 1Gi, or a percent of the store, e.g. 5%%)");
  if (milli < 0)
    return ferry_error_set(err, 0, "--store-min-free %s is below 0 bytes", arg);
  d->min_free.bytes = (uint64_t)(milli / 1000);
  d->min_free.percent = -1;
  return 0;
}

/* The floor in bytes for a store of total bytes. */
static uint64_t min_free_bytes(const struct daemon *d, uint64_t total)
{
  return d->min_free.percent >= 0 ? total / 100 * (uint64_t)d->min_free.percent : d->min_free.bytes;
}

int store_space_refresh(struct daemon *d)
{
  if (!d->local.path)
    return -1;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_store_space(&d->local, &d->space.free, &d->space.total, &err) < 0) {
    if (d->space.known)
      log_warn("the store's free space: %s", ferry_error_msg(&err));
    d->space.known = 0;
    return -1;
  }
  d->space.known = 1;
  metrics_store_free(d->m, d->space.free);
  return 0;
}

/* "100Mi" as the flag was given, or "5% (1.2 GiB)". */
static void floor_text(const struct daemon *d, char *buf, size_t len)
{
  char b[32];
  ferry_format_bytes((int64_t)min_free_bytes(d, d->space.total), b, sizeof b);
  if (d->min_free.percent >= 0)
    snprintf(buf, len, "%d%% (%s)", d->min_free.percent, b);
  else
    snprintf(buf, len, "%s", b);
}

int store_refuses(struct daemon *d, int64_t need, char *why, size_t len)
{
  if (store_space_refresh(d) < 0)
    return 0; /* not measured: the checkpoint finds out */
  uint64_t floor = min_free_bytes(d, d->space.total), want = floor + (uint64_t)(need > 0 ? need : 0);
  if (d->space.free >= want)
    return 0;
  char have[32], fl[64], pod[32];
  ferry_format_bytes((int64_t)d->space.free, have, sizeof have);
  floor_text(d, fl, sizeof fl);
  ferry_format_bytes(need, pod, sizeof pod);
  if (d->space.free < floor || need <= 0)
    snprintf(why, len, "%s's image store has %s free, below --store-min-free %s%s%s", d->g->node, have, fl,
             need > 0 ? "; the pod needs about " : "", need > 0 ? pod : "");
  else
    snprintf(why, len,
             "%s's image store has %s free; the pod needs about %s, which would leave less than "
             "--store-min-free %s",
             d->g->node, have, pod, fl);
  return 1;
}

char *store_annotation(struct daemon *d)
{
  if (store_space_refresh(d) < 0)
    return NULL;
  uint64_t floor = min_free_bytes(d, d->space.total);
  cleanup_json json_object *o = json_object_new_object();
  json_object_object_add(o, "freeBytes", json_object_new_int64((int64_t)d->space.free));
  json_object_object_add(o, "totalBytes", json_object_new_int64((int64_t)d->space.total));
  json_object_object_add(o, "minFreeBytes", json_object_new_int64((int64_t)floor));
  json_object_object_add(o, "full", json_object_new_boolean(d->space.free < floor));
  return ferry_strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}
