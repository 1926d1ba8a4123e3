/* SPDX-License-Identifier: Apache-2.0 */
/* kube-lite's protobuf request bodies ("k8s\0" + runtime.Unknown) decoded to JSON. */
#include <json-c/json.h>

#include "fuzz.h"
#include "protobuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  cleanup_json json_object *o = NULL;
  char why[512];
  if (kl_protobuf_decode(data, len, &o, why, sizeof why) == 0 && !o)
    abort(); /* a decoded body is an object */
  return 0;
}
