/* SPDX-License-Identifier: Apache-2.0 */
/* The agent daemon's steps (agent/daemon/source.c, target.c) against the fake
 * API server: given a PodMigration's status and the pods in the informer
 * caches, which status writes, events and API calls follow. Steps that run
 * runc or CRIU in a child process are left out, or only the write before the
 * child is checked; a finished step's answer is put in its ops files as the
 * child would leave it. The runtime is a script that answers `runc state`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "api/admission.h"
#include "api/podmigration.h"
#include "base/cleanup.h"
#include "base/pidrec.h"
#include "daemon/daemon.h"
#include "agent_fixture.h"
#include "fake_api.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "testutil.h"

#define NODE "node-a"

/* `runc state` answers: the container runs (state "running"), or there is none. */
static const char *RUNC_RUNNING =
    "#!/bin/sh\n"
    "for a; do id=$a; done\n"
    "echo '{\"id\":\"'$id'\",\"pid\":999999999,\"status\":\"running\",\"bundle\":\"/run/b\"}'\n";
static const char *RUNC_GONE = "#!/bin/sh\necho 'container does not exist' >&2\nexit 1\n";

static void fake_runc(struct agent_fixture *x, const char *script)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_write_file(x->runc, script, strlen(script), &err), 0);
  assert_int_equal(chmod(x->runc, 0700), 0);
}

static int setup(void **state)
{
  struct agent_fixture *x = agent_fixture_new(NODE);
  fake_runc(x, RUNC_GONE);
  *state = x;
  return 0;
}

static int teardown(void **state)
{
  agent_fixture_free(*state);
  return 0;
}

/* Stores the PodMigration default/pm with this status (JSON members) and
 * returns it as this node's informer has it. */
static json_object *pm_with(struct agent_fixture *x, const char *meta, const char *status)
{
  char json[4096];
  snprintf(json, sizeof json,
           "{\"apiVersion\":\"ferry.dev/v1alpha1\",\"kind\":\"PodMigration\",\"metadata\":{\"name\":\"pm\","
           "\"namespace\":\"default\"%s},\"spec\":{\"pod\":\"web\"},\"status\":{%s}}",
           meta, status);
  fake_api_put(x->f, &FERRY_KUBE_PODMIGRATIONS, json);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_informers_relist(x->d.inf, &err), 0);
  json_object *pm = ferry_informer_get(x->d.pms, "default", "pm");
  assert_non_null(pm);
  return pm;
}

/* A pod default/NAME; node: its spec.nodeName (NULL: not bound). Returns its uid. */
static const char *pod(struct agent_fixture *x, const char *name, const char *node, const char *status)
{
  char json[2048];
  snprintf(json, sizeof json,
           "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\"},"
           "\"spec\":{%s%s%s},\"status\":{%s}}",
           name, node ? "\"nodeName\":\"" : "", node ? node : "", node ? "\"" : "", status ? status : "");
  json_object *stored = fake_api_put(x->f, &FERRY_KUBE_PODS, json);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_informers_relist(x->d.inf, &err), 0);
  return ferry_kube_str(stored, "metadata.uid");
}

/* A finished step's files: its PID record (a process that is gone) and its answer. */
static void op_answer(struct agent_fixture *x, json_object *pm, const char *step, const char *answer)
{
  const char *uid = ferry_kube_str(pm, "metadata.uid");
  char rel[256];
  snprintf(rel, sizeof rel, "ops/%s.%s.pid", uid, step);
  tu_write(x->state, rel, "999999999 1\n");
  if (answer) {
    snprintf(rel, sizeof rel, "ops/%s.%s.json", uid, step);
    tu_write(x->state, rel, answer);
  }
}

static int op_file_exists(struct agent_fixture *x, json_object *pm, const char *step, const char *ext)
{
  cleanup_free char *p = op_path(&x->d, ferry_kube_str(pm, "metadata.uid"), step, ext);
  return ferry_path_exists(p);
}

/* The n-th status write to default/pm. */
static json_object *status_write(struct agent_fixture *x, size_t n)
{
  return fake_api_write(x->f, "PATCH", "/namespaces/default/podmigrations/pm/status", n);
}

static json_object *condition(json_object *write, const char *type)
{
  json_object *conds = ferry_kube_obj(write, "status.conditions");
  for (size_t i = 0; conds && i < json_object_array_length(conds); i++)
    if (!strcmp(ferry_kube_str(json_object_array_get_idx(conds, i), "type") ?: "", type))
      return json_object_array_get_idx(conds, i);
  return NULL;
}

static void assert_phase(json_object *write, const char *phase, const char *reason)
{
  assert_non_null(write);
  assert_string_equal(ferry_kube_str(write, "status.phase") ?: "(none)", phase);
  assert_string_equal(ferry_kube_str(write, "status.reason") ?: "(none)", reason);
}

/* Runs one source (or target) step; its return code, *requeue: what it asked. */
static int run(struct agent_fixture *x, int target, json_object *pm, int64_t *requeue)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  *requeue = 0;
  fake_api_clear_log(x->f);
  json_object_get(pm);
  int rc = target ? target_step(&x->d, pm, requeue, &err) : source_step(&x->d, pm, requeue, &err);
  json_object_put(pm);
  if (rc < 0) {
    fprintf(stderr, "step: %s\n", ferry_error_msg(&err));
    fake_api_dump(x->f);
  }
  return rc;
}

/* ---------- source ---------- */

static void test_scheduled_without_container_id_fails(void **state)
{
  struct agent_fixture *x = *state;
  json_object *pm = pm_with(x, "", "\"phase\":\"Scheduled\"");
  int64_t requeue;
  assert_int_equal(run(x, 0, pm, &requeue), 0);
  assert_int_equal(fake_api_nwrites(x->f), 1);
  assert_phase(status_write(x, 0), "Failed", "NoContainer");
  assert_string_equal(ferry_kube_str(status_write(x, 0), "status.message"), "the pod's container ID is unknown");
}

static void test_scheduled_cancelled_does_nothing(void **state)
{
  struct agent_fixture *x = *state;
  json_object *pm =
      pm_with(x, ",\"deletionTimestamp\":\"2026-12-01T00:00:00Z\",\"finalizers\":[\"ferry.dev/migration\"]",
              "\"phase\":\"Scheduled\",\"containers\":[{\"name\":\"app\",\"containerID\":\"containerd://abc\"}]");
  int64_t requeue;
  assert_int_equal(run(x, 0, pm, &requeue), 0);
  assert_int_equal(fake_api_nwrites(x->f), 0);
  assert_int_equal(requeue, 0);
}

/* A migration of this source that Succeeded: its move is kept once, in the
 * state directory (read back at the next start), and counts on the Lease's
 * post-copy threshold; one that says too little is not kept. */
static void test_succeeded_move_is_kept_for_the_threshold(void **state)
{
  struct agent_fixture *x = *state;
  x->d.postcopy_threshold = INT64_C(256) << 20;
  json_object *pm =
      pm_with(x, "",
              "\"phase\":\"Succeeded\",\"sourceNode\":\"" NODE "\",\"strategy\":\"postCopy\","
              "\"memoryBytes\":20971520,\"freezeMillis\":512,\"restoredAt\":\"2026-12-02T01:00:00.123Z\"");
  int64_t requeue;
  assert_int_equal(run(x, 0, pm, &requeue), 0);
  assert_int_equal(run(x, 0, pm, &requeue), 0); /* seen again: counted once */
  assert_int_equal(fake_api_nwrites(x->f), 0);
  assert_int_equal(x->d.moves.n_post_copy, 1);
  assert_int_equal(x->d.moves.n_stop_and_copy, 0);
  assert_int_equal(x->d.moves.post_copy[0].memory, 20971520);
  assert_int_equal(x->d.moves.post_copy[0].downtime_ms, 512);
  assert_string_equal(x->d.moves.post_copy[0].uid, ferry_kube_str(pm, "metadata.uid"));
  memset(&x->d.moves, 0, sizeof x->d.moves); /* a restart reads them back */
  moves_start(&x->d);
  assert_int_equal(x->d.moves.n_post_copy, 1);
  cleanup_free char *ann = moves_threshold_annotation(&x->d);
  assert_non_null(strstr(ann, "\"bytes\":268435456,\"threshold\":\"256 MiB\",\"source\":\"default\",\"moves\":1,"));
  assert_non_null(strstr(ann, "\"postCopy\":{\"moves\":1,\"why\":\"1 of the 3 moves needed\"}"));
  /* no memory recorded (an agent that did not measure it): nothing to learn from */
  json_object *bare = NULL;
  assert_int_equal(json_object_deep_copy(pm, &bare, NULL), 0);
  json_object *st = ferry_kube_obj(bare, "status");
  json_object_object_del(st, "memoryBytes");
  json_object_object_add(ferry_kube_obj(bare, "metadata"), "uid", json_object_new_string("other-uid"));
  assert_int_equal(run(x, 0, bare, &requeue), 0);
  json_object_put(bare);
  assert_int_equal(x->d.moves.n_post_copy, 1);
}

/* The store as the daemon opens it (dir://), with its floor: bytes free at least. */
static void open_store(struct agent_fixture *x, uint64_t min_free)
{
  agent_fixture_open_store(x);
  x->d.min_free.bytes = min_free;
  x->d.min_free.percent = -1;
}

/* A store below --store-min-free: Failed (StoreFull) before anything else:
 * no Checkpointing, no departed record, no step; the pod runs on. */
static void test_scheduled_on_a_full_store_is_refused_before_the_freeze(void **state)
{
  struct agent_fixture *x = *state;
  const char *uid = pod(x, "web", NODE, NULL);
  open_store(x, UINT64_MAX / 2);
  json_object *pm = pm_with(
      x, "", "\"phase\":\"Scheduled\",\"containers\":[{\"name\":\"app\",\"containerID\":\"containerd://abc\"}]");
  int64_t requeue;
  assert_int_equal(run(x, 0, pm, &requeue), 0);
  assert_int_equal(fake_api_nwrites(x->f), 1);
  assert_phase(status_write(x, 0), "Failed", "StoreFull");
  const char *msg = ferry_kube_str(status_write(x, 0), "status.message");
  assert_non_null(strstr(msg, NODE "'s image store has "));
  assert_non_null(strstr(msg, " free, below --store-min-free "));
  assert_false(op_file_exists(x, pm, "checkpoint", "pid"));
  cleanup_free char *ref = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_departed_read(x->adm, uid, "app", &ref, &err), 0);
  assert_int_equal(fake_api_nevents(x->f), 1);
  assert_non_null(strstr(fake_api_event(x->f, 0), "StoreFull: "));
  cleanup_free char *ann = store_annotation(&x->d);
  assert_non_null(strstr(ann, "\"full\":true"));
}

/* default/NAME with this status, for the collector; the name of its image (caller frees). */
static char *gc_pm(struct agent_fixture *x, const char *name, const char *pod_name, const char *status)
{
  char json[2048];
  snprintf(json, sizeof json,
           "{\"apiVersion\":\"ferry.dev/v1alpha1\",\"kind\":\"PodMigration\",\"metadata\":{\"name\":\"%s\","
           "\"namespace\":\"default\",\"uid\":\"%s-0000-uid\"},\"spec\":{\"pod\":\"%s\"},\"status\":{%s}}",
           name, name, pod_name, status);
  return image_name(fake_api_put(x->f, &FERRY_KUBE_PODMIGRATIONS, json));
}

/* An image directory in the store, hours_old old. */
static void gc_image(struct agent_fixture *x, const char *name, int hours_old)
{
  cleanup_free char *rel = ferry_asprintf("%s/manifest.json", name);
  tu_write(x->store, rel, "{}");
  cleanup_free char *dir = ferry_path_join(x->store, name);
  struct timeval tv[2] = { { time(NULL) - hours_old * 3600, 0 }, { time(NULL) - hours_old * 3600, 0 } };
  assert_int_equal(utimes(dir, tv), 0);
}

static int in_store(struct agent_fixture *x, const char *name)
{
  cleanup_free char *dir = ferry_path_join(x->store, name);
  return ferry_path_exists(dir);
}

#define RESTORED_TRUE "\"conditions\":[{\"type\":\"Restored\",\"status\":\"True\"}]"

/* The collector with the last 1 image per pod kept, a 24 h TTL and a 1 h
 * orphan grace: what goes and what stays, and why. */
static void test_collector_keeps_what_a_rollback_needs(void **state)
{
  struct agent_fixture *x = *state;
  open_store(x, 0);
  x->d.retention = (struct ferry_retention){ 1, 24 * 3600 * 1000LL };
  x->d.orphan_grace_ms = 3600 * 1000LL;
  cleanup_free char *old = gc_pm(x, "old", "web", "\"phase\":\"Succeeded\"," RESTORED_TRUE);
  cleanup_free char *new = gc_pm(x, "new", "web", "\"phase\":\"Succeeded\"," RESTORED_TRUE);
  cleanup_free char *unconfirmed = gc_pm(x, "unconfirmed", "db", "\"phase\":\"Succeeded\"");
  cleanup_free char *back = gc_pm(x, "back", "api", "\"phase\":\"RolledBack\"");
  cleanup_free char *backold = gc_pm(x, "backold", "api", "\"phase\":\"RolledBack\"");
  cleanup_free char *rolling = gc_pm(x, "rolling", "cache", "\"phase\":\"RollingBack\"");
  cleanup_free char *pages =
      gc_pm(x, "pages", "big", "\"phase\":\"Succeeded\",\"strategy\":\"postCopy\"," RESTORED_TRUE);
  cleanup_free char *policy =
      gc_pm(x, "policy", "q", "\"phase\":\"Succeeded\",\"imageRetention\":{\"count\":0}," RESTORED_TRUE);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_informers_relist(x->d.inf, &err), 0);
  gc_image(x, old, 3);
  gc_image(x, new, 2);
  gc_image(x, unconfirmed, 30);
  gc_image(x, back, 2);
  gc_image(x, backold, 25);
  gc_image(x, rolling, 500);
  gc_image(x, pages, 1);
  gc_image(x, policy, 0);
  gc_image(x, "by-hand-young", 0);
  gc_image(x, "by-hand-old", 2);
  tu_write(x->store, ".default.x.y.tmp-123/core.img", "partial"); /* a checkpoint still writing */
  gc_pass(&x->d);
  assert_false(in_store(x, old));        /* the pod's older succeeded image */
  assert_true(in_store(x, new));         /* its last one */
  assert_true(in_store(x, unconfirmed)); /* no Restored=True yet: a rollback may need it */
  assert_true(in_store(x, back));        /* rolled back: kept until the TTL */
  assert_false(in_store(x, backold));    /* ... past it */
  assert_true(in_store(x, rolling));     /* rolling back: never */
  assert_true(in_store(x, pages));       /* post-copy pages still to arrive */
  assert_false(in_store(x, policy));     /* its policy keeps none */
  assert_true(in_store(x, "by-hand-young"));
  assert_false(in_store(x, "by-hand-old"));
  assert_true(in_store(x, ".default.x.y.tmp-123"));
  size_t n = fake_api_nevents(x->f), collected = 0;
  for (size_t i = 0; i < n; i++)
    collected += strstr(fake_api_event(x->f, i), "ImageCollected: ") != NULL;
  assert_int_equal(collected, 3); /* old, backold, policy: the orphan has no migration to tell */
}

/* Records whose pod left this node and whose migration ended go; the others stay. */
static void test_collector_removes_records_of_gone_pods(void **state)
{
  struct agent_fixture *x = *state;
  open_store(x, 0);
  const char *here = pod(x, "here", NODE, NULL);
  cleanup_free char *here_uid = ferry_strdup(here);
  free(gc_pm(x, "done", "gone", "\"phase\":\"Succeeded\"," RESTORED_TRUE));
  free(gc_pm(x, "running", "moving", "\"phase\":\"Transferring\""));
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_informers_relist(x->d.inf, &err), 0);
  struct ferry_restored r = { .pod_migration = "default/done", .container_id = "c1" };
  assert_int_equal(ferry_restored_write(x->adm, "default", "gone", "app", &r, &err), 0);
  assert_int_equal(ferry_restored_write(x->adm, "default", "here", "app", &r, &err), 0);
  struct ferry_admission a = { .pod_migration = "default/running", .store = "dir:///s", .image = "img" };
  assert_int_equal(ferry_admission_write(x->adm, "default", "moving", "app", &a, &err), 0);
  a.pod_migration = "default/vanished";
  assert_int_equal(ferry_admission_write(x->adm, "default", "stale", "app", &a, &err), 0);
  assert_int_equal(ferry_restore_failed_write(x->adm, "default", "gone", "app", "default/done", "boom", &err), 0);
  assert_int_equal(ferry_departed_write(x->adm, "uid-gone", "app", "default/done", &err), 0);
  assert_int_equal(ferry_departed_write(x->adm, "uid-moving", "app", "default/running", &err), 0);
  assert_int_equal(ferry_departed_write(x->adm, here_uid, "app", "default/done", &err), 0);
  gc_pass(&x->d);
  struct ferry_restored got = { 0 };
  assert_int_equal(ferry_restored_read(x->adm, "default", "gone", "app", &got, &err), -1);
  ferry_error_clear(&err);
  assert_int_equal(ferry_restored_read(x->adm, "default", "here", "app", &got, &err), 0); /* its pod runs here */
  ferry_restored_free(&got);
  struct ferry_admission ga = { 0 };
  assert_int_equal(ferry_admission_read(x->adm, "default", "moving", "app", &ga, &err), 0); /* in progress */
  ferry_admission_free(&ga);
  assert_int_equal(ferry_admission_read(x->adm, "default", "stale", "app", &ga, &err), -1);
  ferry_error_clear(&err);
  cleanup_free char *pmref = NULL, *message = NULL;
  assert_int_equal(ferry_restore_failed_read(x->adm, "default", "gone", "app", &pmref, &message, &err), 0);
  cleanup_free char *d1 = NULL, *d2 = NULL, *d3 = NULL;
  assert_int_equal(ferry_departed_read(x->adm, "uid-gone", "app", &d1, &err), 0);
  assert_int_equal(ferry_departed_read(x->adm, "uid-moving", "app", &d2, &err), 1);
  assert_int_equal(ferry_departed_read(x->adm, here_uid, "app", &d3, &err), 1);
}

/* A private copy's record goes once the ferry-runc that wrote it ended (it was
 * killed before it could remove it), whatever its pod; a running writer's stays. */
static void test_collector_removes_copy_records_of_ended_writers(void **state)
{
  struct agent_fixture *x = *state;
  open_store(x, 0);
  pod(x, "dead", NODE, NULL);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_informers_relist(x->d.inf, &err), 0);
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0)
    _exit(0);
  int st;
  assert_int_equal(waitpid(child, &st, 0), child);
  struct ferry_restore_copy c = {
    .pod_migration = "default/m", .dir = "/x/image-1", .bytes = 1, .pid = child, .start = 1
  };
  assert_int_equal(ferry_restore_copy_write(x->adm, "default", "dead", "app", &c, &err), 0);
  c.pid = getpid();
  c.start = ferry_pidrec_start_time(getpid(), NULL);
  assert_int_equal(ferry_restore_copy_write(x->adm, "default", "live", "app", &c, &err), 0);
  gc_pass(&x->d);
  struct ferry_restore_copy got = { 0 };
  assert_int_equal(ferry_restore_copy_read(x->adm, "default", "dead", "app", &got, &err), -1);
  ferry_error_clear(&err);
  assert_int_equal(ferry_restore_copy_read(x->adm, "default", "live", "app", &got, &err), 0);
  ferry_restore_copy_free(&got);
}

/* Checkpointing is written before the step starts, and the container recorded as departed before the freeze. */
static void test_scheduled_writes_checkpointing_then_starts_the_step(void **state)
{
  struct agent_fixture *x = *state;
  const char *uid = pod(x, "web", NODE, NULL);
  json_object *pm = pm_with(
      x, "", "\"phase\":\"Scheduled\",\"containers\":[{\"name\":\"app\",\"containerID\":\"containerd://abc\"}]");
  int64_t requeue;
  assert_int_equal(run(x, 0, pm, &requeue), 0);
  assert_int_equal(requeue, REQUEUE_CHILD_POLL_MS);
  assert_int_equal(fake_api_nwrites(x->f), 1);
  assert_phase(status_write(x, 0), "Checkpointing", "Checkpointing");
  assert_string_equal(ferry_kube_str(status_write(x, 0), "status.message"), "checkpointing container abc on " NODE);
  cleanup_free char *ref = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_departed_read(x->adm, uid, "app", &ref, &err), 1);
  assert_string_equal(ref, "default/pm");
  assert_true(op_file_exists(x, pm, "checkpoint", "pid"));
  assert_int_equal(x->d.ops, 1);
  assert_true(children_running(&x->d));
  while (waitpid(-1, NULL, 0) > 0)
    ;
}

static void test_checkpoint_answer_publishes_the_image(void **state)
{
  struct agent_fixture *x = *state;
  json_object *pm = pm_with(
      x, "", "\"phase\":\"Checkpointing\",\"containers\":[{\"name\":\"app\",\"containerID\":\"containerd://abc\"}]");
  op_answer(x, pm, "checkpoint",
            "{\"exitCode\":0,\"image\":\"/elsewhere/default.pm.abcd\",\"bytes\":4096,\"frozenAtMs\":1700000000123,"
            "\"timings\":{\"dumpMs\":12},\"bundle\":\"/run/b\"}");
  int64_t requeue;
  assert_int_equal(run(x, 0, pm, &requeue), 0);
  json_object *w = status_write(x, 0);
  assert_phase(w, "Transferring", "Checkpointed");
  char image[512];
  snprintf(image, sizeof image, "%s/default.pm.abcd", x->store);
  assert_string_equal(ferry_kube_str(w, "status.image"), image);
  assert_int_equal(json_object_get_int64(ferry_kube_obj(w, "status.bytes")), 4096);
  assert_string_equal(ferry_kube_str(w, "status.frozenAt"), "2023-11-14T22:13:20.123Z");
  assert_int_equal(json_object_get_int64(ferry_kube_obj(w, "status.timings.dump")), 12);
  json_object *c0 = json_object_array_get_idx(ferry_kube_obj(w, "status.containers"), 0);
  assert_string_equal(ferry_kube_str(c0, "bundle"), "/run/b");
  assert_string_equal(ferry_kube_str(c0, "runtimeRoot"), x->runc_root);
  assert_int_equal(fake_api_nevents(x->f), 1);
  assert_string_equal(fake_api_event(x->f, 0), "Checkpointed: " NODE ": frozen and saved, 4096 bytes (dump 12 ms)");
  assert_false(op_file_exists(x, pm, "checkpoint", "pid"));
}

static void test_checkpoint_that_changed_nothing_fails(void **state)
{
  struct agent_fixture *x = *state;
  json_object *pm = pm_with(x, "", "\"phase\":\"Checkpointing\"");
  op_answer(x, pm, "checkpoint", "{\"exitCode\":1,\"message\":\"no space\"}");
  int64_t requeue;
  assert_int_equal(run(x, 0, pm, &requeue), 0);
  assert_phase(status_write(x, 0), "Failed", "CheckpointFailed");
  assert_string_equal(fake_api_event(x->f, 0), "CheckpointFailed: " NODE ": no space (the pod keeps running there)");
}

static void test_checkpoint_without_answer_rolls_back(void **state)
{
  struct agent_fixture *x = *state;
  json_object *pm = pm_with(x, "", "\"phase\":\"Checkpointing\"");
  op_answer(x, pm, "checkpoint", NULL);
  int64_t requeue;
  assert_int_equal(run(x, 0, pm, &requeue), 0);
  json_object *w = status_write(x, 0);
  assert_phase(w, "RollingBack", "CheckpointInterrupted");
  assert_string_equal(ferry_kube_str(w, "status.rollbackFrom"), "Checkpointing");
  assert_string_equal(fake_api_event(x->f, 0),
                      "CheckpointInterrupted: the checkpoint on " NODE " ended without an answer; rolling back");
}

static void test_rollback_of_a_container_that_never_stopped(void **state)
{
  struct agent_fixture *x = *state;
  fake_runc(x, RUNC_RUNNING);
  json_object *pm = pm_with(x, "",
                            "\"phase\":\"RollingBack\",\"rollbackFrom\":\"Checkpointing\","
                            "\"containers\":[{\"name\":\"app\",\"containerID\":\"containerd://abc\"}]");
  int64_t requeue;
  assert_int_equal(run(x, 0, pm, &requeue), 0);
  json_object *w = status_write(x, 0);
  assert_phase(w, "RolledBack", "RolledBack");
  assert_string_equal(ferry_kube_str(w, "status.message"), "running on " NODE " (it was never stopped)");
  assert_string_equal(fake_api_event(x->f, 0), "RolledBack: the container never stopped on " NODE "; it runs there");
}

static void test_rollback_without_container_or_image_loses_the_workload(void **state)
{
  struct agent_fixture *x = *state;
  json_object *pm = pm_with(x, "",
                            "\"phase\":\"RollingBack\",\"rollbackFrom\":\"Checkpointing\","
                            "\"containers\":[{\"name\":\"app\",\"containerID\":\"runc://abc\"}]");
  int64_t requeue;
  assert_int_equal(run(x, 0, pm, &requeue), 0);
  assert_phase(status_write(x, 0), "Failed", "WorkloadLost");
  assert_string_equal(ferry_kube_str(status_write(x, 0), "status.message"),
                      "the container is gone from " NODE " and no image was published");
}

/* ---------- a rollback through the container runtime (containerd://) ---------- */

/* The source pod default/web on this node, its container as the kubelet reports it; returns its uid. */
static const char *source_pod(struct agent_fixture *x, const char *annotations, const char *container_status)
{
  char json[2048];
  snprintf(json, sizeof json,
           "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"namespace\":\"default\","
           "\"annotations\":{%s}},\"spec\":{\"nodeName\":\"" NODE "\"},\"status\":{\"containerStatuses\":[%s]}}",
           annotations, container_status);
  json_object *stored = fake_api_put(x->f, &FERRY_KUBE_PODS, json);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_informers_relist(x->d.inf, &err), 0);
  return ferry_kube_str(stored, "metadata.uid");
}

static json_object *runtime_rollback_pm(struct agent_fixture *x, const char *pod_uid)
{
  char status[1024];
  snprintf(status, sizeof status,
           "\"phase\":\"RollingBack\",\"rollbackFrom\":\"Restoring\",\"image\":\"default.pm.img\","
           "\"sourcePodUID\":\"%s\",\"conditions\":[{\"type\":\"TargetReleased\",\"status\":\"True\"}],"
           "\"containers\":[{\"name\":\"app\",\"containerID\":\"containerd://abc\"}]",
           pod_uid);
  return pm_with(x, "", status);
}

static const char *EXITED = "{\"name\":\"app\",\"containerID\":\"containerd://abc\",\"state\":{\"terminated\":{}}}";

static void test_runtime_rollback_annotates_then_admits_and_lets_the_kubelet_restart(void **state)
{
  struct agent_fixture *x = *state;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  cleanup_free char *uid = ferry_strdup(source_pod(x, "", EXITED));
  assert_int_equal(ferry_departed_write(x->adm, uid, "app", "default/pm", &err), 0);
  json_object *pm = runtime_rollback_pm(x, uid);
  int64_t requeue;
  /* first the pod asks for the restore: the kubelet passes it to the runtime */
  assert_int_equal(run(x, 0, pm, &requeue), 0);
  assert_int_equal(requeue, REQUEUE_RUNTIME_ROLLBACK_MS);
  json_object *w = fake_api_write(x->f, "PATCH", "/namespaces/default/pods/web", 0);
  assert_non_null(w);
  assert_string_equal(
      json_object_get_string(ferry_kube_key(ferry_kube_obj(w, "metadata.annotations"), "ferry.dev/restore-from")),
      "default/pm");
  assert_null(status_write(x, 0));
  /* then (the patch applied: the informer sees it) it is admitted here and the departed record goes */
  assert_int_equal(ferry_informers_relist(x->d.inf, &err), 0);
  pm = ferry_informer_get(x->d.pms, "default", "pm");
  assert_int_equal(run(x, 0, pm, &requeue), 0);
  struct ferry_admission a;
  assert_int_equal(ferry_admission_read(x->adm, "default", "web", "app", &a, &err), 0);
  assert_string_equal(a.pod_migration, "default/pm");
  assert_string_equal(a.image, "default.pm.img");
  ferry_admission_free(&a);
  cleanup_free char *departed_pm = NULL;
  assert_int_equal(ferry_departed_read(x->adm, uid, "app", &departed_pm, &err), 0);
  assert_null(status_write(x, 0));
}

static void test_runtime_rollback_restored_and_running_is_rolled_back(void **state)
{
  struct agent_fixture *x = *state;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  struct ferry_restored done = { "default/pm", "def", 1, 0, 0, 0, 0 };
  assert_int_equal(ferry_restored_write(x->adm, "default", "web", "app", &done, &err), 0);
  /* restored, the kubelet has not seen it run yet */
  const char *uid = source_pod(x, "\"ferry.dev/restore-from\":\"default/pm\"", EXITED);
  int64_t requeue;
  json_object *pm = runtime_rollback_pm(x, uid);
  assert_int_equal(run(x, 0, pm, &requeue), 0);
  assert_null(status_write(x, 0));
  struct ferry_admission a; /* not admitted again: the restore happened */
  assert_int_equal(ferry_admission_read(x->adm, "default", "web", "app", &a, &err), -1);
  ferry_error_clear(&err);
  json_object *stored = fake_api_obj(x->f, &FERRY_KUBE_PODS, "default", "web");
  cleanup_json json_object *running =
      json_tokener_parse("[{\"name\":\"app\",\"containerID\":\"containerd://def\",\"state\":{\"running\":{}}}]");
  json_object_object_add(ferry_kube_obj(stored, "status"), "containerStatuses", json_object_get(running));
  assert_int_equal(ferry_informers_relist(x->d.inf, &err), 0);
  assert_int_equal(run(x, 0, ferry_informer_get(x->d.pms, "default", "pm"), &requeue), 0);
  assert_phase(status_write(x, 0), "RolledBack", "RolledBack");
  assert_string_equal(fake_api_event(x->f, 0),
                      "RolledBack: restored on " NODE " by its container runtime, into its pod");
}

static void test_runtime_rollback_failed_restore_loses_the_workload(void **state)
{
  struct agent_fixture *x = *state;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_restore_failed_write(x->adm, "default", "web", "app", "default/other", "not ours", &err), 0);
  const char *uid = source_pod(x, "\"ferry.dev/restore-from\":\"default/pm\"", EXITED);
  int64_t requeue;
  json_object *pm = runtime_rollback_pm(x, uid);
  assert_int_equal(run(x, 0, pm, &requeue), 0);
  assert_null(status_write(x, 0)); /* another migration's failure is not this one's */
  assert_int_equal(ferry_restore_failed_write(x->adm, "default", "web", "app", "default/pm", "criu: no", &err), 0);
  assert_int_equal(run(x, 0, pm, &requeue), 0);
  assert_phase(status_write(x, 0), "Failed", "WorkloadLost");
  assert_string_equal(ferry_kube_str(status_write(x, 0), "status.message"), "rollback on " NODE " failed: criu: no");
}

static void test_runtime_rollback_without_its_pod_loses_the_workload(void **state)
{
  struct agent_fixture *x = *state;
  source_pod(x, "", EXITED);
  int64_t requeue;
  assert_int_equal(run(x, 0, runtime_rollback_pm(x, "another-uid"), &requeue), 0);
  assert_phase(status_write(x, 0), "Failed", "WorkloadLost");
  assert_string_equal(ferry_kube_str(status_write(x, 0), "status.message"),
                      "rollback on " NODE " failed: the source pod is gone: there is no pod to restore into");
}

static void test_rollback_from_restoring_waits_for_the_target(void **state)
{
  struct agent_fixture *x = *state;
  json_object *pm = pm_with(x, "", "\"phase\":\"RollingBack\",\"rollbackFrom\":\"Restoring\"");
  int64_t requeue;
  assert_int_equal(run(x, 0, pm, &requeue), 0);
  assert_int_equal(fake_api_nwrites(x->f), 0);
  assert_int_equal(requeue, REQUEUE_TARGET_RELEASE_MS);
}

/* Post-copy: the checkpoint step died with its agent after the target had
 * every page: the source copy is stale and stopped, the source released. */
static void test_postcopy_step_died_after_every_page_stops_the_source(void **state)
{
  struct agent_fixture *x = *state;
  fake_runc(x, RUNC_RUNNING);
  json_object *pm = pm_with(x, "",
                            "\"phase\":\"Restoring\",\"strategy\":\"postCopy\",\"conditions\":[{\"type\":"
                            "\"MemoryTransferred\",\"status\":\"True\"}],"
                            "\"containers\":[{\"name\":\"app\",\"containerID\":\"containerd://abc\"}]");
  op_answer(x, pm, "checkpoint", NULL);
  int64_t requeue;
  assert_int_equal(run(x, 0, pm, &requeue), 0);
  json_object *w = status_write(x, 0);
  assert_non_null(w);
  assert_null(ferry_kube_str(w, "status.phase")); /* no rollback */
  json_object *c = condition(w, "SourceReleased");
  assert_non_null(c);
  assert_string_equal(ferry_kube_str(c, "status"), "True");
  assert_false(op_file_exists(x, pm, "checkpoint", "pid"));
}

/* ... and before every page arrived: the migration rolls back. */
static void test_postcopy_step_died_before_every_page_rolls_back(void **state)
{
  struct agent_fixture *x = *state;
  json_object *pm = pm_with(x, "",
                            "\"phase\":\"Restoring\",\"strategy\":\"postCopy\","
                            "\"containers\":[{\"name\":\"app\",\"containerID\":\"containerd://abc\"}]");
  op_answer(x, pm, "checkpoint", NULL);
  int64_t requeue;
  assert_int_equal(run(x, 0, pm, &requeue), 0);
  assert_phase(status_write(x, 0), "RollingBack", "PagesFailed");
}

/* ---------- target ---------- */

#define DIGEST "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

static char *transferring(const char *image_dir, const char *extra)
{
  char status[1024];
  snprintf(status, sizeof status,
           "\"phase\":\"Transferring\",\"image\":\"%s/default.pm.abcd\",\"targetPod\":\"web-ferry\","
           "\"targetPodUID\":\"uid-web-ferry\",\"imageDigest\":\"" DIGEST "\","
           "\"sourceNode\":\"node-b\",\"containers\":[{\"name\":\"app\"}]%s",
           image_dir, extra);
  return ferry_strdup(status);
}

static void test_transferring_admits_the_restore_and_binds_the_pod(void **state)
{
  struct agent_fixture *x = *state;
  pod(x, "web-ferry", NULL, NULL);
  cleanup_free char *st = transferring(x->store, "");
  json_object *pm = pm_with(x, "", st);
  int64_t requeue;
  assert_int_equal(run(x, 1, pm, &requeue), 0);
  assert_int_equal(requeue, REQUEUE_ADMIT_POLL_MS);
  assert_int_equal(fake_api_nwrites(x->f), 2);
  assert_phase(status_write(x, 0), "Restoring", "Restoring");
  assert_string_equal(ferry_kube_str(status_write(x, 0), "status.message"),
                      "pod web-ferry bound to " NODE ": verifying and restoring");
  json_object *b = fake_api_write(x->f, "POST", "/namespaces/default/pods/web-ferry/binding", 0);
  assert_non_null(b);
  assert_string_equal(ferry_kube_str(b, "target.name"), NODE);
  struct ferry_admission a;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_admission_read(x->adm, "default", "web-ferry", "app", &a, &err), 0);
  assert_string_equal(a.pod_migration, "default/pm");
  assert_string_equal(a.image, "default.pm.abcd");
  assert_string_equal(a.pod_uid, "uid-web-ferry");
  assert_string_equal(a.digest, DIGEST);
  ferry_admission_free(&a);
}

/* A status without the target pod's UID or the image's digest admits nothing: it rolls back. */
static void test_transferring_without_uid_or_digest_admits_nothing(void **state)
{
  struct agent_fixture *x = *state;
  pod(x, "web-ferry", NULL, NULL);
  cleanup_free char *st = transferring(x->store, "");
  json_object *pm = pm_with(x, "", st);
  json_object_object_del(ferry_kube_obj(pm, "status"), "imageDigest");
  int64_t requeue;
  assert_int_equal(run(x, 1, pm, &requeue), 0);
  assert_phase(status_write(x, 0), "RollingBack", "ImageDigestUnknown");
  struct ferry_admission a;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_admission_read(x->adm, "default", "web-ferry", "app", &a, &err), -1);
}

static void test_transferring_postcopy_from_another_store_rolls_back(void **state)
{
  struct agent_fixture *x = *state;
  cleanup_free char *st = transferring("/elsewhere", ",\"strategy\":\"postCopy\"");
  json_object *pm = pm_with(x, "", st);
  int64_t requeue;
  assert_int_equal(run(x, 1, pm, &requeue), 0);
  json_object *w = status_write(x, 0);
  assert_phase(w, "RollingBack", "StoreMismatch");
  assert_string_equal(ferry_kube_str(w, "status.rollbackFrom"), "Transferring");
}

static void test_transferring_from_another_store_needs_an_address(void **state)
{
  struct agent_fixture *x = *state;
  cleanup_free char *st = transferring("/elsewhere", "");
  json_object *pm = pm_with(x, "", st);
  int64_t requeue;
  assert_int_equal(run(x, 1, pm, &requeue), 0);
  json_object *w = status_write(x, 0);
  assert_phase(w, "RollingBack", "NoMigrationAddress");
  assert_string_equal(ferry_kube_str(w, "status.rollbackFrom"), "Transferring");
}

static const char *RESTORING =
    "\"phase\":\"Restoring\",\"targetPod\":\"web-ferry\",\"frozenAt\":\"2026-12-01T00:00:00.000Z\","
    "\"sourceNode\":\"node-b\",\"containers\":[{\"name\":\"app\"}]";

static void test_restoring_pod_running_is_restored(void **state)
{
  struct agent_fixture *x = *state;
  pod(x, "web-ferry", NODE,
      "\"podIP\":\"10.0.0.9\",\"containerStatuses\":[{\"name\":\"app\",\"containerID\":\"containerd://new\","
      "\"state\":{\"running\":{}}}]");
  json_object *pm = pm_with(x, "", RESTORING);
  int64_t requeue;
  assert_int_equal(run(x, 1, pm, &requeue), 0);
  assert_int_equal(requeue, REQUEUE_RESTORE_POLL_MS);
  json_object *w = status_write(x, 0);
  assert_null(ferry_kube_str(w, "status.phase"));
  assert_string_equal(ferry_kube_str(w, "status.reason"), "Restored");
  assert_string_equal(ferry_kube_str(w, "status.targetPodIP"), "10.0.0.9");
  assert_string_equal(ferry_kube_str(condition(w, "Restored"), "status"), "True");
  json_object *c0 = json_object_array_get_idx(ferry_kube_obj(w, "status.containers"), 0);
  assert_string_equal(ferry_kube_str(c0, "restoredID"), "new");
  assert_string_equal(fake_api_event(x->f, 0), "Restored: running on " NODE " as pod web-ferry (10.0.0.9)");
}

static void test_restoring_pod_in_crashloop_records_the_failure(void **state)
{
  struct agent_fixture *x = *state;
  pod(x, "web-ferry", NODE,
      "\"containerStatuses\":[{\"name\":\"app\",\"state\":{\"waiting\":{\"reason\":\"CrashLoopBackOff\","
      "\"message\":\"back-off restarting\"}}}]");
  json_object *pm = pm_with(x, "", RESTORING);
  int64_t requeue;
  assert_int_equal(run(x, 1, pm, &requeue), 0);
  json_object *c = condition(status_write(x, 0), "Restored");
  assert_string_equal(ferry_kube_str(c, "status"), "False");
  assert_string_equal(ferry_kube_str(c, "reason"), "RestoreFailed");
  assert_string_equal(ferry_kube_str(c, "message"), "back-off restarting");
  assert_string_equal(fake_api_event(x->f, 0), "RestoreFailed: " NODE ": back-off restarting; rolling back to node-b");
}

static void test_failed_restore_once_released_rolls_back(void **state)
{
  struct agent_fixture *x = *state;
  char status[1024];
  snprintf(status, sizeof status,
           "%s,\"targetPodUID\":\"uid-gone\",\"conditions\":[{\"type\":\"Restored\",\"status\":\"False\","
           "\"reason\":\"RestoreFailed\",\"message\":\"it crashed\"}]",
           RESTORING);
  json_object *pm = pm_with(x, "", status);
  int64_t requeue;
  assert_int_equal(run(x, 1, pm, &requeue), 0);
  json_object *w = status_write(x, 0);
  assert_phase(w, "RollingBack", "RestoreFailed");
  assert_string_equal(ferry_kube_str(w, "status.message"), "restore on " NODE " failed: it crashed");
  assert_string_equal(ferry_kube_str(w, "status.rollbackFrom"), "Restoring");
  assert_string_equal(ferry_kube_str(condition(w, "TargetReleased"), "status"), "True");
}

static void test_rolling_back_deletes_the_target_pod_then_releases(void **state)
{
  struct agent_fixture *x = *state;
  const char *uid = pod(x, "web-ferry", NODE, NULL);
  char status[512];
  snprintf(status, sizeof status,
           "\"phase\":\"RollingBack\",\"rollbackFrom\":\"Restoring\",\"targetPod\":\"web-ferry\","
           "\"targetPodUID\":\"%s\",\"containers\":[{\"name\":\"app\"}]",
           uid);
  json_object *pm = pm_with(x, "", status);
  int64_t requeue;
  assert_int_equal(run(x, 1, pm, &requeue), 0);
  assert_int_equal(requeue, REQUEUE_ROLLBACK_RELEASE_MS);
  assert_int_equal(fake_api_nwrites(x->f), 1);
  json_object *del = fake_api_write(x->f, "DELETE", "/namespaces/default/pods/web-ferry", 0);
  assert_non_null(del);
  assert_int_equal(json_object_get_int(ferry_kube_obj(del, "gracePeriodSeconds")), 1);
  assert_null(fake_api_obj(x->f, &FERRY_KUBE_PODS, "default", "web-ferry"));

  assert_int_equal(run(x, 1, pm, &requeue), 0); /* gone: released */
  json_object *w = status_write(x, 0);
  assert_non_null(w);
  json_object *c = condition(w, "TargetReleased");
  assert_string_equal(ferry_kube_str(c, "status"), "True");
  assert_string_equal(ferry_kube_str(c, "reason"), "RollingBack");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_postcopy_step_died_after_every_page_stops_the_source, setup, teardown),
    cmocka_unit_test_setup_teardown(test_postcopy_step_died_before_every_page_rolls_back, setup, teardown),
    cmocka_unit_test_setup_teardown(test_scheduled_without_container_id_fails, setup, teardown),
    cmocka_unit_test_setup_teardown(test_scheduled_on_a_full_store_is_refused_before_the_freeze, setup, teardown),
    cmocka_unit_test_setup_teardown(test_collector_keeps_what_a_rollback_needs, setup, teardown),
    cmocka_unit_test_setup_teardown(test_collector_removes_records_of_gone_pods, setup, teardown),
    cmocka_unit_test_setup_teardown(test_collector_removes_copy_records_of_ended_writers, setup, teardown),
    cmocka_unit_test_setup_teardown(test_scheduled_cancelled_does_nothing, setup, teardown),
    cmocka_unit_test_setup_teardown(test_scheduled_writes_checkpointing_then_starts_the_step, setup, teardown),
    cmocka_unit_test_setup_teardown(test_checkpoint_answer_publishes_the_image, setup, teardown),
    cmocka_unit_test_setup_teardown(test_checkpoint_that_changed_nothing_fails, setup, teardown),
    cmocka_unit_test_setup_teardown(test_checkpoint_without_answer_rolls_back, setup, teardown),
    cmocka_unit_test_setup_teardown(test_rollback_of_a_container_that_never_stopped, setup, teardown),
    cmocka_unit_test_setup_teardown(test_rollback_without_container_or_image_loses_the_workload, setup, teardown),
    cmocka_unit_test_setup_teardown(test_rollback_from_restoring_waits_for_the_target, setup, teardown),
    cmocka_unit_test_setup_teardown(test_runtime_rollback_annotates_then_admits_and_lets_the_kubelet_restart, setup,
                                    teardown),
    cmocka_unit_test_setup_teardown(test_runtime_rollback_restored_and_running_is_rolled_back, setup, teardown),
    cmocka_unit_test_setup_teardown(test_runtime_rollback_failed_restore_loses_the_workload, setup, teardown),
    cmocka_unit_test_setup_teardown(test_runtime_rollback_without_its_pod_loses_the_workload, setup, teardown),
    cmocka_unit_test_setup_teardown(test_transferring_admits_the_restore_and_binds_the_pod, setup, teardown),
    cmocka_unit_test_setup_teardown(test_transferring_without_uid_or_digest_admits_nothing, setup, teardown),
    cmocka_unit_test_setup_teardown(test_transferring_postcopy_from_another_store_rolls_back, setup, teardown),
    cmocka_unit_test_setup_teardown(test_transferring_from_another_store_needs_an_address, setup, teardown),
    cmocka_unit_test_setup_teardown(test_restoring_pod_running_is_restored, setup, teardown),
    cmocka_unit_test_setup_teardown(test_restoring_pod_in_crashloop_records_the_failure, setup, teardown),
    cmocka_unit_test_setup_teardown(test_failed_restore_once_released_rolls_back, setup, teardown),
    cmocka_unit_test_setup_teardown(test_rolling_back_deletes_the_target_pod_then_releases, setup, teardown),
    cmocka_unit_test_setup_teardown(test_succeeded_move_is_kept_for_the_threshold, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
