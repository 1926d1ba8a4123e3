/* SPDX-License-Identifier: Apache-2.0 */
/* Strategy auto's choice (strategy.h): no API, no caches, only its inputs. */
#include "strategy.h"

#include <stdio.h>
#include <string.h>

#include "base/util.h"

/* "the pod's 40 MiB" and, when it is not the measured use, where it came from. */
static void memory_text(const struct auto_inputs *in, char *buf, size_t len)
{
  char mem[32];
  ferry_format_bytes(in->memory, mem, sizeof mem);
  if (in->memory_from == AUTO_MEMORY_REQUEST)
    snprintf(buf, len, "the pod's %s (its memory request: %s reports no use for it)", mem, in->source);
  else if (in->memory_from == AUTO_MEMORY_LIMIT)
    snprintf(buf, len, "the pod's %s (its memory limit: %s reports no use for it and it requests none)", mem,
             in->source);
  else
    snprintf(buf, len, "the pod's %s", mem);
}

/* "node-a's measured threshold of 300 MiB (12 moves)" or "... default threshold of 256 MiB (not measured yet)". */
static void threshold_text(const struct auto_inputs *in, char *buf, size_t len)
{
  char t[32];
  ferry_format_bytes(in->threshold.bytes, t, sizeof t);
  if (in->threshold.measured)
    snprintf(buf, len, "%s's measured threshold of %s (%d moves)", in->source, t, in->threshold.moves);
  else
    snprintf(buf, len, "%s's default threshold of %s (not measured yet)", in->source, t);
}

/* Why the pod cannot post-copy between these nodes (buf filled), or 0. */
static int postcopy_refused(const struct auto_inputs *in, char *buf, size_t len)
{
  if (in->statefulset) {
    snprintf(buf, len,
             "a StatefulSet's pod cannot move by postCopy (its successor is made only once the source pod "
             "is gone)");
    return 1;
  }
  if (in->source_postcopy && strcmp(in->source_postcopy, "ok") != 0) {
    snprintf(buf, len, "%s cannot post-copy: %s", in->source, in->source_postcopy);
    return 1;
  }
  if (in->target_postcopy && strcmp(in->target_postcopy, "ok") != 0) {
    snprintf(buf, len, "%s cannot post-copy: %s", in->target, in->target_postcopy);
    return 1;
  }
  return 0;
}

enum pm_strategy auto_choose(const struct auto_inputs *in, char *why, size_t len)
{
  char mem[256], thr[160], refused[512];
  if (in->memory_from == AUTO_MEMORY_UNKNOWN || in->memory <= 0) {
    snprintf(why, len,
             "auto: stopAndCopy, the pod's memory is unknown (%s reports no use for it and it has no memory request "
             "or limit)",
             in->source);
    return PM_STRATEGY_STOP_AND_COPY;
  }
  memory_text(in, mem, sizeof mem);
  if (in->threshold_error) {
    snprintf(why, len, "auto: stopAndCopy, %s has no usable post-copy threshold (%s)", in->source, in->threshold_error);
    return PM_STRATEGY_STOP_AND_COPY;
  }
  threshold_text(in, thr, sizeof thr);
  if (in->memory <= in->threshold.bytes) {
    snprintf(why, len, "auto: stopAndCopy, %s is %s %s", mem, in->memory < in->threshold.bytes ? "below" : "at", thr);
    return PM_STRATEGY_STOP_AND_COPY;
  }
  if (postcopy_refused(in, refused, sizeof refused)) {
    snprintf(why, len, "auto: stopAndCopy, %s is above %s, but %s", mem, thr, refused);
    return PM_STRATEGY_STOP_AND_COPY;
  }
  snprintf(why, len, "auto: postCopy, %s is above %s", mem, thr);
  return PM_STRATEGY_POST_COPY;
}
