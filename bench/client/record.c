/* SPDX-License-Identifier: Apache-2.0 */
/* A request's row: seq, sent (unix µs), latency µs (-1 without a reply), outcome, endpoint, value. */
#include <inttypes.h>
#include <time.h>

#include "client.h"

static const char *const names[] = {
  [OUT_OK] = "ok",
  [OUT_NO_ENDPOINT] = "no-endpoint",
  [OUT_REFUSED] = "refused",
  [OUT_RESET] = "reset",
  [OUT_BAD_REPLY] = "bad-reply",
  [OUT_TIMEOUT] = "timeout",
  [OUT_OVERLOAD] = "overload",
};

const char *outcome_name(enum outcome o) { return names[o]; }

void record_write(FILE *f, uint64_t seq, int64_t sent_us, int64_t latency_us, enum outcome o, const char *ip,
                  const char *value)
{
  fprintf(f, "%" PRIu64 "\t%" PRId64 "\t%" PRId64 "\t%s\t%s\t%s\n", seq, sent_us, latency_us, outcome_name(o),
          ip[0] ? ip : "-", value[0] ? value : "-");
}

static int64_t now_us(clockid_t c)
{
  struct timespec ts;
  clock_gettime(c, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t now_real_us(void) { return now_us(CLOCK_REALTIME); }
int64_t now_mono_us(void) { return now_us(CLOCK_MONOTONIC); }
