/* SPDX-License-Identifier: Apache-2.0 */
/* The Kubernetes protobuf envelope decoded into kube-lite's JSON (protobuf.h). */
#include "protobuf.h"

#include <stdio.h>
#include <string.h>

#include "k8s.io/apimachinery/pkg/runtime/generated.pb-c.h"
#include "pbjson.h"

#define MAGIC "k8s\0"
#define MAGIC_LEN 4
#define META_PACKAGE "k8s.io.apimachinery.pkg.apis.meta"

/* Every generated message (the Makefile writes $(BUILD)/gen/k8s/messages.c). */
extern const ProtobufCMessageDescriptor *const kl_pb_messages[];

void kl_protobuf_message_name(const char *api_version, const char *kind, char *buf, size_t len)
{
  const char *slash = strchr(api_version, '/');
  if (!slash) {
    snprintf(buf, len, "k8s.io.api.core.%s.%s", api_version, kind);
    return;
  }
  const char *version = slash + 1;
  int glen = (int)(slash - api_version);
  if (glen == (int)strlen("meta.k8s.io") && !strncmp(api_version, "meta.k8s.io", (size_t)glen)) {
    snprintf(buf, len, META_PACKAGE ".%s.%s", version, kind);
    return;
  }
  const char *dot = memchr(api_version, '.', (size_t)glen);
  int label = dot ? (int)(dot - api_version) : glen;
  snprintf(buf, len, "k8s.io.api.%.*s.%s.%s", label, api_version, version, kind);
}

static const ProtobufCMessageDescriptor *find_message(const char *name)
{
  for (size_t i = 0; kl_pb_messages[i]; i++)
    if (!strcmp(kl_pb_messages[i]->name, name))
      return kl_pb_messages[i];
  return NULL;
}

/* The kind's message: its group's, else meta/v1's (DeleteOptions comes as "v1" or "apps/v1" too). */
static const ProtobufCMessageDescriptor *kind_message(const char *api_version, const char *kind)
{
  char name[256];
  kl_protobuf_message_name(api_version, kind, name, sizeof name);
  const ProtobufCMessageDescriptor *d = find_message(name);
  if (!d) {
    snprintf(name, sizeof name, META_PACKAGE ".v1.%s", kind);
    d = find_message(name);
  }
  return d;
}

/* The object with apiVersion and kind first, as the API server writes it. */
static json_object *typed(const char *api_version, const char *kind, json_object *fields)
{
  json_object *o = json_object_new_object();
  json_object_object_add(o, "apiVersion", json_object_new_string(api_version));
  json_object_object_add(o, "kind", json_object_new_string(kind));
  json_object_object_foreach(fields, k, v) { json_object_object_add(o, k, json_object_get(v)); }
  json_object_put(fields);
  return o;
}

static int decode_raw(const K8s__Io__Apimachinery__Pkg__Runtime__Unknown *u, json_object **out, char *why,
                      size_t why_len)
{
  const char *api_version = u->typemeta && u->typemeta->apiversion ? u->typemeta->apiversion : "";
  const char *kind = u->typemeta && u->typemeta->kind ? u->typemeta->kind : "";
  if (!*api_version || !*kind) {
    snprintf(why, why_len, "Object 'Kind' is missing in the protobuf envelope");
    return -1;
  }
  if (u->contentencoding && *u->contentencoding) {
    snprintf(why, why_len, "unsupported content encoding %s in the protobuf envelope", u->contentencoding);
    return -1;
  }
  if (u->contenttype && *u->contenttype && strcmp(u->contenttype, KL_PROTOBUF_TYPE) != 0) {
    snprintf(why, why_len, "unsupported content type %s in the protobuf envelope", u->contenttype);
    return -1;
  }
  const ProtobufCMessageDescriptor *d = kind_message(api_version, kind);
  if (!d) {
    snprintf(why, why_len, "no kind \"%s\" is registered for version \"%s\" in protobuf", kind, api_version);
    return -1;
  }
  ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, u->raw.len, u->raw.data);
  if (!m) {
    snprintf(why, why_len, "unable to decode the protobuf body as %s %s: the message is malformed", api_version, kind);
    return -1;
  }
  char sub[256];
  json_object *fields = kl_pb_to_json(m, sub, sizeof sub);
  protobuf_c_message_free_unpacked(m, NULL);
  if (!fields) {
    snprintf(why, why_len, "unable to decode the protobuf body as %s %s: %s", api_version, kind, sub);
    return -1;
  }
  *out = typed(api_version, kind, fields);
  return 0;
}

int kl_protobuf_decode(const uint8_t *data, size_t len, json_object **out, char *why, size_t why_len)
{
  *out = NULL;
  if (len == 0) {
    snprintf(why, why_len, "empty data");
    return -1;
  }
  if (len < MAGIC_LEN || memcmp(data, MAGIC, MAGIC_LEN) != 0) {
    snprintf(why, why_len, "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]");
    return -1;
  }
  K8s__Io__Apimachinery__Pkg__Runtime__Unknown *u =
      k8s__io__apimachinery__pkg__runtime__unknown__unpack(NULL, len - MAGIC_LEN, data + MAGIC_LEN);
  if (!u) {
    snprintf(why, why_len, "unable to decode the protobuf envelope (runtime.Unknown): the message is malformed");
    return -1;
  }
  int rc = decode_raw(u, out, why, why_len);
  k8s__io__apimachinery__pkg__runtime__unknown__free_unpacked(u, NULL);
  return rc;
}
