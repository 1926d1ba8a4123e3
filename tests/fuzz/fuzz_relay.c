/* SPDX-License-Identifier: Apache-2.0 */
/* The lazy-pages relay's stats file (written by the relay process, read by the
 * agent): ferry_relay_stats_load, from a file in the harness's directory. */
#include "fuzz.h"
#include "runtime/relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  cleanup_free char *path = ferry_path_join(fuzz_tmpdir(), "stats.json");
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_write_file(path, data, len, &err) < 0)
    abort();
  struct ferry_relay_stats st;
  if (ferry_relay_stats_load(path, &st, &err) < 0 && !err.msg)
    abort();
  ferry_relay_stats_free(&st);
  return 0;
}
