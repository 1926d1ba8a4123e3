/* SPDX-License-Identifier: Apache-2.0 */
/* The memory files' check (their SHA-256 against the manifest) on a thread of
 * its own, while CRIU restores the process with its tasks left stopped: the
 * restore and the hashing share the time instead of adding up, and the process
 * runs only once every page it holds matched (restore.c). */
#include "engine/common.h"

#include <string.h>

#include "base/log.h"

static void *memory_check_run(void *arg)
{
  struct memory_check *mc = arg;
  mc->rc = ferry_manifest_verify_scope(mc->dir, mc->m, FERRY_VERIFY_MEMORY, &mc->err);
  return NULL;
}

void engine_memory_check_start(struct memory_check *mc, const char *dir, const struct ferry_manifest *m)
{
  memset(mc, 0, sizeof *mc);
  mc->dir = dir;
  mc->m = m;
  mc->err = (ferry_error)FERRY_ERROR_INIT;
  int e = pthread_create(&mc->thread, NULL, memory_check_run, mc);
  if (e == 0) {
    mc->running = 1;
    return;
  }
  log_warn("no thread for the memory check (%s): checking before the restore", strerror(e));
  memory_check_run(mc);
}

int engine_memory_check_wait(struct memory_check *mc, ferry_error *err)
{
  if (mc->running) {
    int e = pthread_join(mc->thread, NULL);
    mc->running = 0;
    if (e != 0) {
      ferry_error_clear(&mc->err);
      return ferry_error_set(err, e, "waiting for the memory check");
    }
  }
  if (mc->rc < 0)
    ferry_error_set(err, 0, "%s", ferry_error_msg(&mc->err));
  ferry_error_clear(&mc->err);
  return mc->rc;
}
