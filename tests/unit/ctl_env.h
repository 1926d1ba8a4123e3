/* SPDX-License-Identifier: Apache-2.0 */
/* The controller on the fake API server, for the unit tests of its parts:
 * its client and informers on the fake, a work queue, its handlers watching
 * (the agents' Leases in AGENT_NS). Include after cmocka.h. */
#ifndef FERRY_TEST_CTL_ENV_H
#define FERRY_TEST_CTL_ENV_H

#include <stdlib.h>

#include "base/cleanup.h"
#include "controller.h"
#include "fake_api.h"

#define AGENT_NS "ferry-system"
#define NS "default"

struct env {
  struct fake_api *f;
  struct ctl c;
};

static inline struct env *ctl_env_new(void)
{
  struct env *e = calloc(1, sizeof *e);
  assert_non_null(e);
  e->f = fake_api_new();
  e->c.kube = fake_api_kube(e->f);
  e->c.inf = fake_api_informers(e->f);
  e->c.q = queue_new(5, 60000); /* the handlers queue what changed */
  e->c.agent_ns = AGENT_NS;
  e->c.agent_stale_s = 40;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ctl_watch(&e->c, AGENT_NS, &err), 0);
  return e;
}

static inline void ctl_env_free(struct env *e)
{
  ferry_informers_free(e->c.inf);
  queue_free(e->c.q);
  fake_api_free(e->f);
  free(e);
}

#endif
