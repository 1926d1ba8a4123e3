/* SPDX-License-Identifier: Apache-2.0 */
/* A decoded Kubernetes protobuf message as the JSON the API server would store,
 * walked through protobuf-c's descriptors: the .proto field names are the JSON
 * names; bytes are base64; map entries are objects; apimachinery's special types
 * take their JSON forms (Time and MicroTime as RFC 3339, Duration as Go prints
 * it, Quantity as its string, IntOrString as a number or a string, RawExtension
 * and FieldsV1 as the JSON they carry, one-list wrappers such as ExtraValue as
 * arrays). Empty strings and lists are left out, as Go's omitempty leaves them. */
#ifndef KL_PBJSON_H
#define KL_PBJSON_H

#include <json-c/json.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* A new JSON object for m, or NULL with why set (a RawExtension that is not JSON, too deep). */
json_object *kl_pb_to_json(const ProtobufCMessage *m, char *why, size_t why_len);

#endif
