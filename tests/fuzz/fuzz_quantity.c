/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes quantities: resource requests (ferry_quantity_milli) and the relay's bandwidth. */
#include "fuzz.h"
#include "base/cleanup.h"
#include "kube/quantity.h"
#include "runtime/relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  cleanup_free char *s = fuzz_text(data, len);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  int64_t milli;
  if (ferry_quantity_milli(s, &milli, &err) < 0 && !err.msg)
    abort();
  ferry_error_clear(&err);
  uint64_t bps;
  if (ferry_relay_parse_bandwidth(s, &bps, &err) < 0 && !err.msg)
    abort();
  return 0;
}
