/* SPDX-License-Identifier: Apache-2.0 */
/* Request bodies in application/vnd.kubernetes.protobuf, as client-go's typed
 * clients send them (kubectl create secret/configmap/namespace, Helm's release
 * Secrets, DeleteOptions): the envelope is the 4 bytes "k8s\0" and a
 * runtime.Unknown whose typeMeta names the kind and whose raw is the object's
 * message. The message is found among the Kubernetes API's .proto messages
 * (generated with protobuf-c at build time) and turned into the JSON kube-lite
 * stores (pbjson.h). */
#ifndef KL_PROTOBUF_H
#define KL_PROTOBUF_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#define KL_PROTOBUF_TYPE "application/vnd.kubernetes.protobuf"

/* 0 with *out the object (apiVersion and kind first), or -1 with why saying
 * what is wrong with the body (the 400 BadRequest message). */
int kl_protobuf_decode(const uint8_t *data, size_t len, json_object **out, char *why, size_t why_len);

/* "k8s.io.api.apps.v1.DaemonSet": the message of apiVersion/kind (core for "v1",
 * k8s.io.api.GROUP's first label otherwise, meta/v1's options and Status). */
void kl_protobuf_message_name(const char *api_version, const char *kind, char *buf, size_t len);

#endif
