/* SPDX-License-Identifier: Apache-2.0 */
/* The engine's small shared pieces: strategies, results, work directories and
 * CRIU's failure messages. */
#include "engine/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "image/codec.h"
#include "runtime/criu.h"

static const char *const strategy_names[] = {
  [STRATEGY_STOP_AND_COPY] = "stopAndCopy",
  [STRATEGY_PRE_COPY] = "preCopy",
  [STRATEGY_POST_COPY] = "postCopy",
};

int engine_strategy_parse(const char *name)
{
  if (!name)
    return STRATEGY_STOP_AND_COPY;
  for (size_t i = 0; i < sizeof strategy_names / sizeof *strategy_names; i++)
    if (!strcmp(name, strategy_names[i]))
      return (int)i;
  return -1;
}

const char *engine_strategy_name(enum engine_strategy s) { return strategy_names[s]; }

char *engine_precopy_unsupported(const char *criu)
{
  int track = ferry_criu_feature(criu, "mem_dirty_track");
  if (track == 1)
    return NULL;
  return ferry_strdup(track == 0 ? "preCopy needs the kernel's soft-dirty page tracking, which this node does not "
                                   "have (criu check --feature mem_dirty_track): preCopy migrations run as stopAndCopy"
                                 : "preCopy: could not tell whether this node tracks dirty memory (criu check "
                                   "--feature mem_dirty_track failed): preCopy migrations run as stopAndCopy");
}

char *engine_precopy_note(const char *criu)
{
  char *note = engine_precopy_unsupported(criu);
  if (!note) /* a node with soft-dirty tracking: the pre-dump rounds are not written yet */
    note = ferry_strdup("preCopy: iterative pre-dumps are not implemented yet; preCopy migrations run as stopAndCopy");
  log_warn("%s", note);
  return note;
}

void engine_result_free(struct engine_result *r)
{
  free(r->message);
  free(r->image_dir);
  free(r->strategy_note);
  free(r->criu_dir);
  memset(r, 0, sizeof *r);
}

void engine_source_free(struct engine_source *s)
{
  free(s->root);
  free(s->id);
  free(s->bundle);
  ferry_census_free(&s->census);
  memset(s, 0, sizeof *s);
}

void engine_set_result(struct engine_result *r, enum engine_exit code, const char *outcome, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *m = NULL;
  if (vasprintf(&m, fmt, ap) < 0)
    m = NULL;
  va_end(ap);
  free(r->message);
  r->message = m;
  r->exit_code = code;
  r->outcome = outcome;
}

struct ferry_runc engine_runc_for(const struct engine_opts *o, const char *root, const char *log)
{
  struct ferry_runc r = { .runc = o->runc, .criu = o->criu, .root = root, .log = log, .timeout_ms = o->timeout_ms };
  return r;
}

char *engine_work_subdir(const struct engine_opts *o, const char *name, const char *what, ferry_error *err)
{
  cleanup_free char *d = ferry_asprintf("%s/%s/%s", o->work_dir, name, what);
  if (ferry_rm_rf(d, err) < 0 || ferry_mkdir_p(d, 0700, err) < 0)
    return NULL;
  return ferry_steal(&d);
}

char *engine_criu_failure(const ferry_error *err, const char *work, const char *logname)
{
  cleanup_free char *log = ferry_path_join(work, logname);
  return ferry_criu_explain(ferry_error_msg(err), log);
}

void engine_drop_stage(const struct engine_opts *o, const char *name)
{
  if (!ferry_codec_active(o->codec))
    return;
  cleanup_free char *d = ferry_asprintf("%s/%s/stage", o->work_dir, name);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_rm_rf(d, &err) < 0)
    log_warn("removing %s: %s", d, ferry_error_msg(&err));
}
