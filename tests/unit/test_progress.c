/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's live progress (agent/daemon/progress.c) against the fake API
 * server: which stage a pass publishes for what the steps left on disk (a
 * partial image in the store, ferry-runc's private copy named by its record
 * next to the admission), what it leaves alone, and the last sample the status
 * write ending a stage carries (target.c: Transferred, Restored). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/admission.h"
#include "base/cleanup.h"
#include "base/pidrec.h"
#include "daemon/daemon.h"
#include "agent_fixture.h"
#include "fake_api.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "testutil.h"

#define NODE "node-a"

static int setup(void **state)
{
  struct agent_fixture *x = agent_fixture_new(NODE);
  agent_fixture_open_store(x);
  *state = x;
  return 0;
}

static int teardown(void **state)
{
  agent_fixture_free(*state);
  return 0;
}

/* Stores default/pm with this status (JSON members), anew; returns it as the informer has it. */
static json_object *pm_with(struct agent_fixture *x, const char *status)
{
  if (fake_api_obj(x->f, &FERRY_KUBE_PODMIGRATIONS, "default", "pm")) {
    struct ferry_kube_delete_opts o = FERRY_KUBE_DELETE_OPTS_INIT;
    struct ferry_kube_status st = { 0 };
    cleanup_error ferry_error e = FERRY_ERROR_INIT;
    assert_int_equal(ferry_kube_delete(x->d.kube, &FERRY_KUBE_PODMIGRATIONS, "default", "pm", &o, &st, &e), 0);
  }
  char json[4096];
  snprintf(json, sizeof json,
           "{\"apiVersion\":\"ferry.dev/v1alpha1\",\"kind\":\"PodMigration\",\"metadata\":{\"name\":\"pm\","
           "\"namespace\":\"default\"},\"spec\":{\"pod\":\"web\"},\"status\":{%s}}",
           status);
  fake_api_put(x->f, &FERRY_KUBE_PODMIGRATIONS, json);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_informers_relist(x->d.inf, &err), 0);
  json_object *pm = ferry_informer_get(x->d.pms, "default", "pm");
  assert_non_null(pm);
  return pm;
}

/* A file of n bytes at dir/rel. */
static void file_of(const char *dir, const char *rel, size_t n)
{
  char *text = malloc(n + 1);
  memset(text, 'x', n);
  text[n] = '\0';
  tu_write(dir, rel, text);
  free(text);
}

/* One progress pass; the status writes it made. */
static size_t pass(struct agent_fixture *x)
{
  fake_api_clear_log(x->f);
  progress_pass(&x->d);
  return fake_api_nwrites(x->f);
}

static json_object *status_write(struct agent_fixture *x, size_t n)
{
  return fake_api_write(x->f, "PATCH", "/namespaces/default/podmigrations/pm/status", n);
}

static void assert_progress(json_object *w, const char *stage, int64_t done, int64_t total)
{
  assert_non_null(w);
  assert_string_equal(ferry_kube_str(w, "status.progress.stage") ?: "(none)", stage);
  assert_int_equal(json_object_get_int64(ferry_kube_obj(w, "status.progress.bytesDone")), done);
  assert_int_equal(json_object_get_int64(ferry_kube_obj(w, "status.progress.totalBytes")), total);
  assert_non_null(ferry_kube_str(w, "status.progress.updateTime"));
}

static void test_checkpointing_source_publishes_the_partial_image(void **state)
{
  struct agent_fixture *x = *state;
  json_object *pm = pm_with(x, "\"phase\":\"Checkpointing\",\"sourceNode\":\"" NODE "\",\"memoryBytes\":8192");
  cleanup_free char *image = image_name(pm);
  assert_int_equal(pass(x), 0); /* nothing written yet: nothing to say */
  cleanup_free char *rel = ferry_asprintf(".%s.tmp-42/criu/pages-1.img", image);
  file_of(x->store, rel, 3000);
  assert_int_equal(pass(x), 1);
  assert_progress(status_write(x, 0), "Checkpointing", 3000, 8192);
  /* another node's checkpoint: its partial image (were it in a shared store) says nothing here */
  pm = pm_with(x, "\"phase\":\"Checkpointing\",\"sourceNode\":\"node-b\",\"targetNode\":\"" NODE "\"");
  cleanup_free char *image2 = image_name(pm);
  cleanup_free char *rel2 = ferry_asprintf(".%s.tmp-43/criu/pages-1.img", image2);
  file_of(x->store, rel2, 3000);
  assert_int_equal(pass(x), 0);
}

static void test_transferring_target_publishes_the_received_part(void **state)
{
  struct agent_fixture *x = *state;
  json_object *pm = pm_with(x, "\"phase\":\"Transferring\",\"sourceNode\":\"node-b\",\"targetNode\":\"" NODE "\","
                               "\"memoryBytes\":8192");
  cleanup_free char *image = image_name(pm);
  cleanup_free char *rel = ferry_asprintf(".%s.tmp-7/criu/pages-1.img", image);
  file_of(x->store, rel, 1000);
  assert_int_equal(pass(x), 1);
  assert_progress(status_write(x, 0), "Transferring", 1000, 8192);
  /* what the status holds already is not written again */
  pm = pm_with(x, "\"phase\":\"Transferring\",\"sourceNode\":\"node-b\",\"targetNode\":\"" NODE "\","
                  "\"memoryBytes\":8192,\"progress\":{\"stage\":\"Transferring\",\"bytesDone\":1000}");
  cleanup_free char *image2 = image_name(pm);
  cleanup_free char *rel2 = ferry_asprintf(".%s.tmp-8/criu/pages-1.img", image2);
  file_of(x->store, rel2, 1000);
  assert_int_equal(pass(x), 0);
  file_of(x->store, rel2, 1200);
  assert_int_equal(pass(x), 1);
  assert_progress(status_write(x, 0), "Transferring", 1200, 8192);
}

static const char *RESTORING = "\"phase\":\"Restoring\",\"sourceNode\":\"node-b\",\"targetNode\":\"" NODE "\","
                               "\"targetPod\":\"web-ferry\",\"memoryBytes\":8192,\"containers\":[{\"name\":\"app\"}]";

/* ferry-runc's record of its private copy (in copy, of total bytes) for pod_migration, by process pid/start. */
static void copy_record(struct agent_fixture *x, const char *pod_migration, const char *copy, int64_t total, pid_t pid,
                        unsigned long long start)
{
  struct ferry_restore_copy c = {
    .pod_migration = (char *)pod_migration, .dir = (char *)copy, .bytes = total, .pid = pid, .start = start
  };
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_restore_copy_write(x->adm, "default", "web-ferry", "app", &c, &err), 0);
}

static void test_restoring_target_publishes_the_private_copy(void **state)
{
  struct agent_fixture *x = *state;
  pm_with(x, RESTORING);
  assert_int_equal(pass(x), 0); /* no record: ferry-runc has not begun */
  cleanup_free char *copy = ferry_path_join(x->dir, "ferry-runc/_run_runc/image-c1");
  pid_t self = getpid();
  unsigned long long start = ferry_pidrec_start_time(self, NULL);
  copy_record(x, "default/pm", copy, 4000, self, start);
  assert_int_equal(pass(x), 0); /* recorded, the copy not begun */
  file_of(copy, "criu/pages-1.img", 1500);
  assert_int_equal(pass(x), 1);
  assert_progress(status_write(x, 0), "Verifying", 1500, 4000); /* of the copy's size, not the memory's */
  /* another migration's record, or one whose ferry-runc is gone (its PID another process's): nobody's */
  copy_record(x, "default/other", copy, 4000, self, start);
  assert_int_equal(pass(x), 0);
  copy_record(x, "default/pm", copy, 4000, self, start + 1);
  assert_int_equal(pass(x), 0);
  /* a relative directory is ferry-runc's working directory's */
  cleanup_free char *cwd = getcwd(NULL, 0);
  assert_int_equal(chdir(x->dir), 0);
  copy_record(x, "default/pm", "ferry-runc/_run_runc/image-c1", 4000, self, start);
  assert_int_equal(pass(x), 1);
  assert_progress(status_write(x, 0), "Verifying", 1500, 4000);
  assert_int_equal(chdir(cwd), 0);
  /* post-copy: the source's FetchingPages is the stage; the target says nothing */
  copy_record(x, "default/pm", copy, 4000, self, start);
  pm_with(x, "\"strategy\":\"postCopy\",\"phase\":\"Restoring\",\"sourceNode\":\"node-b\",\"targetNode\":\"" NODE
             "\",\"targetPod\":\"web-ferry\",\"containers\":[{\"name\":\"app\"}]");
  assert_int_equal(pass(x), 0);
}

/* The receive step's answer: the Transferred write carries the image received,
 * whole (Transferring's end, in the one write: the pod is frozen meanwhile). */
static void test_transferred_write_carries_the_whole_image(void **state)
{
  struct agent_fixture *x = *state;
  json_object *pm = pm_with(x, "\"phase\":\"Transferring\",\"image\":\"/elsewhere/default.pm.abcd\","
                               "\"targetPod\":\"web-ferry\",\"sourceNode\":\"node-b\",\"targetNode\":\"" NODE
                               "\",\"memoryBytes\":8192,\"containers\":[{\"name\":\"app\"}]");
  file_of(x->store, "default.pm.abcd/criu/pages-1.img", 5000);
  file_of(x->store, "default.pm.abcd/manifest.json", 100);
  char rel[256];
  snprintf(rel, sizeof rel, "ops/%s.receive.pid", ferry_kube_str(pm, "metadata.uid"));
  tu_write(x->state, rel, "999999999 1\n");
  snprintf(rel, sizeof rel, "ops/%s.receive.json", ferry_kube_str(pm, "metadata.uid"));
  tu_write(x->state, rel, "{\"exitCode\":0,\"timings\":{\"transferMs\":12}}");
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  int64_t requeue = 0;
  fake_api_clear_log(x->f);
  json_object_get(pm);
  assert_int_equal(target_step(&x->d, pm, &requeue, &err), 0);
  json_object_put(pm);
  json_object *w = status_write(x, 0);
  assert_string_equal(ferry_kube_str(w, "status.reason"), "Transferred");
  assert_progress(w, "Transferring", 5100, 8192);
}

/* The pod runs: Verifying whole (the copy's size from ferry-runc's restore
 * record) is written first, on its own, then Restored, conditional on what it
 * left; nothing when the record does not say it. */
static void test_restored_after_the_whole_copy(void **state)
{
  struct agent_fixture *x = *state;
  const char *pod = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-ferry\",\"namespace\":"
                    "\"default\"},\"spec\":{\"nodeName\":\"" NODE "\"},\"status\":{\"podIP\":\"10.0.0.9\","
                    "\"containerStatuses\":[{\"name\":\"app\",\"containerID\":\"containerd://new\","
                    "\"state\":{\"running\":{}}}]}}";
  fake_api_put(x->f, &FERRY_KUBE_PODS, pod);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  for (int recorded = 1; recorded >= 0; recorded--) {
    /* (not recorded: an older ferry-runc's record) */
    struct ferry_restored r = { .pod_migration = "default/pm",
                                .container_id = "new",
                                .copy_bytes = recorded ? 4000 : 0 };
    assert_int_equal(ferry_restored_write(x->adm, "default", "web-ferry", "app", &r, &err), 0);
    json_object *pm = pm_with(x, RESTORING);
    int64_t requeue = 0;
    fake_api_clear_log(x->f);
    json_object_get(pm);
    assert_int_equal(target_step(&x->d, pm, &requeue, &err), 0);
    json_object_put(pm);
    assert_int_equal(fake_api_nwrites(x->f), recorded ? 2 : 1);
    if (recorded) {
      json_object *p = status_write(x, 0);
      assert_progress(p, "Verifying", 4000, 4000);
      assert_null(ferry_kube_str(p, "status.reason"));
    }
    json_object *w = status_write(x, recorded ? 1 : 0);
    assert_string_equal(ferry_kube_str(w, "status.reason"), "Restored");
    assert_null(ferry_kube_obj(w, "status.progress"));
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_checkpointing_source_publishes_the_partial_image, setup, teardown),
    cmocka_unit_test_setup_teardown(test_transferring_target_publishes_the_received_part, setup, teardown),
    cmocka_unit_test_setup_teardown(test_restoring_target_publishes_the_private_copy, setup, teardown),
    cmocka_unit_test_setup_teardown(test_transferred_write_carries_the_whole_image, setup, teardown),
    cmocka_unit_test_setup_teardown(test_restored_after_the_whole_copy, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
