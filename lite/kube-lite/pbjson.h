/* SPDX-License-Identifier: Apache-2.0 */
/* Protobuf request bodies of the few kinds kube-lite's authentication and
 * authorization endpoints take (TokenRequest, the access reviews), read into
 * the JSON the handlers take: the Kubernetes envelope ("k8s\0" and a
 * runtime.Unknown with the TypeMeta and the raw message), then the message by
 * a table of its fields (numbers from k8s.io/api's generated.proto). */
#ifndef KL_PBJSON_H
#define KL_PBJSON_H

#include <json-c/json.h>
#include <stddef.h>

enum kl_pb_kind { KL_PB_STRING = 1, KL_PB_INT64, KL_PB_BOOL, KL_PB_MESSAGE, KL_PB_STRINGS };

struct kl_pb_field {
  unsigned num; /* 0 ends a table */
  const char *name;
  enum kl_pb_kind kind;
  const struct kl_pb_field *sub; /* KL_PB_MESSAGE */
};

/* The body as JSON (apiVersion and kind from the envelope), fields unknown to the table skipped.
 * NULL with why when it is not a well-formed envelope or message. */
json_object *kl_pb_body(const unsigned char *buf, size_t len, const struct kl_pb_field *fields, char *why,
                        size_t why_len);

#endif
