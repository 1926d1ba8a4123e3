/* SPDX-License-Identifier: Apache-2.0 */
/* The agent daemon on the fake API server (agent_fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "agent_fixture.h"
#include "base/cleanup.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "testutil.h"

struct agent_fixture *agent_fixture_new(const char *node)
{
  struct agent_fixture *x = calloc(1, sizeof *x);
  assert_non_null(x);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  x->dir = tu_mkdtemp();
  x->state = ferry_path_join(x->dir, "state");
  x->adm = ferry_path_join(x->dir, "admission");
  x->store = ferry_path_join(x->dir, "store");
  x->runc_root = ferry_path_join(x->dir, "runc");
  x->runc = ferry_path_join(x->dir, "runc.sh");
  x->work = ferry_path_join(x->dir, "work");
  cleanup_free char *ops = ferry_path_join(x->state, "ops");
  assert_int_equal(ferry_mkdir_p(ops, 0700, &err), 0);
  assert_int_equal(ferry_mkdir_p(x->adm, 0700, &err), 0);
  assert_int_equal(ferry_mkdir_p(x->store, 0700, &err), 0);
  x->g = (struct daemon_globals){ .criu = "criu", .runc = x->runc, .work_dir = x->work, .node = node };
  x->f = fake_api_new();
  struct daemon *d = &x->d;
  d->g = &x->g;
  d->store = x->store;
  d->runc_root = x->runc_root;
  d->state_dir = x->state;
  d->admission_dir = x->adm;
  d->ns = "ferry-system";
  d->lease_seconds = 40;
  snprintf(d->self, sizeof d->self, "/bin/true"); /* a step's child, should one start, does nothing */
  d->kube = fake_api_kube(x->f);
  d->inf = fake_api_informers(x->f);
  d->rec = ferry_recorder_new(d->kube, "ferry-agent", node);
  cleanup_free char *on_node = ferry_asprintf("spec.nodeName=%s", node);
  assert_int_equal(ferry_informer_add(d->inf, &FERRY_KUBE_PODMIGRATIONS, NULL, NULL, NULL, NULL, &d->pms, &err), 0);
  assert_int_equal(ferry_informer_add(d->inf, &FERRY_KUBE_PODS, NULL, NULL, on_node, NULL, &d->pods, &err), 0);
  return x;
}

void agent_fixture_open_store(struct agent_fixture *x)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  cleanup_free char *url = ferry_asprintf("dir://%s", x->store);
  x->d.store = url;
  assert_int_equal(gc_start(&x->d, &err), 0);
  x->d.store = x->store; /* the steps' --store; the collector keeps its own copy */
}

void agent_fixture_free(struct agent_fixture *x)
{
  gc_stop(&x->d);
  ferry_recorder_free(x->d.rec);
  ferry_informers_free(x->d.inf);
  children_free(&x->d);
  free(x->d.migration_address);
  fake_api_free(x->f);
  free(x->state);
  free(x->adm);
  free(x->store);
  free(x->runc_root);
  free(x->runc);
  free(x->work);
  tu_rm(x->dir);
  free(x);
}
