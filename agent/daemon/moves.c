/* SPDX-License-Identifier: Apache-2.0 */
/* What this node learns from the moves it makes as the source, for strategy
 * auto: the container's memory when the checkpoint begins (status.memoryBytes),
 * and once the move succeeded its downtime (status.freezeMillis) by the
 * strategy that ran, kept in STATE_DIR/postcopy-moves.json; from them the
 * post-copy threshold on the node's Lease (crossover.c), and whether the node
 * can post-copy at all. */
#include "daemon.h"

#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "daemon/crossover.h"
#include "engine/lazy.h"
#include "kube/kube.h"
#include "runtime/cgroup.h"

#define MOVES_FILE "postcopy-moves.json"

static char *moves_path(struct daemon *d) { return ferry_path_join(d->state_dir, MOVES_FILE); }

void moves_start(struct daemon *d)
{
  cleanup_free char *path = moves_path(d);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (crossover_load(path, &d->moves, &err) < 0)
    log_warn("%s; the post-copy threshold starts again from no moves (the file is replaced at the next move)",
             ferry_error_msg(&err));
  else
    log_info("post-copy threshold: %zu stopAndCopy and %zu postCopy moves kept from %s", d->moves.n_stop_and_copy,
             d->moves.n_post_copy, path);
}

int64_t moves_container_memory(struct daemon *d, const char *id)
{
  struct ferry_runc r = runc_for(d);
  struct ferry_runc_state st;
  struct ferry_cgroup_usage u;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_runc_state(&r, id, &st, &err) < 0) {
    log_warn("the memory of container %s (for the post-copy threshold): %s", id, ferry_error_msg(&err));
    return 0;
  }
  pid_t pid = st.pid;
  ferry_runc_state_free(&st);
  if (pid <= 0 || ferry_cgroup_usage(pid, &u, &err) < 0) {
    log_warn("the memory of container %s (for the post-copy threshold): %s", id,
             err.msg ? ferry_error_msg(&err) : "it does not run");
    return 0;
  }
  return (int64_t)u.memory_bytes;
}

/* The move a succeeded migration of this source was, 0 when it says too little. */
static int move_of(json_object *pm, enum pm_strategy *s, struct crossover_move *m)
{
  memset(m, 0, sizeof *m);
  if (pm_strategy_parse(ferry_kube_str(pm, "status.strategy"), s) < 0)
    return 0;
  snprintf(m->uid, sizeof m->uid, "%s", ferry_kube_str(pm, "metadata.uid") ?: "");
  m->memory = json_object_get_int64(ferry_kube_obj(pm, "status.memoryBytes"));
  m->downtime_ms = json_object_get_int64(ferry_kube_obj(pm, "status.freezeMillis"));
  m->at_ms = ferry_parse_time_ms(ferry_kube_str(pm, "status.restoredAt") ?: "");
  return *m->uid && m->memory > 0 && m->downtime_ms > 0 && m->at_ms > 0;
}

void moves_learn(struct daemon *d, json_object *pm)
{
  enum pm_strategy s;
  struct crossover_move m;
  if (!move_of(pm, &s, &m) || !crossover_add(&d->moves, s, &m))
    return; /* too little known, not a strategy with a line, or counted already */
  char mem[32];
  ferry_format_bytes(m.memory, mem, sizeof mem);
  log_info("post-copy threshold: %s moved %s by %s with %lld ms of downtime (%zu stopAndCopy, %zu postCopy moves)",
           ferry_kube_str(pm, "metadata.name"), mem, pm_strategy_name(s), (long long)m.downtime_ms,
           d->moves.n_stop_and_copy, d->moves.n_post_copy);
  cleanup_free char *path = moves_path(d);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (crossover_save(path, &d->moves, &err) < 0)
    log_warn("%s (the move counts until the agent restarts)", ferry_error_msg(&err));
}

char *moves_threshold_annotation(struct daemon *d)
{
  struct crossover c;
  crossover_compute(&d->moves, d->postcopy_threshold, &c);
  return crossover_annotation(&c);
}

char *moves_postcopy_support(void)
{
  char *why = lazy_unsupported_reason();
  return why ? why : ferry_strdup("ok");
}
