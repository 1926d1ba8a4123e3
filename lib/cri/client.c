/* SPDX-License-Identifier: Apache-2.0 */
/* The CRI client: opening it, the one call helper every request goes through
 * (pack, gRPC call, unpack, errors prefixed with the method), Version, and the
 * helpers that build repeated fields of the generated messages. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/util.h"
#include "cri/internal.h"

struct ferry_cri *ferry_cri_open(const char *endpoint, long timeout_ms, ferry_error *err)
{
  struct ferry_grpc *g = ferry_grpc_open(endpoint, err);
  if (!g)
    return NULL;
  struct ferry_cri *c = ferry_malloc(sizeof *c);
  *c = (struct ferry_cri){ .grpc = g, .timeout_ms = timeout_ms > 0 ? timeout_ms : FERRY_CRI_DEFAULT_TIMEOUT_MS };
  return c;
}

void ferry_cri_close(struct ferry_cri *c)
{
  if (!c)
    return;
  ferry_grpc_close(c->grpc);
  free(c);
}

int ferry_cri_last_code(const struct ferry_cri *c) { return ferry_grpc_last_code(c->grpc); }

void *cri_call(struct ferry_cri *c, const char *service, const char *method, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *resp_desc, long timeout_ms, ferry_error *err)
{
  size_t len = protobuf_c_message_get_packed_size(req);
  cleanup_free uint8_t *packed = ferry_malloc(len ? len : 1);
  protobuf_c_message_pack(req, packed);
  cleanup_free char *path = ferry_asprintf("/%s/%s", service, method);
  cleanup_free uint8_t *resp = NULL;
  size_t resp_len = 0;
  if (ferry_grpc_call(c->grpc, path, packed, len, timeout_ms > 0 ? timeout_ms : c->timeout_ms, &resp, &resp_len, err) <
      0) {
    ferry_error_prefix(err, "%s", method);
    return NULL;
  }
  ProtobufCMessage *m = protobuf_c_message_unpack(resp_desc, NULL, resp_len, resp);
  if (!m)
    ferry_error_set(err, 0, "%s: the answer (%zu bytes) is not a %s", method, resp_len, resp_desc->name);
  return m;
}

char *cri_out(const char *s) { return ferry_strdup(s ? s : ""); }

void **cri_messages(const ProtobufCMessageDescriptor *desc, size_t n)
{
  if (n == 0)
    return NULL;
  size_t size = (desc->sizeof_message + sizeof(void *) - 1) / sizeof(void *) * sizeof(void *);
  void **ptrs = ferry_malloc(n * (sizeof(void *) + size));
  char *msgs = (char *)(ptrs + n);
  for (size_t i = 0; i < n; i++) {
    ptrs[i] = msgs + i * size;
    protobuf_c_message_init(desc, ptrs[i]);
  }
  return ptrs;
}

void **cri_map(const ProtobufCMessageDescriptor *entry_desc, const struct ferry_cri_kv *kv, size_t n)
{
  if (entry_desc->sizeof_message != sizeof(struct cri_map_entry))
    abort(); /* a generated map entry of another shape: a programming error */
  void **ptrs = cri_messages(entry_desc, n);
  for (size_t i = 0; i < n; i++) {
    struct cri_map_entry *e = ptrs[i];
    e->key = cri_in(kv[i].key);
    e->value = cri_in(kv[i].value);
  }
  return ptrs;
}

size_t cri_strv_len(const char *const *v)
{
  size_t n = 0;
  while (v && v[n])
    n++;
  return n;
}

int cri_info_pid(void *const *info, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    const struct cri_map_entry *e = info[i];
    if (strcmp(e->key, "info") != 0)
      continue;
    cleanup_json json_object *o = json_tokener_parse(e->value);
    json_object *pid;
    if (o && json_object_object_get_ex(o, "pid", &pid))
      return json_object_get_int(pid);
  }
  return 0;
}

int ferry_cri_version(struct ferry_cri *c, struct ferry_cri_version *out, ferry_error *err)
{
  Runtime__V1__VersionRequest req;
  runtime__v1__version_request__init(&req);
  req.version = "v1";
  cleanup_pb Runtime__V1__VersionResponse *r =
      cri_call(c, CRI_RUNTIME_SERVICE, "Version", &req.base, &runtime__v1__version_response__descriptor, 0, err);
  if (!r)
    return -1;
  out->version = cri_out(r->version);
  out->runtime_name = cri_out(r->runtime_name);
  out->runtime_version = cri_out(r->runtime_version);
  out->runtime_api_version = cri_out(r->runtime_api_version);
  return 0;
}

void ferry_cri_version_free(struct ferry_cri_version *v)
{
  free(v->version);
  free(v->runtime_name);
  free(v->runtime_version);
  free(v->runtime_api_version);
  memset(v, 0, sizeof *v);
}
