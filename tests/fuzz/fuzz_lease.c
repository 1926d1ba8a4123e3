/* SPDX-License-Identifier: Apache-2.0 */
/* What an agent publishes on its Lease, as the controller reads it: the post-copy
 * threshold (ferry.dev/postcopy-threshold) and the load report (ferry.dev/load). */
#include "fuzz.h"
#include "api/threshold.h"
#include "base/cleanup.h"
#include "rebalance/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  cleanup_free char *text = fuzz_text(data, len);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  struct ferry_postcopy_threshold t;
  if (ferry_postcopy_threshold_parse(text, &t, &err) < 0 && !err.msg)
    abort();
  ferry_error_clear(&err);
  struct rb_node n = { .name = "fuzz", .cpus = 2, .mem_total_bytes = 1 << 30 };
  if (rb_node_load_from_report(&n, text, &err) < 0 && !err.msg)
    abort();
  return 0;
}
