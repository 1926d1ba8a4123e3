/* SPDX-License-Identifier: Apache-2.0 */
/* This node's view of a PodMigration: the fields the steps read (the container,
 * the image, the strategy) and the status patches they write. */
#include "daemon.h"

#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "engine/engine.h"
#include "kube/kube.h"

/* The first container of the migration's status (the one migrated). */
static json_object *first_container(json_object *pm)
{
  json_object *cs = ferry_kube_obj(ferry_kube_obj(pm, "status"), "containers");
  return cs && json_object_array_length(cs) ? json_object_array_get_idx(cs, 0) : NULL;
}

const char *container_id(json_object *pm)
{
  json_object *c = first_container(pm);
  const char *id = c ? ferry_kube_str(c, "containerID") : NULL;
  const char *sep = id ? strstr(id, "://") : NULL;
  return sep ? sep + 3 : id;
}

int container_runtime_owned(json_object *pm)
{
  json_object *c = first_container(pm);
  const char *id = c ? ferry_kube_str(c, "containerID") : NULL;
  return id && strstr(id, "://") && strncmp(id, "runc://", 7) != 0;
}

const char *container_name(json_object *pm)
{
  json_object *c = first_container(pm);
  return c ? ferry_kube_str(c, "name") : NULL;
}

char *image_name(json_object *pm)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid") ?: "0";
  return ferry_asprintf("%s.%s.%.8s", ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "metadata.name"),
                        uid);
}

const char *image_base(const char *image) { return strrchr(image, '/') ? strrchr(image, '/') + 1 : image; }

char *pm_ref(json_object *pm)
{
  return ferry_asprintf("%s/%s", ferry_kube_str(pm, "metadata.namespace"), ferry_kube_str(pm, "metadata.name"));
}

int is_postcopy(json_object *pm)
{
  return engine_strategy_parse(ferry_kube_str(pm, "status.strategy")) == STRATEGY_POST_COPY;
}

int is_precopy(json_object *pm)
{
  return engine_strategy_parse(ferry_kube_str(pm, "status.strategy")) == STRATEGY_PRE_COPY;
}

char *migration_listen(struct daemon *d)
{
  return strchr(d->migration_address, ':') ? ferry_asprintf("[%s]:0", d->migration_address)
                                           : ferry_asprintf("%s:0", d->migration_address);
}

int write_pm(struct daemon *d, json_object *pm, json_object *patch, ferry_error *err)
{
  struct ferry_kube_status st = { 0 };
  int rc = pm_write_status(d->kube, pm, patch, 1, NULL, &st, err);
  json_object_put(patch);
  return rc;
}

/* status.rollbackFrom: the phase a rollback started in. */
void rollback_from(json_object *patch, enum pm_phase from)
{
  pm_patch_set(patch, "rollbackFrom", json_object_new_string(pm_phase_name(from)));
}

void set_container_field(json_object *patch, json_object *pm, const char *key, const char *value)
{
  json_object *cs = ferry_kube_obj(ferry_kube_obj(pm, "status"), "containers"), *copy = NULL;
  json_object_deep_copy(cs, &copy, NULL);
  if (!copy || !json_object_array_length(copy)) {
    json_object_put(copy);
    return;
  }
  json_object_object_add(json_object_array_get_idx(copy, 0), key, json_object_new_string(value));
  json_object *st;
  if (json_object_object_get_ex(patch, "status", &st) && json_object_object_get_ex(st, "containers", NULL)) {
    json_object *have = ferry_kube_obj(st, "containers");
    json_object_object_add(json_object_array_get_idx(have, 0), key, json_object_new_string(value));
    json_object_put(copy);
    return;
  }
  pm_patch_set(patch, "containers", copy);
}

void timings_into(json_object *patch, json_object *pm, json_object *result, const char *const *keys, size_t n)
{
  json_object *t = NULL, *old = ferry_kube_obj(ferry_kube_obj(pm, "status"), "timings");
  if (old)
    json_object_deep_copy(old, &t, NULL);
  else
    t = json_object_new_object();
  json_object *rt = ferry_kube_obj(result, "timings");
  for (size_t i = 0; i < n; i += 2) {
    json_object *v = ferry_kube_key(rt, keys[i]);
    if (v)
      json_object_object_add(t, keys[i + 1], json_object_new_int64(json_object_get_int64(v)));
  }
  pm_patch_set(patch, "timings", t);
}

void format_ms(int64_t ms, char *buf, size_t len)
{
  char t[40];
  ferry_format_time(ms, t, sizeof t);
  /* 2026-11-25T04:01:48Z -> 2026-11-25T04:01:48.123Z */
  size_t l = strlen(t);
  if (l && t[l - 1] == 'Z')
    t[l - 1] = '\0';
  snprintf(buf, len, "%s.%03dZ", t, (int)(ms % 1000));
}
