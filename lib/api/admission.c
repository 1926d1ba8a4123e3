/* SPDX-License-Identifier: Apache-2.0 */
#include "api/admission.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/util.h"

static int name_ok(const char *s)
{
  if (!s || !*s || strlen(s) > 253)
    return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
      return 0;
  return 1;
}

static char *record_path(const char *dir, const char *ns, const char *pod, const char *container, ferry_error *err)
{
  if (!name_ok(ns) || !name_ok(pod) || !name_ok(container)) {
    ferry_error_set(err, EINVAL, "admission: not Kubernetes names: namespace \"%s\", pod \"%s\", container \"%s\"",
                    ns ? ns : "", pod ? pod : "", container ? container : "");
    return NULL;
  }
  return ferry_asprintf("%s/%s_%s_%s.json", dir, ns, pod, container);
}

/* Removes path (gone already is fine) and frees it; NULL (a bad name) is -1. */
static int remove_path(char *path, ferry_error *err)
{
  if (!path)
    return -1;
  int rc = 0;
  if (unlink(path) < 0 && errno != ENOENT)
    rc = ferry_error_set(err, errno, "removing %s", path);
  free(path);
  return rc;
}

/* A record's JSON object written atomically (the object is released). */
static int write_record(const char *path, json_object *o, ferry_error *err)
{
  cleanup_json json_object *owned = o;
  const char *text = json_object_to_json_string_ext(owned, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  return ferry_write_file_atomic(path, text, strlen(text), err);
}

/* A record's JSON object (NULL with err set: unreadable, or not an object; what
 * names the record in the message). */
static json_object *read_record(const char *path, const char *what, ferry_error *err)
{
  cleanup_free char *text = NULL;
  if (ferry_read_file(path, &text, NULL, err) < 0)
    return NULL;
  json_object *o = json_tokener_parse(text);
  if (!o || !json_object_is_type(o, json_type_object)) {
    json_object_put(o);
    ferry_error_set(err, EINVAL, "%s %s: not a JSON object", what, path);
    return NULL;
  }
  return o;
}

int ferry_admission_write(const char *dir, const char *ns, const char *pod, const char *container,
                          const struct ferry_admission *a, ferry_error *err)
{
  cleanup_free char *path = record_path(dir, ns, pod, container, err);
  if (!path || ferry_mkdir_p(dir, 0700, err) < 0)
    return -1;
  json_object *o = json_object_new_object();
  json_object_object_add(o, "podMigration", json_object_new_string(a->pod_migration));
  json_object_object_add(o, "store", json_object_new_string(a->store));
  json_object_object_add(o, "image", json_object_new_string(a->image));
  if (a->lazy_dir)
    json_object_object_add(o, "lazyDir", json_object_new_string(a->lazy_dir));
  if (a->pod_uid)
    json_object_object_add(o, "podUID", json_object_new_string(a->pod_uid));
  if (a->digest)
    json_object_object_add(o, "imageDigest", json_object_new_string(a->digest));
  return write_record(path, o, err);
}

int ferry_admission_read(const char *dir, const char *ns, const char *pod, const char *container,
                         struct ferry_admission *a, ferry_error *err)
{
  memset(a, 0, sizeof *a);
  cleanup_free char *path = record_path(dir, ns, pod, container, err);
  cleanup_json json_object *o = path ? read_record(path, "admission record", err) : NULL;
  if (!o)
    return -1;
  const char *keys[] = { "podMigration", "store", "image" };
  char **dst[] = { &a->pod_migration, &a->store, &a->image };
  json_object *v;
  for (int i = 0; i < 3; i++) {
    if (!json_object_object_get_ex(o, keys[i], &v) || !json_object_is_type(v, json_type_string)) {
      ferry_error_set(err, EINVAL, "admission record %s: %s missing", path, keys[i]);
      ferry_admission_free(a);
      return -1;
    }
    *dst[i] = ferry_strdup(json_object_get_string(v));
  }
  if (json_object_object_get_ex(o, "lazyDir", &v) && json_object_is_type(v, json_type_string))
    a->lazy_dir = ferry_strdup(json_object_get_string(v));
  if (json_object_object_get_ex(o, "podUID", &v) && json_object_is_type(v, json_type_string))
    a->pod_uid = ferry_strdup(json_object_get_string(v));
  if (json_object_object_get_ex(o, "imageDigest", &v) && json_object_is_type(v, json_type_string))
    a->digest = ferry_strdup(json_object_get_string(v));
  return 0;
}

int ferry_admission_remove(const char *dir, const char *ns, const char *pod, const char *container, ferry_error *err)
{
  return remove_path(record_path(dir, ns, pod, container, err), err);
}

void ferry_admission_free(struct ferry_admission *a)
{
  free(a->pod_migration);
  free(a->store);
  free(a->image);
  free(a->lazy_dir);
  free(a->pod_uid);
  free(a->digest);
  memset(a, 0, sizeof *a);
}

/* ---------- restore results ---------- */

/* The record of pod's container with suffix (".restored", ".failed") before ".json". */
static char *suffixed_path(const char *dir, const char *ns, const char *pod, const char *container, const char *suffix,
                           ferry_error *err)
{
  char *p = record_path(dir, ns, pod, container, err);
  if (!p)
    return NULL;
  char *r = ferry_asprintf("%.*s%s.json", (int)(strlen(p) - 5), p, suffix);
  free(p);
  return r;
}

static char *restored_path(const char *dir, const char *ns, const char *pod, const char *container, ferry_error *err)
{
  return suffixed_path(dir, ns, pod, container, ".restored", err);
}

int ferry_restored_write(const char *dir, const char *ns, const char *pod, const char *container,
                         const struct ferry_restored *r, ferry_error *err)
{
  cleanup_free char *path = restored_path(dir, ns, pod, container, err);
  if (!path)
    return -1;
  json_object *o = json_object_new_object();
  json_object_object_add(o, "podMigration", json_object_new_string(r->pod_migration ? r->pod_migration : ""));
  json_object_object_add(o, "containerID", json_object_new_string(r->container_id ? r->container_id : ""));
  json_object_object_add(o, "restoredAtMs", json_object_new_int64(r->restored_at_ms));
  json_object_object_add(o, "verifyMs", json_object_new_int64(r->verify_ms));
  json_object_object_add(o, "rootfsMs", json_object_new_int64(r->rootfs_ms));
  json_object_object_add(o, "restoreMs", json_object_new_int64(r->restore_ms));
  if (r->copy_bytes > 0)
    json_object_object_add(o, "copyBytes", json_object_new_int64(r->copy_bytes));
  return write_record(path, o, err);
}

static int64_t get_i64(json_object *o, const char *key)
{
  json_object *v;
  return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static char *get_str(json_object *o, const char *key)
{
  json_object *v;
  return ferry_strdup(json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "");
}

int ferry_restored_read(const char *dir, const char *ns, const char *pod, const char *container,
                        struct ferry_restored *r, ferry_error *err)
{
  memset(r, 0, sizeof *r);
  cleanup_free char *path = restored_path(dir, ns, pod, container, err);
  cleanup_json json_object *o = path ? read_record(path, "restore record", err) : NULL;
  if (!o)
    return -1;
  r->pod_migration = get_str(o, "podMigration");
  r->container_id = get_str(o, "containerID");
  r->restored_at_ms = get_i64(o, "restoredAtMs");
  r->verify_ms = get_i64(o, "verifyMs");
  r->rootfs_ms = get_i64(o, "rootfsMs");
  r->restore_ms = get_i64(o, "restoreMs");
  r->copy_bytes = get_i64(o, "copyBytes");
  return 0;
}

int ferry_restored_remove(const char *dir, const char *ns, const char *pod, const char *container, ferry_error *err)
{
  return remove_path(restored_path(dir, ns, pod, container, err), err);
}

void ferry_restored_free(struct ferry_restored *r)
{
  free(r->pod_migration);
  free(r->container_id);
  memset(r, 0, sizeof *r);
}

/* ---------- private copies ---------- */

static char *copy_path(const char *dir, const char *ns, const char *pod, const char *container, ferry_error *err)
{
  return suffixed_path(dir, ns, pod, container, ".copy", err);
}

int ferry_restore_copy_write(const char *dir, const char *ns, const char *pod, const char *container,
                             const struct ferry_restore_copy *c, ferry_error *err)
{
  cleanup_free char *path = copy_path(dir, ns, pod, container, err);
  if (!path)
    return -1;
  json_object *o = json_object_new_object();
  json_object_object_add(o, "podMigration", json_object_new_string(c->pod_migration));
  json_object_object_add(o, "dir", json_object_new_string(c->dir));
  json_object_object_add(o, "bytes", json_object_new_int64(c->bytes));
  json_object_object_add(o, "pid", json_object_new_int64(c->pid));
  json_object_object_add(o, "pidStart", json_object_new_uint64(c->start));
  return write_record(path, o, err);
}

int ferry_restore_copy_read(const char *dir, const char *ns, const char *pod, const char *container,
                            struct ferry_restore_copy *c, ferry_error *err)
{
  memset(c, 0, sizeof *c);
  cleanup_free char *path = copy_path(dir, ns, pod, container, err);
  cleanup_json json_object *o = path ? read_record(path, "private copy record", err) : NULL;
  if (!o)
    return -1;
  json_object *v;
  c->pod_migration = get_str(o, "podMigration");
  c->dir = get_str(o, "dir");
  c->bytes = get_i64(o, "bytes");
  c->pid = (pid_t)get_i64(o, "pid");
  c->start = json_object_object_get_ex(o, "pidStart", &v) ? json_object_get_uint64(v) : 0;
  return 0;
}

int ferry_restore_copy_remove(const char *dir, const char *ns, const char *pod, const char *container, ferry_error *err)
{
  return remove_path(copy_path(dir, ns, pod, container, err), err);
}

void ferry_restore_copy_free(struct ferry_restore_copy *c)
{
  free(c->pod_migration);
  free(c->dir);
  memset(c, 0, sizeof *c);
}

/* ---------- failed restores ---------- */

int ferry_restore_failed_write(const char *dir, const char *ns, const char *pod, const char *container,
                               const char *pod_migration, const char *message, ferry_error *err)
{
  cleanup_free char *path = suffixed_path(dir, ns, pod, container, ".failed", err);
  if (!path)
    return -1;
  json_object *o = json_object_new_object();
  json_object_object_add(o, "podMigration", json_object_new_string(pod_migration));
  json_object_object_add(o, "message", json_object_new_string(message));
  json_object_object_add(o, "failedAtMs", json_object_new_int64(ferry_now_real_ms()));
  return write_record(path, o, err);
}

int ferry_restore_failed_read(const char *dir, const char *ns, const char *pod, const char *container,
                              char **pod_migration, char **message, ferry_error *err)
{
  cleanup_free char *path = suffixed_path(dir, ns, pod, container, ".failed", err);
  if (!path)
    return -1;
  if (access(path, F_OK) < 0) {
    if (errno == ENOENT)
      return 0;
    return ferry_error_set(err, errno, "restore failure record %s", path);
  }
  cleanup_json json_object *o = read_record(path, "restore failure record", err);
  if (!o)
    return -1;
  *pod_migration = get_str(o, "podMigration");
  *message = get_str(o, "message");
  return 1;
}

int ferry_restore_failed_remove(const char *dir, const char *ns, const char *pod, const char *container,
                                ferry_error *err)
{
  return remove_path(suffixed_path(dir, ns, pod, container, ".failed", err), err);
}

/* ---------- departed containers ---------- */

static int uid_ok(const char *s)
{
  if (!s || !*s || strlen(s) > 64)
    return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
      return 0;
  return 1;
}

static char *departed_path(const char *dir, const char *uid, const char *container, ferry_error *err)
{
  if (!uid_ok(uid) || !name_ok(container)) {
    ferry_error_set(err, EINVAL, "departed record: not a pod UID and container name: \"%s\", \"%s\"", uid ? uid : "",
                    container ? container : "");
    return NULL;
  }
  return ferry_asprintf("%s/departed/%s_%s", dir, uid, container);
}

int ferry_departed_write(const char *dir, const char *pod_uid, const char *container, const char *pod_migration,
                         ferry_error *err)
{
  cleanup_free char *path = departed_path(dir, pod_uid, container, err);
  cleanup_free char *sub = ferry_path_join(dir, "departed");
  if (!path || ferry_mkdir_p(sub, 0700, err) < 0)
    return -1;
  return ferry_write_file_atomic(path, pod_migration, strlen(pod_migration), err);
}

int ferry_departed_read(const char *dir, const char *pod_uid, const char *container, char **pod_migration,
                        ferry_error *err)
{
  *pod_migration = NULL;
  cleanup_free char *path = departed_path(dir, pod_uid, container, err);
  if (!path)
    return -1;
  int rc = ferry_read_file(path, pod_migration, NULL, err);
  if (rc < 0 && err->errnum == ENOENT) {
    ferry_error_clear(err);
    return 0;
  }
  return rc < 0 ? -1 : 1;
}

int ferry_departed_remove(const char *dir, const char *pod_uid, const char *container, ferry_error *err)
{
  return remove_path(departed_path(dir, pod_uid, container, err), err);
}
