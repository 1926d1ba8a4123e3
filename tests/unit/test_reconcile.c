/* SPDX-License-Identifier: Apache-2.0 */
/* The controller's PodMigration state machine against the fake API server:
 * given a migration's status and the pods, nodes and agents in the caches,
 * which API writes one reconcile makes (reconcile.c, schedule.c, finish.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/podmigration.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/util.h"
#include "ctl_env.h"

static int setup(void **state)
{
  struct env *e = ctl_env_new();
  e->c.rec = ferry_recorder_new(e->c.kube, "ferry-controller", NULL);
  e->c.runtime_class = "ferry";
  *state = e;
  return 0;
}

static int teardown(void **state)
{
  struct env *e = *state;
  ctl_inflight_free(&e->c);
  ferry_recorder_free(e->c.rec);
  ctl_env_free(e);
  return 0;
}

/* The caches filled from the fake, the write log emptied, one reconcile of default/pm. */
static int reconcile(struct env *e, int64_t *requeue_ms)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_informers_relist(e->c.inf, &err), 0);
  assert_true(ctl_synced(&e->c));
  fake_api_clear_log(e->f);
  int64_t ignored;
  int rc = ctl_reconcile_pm(&e->c, NS, "pm", requeue_ms ? requeue_ms : &ignored, &err);
  if (rc < 0) {
    fprintf(stderr, "reconcile: %s\n", ferry_error_msg(&err));
    fake_api_dump(e->f);
  }
  return rc;
}

static char *iso_time(int64_t ms_ago)
{
  char t[40];
  ferry_format_time(ferry_now_real_ms() - ms_ago, t, sizeof t);
  return ferry_strdup(t);
}

/* A PodMigration default/pm with Ferry's finalizer: extra is more of its JSON ("spec" and "status"). */
static void put_pm(struct env *e, const char *extra)
{
  cleanup_free char *pm = ferry_asprintf("{\"apiVersion\":\"ferry.dev/v1alpha1\",\"kind\":\"PodMigration\","
                                         "\"metadata\":{\"name\":\"pm\",\"namespace\":\"" NS "\",\"uid\":\"pm-uid\","
                                         "\"finalizers\":[\"" FERRY_FINALIZER "\"]},%s}",
                                         extra);
  fake_api_put(e->f, &FERRY_KUBE_PODMIGRATIONS, pm);
}

/* A Ready node with a Ferry agent (its Lease renewed now). */
static void put_node(struct env *e, const char *name)
{
  cleanup_free char *node = ferry_asprintf("{\"metadata\":{\"name\":\"%s\"},\"status\":{\"conditions\":"
                                           "[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
                                           name);
  fake_api_put(e->f, &FERRY_KUBE_NODES, node);
  cleanup_free char *now = iso_time(0);
  cleanup_free char *lease = ferry_asprintf("{\"metadata\":{\"name\":\"" FERRY_AGENT_LEASE_PREFIX
                                            "%s\",\"namespace\":\"" AGENT_NS "\"},\"spec\":{\"renewTime\":\"%s\"}}",
                                            name, now);
  fake_api_put(e->f, &FERRY_KUBE_LEASES, lease);
}

/* default/web running on node-a with one container, under the ferry RuntimeClass. Its UID (the fake's). */
static const char *put_source_pod(struct env *e)
{
  json_object *pod = fake_api_put(
      e->f, &FERRY_KUBE_PODS,
      "{\"metadata\":{\"name\":\"web\",\"namespace\":\"" NS "\",\"labels\":{\"app\":\"web\"}},"
      "\"spec\":{\"nodeName\":\"node-a\",\"runtimeClassName\":\"ferry\",\"containers\":[{\"name\":\"app\"}]},"
      "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.5\",\"containerStatuses\":"
      "[{\"name\":\"app\",\"containerID\":\"containerd://abc\"}]}}");
  return ferry_kube_str(pod, "metadata.uid");
}

/* An annotation (keys have dots: no ferry_kube_str path). */
static const char *annotation(json_object *obj, const char *key)
{
  json_object *v = NULL;
  json_object_object_get_ex(ferry_kube_obj(ferry_kube_obj(obj, "metadata"), "annotations"), key, &v);
  return v ? json_object_get_string(v) : NULL;
}

static json_object *status_write(struct env *e, size_t n)
{
  return fake_api_write(e->f, "PATCH", "/podmigrations/pm/status", n);
}

static void test_new_pm_gets_the_finalizer(void **state)
{
  struct env *e = *state;
  fake_api_put(e->f, &FERRY_KUBE_PODMIGRATIONS,
               "{\"metadata\":{\"name\":\"pm\",\"namespace\":\"" NS "\"},"
               "\"spec\":{\"pod\":\"web\"}}");
  assert_int_equal(reconcile(e, NULL), 0);
  json_object *w = fake_api_write(e->f, "PATCH", "/podmigrations/pm", 0);
  assert_non_null(w);
  json_object *list = ferry_kube_obj(ferry_kube_obj(w, "metadata"), "finalizers");
  assert_int_equal(json_object_array_length(list), 1);
  assert_string_equal(json_object_get_string(json_object_array_get_idx(list, 0)), FERRY_FINALIZER);
  assert_int_equal(fake_api_nwrites(e->f), 1);
}

static void test_pending_without_pod_fails(void **state)
{
  struct env *e = *state;
  put_pm(e, "\"spec\":{\"pod\":\"web\"},\"status\":{\"phase\":\"Pending\"}");
  assert_int_equal(reconcile(e, NULL), 0);
  json_object *w = status_write(e, 0);
  assert_non_null(w);
  assert_string_equal(ferry_kube_str(w, "status.phase"), "Failed");
  assert_string_equal(ferry_kube_str(w, "status.reason"), "PodNotFound");
  assert_string_equal(ferry_kube_str(w, "status.message"), "pod not found");
  assert_int_equal(fake_api_nwrites(e->f), 1);
  assert_int_equal(fake_api_nevents(e->f), 1);
  assert_string_equal(fake_api_event(e->f, 0), "PodNotFound: pod not found");
}

static void test_pending_wrong_runtime_class_fails(void **state)
{
  struct env *e = *state;
  e->c.runtime_class = "kata";
  put_node(e, "node-a");
  put_source_pod(e);
  put_pm(e, "\"spec\":{\"pod\":\"web\"},\"status\":{\"phase\":\"Pending\"}");
  assert_int_equal(reconcile(e, NULL), 0);
  json_object *w = status_write(e, 0);
  assert_string_equal(ferry_kube_str(w, "status.phase"), "Failed");
  assert_string_equal(ferry_kube_str(w, "status.reason"), "RuntimeClassRequired");
  assert_int_equal(fake_api_nevents(e->f), 2); /* on the migration and on the pod */
  assert_non_null(strstr(fake_api_event(e->f, 1), "MigrationFailed: pm: the pod runs with RuntimeClass \"ferry\""));
}

static void test_pending_with_target_is_scheduled(void **state)
{
  struct env *e = *state;
  put_node(e, "node-a");
  put_node(e, "node-b");
  cleanup_free char *uid = ferry_strdup(put_source_pod(e));
  put_pm(e, "\"spec\":{\"pod\":\"web\",\"targetNode\":\"node-b\"},\"status\":{\"phase\":\"Pending\"}");
  assert_int_equal(reconcile(e, NULL), 0);

  /* the target pod: unbound, for Ferry's own binding, restored from this migration */
  json_object *tp = fake_api_write(e->f, "POST", "/namespaces/" NS "/pods", 0);
  assert_non_null(tp);
  assert_null(ferry_kube_str(tp, "spec.nodeName"));
  assert_string_equal(ferry_kube_str(tp, "spec.schedulerName"), FERRY_SCHEDULER_NAME);
  assert_string_equal(annotation(tp, FERRY_ANN_RESTORE_FROM), NS "/pm");
  const char *tname = ferry_kube_str(tp, "metadata.name");
  assert_true(!strncmp(tname, "web-", 4) && strlen(tname) == 9);
  assert_non_null(fake_api_obj(e->f, &FERRY_KUBE_PODS, NS, tname));

  /* the source drained: not Ready */
  json_object *ready = fake_api_write(e->f, "PATCH", "/pods/web/status", 0);
  assert_non_null(ready);
  assert_string_equal(
      ferry_kube_str(json_object_array_get_idx(ferry_kube_obj(ferry_kube_obj(ready, "status"), "conditions"), 0),
                     "reason"),
      "FerryMigrating");

  json_object *w = status_write(e, 0);
  assert_non_null(w);
  assert_string_equal(ferry_kube_str(w, "status.phase"), "Scheduled");
  assert_string_equal(ferry_kube_str(w, "status.message"), "moving web from node-a to node-b");
  assert_string_equal(ferry_kube_str(w, "status.sourceNode"), "node-a");
  assert_string_equal(ferry_kube_str(w, "status.targetNode"), "node-b");
  assert_string_equal(ferry_kube_str(w, "status.targetPod"), tname);
  assert_string_equal(ferry_kube_str(w, "status.targetPodUID"),
                      ferry_kube_str(fake_api_obj(e->f, &FERRY_KUBE_PODS, NS, tname), "metadata.uid"));
  assert_string_equal(ferry_kube_str(w, "status.sourcePodIP"), "10.0.0.5");
  assert_string_equal(ferry_kube_str(w, "status.sourcePodUID"), uid);
  assert_string_equal(ferry_kube_str(w, "status.strategy"), "stopAndCopy");
  assert_int_equal(fake_api_nwrites(e->f), 3);
  assert_int_equal(fake_api_nevents(e->f), 2);
  assert_non_null(strstr(fake_api_event(e->f, 0), "Scheduled: moving pod web from node-a to node-b (target pod web-"));
  assert_string_equal(fake_api_event(e->f, 1), "Migrating: pm: moving to node-b");
}

/* The annotations (a JSON object's members) of node's agent Lease (put_node made it). */
static void put_lease(struct env *e, const char *node, const char *annotations)
{
  cleanup_free char *name = ferry_asprintf(FERRY_AGENT_LEASE_PREFIX "%s", node);
  cleanup_free char *text = ferry_asprintf("{%s}", annotations);
  json_object *lease = fake_api_obj(e->f, &FERRY_KUBE_LEASES, AGENT_NS, name), *ann = json_tokener_parse(text);
  assert_non_null(lease);
  assert_non_null(ann);
  json_object_object_add(ferry_kube_obj(lease, "metadata"), "annotations", ann);
}

/* default/pm (put_pm made it) Pending again, as if new, but for the UID of the
 * target pod its last pass made (which is still there). */
static void pending_again(struct env *e)
{
  json_object *pm = fake_api_obj(e->f, &FERRY_KUBE_PODMIGRATIONS, NS, "pm");
  assert_non_null(pm);
  const char *tuid = ferry_kube_str(pm, "status.targetPodUID");
  cleanup_free char *status = tuid ? ferry_asprintf("{\"phase\":\"Pending\",\"targetPodUID\":\"%s\"}", tuid)
                                   : ferry_strdup("{\"phase\":\"Pending\"}");
  json_object_object_add(pm, "status", json_tokener_parse(status));
}

/* Without a target named: of two nodes that fit equally, the one whose pods
 * use less of its CPU (the agent's report), not the first by name. */
static void test_target_is_the_node_whose_pods_use_less_cpu(void **state)
{
  struct env *e = *state;
  put_node(e, "node-a");
  put_node(e, "node-b");
  put_node(e, "node-c");
  put_source_pod(e);
  put_lease(e, "node-b",
            "\"" FERRY_ANN_LOAD "\":\"{\\\"cpu\\\":0.9,\\\"cpus\\\":2,\\\"memory\\\":0.2,"
            "\\\"podsCpu\\\":1.6}\"");
  put_lease(e, "node-c",
            "\"" FERRY_ANN_LOAD "\":\"{\\\"cpu\\\":0.9,\\\"cpus\\\":2,\\\"memory\\\":0.2,"
            "\\\"podsCpu\\\":0.2}\"");
  put_pm(e, "\"spec\":{\"pod\":\"web\"},\"status\":{\"phase\":\"Pending\"}");
  assert_int_equal(reconcile(e, NULL), 0);
  json_object *w = status_write(e, 0);
  assert_string_equal(ferry_kube_str(w, "status.phase"), "Scheduled");
  assert_string_equal(ferry_kube_str(w, "status.targetNode"), "node-c");

  /* a malformed report counts as idle: node-b */
  put_lease(e, "node-b", "\"" FERRY_ANN_LOAD "\":\"{\\\"cpu\\\":\"");
  pending_again(e);
  assert_int_equal(reconcile(e, NULL), 0);
  w = status_write(e, 0);
  assert_string_equal(ferry_kube_str(w, "status.targetNode"), "node-b");
}

static void test_auto_chooses_by_the_source_threshold(void **state)
{
  struct env *e = *state;
  put_node(e, "node-a");
  put_node(e, "node-b");
  put_source_pod(e);
  /* web uses 1.2 GiB on node-a, whose agent measured 300 MiB over 12 moves */
  put_lease(e, "node-a",
            "\"" FERRY_ANN_LOAD "\":\"{\\\"pods\\\":{\\\"" NS "/web\\\":{\\\"memory\\\":1288490189}}}\","
            "\"" FERRY_ANN_POSTCOPY_THRESHOLD "\":\"{\\\"bytes\\\":314572800,\\\"source\\\":\\\"measured\\\","
            "\\\"moves\\\":12}\",\"" FERRY_ANN_POSTCOPY_SUPPORT "\":\"ok\"");
  put_lease(e, "node-b", "\"" FERRY_ANN_POSTCOPY_SUPPORT "\":\"ok\"");
  put_pm(e, "\"spec\":{\"pod\":\"web\",\"targetNode\":\"node-b\",\"strategy\":\"auto\"},"
            "\"status\":{\"phase\":\"Pending\"}");
  assert_int_equal(reconcile(e, NULL), 0);
  json_object *w = status_write(e, 0);
  assert_string_equal(ferry_kube_str(w, "status.phase"), "Scheduled");
  assert_string_equal(ferry_kube_str(w, "status.strategy"), "postCopy");
  assert_string_equal(ferry_kube_str(w, "status.strategyNote"),
                      "auto: postCopy, the pod's 1.2 GiB is above node-a's measured threshold of 300 MiB (12 moves)");
  assert_int_equal(fake_api_nevents(e->f), 3);
  assert_string_equal(fake_api_event(e->f, 2), "StrategyChosen: auto: postCopy, the pod's 1.2 GiB is above node-a's "
                                               "measured threshold of 300 MiB (12 moves)");

  /* node-b cannot post-copy, and node-a's threshold is malformed: stopAndCopy, saying why */
  put_lease(e, "node-b", "\"" FERRY_ANN_POSTCOPY_SUPPORT "\":\"no userfaultfd\"");
  pending_again(e);
  assert_int_equal(reconcile(e, NULL), 0);
  assert_string_equal(ferry_kube_str(status_write(e, 0), "status.strategy"), "stopAndCopy");
  assert_non_null(
      strstr(ferry_kube_str(status_write(e, 0), "status.strategyNote"), "but node-b cannot post-copy: no userfaultfd"));
  put_lease(e, "node-a",
            "\"" FERRY_ANN_LOAD "\":\"{\\\"pods\\\":{\\\"" NS "/web\\\":{\\\"memory\\\":1288490189}}}\","
            "\"" FERRY_ANN_POSTCOPY_THRESHOLD "\":\"256Mi\"");
  pending_again(e);
  assert_int_equal(reconcile(e, NULL), 0);
  w = status_write(e, 0);
  assert_string_equal(ferry_kube_str(w, "status.strategy"), "stopAndCopy");
  assert_string_equal(ferry_kube_str(w, "status.strategyNote"),
                      "auto: stopAndCopy, node-a has no usable post-copy threshold (its Lease's "
                      "ferry.dev/postcopy-threshold is malformed: not a JSON object)");
  /* no use reported any more, and web has no request or limit either */
  put_lease(e, "node-a", "\"" FERRY_ANN_POSTCOPY_SUPPORT "\":\"ok\"");
  pending_again(e);
  assert_int_equal(reconcile(e, NULL), 0);
  w = status_write(e, 0);
  assert_string_equal(ferry_kube_str(w, "status.strategy"), "stopAndCopy");
  assert_non_null(strstr(ferry_kube_str(w, "status.strategyNote"), "auto: stopAndCopy, the pod's memory is unknown"));
}

/* postCopy asked for, on a node that cannot: refused before the freeze with
 * what the agent said; a policy's postCopy default: stopAndCopy, saying why. */
static void test_postcopy_refused_where_an_agent_cannot(void **state)
{
  struct env *e = *state;
  put_node(e, "node-a");
  put_node(e, "node-b");
  put_source_pod(e);
  put_lease(e, "node-a", "\"" FERRY_ANN_POSTCOPY_SUPPORT "\":\"ok\"");
  put_lease(e, "node-b", "\"" FERRY_ANN_POSTCOPY_SUPPORT "\":\"userfaultfd: Operation not permitted\"");
  put_pm(e, "\"spec\":{\"pod\":\"web\",\"targetNode\":\"node-b\",\"strategy\":\"postCopy\"},"
            "\"status\":{\"phase\":\"Pending\"}");
  assert_int_equal(reconcile(e, NULL), 0);
  json_object *w = status_write(e, 0);
  assert_string_equal(ferry_kube_str(w, "status.phase"), "Failed");
  assert_string_equal(ferry_kube_str(w, "status.reason"), "StrategyNotSupported");
  assert_string_equal(ferry_kube_str(w, "status.message"),
                      "postCopy: node node-b cannot fetch its memory: userfaultfd: Operation not permitted");
  assert_null(fake_api_write(e->f, "POST", "/pods", 0)); /* no target pod: nothing started */
  /* the policy's default: stopAndCopy instead */
  fake_api_clear_log(e->f);
  fake_api_put(e->f, &FERRY_KUBE_MIGRATIONPOLICIES,
               "{\"metadata\":{\"name\":\"all\"},\"spec\":{\"defaultStrategy\":\"postCopy\"}}");
  json_object_object_del(ferry_kube_obj(fake_api_obj(e->f, &FERRY_KUBE_PODMIGRATIONS, NS, "pm"), "spec"), "strategy");
  pending_again(e);
  assert_int_equal(reconcile(e, NULL), 0);
  w = status_write(e, 0);
  assert_string_equal(ferry_kube_str(w, "status.phase"), "Scheduled");
  assert_string_equal(ferry_kube_str(w, "status.strategy"), "stopAndCopy");
  assert_string_equal(ferry_kube_str(w, "status.strategyNote"),
                      "postCopy: node node-b cannot fetch its memory: userfaultfd: Operation not permitted; "
                      "stopAndCopy instead");
}

static void test_policy_default_auto_with_a_memory_request(void **state)
{
  struct env *e = *state;
  put_node(e, "node-a");
  put_node(e, "node-b");
  fake_api_put(e->f, &FERRY_KUBE_PODS,
               "{\"metadata\":{\"name\":\"web\",\"namespace\":\"" NS "\",\"labels\":{\"app\":\"web\"}},"
               "\"spec\":{\"nodeName\":\"node-a\",\"runtimeClassName\":\"ferry\",\"containers\":[{\"name\":"
               "\"app\",\"resources\":{\"requests\":{\"memory\":\"40Mi\"},\"limits\":{\"memory\":\"1Gi\"}}}]},"
               "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.5\",\"containerStatuses\":"
               "[{\"name\":\"app\",\"containerID\":\"containerd://abc\"}]}}");
  put_lease(e, "node-a",
            "\"" FERRY_ANN_POSTCOPY_THRESHOLD "\":\"{\\\"bytes\\\":268435456,\\\"source\\\":\\\"default\\\"}\"");
  fake_api_put(e->f, &FERRY_KUBE_MIGRATIONPOLICIES,
               "{\"metadata\":{\"name\":\"all\"},\"spec\":{\"defaultStrategy\":\"auto\"}}");
  put_pm(e, "\"spec\":{\"pod\":\"web\",\"targetNode\":\"node-b\"},\"status\":{\"phase\":\"Pending\"}");
  assert_int_equal(reconcile(e, NULL), 0);
  json_object *w = status_write(e, 0);
  assert_string_equal(ferry_kube_str(w, "status.strategy"), "stopAndCopy");
  assert_string_equal(ferry_kube_str(w, "status.strategyNote"),
                      "auto: stopAndCopy, the pod's 40 MiB (its memory request: node-a reports no use for it) is "
                      "below node-a's default threshold of 256 MiB (not measured yet)");
}

/* The source agent reports its store full: Failed (StoreFull) before anything
 * happens to the pod (no target pod, no drain); a store with room schedules. */
static void test_source_store_full_fails_up_front(void **state)
{
  struct env *e = *state;
  put_node(e, "node-a");
  put_node(e, "node-b");
  put_source_pod(e);
  put_lease(e, "node-a",
            "\"" FERRY_ANN_STORE "\":\"{\\\"freeBytes\\\":125829120,\\\"totalBytes\\\":10737418240,"
            "\\\"minFreeBytes\\\":1073741824,\\\"full\\\":true}\"");
  put_pm(e, "\"spec\":{\"pod\":\"web\",\"targetNode\":\"node-b\"},\"status\":{\"phase\":\"Pending\"}");
  assert_int_equal(reconcile(e, NULL), 0);
  json_object *w = status_write(e, 0);
  assert_string_equal(ferry_kube_str(w, "status.phase"), "Failed");
  assert_string_equal(ferry_kube_str(w, "status.reason"), "StoreFull");
  assert_string_equal(ferry_kube_str(w, "status.message"),
                      "node-a's image store has 120 MiB free, below its agent's --store-min-free 1 GiB");
  assert_null(fake_api_write(e->f, "POST", "/namespaces/" NS "/pods", 0));
  assert_null(fake_api_write(e->f, "PATCH", "/pods/web/status", 0));

  put_lease(e, "node-a",
            "\"" FERRY_ANN_STORE "\":\"{\\\"freeBytes\\\":5368709120,\\\"totalBytes\\\":10737418240,"
            "\\\"minFreeBytes\\\":1073741824,\\\"full\\\":false}\"");
  pending_again(e);
  assert_int_equal(reconcile(e, NULL), 0);
  assert_string_equal(ferry_kube_str(status_write(e, 0), "status.phase"), "Scheduled");
}

/* A node whose agent reports its store full is no target: asked for, refused; otherwise not chosen. */
static void test_target_store_full_does_not_fit(void **state)
{
  struct env *e = *state;
  put_node(e, "node-a");
  put_node(e, "node-b");
  put_source_pod(e);
  put_lease(e, "node-b",
            "\"" FERRY_ANN_STORE "\":\"{\\\"freeBytes\\\":4194304,\\\"totalBytes\\\":41943040,"
            "\\\"minFreeBytes\\\":8388608,\\\"full\\\":true}\"");
  put_pm(e, "\"spec\":{\"pod\":\"web\",\"targetNode\":\"node-b\"},\"status\":{\"phase\":\"Pending\"}");
  assert_int_equal(reconcile(e, NULL), 0);
  json_object *w = status_write(e, 0);
  assert_string_equal(ferry_kube_str(w, "status.reason"), "TargetDoesNotFit");
  assert_string_equal(ferry_kube_str(w, "status.message"),
                      "node node-b: image store full (node-b's image store has 4 MiB free, below its agent's "
                      "--store-min-free 8 MiB)");
  json_object_object_del(ferry_kube_obj(fake_api_obj(e->f, &FERRY_KUBE_PODMIGRATIONS, NS, "pm"), "spec"), "targetNode");
  pending_again(e);
  assert_int_equal(reconcile(e, NULL), 0);
  w = status_write(e, 0);
  assert_string_equal(ferry_kube_str(w, "status.reason"), "NoNodeFits");
  assert_string_equal(ferry_kube_str(w, "status.message"), "0/2 nodes fit: 1 is the source, 1 image store full");
}

/* The MigrationPolicy's imageRetention travels on the migration for the agents; without one, none. */
static void test_policy_image_retention_is_stamped(void **state)
{
  struct env *e = *state;
  put_node(e, "node-a");
  put_node(e, "node-b");
  put_source_pod(e);
  put_pm(e, "\"spec\":{\"pod\":\"web\",\"targetNode\":\"node-b\"},\"status\":{\"phase\":\"Pending\"}");
  assert_int_equal(reconcile(e, NULL), 0);
  assert_null(ferry_kube_obj(status_write(e, 0), "status.imageRetention"));

  fake_api_put(e->f, &FERRY_KUBE_MIGRATIONPOLICIES,
               "{\"metadata\":{\"name\":\"all\"},\"spec\":{\"imageRetention\":{\"count\":0,\"ttlSeconds\":3600}}}");
  pending_again(e);
  assert_int_equal(reconcile(e, NULL), 0);
  json_object *w = status_write(e, 0);
  assert_string_equal(ferry_kube_str(w, "status.phase"), "Scheduled");
  assert_int_equal(json_object_get_int(ferry_kube_obj(w, "status.imageRetention.count")), 0);
  assert_int_equal(json_object_get_int(ferry_kube_obj(w, "status.imageRetention.ttlSeconds")), 3600);
}

/* The cache keeps only what the controller reads (keep.c): the target pod is
 * the source pod as the API server has it, its whole spec. */
/* A pod already named as the target, which this migration did not make (its
 * UID not in the status): deleted, not restored into; the next pass makes the
 * target pod and schedules with that pod's UID. */
static void test_a_pod_squatting_the_target_name_is_replaced(void **state)
{
  struct env *e = *state;
  put_node(e, "node-a");
  put_node(e, "node-b");
  put_source_pod(e);
  put_pm(e, "\"spec\":{\"pod\":\"web\",\"targetNode\":\"node-b\"},\"status\":{\"phase\":\"Pending\"}");
  const char *pm_uid = ferry_kube_str(fake_api_obj(e->f, &FERRY_KUBE_PODMIGRATIONS, NS, "pm"), "metadata.uid");
  char h[65], name[32];
  ferry_sha256_hex(pm_uid, strlen(pm_uid), h);
  snprintf(name, sizeof name, "web-%.5s", h);
  cleanup_free char *squat = ferry_asprintf("{\"metadata\":{\"name\":\"%s\",\"namespace\":\"" NS
                                            "\",\"annotations\":{\"" FERRY_ANN_RESTORE_FROM "\":\"" NS
                                            "/pm\"}},\"spec\":{\"containers\":[{\"name\":\"app\"}]}}",
                                            name);
  cleanup_free char *squat_uid =
      ferry_strdup(ferry_kube_str(fake_api_put(e->f, &FERRY_KUBE_PODS, squat), "metadata.uid"));
  assert_int_equal(reconcile(e, NULL), -1);
  assert_null(fake_api_obj(e->f, &FERRY_KUBE_PODS, NS, name));
  assert_null(status_write(e, 0));

  assert_int_equal(reconcile(e, NULL), 0);
  json_object *tp = fake_api_obj(e->f, &FERRY_KUBE_PODS, NS, name), *w = status_write(e, 0);
  assert_non_null(tp);
  assert_string_not_equal(ferry_kube_str(tp, "metadata.uid"), squat_uid);
  assert_string_equal(ferry_kube_str(w, "status.phase"), "Scheduled");
  assert_string_equal(ferry_kube_str(w, "status.targetPodUID"), ferry_kube_str(tp, "metadata.uid"));
}

/* A pass that saw the migration Pending in a cache behind the API (the
 * Scheduled write, with the target pod's UID, not seen yet): the target pod is
 * the migration's and stays; the pass ends without writing. */
static void test_a_stale_pending_pass_leaves_the_target_pod(void **state)
{
  struct env *e = *state;
  put_node(e, "node-a");
  put_node(e, "node-b");
  put_source_pod(e);
  put_pm(e, "\"spec\":{\"pod\":\"web\",\"targetNode\":\"node-b\"},\"status\":{\"phase\":\"Pending\"}");
  json_object *pm = fake_api_obj(e->f, &FERRY_KUBE_PODMIGRATIONS, NS, "pm");
  const char *pm_uid = ferry_kube_str(pm, "metadata.uid");
  char h[65], name[32];
  ferry_sha256_hex(pm_uid, strlen(pm_uid), h);
  snprintf(name, sizeof name, "web-%.5s", h);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_informers_relist(e->c.inf, &err), 0);
  /* the API moves on; the cache does not see it */
  cleanup_free char *tp = ferry_asprintf("{\"metadata\":{\"name\":\"%s\",\"namespace\":\"" NS "\"}}", name);
  const char *tuid = ferry_kube_str(fake_api_put(e->f, &FERRY_KUBE_PODS, tp), "metadata.uid");
  cleanup_free char *status =
      ferry_asprintf("{\"phase\":\"Scheduled\",\"targetPod\":\"%s\",\"targetPodUID\":\"%s\"}", name, tuid);
  json_object_object_add(pm, "status", json_tokener_parse(status));
  fake_api_clear_log(e->f);
  int64_t requeue = 0;
  assert_int_equal(ctl_reconcile_pm(&e->c, NS, "pm", &requeue, &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "is Scheduled already"));
  assert_non_null(fake_api_obj(e->f, &FERRY_KUBE_PODS, NS, name));
  assert_null(status_write(e, 0));
}

static void test_target_pod_is_the_whole_source_pod(void **state)
{
  struct env *e = *state;
  put_node(e, "node-a");
  put_node(e, "node-b");
  fake_api_put(
      e->f, &FERRY_KUBE_PODS,
      "{\"metadata\":{\"name\":\"web\",\"namespace\":\"" NS "\",\"labels\":{\"app\":\"web\"},"
      "\"annotations\":{\"note\":\"kept\"}},\"spec\":{\"nodeName\":\"node-a\",\"runtimeClassName\":\"ferry\","
      "\"containers\":[{\"name\":\"app\",\"image\":\"web:1\",\"env\":[{\"name\":\"A\",\"value\":\"1\"}]}],"
      "\"volumes\":[{\"name\":\"v\",\"emptyDir\":{}}]},\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.5\","
      "\"containerStatuses\":[{\"name\":\"app\",\"containerID\":\"containerd://abc\"}]}}");
  put_pm(e, "\"spec\":{\"pod\":\"web\",\"targetNode\":\"node-b\"},\"status\":{\"phase\":\"Pending\"}");
  assert_int_equal(reconcile(e, NULL), 0);
  json_object *cached = ferry_informer_get(e->c.pods, NS, "web");
  assert_null(ferry_kube_obj(cached, "spec.volumes"));
  json_object *tp = fake_api_write(e->f, "POST", "/namespaces/" NS "/pods", 0);
  assert_non_null(tp);
  json_object *c = json_object_array_get_idx(ferry_kube_obj(tp, "spec.containers"), 0);
  assert_string_equal(ferry_kube_str(c, "image"), "web:1");
  assert_non_null(ferry_kube_obj(c, "env"));
  assert_int_equal(json_object_array_length(ferry_kube_obj(tp, "spec.volumes")), 1);
  assert_string_equal(annotation(tp, "note"), "kept");
}

static void test_pending_waits_for_the_limit(void **state)
{
  struct env *e = *state;
  put_node(e, "node-a");
  put_node(e, "node-b");
  put_source_pod(e);
  fake_api_put(e->f, &FERRY_KUBE_PODMIGRATIONS,
               "{\"metadata\":{\"name\":\"other\",\"namespace\":\"" NS
               "\",\"uid\":\"other-uid\"},\"spec\":{\"pod\":\"db\"},"
               "\"status\":{\"phase\":\"Checkpointing\",\"sourceNode\":\"node-a\",\"targetNode\":\"node-c\"}}");
  put_pm(e, "\"spec\":{\"pod\":\"web\",\"targetNode\":\"node-b\"},\"status\":{\"phase\":\"Pending\"}");
  int64_t requeue = 0;
  assert_int_equal(reconcile(e, &requeue), 0);
  assert_true(requeue > 0);
  json_object *w = status_write(e, 0);
  assert_string_equal(ferry_kube_str(w, "status.phase"), "Pending");
  assert_string_equal(ferry_kube_str(w, "status.reason"), "Waiting");
  assert_string_equal(ferry_kube_str(w, "status.message"), "waiting: 1 migrations running on node-a (limit 1)");
  assert_int_equal(fake_api_nwrites(e->f), 1); /* no target pod yet */
}

/* A drain's burst: two PodMigrations from node-a reconciled one after the
 * other, before the first one's new status came back into the cache. */
static void test_burst_waits_for_what_it_just_scheduled(void **state)
{
  struct env *e = *state;
  put_node(e, "node-a");
  put_node(e, "node-b");
  put_source_pod(e);
  fake_api_put(e->f, &FERRY_KUBE_PODS,
               "{\"metadata\":{\"name\":\"db\",\"namespace\":\"" NS "\",\"labels\":{\"app\":\"db\"}},"
               "\"spec\":{\"nodeName\":\"node-a\",\"runtimeClassName\":\"ferry\",\"containers\":[{\"name\":\"app\"}]},"
               "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.6\",\"containerStatuses\":"
               "[{\"name\":\"app\",\"containerID\":\"containerd://def\"}]}}");
  put_pm(e, "\"spec\":{\"pod\":\"web\",\"targetNode\":\"node-b\"},\"status\":{\"phase\":\"Pending\"}");
  fake_api_put(e->f, &FERRY_KUBE_PODMIGRATIONS,
               "{\"apiVersion\":\"ferry.dev/v1alpha1\",\"kind\":\"PodMigration\",\"metadata\":{\"name\":\"pm2\","
               "\"namespace\":\"" NS "\",\"uid\":\"pm2-uid\",\"finalizers\":[\"" FERRY_FINALIZER "\"]},"
               "\"spec\":{\"pod\":\"db\",\"targetNode\":\"node-b\"},\"status\":{\"phase\":\"Pending\"}}");
  int64_t requeue = 0;
  assert_int_equal(reconcile(e, &requeue), 0); /* pm scheduled; the cache still says Pending */
  assert_string_equal(ferry_kube_str(status_write(e, 0), "status.sourceNode"), "node-a");
  fake_api_clear_log(e->f);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  requeue = 0;
  assert_int_equal(ctl_reconcile_pm(&e->c, NS, "pm2", &requeue, &err), 0);
  assert_true(requeue > 0);
  json_object *w = fake_api_write(e->f, "PATCH", "/podmigrations/pm2/status", 0);
  assert_non_null(w);
  assert_string_equal(ferry_kube_str(w, "status.reason"), "Waiting");
  assert_string_equal(ferry_kube_str(w, "status.message"), "waiting: 1 migrations running on node-a (limit 1)");
  /* once the cache shows pm running on node-a, the cache counts it (once, not twice) */
  assert_int_equal(ferry_informers_relist(e->c.inf, &err), 0);
  fake_api_clear_log(e->f);
  assert_int_equal(ctl_reconcile_pm(&e->c, NS, "pm2", &requeue, &err), 0);
  w = fake_api_write(e->f, "PATCH", "/podmigrations/pm2/status", 0);
  if (w)
    assert_string_equal(ferry_kube_str(w, "status.message"), "waiting: 1 migrations running on node-a (limit 1)");
  assert_int_equal(e->c.inflight.n, 0);
}

static void test_restored_succeeds_and_deletes_the_source(void **state)
{
  struct env *e = *state;
  const char *uid = put_source_pod(e);
  cleanup_free char *start = iso_time(5000);
  cleanup_free char *extra = ferry_asprintf(
      "\"spec\":{\"pod\":\"web\"},\"status\":{\"phase\":\"Restoring\",\"phaseTime\":\"%s\",\"startTime\":\"%s\","
      "\"strategy\":\"stopAndCopy\",\"sourceNode\":\"node-a\",\"targetNode\":\"node-b\",\"targetPod\":\"web-12345\","
      "\"targetPodIP\":\"10.0.1.7\",\"sourcePodIP\":\"10.0.0.5\",\"sourcePodUID\":\"%s\",\"downtime\":\"312ms\","
      "\"conditions\":[{\"type\":\"Restored\",\"status\":\"True\"}]}",
      start, start, uid);
  put_pm(e, extra);
  assert_int_equal(reconcile(e, NULL), 0);
  assert_non_null(fake_api_write(e->f, "DELETE", "/namespaces/" NS "/pods/web", 0));
  assert_null(fake_api_obj(e->f, &FERRY_KUBE_PODS, NS, "web"));
  json_object *w = status_write(e, 0);
  assert_non_null(w);
  assert_string_equal(ferry_kube_str(w, "status.phase"), "Succeeded");
  assert_string_equal(ferry_kube_str(w, "status.message"), "running on node-b as web-12345 (10.0.1.7)");
  assert_non_null(ferry_kube_obj(ferry_kube_obj(w, "status"), "totalMillis"));
  assert_int_equal(fake_api_nevents(e->f), 1);
  assert_string_equal(fake_api_event(e->f, 0), "Succeeded: pod web now runs on node-b as web-12345, downtime 312ms");
}

static void test_post_copy_waits_for_the_memory(void **state)
{
  struct env *e = *state;
  put_source_pod(e);
  cleanup_free char *now = iso_time(0);
  cleanup_free char *extra = ferry_asprintf(
      "\"spec\":{\"pod\":\"web\"},\"status\":{\"phase\":\"Restoring\",\"phaseTime\":\"%s\",\"strategy\":\"postCopy\","
      "\"targetPodIP\":\"10.0.1.7\",\"conditions\":[{\"type\":\"Restored\",\"status\":\"True\"}]}",
      now);
  put_pm(e, extra);
  int64_t requeue = 0;
  assert_int_equal(reconcile(e, &requeue), 0);
  assert_int_equal(fake_api_nwrites(e->f), 0);
  assert_true(requeue > 0); /* its deadline */
}

/* A held source: Restored is not enough until its agent stopped it (the
 * kubelet, stopping the source pod, would resume it first). */
static void test_held_source_waits_for_its_release(void **state)
{
  struct env *e = *state;
  put_source_pod(e);
  cleanup_free char *now = iso_time(0);
  cleanup_free char *extra =
      ferry_asprintf("\"spec\":{\"pod\":\"web\"},\"status\":{\"phase\":\"Restoring\",\"phaseTime\":\"%s\",\"strategy\":"
                     "\"stopAndCopy\","
                     "\"targetPodIP\":\"10.0.1.7\",\"conditions\":[{\"type\":\"SourceHeld\",\"status\":\"True\"},"
                     "{\"type\":\"Restored\",\"status\":\"True\"}]}",
                     now);
  put_pm(e, extra);
  int64_t requeue = 0;
  assert_int_equal(reconcile(e, &requeue), 0);
  assert_int_equal(fake_api_nwrites(e->f), 0);
  assert_null(fake_api_write(e->f, "DELETE", "/namespaces/" NS "/pods/web", 0));
  assert_true(requeue > 0); /* its deadline */
}

static void test_checkpointing_past_its_deadline_rolls_back(void **state)
{
  struct env *e = *state;
  cleanup_free char *long_ago = iso_time(400 * 1000);
  cleanup_free char *extra = ferry_asprintf("\"spec\":{\"pod\":\"web\"},\"status\":{\"phase\":\"Checkpointing\","
                                            "\"phaseTime\":\"%s\",\"sourceNode\":\"node-a\"}",
                                            long_ago);
  put_pm(e, extra);
  assert_int_equal(reconcile(e, NULL), 0);
  json_object *w = status_write(e, 0);
  assert_string_equal(ferry_kube_str(w, "status.phase"), "RollingBack");
  assert_string_equal(ferry_kube_str(w, "status.reason"), "Timeout");
  assert_string_equal(ferry_kube_str(w, "status.message"), "Checkpointing took longer than its timeout");
  assert_string_equal(ferry_kube_str(w, "status.rollbackFrom"), "Checkpointing");
  assert_string_equal(fake_api_event(e->f, 0),
                      "Timeout: Checkpointing took longer than its timeout; rolling back to node-a");
}

static void test_scheduled_past_its_deadline_fails(void **state)
{
  struct env *e = *state;
  cleanup_free char *long_ago = iso_time(400 * 1000);
  cleanup_free char *extra =
      ferry_asprintf("\"spec\":{\"pod\":\"web\"},\"status\":{\"phase\":\"Scheduled\",\"phaseTime\":\"%s\"}", long_ago);
  put_pm(e, extra);
  assert_int_equal(reconcile(e, NULL), 0);
  json_object *w = status_write(e, 0);
  assert_string_equal(ferry_kube_str(w, "status.phase"), "Failed");
  assert_string_equal(ferry_kube_str(w, "status.reason"), "Timeout");
  assert_string_equal(ferry_kube_str(w, "status.message"), "Scheduled took longer than its timeout");
}

static void test_rolled_back_is_cleaned_up(void **state)
{
  struct env *e = *state;
  put_source_pod(e);
  json_object *tp =
      fake_api_put(e->f, &FERRY_KUBE_PODS, "{\"metadata\":{\"name\":\"web-12345\",\"namespace\":\"" NS "\"}}");
  cleanup_free char *extra = ferry_asprintf(
      "\"spec\":{\"pod\":\"web\"},\"status\":{\"phase\":\"RolledBack\",\"message\":\"restored on node-a\","
      "\"sourceNode\":\"node-a\",\"targetPod\":\"web-12345\",\"targetPodUID\":\"%s\"}",
      ferry_kube_str(tp, "metadata.uid"));
  put_pm(e, extra);
  assert_int_equal(reconcile(e, NULL), 0);
  assert_non_null(fake_api_write(e->f, "DELETE", "/namespaces/" NS "/pods/web-12345", 0));
  assert_null(fake_api_obj(e->f, &FERRY_KUBE_PODS, NS, "web-12345"));
  json_object *ready = fake_api_write(e->f, "PATCH", "/pods/web/status", 0);
  assert_non_null(ready);
  assert_string_equal(
      ferry_kube_str(json_object_array_get_idx(ferry_kube_obj(ferry_kube_obj(ready, "status"), "conditions"), 0),
                     "reason"),
      "FerryMigrationEnded");
  json_object *ann = fake_api_write(e->f, "PATCH", "/namespaces/" NS "/pods/web", 0);
  assert_non_null(ann);
  assert_string_equal(annotation(ann, FERRY_ANN_RESULT), "RolledBack: restored on node-a");
  assert_string_equal(annotation(ann, FERRY_ANN_MIGRATION), NS "/pm");
  json_object *w = status_write(e, 0);
  assert_non_null(w);
  json_object *cond = json_object_array_get_idx(ferry_kube_obj(ferry_kube_obj(w, "status"), "conditions"), 0);
  assert_string_equal(ferry_kube_str(cond, "type"), "CleanedUp");
  assert_string_equal(ferry_kube_str(cond, "status"), "True");
  assert_string_equal(ferry_kube_str(cond, "reason"), "RolledBack");
  assert_null(ferry_kube_str(w, "status.phase")); /* the phase stays */
}

/* A StatefulSet's pod its image could not be restored into, not even on the
 * source (WorkloadLost): the webhook no longer steers the StatefulSet's pods to
 * the migration, and that pod (waiting for a restore that cannot come) is
 * deleted, for the StatefulSet to make it afresh; one not made for this
 * migration is left alone. */
static void test_lost_statefulset_pod_is_made_afresh(void **state)
{
  struct env *e = *state;
  e->c.webhook = webhook_new();
  fake_api_put(e->f, &FERRY_KUBE_PODS,
               "{\"metadata\":{\"name\":\"db-0\",\"namespace\":\"" NS "\",\"annotations\":"
               "{\"" FERRY_ANN_RESTORE_FROM "\":\"" NS "/pm\"},\"ownerReferences\":[{\"kind\":"
               "\"StatefulSet\",\"name\":\"db\",\"uid\":\"sts-uid\",\"controller\":true}]}}");

  static const char review[] =
      "{\"request\":{\"uid\":\"r1\",\"namespace\":\"" NS "\",\"object\":{\"metadata\":{\"name\":\"db-0\","
      "\"ownerReferences\":[{\"kind\":\"StatefulSet\",\"name\":\"db\",\"uid\":\"sts-uid\",\"controller\":true}]}}}}";
  /* rolling back: a new db-0 is the one to restore into */
  put_pm(e, "\"spec\":{\"pod\":\"db-0\"},\"status\":{\"phase\":\"RollingBack\",\"sourceNode\":\"node-a\","
            "\"owner\":{\"kind\":\"StatefulSet\",\"name\":\"db\",\"uid\":\"sts-uid\"}}");
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_informers_relist(e->c.inf, &err), 0);
  webhook_publish(e->c.webhook, e->c.pms);
  unsigned code;
  cleanup_free char *steered = webhook_answer(e->c.webhook, review, &code);
  assert_non_null(strstr(steered, "\"patch\""));
  /* lost: cleaned up */
  json_object *patch = pm_status_patch(PM_FAILED, "WorkloadLost", "rollback on node-a failed");
  struct ferry_kube_status st = { 0 };
  assert_int_equal(
      pm_write_status(e->c.kube, fake_api_obj(e->f, &FERRY_KUBE_PODMIGRATIONS, NS, "pm"), patch, 0, NULL, &st, &err),
      0);
  json_object_put(patch);
  assert_int_equal(reconcile(e, NULL), 0);
  cleanup_free char *plain = webhook_answer(e->c.webhook, review, &code);
  assert_null(strstr(plain, "\"patch\""));
  cleanup_free char *del = ferry_asprintf("/namespaces/" NS "/pods/db-0");
  json_object *w = fake_api_write(e->f, "DELETE", del, 0);
  assert_non_null(w);
  assert_null(fake_api_obj(e->f, &FERRY_KUBE_PODS, NS, "db-0"));

  webhook_stop(e->c.webhook);
  e->c.webhook = NULL;
}

/* A StatefulSet's pod made again while the webhook did not answer (no
 * ferry.dev/restore-from): it would start afresh, so it is deleted by UID for
 * the StatefulSet to make it once more, through the webhook; the steered one is
 * left to be restored into. */
static void test_unsteered_statefulset_pod_is_made_again(void **state)
{
  struct env *e = *state;
  e->c.webhook = webhook_new();
  fake_api_put(e->f, &FERRY_KUBE_PODS,
               "{\"metadata\":{\"name\":\"db-0\",\"namespace\":\"" NS "\",\"uid\":\"fresh-uid\","
               "\"ownerReferences\":[{\"kind\":\"StatefulSet\",\"name\":\"db\",\"uid\":\"sts-uid\","
               "\"controller\":true}]}}");
  cleanup_free char *now = iso_time(0);
  cleanup_free char *extra =
      ferry_asprintf("\"spec\":{\"pod\":\"db-0\"},\"status\":{\"phase\":\"Transferring\",\"phaseTime\":\"%s\","
                     "\"sourceNode\":\"node-a\",\"targetNode\":\"node-b\",\"sourcePodUID\":\"old-uid\","
                     "\"owner\":{\"kind\":\"StatefulSet\",\"name\":\"db\",\"uid\":\"sts-uid\"}}",
                     now);
  put_pm(e, extra);
  assert_int_equal(reconcile(e, NULL), 0);
  json_object *w = fake_api_write(e->f, "DELETE", "/namespaces/" NS "/pods/db-0", 0);
  assert_non_null(w);
  assert_null(fake_api_obj(e->f, &FERRY_KUBE_PODS, NS, "db-0"));
  assert_non_null(strstr(fake_api_event(e->f, 0), "ReplacementNotSteered"));
  /* made again through the webhook: left alone */
  fake_api_clear_log(e->f);
  fake_api_put(e->f, &FERRY_KUBE_PODS,
               "{\"metadata\":{\"name\":\"db-0\",\"namespace\":\"" NS "\",\"uid\":\"steered-uid\","
               "\"annotations\":{\"" FERRY_ANN_RESTORE_FROM "\":\"" NS "/pm\"}}}");
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_informers_relist(e->c.inf, &err), 0);
  assert_int_equal(reconcile(e, NULL), 0);
  assert_null(fake_api_write(e->f, "DELETE", "/namespaces/" NS "/pods/db-0", 0));
  assert_non_null(fake_api_obj(e->f, &FERRY_KUBE_PODS, NS, "db-0"));
  webhook_stop(e->c.webhook);
  e->c.webhook = NULL;
}

/* The webhook steered a ReplicaSet's replacement, but its create failed after
 * the answer (the API server ended) and the ReplicaSet's retry was made
 * without ferry.dev/restore-from: once the claim is older than the grace, it
 * is released and the unsteered pod (made since Transferring began) deleted by
 * UID, so that the ReplicaSet makes it again, steered; its older pods are left
 * alone. */
static void test_lost_replicaset_replacement_is_made_again(void **state)
{
  struct env *e = *state;
  e->c.webhook = webhook_new();
  e->c.claim_grace_ms = 1;
  cleanup_free char *began = iso_time(10000), *old = iso_time(60000), *now = iso_time(0);
  cleanup_free char *extra =
      ferry_asprintf("\"spec\":{\"pod\":\"web-a\"},\"status\":{\"phase\":\"Transferring\",\"phaseTime\":\"%s\","
                     "\"sourceNode\":\"node-a\",\"targetNode\":\"node-b\",\"sourcePodUID\":\"old-uid\","
                     "\"owner\":{\"kind\":\"ReplicaSet\",\"name\":\"web\",\"uid\":\"rs-uid\"}}",
                     began);
  put_pm(e, extra);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_informers_relist(e->c.inf, &err), 0);
  webhook_publish(e->c.webhook, e->c.pms);
  static const char review[] =
      "{\"request\":{\"uid\":\"r1\",\"namespace\":\"" NS "\",\"object\":{\"metadata\":{\"generateName\":\"web-\","
      "\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"web\",\"uid\":\"rs-uid\",\"controller\":true}]}}}}";
  unsigned code;
  cleanup_free char *steered = webhook_answer(e->c.webhook, review, &code);
  assert_non_null(strstr(steered, "\"patch\""));
  /* that create never made it; the retry was not steered (claimed) */
  cleanup_free char *retry = webhook_answer(e->c.webhook, review, &code);
  assert_null(strstr(retry, "\"patch\""));
  cleanup_free char *fresh =
      ferry_asprintf("{\"metadata\":{\"name\":\"web-fresh\",\"namespace\":\"" NS "\",\"uid\":\"fresh-uid\","
                     "\"creationTimestamp\":\"%s\",\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"web\","
                     "\"uid\":\"rs-uid\",\"controller\":true}]}}",
                     now);
  cleanup_free char *other =
      ferry_asprintf("{\"metadata\":{\"name\":\"web-other\",\"namespace\":\"" NS "\",\"uid\":\"other-uid\","
                     "\"creationTimestamp\":\"%s\",\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"web\","
                     "\"uid\":\"rs-uid\",\"controller\":true}]}}",
                     old);
  fake_api_put(e->f, &FERRY_KUBE_PODS, fresh);
  fake_api_put(e->f, &FERRY_KUBE_PODS, other);
  assert_int_equal(ferry_informers_relist(e->c.inf, &err), 0);
  usleep(5000); /* (the claim older than the 1 ms grace) */
  assert_int_equal(reconcile(e, NULL), 0);
  assert_non_null(fake_api_write(e->f, "DELETE", "/namespaces/" NS "/pods/web-fresh", 0));
  assert_null(fake_api_obj(e->f, &FERRY_KUBE_PODS, NS, "web-fresh"));
  assert_non_null(fake_api_obj(e->f, &FERRY_KUBE_PODS, NS, "web-other"));
  assert_non_null(strstr(fake_api_event(e->f, 0), "ReplacementNotSteered"));
  /* the ReplicaSet's next pod is steered */
  cleanup_free char *again = webhook_answer(e->c.webhook, review, &code);
  assert_non_null(strstr(again, "\"patch\""));
  webhook_stop(e->c.webhook);
  e->c.webhook = NULL;
}

static void test_cleaned_up_does_nothing(void **state)
{
  struct env *e = *state;
  put_pm(e, "\"spec\":{\"pod\":\"web\"},\"status\":{\"phase\":\"Failed\",\"conditions\":[{\"type\":\"CleanedUp\","
            "\"status\":\"True\"}]}");
  assert_int_equal(reconcile(e, NULL), 0);
  assert_int_equal(fake_api_nwrites(e->f), 0);
}

/* The annotation trigger (trigger.c): annotation keys hold dots, so this also
 * guards the lookup of member names against a path walker. */
static int reconcile_pod(struct env *e)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_informers_relist(e->c.inf, &err), 0);
  fake_api_clear_log(e->f);
  int64_t requeue_ms = 0;
  return ctl_reconcile_pod(&e->c, NS, "web", &requeue_ms, &err);
}

static void annotate_web(struct env *e, const char *value)
{
  json_object *pod = fake_api_obj(e->f, &FERRY_KUBE_PODS, NS, "web");
  json_object *ann = json_object_new_object();
  json_object_object_add(ann, FERRY_ANN_MIGRATE_TO, json_object_new_string(value));
  json_object_object_add(ferry_kube_obj(pod, "metadata"), "annotations", ann);
}

static void test_annotation_makes_a_podmigration(void **state)
{
  struct env *e = *state;
  put_source_pod(e);
  annotate_web(e, "node-b");
  assert_int_equal(reconcile_pod(e), 0);
  json_object *pm = fake_api_write(e->f, "POST", "/namespaces/" NS "/podmigrations", 0);
  assert_non_null(pm);
  assert_string_equal(ferry_kube_str(pm, "spec.pod"), "web");
  json_object *patch = fake_api_write(e->f, "PATCH", "/namespaces/" NS "/pods/web", 0);
  assert_non_null(patch);
  assert_non_null(annotation(patch, FERRY_ANN_MIGRATION));
}

static void test_bad_annotation_is_refused_with_a_warning(void **state)
{
  struct env *e = *state;
  put_source_pod(e);
  annotate_web(e, "Not_A_Node!");
  assert_int_equal(reconcile_pod(e), 0);
  assert_null(fake_api_write(e->f, "POST", "/namespaces/" NS "/podmigrations", 0));
  assert_true(fake_api_nevents(e->f) >= 1);
}

static void test_pod_without_annotation_is_left_alone(void **state)
{
  struct env *e = *state;
  put_source_pod(e);
  assert_int_equal(reconcile_pod(e), 0);
  assert_int_equal(fake_api_nwrites(e->f), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_new_pm_gets_the_finalizer, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pending_without_pod_fails, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pending_wrong_runtime_class_fails, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pending_with_target_is_scheduled, setup, teardown),
    cmocka_unit_test_setup_teardown(test_a_pod_squatting_the_target_name_is_replaced, setup, teardown),
    cmocka_unit_test_setup_teardown(test_a_stale_pending_pass_leaves_the_target_pod, setup, teardown),
    cmocka_unit_test_setup_teardown(test_source_store_full_fails_up_front, setup, teardown),
    cmocka_unit_test_setup_teardown(test_policy_image_retention_is_stamped, setup, teardown),
    cmocka_unit_test_setup_teardown(test_target_store_full_does_not_fit, setup, teardown),
    cmocka_unit_test_setup_teardown(test_target_pod_is_the_whole_source_pod, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pending_waits_for_the_limit, setup, teardown),
    cmocka_unit_test_setup_teardown(test_burst_waits_for_what_it_just_scheduled, setup, teardown),
    cmocka_unit_test_setup_teardown(test_target_is_the_node_whose_pods_use_less_cpu, setup, teardown),
    cmocka_unit_test_setup_teardown(test_auto_chooses_by_the_source_threshold, setup, teardown),
    cmocka_unit_test_setup_teardown(test_postcopy_refused_where_an_agent_cannot, setup, teardown),
    cmocka_unit_test_setup_teardown(test_policy_default_auto_with_a_memory_request, setup, teardown),
    cmocka_unit_test_setup_teardown(test_restored_succeeds_and_deletes_the_source, setup, teardown),
    cmocka_unit_test_setup_teardown(test_post_copy_waits_for_the_memory, setup, teardown),
    cmocka_unit_test_setup_teardown(test_held_source_waits_for_its_release, setup, teardown),
    cmocka_unit_test_setup_teardown(test_checkpointing_past_its_deadline_rolls_back, setup, teardown),
    cmocka_unit_test_setup_teardown(test_scheduled_past_its_deadline_fails, setup, teardown),
    cmocka_unit_test_setup_teardown(test_rolled_back_is_cleaned_up, setup, teardown),
    cmocka_unit_test_setup_teardown(test_lost_statefulset_pod_is_made_afresh, setup, teardown),
    cmocka_unit_test_setup_teardown(test_unsteered_statefulset_pod_is_made_again, setup, teardown),
    cmocka_unit_test_setup_teardown(test_lost_replicaset_replacement_is_made_again, setup, teardown),
    cmocka_unit_test_setup_teardown(test_cleaned_up_does_nothing, setup, teardown),
    cmocka_unit_test_setup_teardown(test_annotation_makes_a_podmigration, setup, teardown),
    cmocka_unit_test_setup_teardown(test_bad_annotation_is_refused_with_a_warning, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pod_without_annotation_is_left_alone, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
