/* SPDX-License-Identifier: Apache-2.0 */
/* The agent daemon of one node on the fake API server, for the tests of its
 * steps (test_agent_steps.c) and of its progress (test_progress.c): a
 * temporary directory holding its state (state/ops), admission records,
 * store, work directory and runtime (runc.sh, written by the test), and the
 * PodMigration and pod informers a daemon has. */
#ifndef FERRY_TEST_AGENT_FIXTURE_H
#define FERRY_TEST_AGENT_FIXTURE_H

#include "daemon/daemon.h"
#include "fake_api.h"

struct agent_fixture {
  struct fake_api *f;
  struct daemon_globals g;
  struct daemon d;
  char *dir, *state, *adm, *store, *runc_root, *runc, *work;
};

/* A daemon on node (the string must outlive it); fails the test on error. */
struct agent_fixture *agent_fixture_new(const char *node);
/* Its store opened as the daemon opens it (dir://STORE, with the collector). */
void agent_fixture_open_store(struct agent_fixture *x);
void agent_fixture_free(struct agent_fixture *x);

#endif
