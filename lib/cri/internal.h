/* SPDX-License-Identifier: Apache-2.0 */
/* What lib/cri's files share and nothing else sees: the client, the one call
 * helper that packs a protobuf-c request and unpacks the answer, and builders for
 * the repeated fields (maps, string lists, mounts) of the generated messages. */
#ifndef FERRY_CRI_INTERNAL_H
#define FERRY_CRI_INTERNAL_H

#include <protobuf-c/protobuf-c.h>

#include "cri/api.pb-c.h" /* generated from the CRI api.proto, under $(BUILD)/gen */
#include "cri/cri.h"
#include "cri/grpc.h"

#define CRI_RUNTIME_SERVICE "runtime.v1.RuntimeService"
#define CRI_IMAGE_SERVICE "runtime.v1.ImageService"
#define CRI_MS_PER_S 1000L

struct ferry_cri {
  struct ferry_grpc *grpc;
  long timeout_ms;
};

/* Calls SERVICE/METHOD with req and waits timeout_ms (0: the client's); the answer
 * unpacked as resp_desc says (free with protobuf_c_message_free_unpacked, or
 * declare it cleanup_pb), or NULL with *err "METHOD: ...". */
void *cri_call(struct ferry_cri *c, const char *service, const char *method, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *resp_desc, long timeout_ms, ferry_error *err);

static inline void cri_pb_freep(void *p)
{
  ProtobufCMessage **m = p;
  if (*m)
    protobuf_c_message_free_unpacked(*m, NULL);
}
#define cleanup_pb __attribute__((cleanup(cri_pb_freep)))

/* protobuf-c's char * fields from a caller's const strings ("" for NULL); the
 * messages built from them are only packed, never freed. */
static inline char *cri_in(const char *s) { return (char *)(s ? s : ""); }
/* A heap copy of an answer's string ("" for NULL). */
char *cri_out(const char *s);

/* A repeated message field: n messages of desc, initialised, and the array of
 * pointers to them, in one allocation to free(); NULL when n is 0. */
void **cri_messages(const ProtobufCMessageDescriptor *desc, size_t n);
/* A map<string, string> field the same way: n entry messages of entry_desc (every
 * map entry of the CRI has the layout of struct cri_map_entry) set from kv. */
void **cri_map(const ProtobufCMessageDescriptor *entry_desc, const struct ferry_cri_kv *kv, size_t n);
/* The length of a NULL-terminated string list (0 for NULL). */
size_t cri_strv_len(const char *const *v);

/* Every map entry message of the CRI has this layout (cri_map checks it). */
struct cri_map_entry {
  ProtobufCMessage base;
  char *key;
  char *value;
};
/* The "pid" of a verbose status's info map ({"info": "{... \"pid\": N ...}"}, the
 * entries of any map field); 0 if none. */
int cri_info_pid(void *const *info, size_t n);

/* The sandbox configuration as a message, which both RunPodSandbox and
 * CreateContainer carry. Holds pointers into itself: build it in place. */
struct cri_sandbox_msg {
  Runtime__V1__PodSandboxConfig config;
  Runtime__V1__PodSandboxMetadata metadata;
  Runtime__V1__LinuxPodSandboxConfig linux_config;
  Runtime__V1__LinuxSandboxSecurityContext security;
  Runtime__V1__NamespaceOption namespaces;
  Runtime__V1__DNSConfig dns;
  void **labels;
  void **annotations;
};
void cri_sandbox_msg_build(struct cri_sandbox_msg *m, const struct ferry_cri_sandbox_config *cfg);
void cri_sandbox_msg_free(struct cri_sandbox_msg *m);

#endif
