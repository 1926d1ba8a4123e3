/* SPDX-License-Identifier: Apache-2.0 */
/* What informers keep of the objects they cache (kube/trim.h), and what
 * ferry-controller's informers keep (controller/keep.c). */
#include "testutil.h"
#include "ctl_env.h"

#include "base/cleanup.h"
#include "kube/trim.h"

static json_object *parse(const char *text)
{
  json_object *o = json_tokener_parse(text);
  assert_non_null(o);
  return o;
}

static struct ferry_trim *trim_of(const char *spec)
{
  struct ferry_trim *t = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_trim_new(spec, &t, &err), 0);
  return t;
}

static const char *text(json_object *o)
{
  return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

static void test_named_fields_kept_the_rest_dropped(void **state)
{
  (void)state;
  struct ferry_trim *t = trim_of("{\"metadata\":{\"name\":true,\"annotations\":{\"ferry.dev/*\":true}},"
                                 "\"spec\":{\"containers\":{\"resources\":true}}}");
  cleanup_json json_object *obj =
      parse("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"managedFields\":[{\"manager\":\"x\"}],"
            "\"annotations\":{\"ferry.dev/migrate-to\":\"auto\",\"ferry.dev/x\":\"1\",\"other/a\":\"b\"}},"
            "\"spec\":{\"containers\":[{\"name\":\"a\",\"env\":[{\"name\":\"A\"}],\"resources\":{\"limits\":{\"cpu\":"
            "\"1\"}}},"
            "{\"name\":\"b\"}],\"volumes\":[{\"name\":\"v\"}]}}");
  cleanup_json json_object *kept = ferry_trim_apply(t, obj);
  /* the second container is kept, empty: an array keeps its length */
  assert_string_equal(text(kept), "{\"metadata\":{\"name\":\"web\",\"annotations\":{\"ferry.dev/migrate-to\":\"auto\","
                                  "\"ferry.dev/x\":\"1\"}},\"spec\":{\"containers\":[{\"resources\":{\"limits\":"
                                  "{\"cpu\":\"1\"}}},{}]}}");
  /* the object itself is not changed */
  assert_non_null(ferry_kube_obj(obj, "spec.volumes"));
  ferry_trim_free(t);
}

static void test_emptied_objects_are_dropped(void **state)
{
  (void)state;
  struct ferry_trim *t =
      trim_of("{\"metadata\":{\"name\":true,\"annotations\":{\"ferry.dev/*\":true}},\"spec\":{\"nodeSelector\":true}}");
  cleanup_json json_object *obj =
      parse("{\"metadata\":{\"name\":\"web\",\"annotations\":{\"other/a\":\"b\"}},\"spec\":{\"nodeSelector\":{}}}");
  cleanup_json json_object *kept = ferry_trim_apply(t, obj);
  /* annotations had none of Ferry's: gone; an empty nodeSelector was kept as it was */
  assert_string_equal(text(kept), "{\"metadata\":{\"name\":\"web\"},\"spec\":{\"nodeSelector\":{}}}");
  ferry_trim_free(t);
}

static void test_shared_values_are_one_copy(void **state)
{
  (void)state;
  struct ferry_trim *t = trim_of("{\"metadata\":{\"name\":true,\"labels\":\"shared\"},"
                                 "\"spec\":{\"containers\":{\"(shared)\":true,\"resources\":true}}}");
  cleanup_json json_object *a =
      parse("{\"metadata\":{\"name\":\"a\",\"labels\":{\"app\":\"web\"}},"
            "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x:1\",\"resources\":{}}]}}");
  cleanup_json json_object *b =
      parse("{\"metadata\":{\"name\":\"b\",\"labels\":{\"app\":\"web\"}},"
            "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x:2\",\"resources\":{}}]}}");
  cleanup_json json_object *c = parse("{\"metadata\":{\"name\":\"c\",\"labels\":{\"app\":\"db\"}}}");
  cleanup_json json_object *ka = ferry_trim_apply(t, a);
  cleanup_json json_object *kb = ferry_trim_apply(t, b);
  cleanup_json json_object *kc = ferry_trim_apply(t, c);
  assert_ptr_equal(ferry_kube_obj(ka, "metadata.labels"), ferry_kube_obj(kb, "metadata.labels"));
  assert_ptr_not_equal(ferry_kube_obj(ka, "metadata.labels"), ferry_kube_obj(kc, "metadata.labels"));
  assert_string_equal(ferry_kube_str(kc, "metadata.labels.app"), "db");
  /* the containers differ only in what is dropped: what is kept of them is one copy */
  assert_ptr_equal(ferry_kube_obj(ka, "spec.containers"), ferry_kube_obj(kb, "spec.containers"));
  assert_string_equal(text(ferry_kube_obj(kb, "spec.containers")), "[{\"resources\":{}}]");
  assert_int_equal(ferry_trim_shared(t), 3); /* two label sets, one container list */
  /* the kept objects outlive their sources */
  json_object_put(ferry_steal(&a));
  json_object_put(ferry_steal(&b));
  assert_string_equal(ferry_kube_str(ka, "metadata.labels.app"), "web");
  ferry_trim_free(t);
}

static void test_bad_specs_are_refused(void **state)
{
  (void)state;
  static const char *const bad[] = { "[]", "{\"metadata\":false}", "{\"metadata\":{\"name\":1}}", "{\"a\":\"share\"}",
                                     "not json" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct ferry_trim *t = NULL;
    cleanup_error ferry_error err = FERRY_ERROR_INIT;
    assert_int_equal(ferry_trim_new(bad[i], &t, &err), -1);
    assert_null(t);
  }
}

/* ---------- the controller's informers ---------- */

static int setup(void **state)
{
  *state = ctl_env_new();
  return 0;
}

static int teardown(void **state)
{
  ctl_env_free(*state);
  return 0;
}

/* A Deployment's pod as an API server has it. */
static const char POD[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-1\",\"namespace\":\"default\","
    "\"generateName\":\"web-\",\"labels\":{\"app\":\"web\"},\"managedFields\":[{\"manager\":\"kubelet\"}],"
    "\"annotations\":{\"ferry.dev/migrate-to\":\"auto\",\"prometheus.io/scrape\":\"true\"},"
    "\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"web-7d\",\"uid\":\"rs\",\"controller\":true}]},"
    "\"spec\":{\"nodeName\":\"node-a\",\"runtimeClassName\":\"ferry\",\"tolerations\":[{\"operator\":\"Exists\"}],"
    "\"containers\":[{\"name\":\"app\",\"image\":\"web:1\",\"env\":[{\"name\":\"A\",\"value\":\"1\"}],"
    "\"livenessProbe\":{\"httpGet\":{\"path\":\"/\",\"port\":80}},\"volumeMounts\":[{\"name\":\"v\",\"mountPath\":\"/"
    "v\"}],"
    "\"resources\":{\"requests\":{\"cpu\":\"100m\"},\"limits\":{\"memory\":\"1Gi\"}}}],"
    "\"volumes\":[{\"name\":\"v\",\"emptyDir\":{}}]},"
    "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.5\",\"hostIP\":\"172.20.0.1\","
    "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],\"containerStatuses\":[{\"name\":\"app\","
    "\"containerID\":\"containerd://abc\",\"image\":\"web:1\",\"state\":{\"running\":{}}}]}}";

static void test_controller_pod_keeps_what_it_reads(void **state)
{
  struct env *e = *state;
  fake_api_put(e->f, &FERRY_KUBE_PODS, POD);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_informers_relist(e->c.inf, &err), 0);
  json_object *pod = ferry_informer_get(e->c.pods, "default", "web-1");
  assert_non_null(pod);
  /* kept: identity, labels, owner, Ferry's annotations, placement, the running container */
  assert_non_null(ferry_kube_str(pod, "metadata.uid"));
  assert_non_null(ferry_kube_str(pod, "metadata.resourceVersion"));
  assert_string_equal(ferry_kube_str(pod, "metadata.labels.app"), "web");
  assert_string_equal(ferry_kube_str(ferry_kube_controller_ref(pod), "uid"), "rs");
  json_object *ann = ferry_kube_obj(pod, "metadata.annotations");
  assert_int_equal(json_object_object_length(ann), 1);
  assert_non_null(ferry_kube_key(ann, "ferry.dev/migrate-to"));
  assert_string_equal(ferry_kube_str(pod, "spec.nodeName"), "node-a");
  assert_string_equal(ferry_kube_str(pod, "spec.runtimeClassName"), "ferry");
  assert_non_null(ferry_kube_obj(pod, "spec.tolerations"));
  json_object *c = json_object_array_get_idx(ferry_kube_obj(pod, "spec.containers"), 0);
  assert_string_equal(text(c), "{\"name\":\"app\",\"resources\":{\"requests\":{\"cpu\":\"100m\"},\"limits\":"
                               "{\"memory\":\"1Gi\"}}}");
  assert_string_equal(ferry_kube_str(pod, "status.phase"), "Running");
  assert_string_equal(ferry_kube_str(pod, "status.podIP"), "10.0.0.5");
  json_object *cs = json_object_array_get_idx(ferry_kube_obj(pod, "status.containerStatuses"), 0);
  assert_string_equal(text(cs), "{\"name\":\"app\",\"containerID\":\"containerd://abc\"}");
  /* dropped: what no reader uses */
  assert_null(ferry_kube_obj(pod, "metadata.managedFields"));
  assert_null(ferry_kube_obj(pod, "metadata.generateName"));
  assert_null(ferry_kube_obj(pod, "spec.volumes"));
  assert_null(ferry_kube_obj(pod, "status.conditions"));
  assert_null(ferry_kube_obj(pod, "status.hostIP"));
}

static void test_controller_node_keeps_what_placement_reads(void **state)
{
  struct env *e = *state;
  fake_api_put(e->f, &FERRY_KUBE_NODES,
               "{\"metadata\":{\"name\":\"node-a\",\"labels\":{\"zone\":\"a\"},\"annotations\":{\"x\":\"y\"}},"
               "\"spec\":{\"unschedulable\":true,\"taints\":[{\"key\":\"k\",\"effect\":\"NoSchedule\"}],"
               "\"podCIDR\":\"10.0.0.0/24\"},\"status\":{\"allocatable\":{\"cpu\":\"4\"},\"capacity\":{\"cpu\":\"4\"},"
               "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"KubeletReady\"}],"
               "\"images\":[{\"names\":[\"a\"]}],\"nodeInfo\":{\"kubeletVersion\":\"v1.31\"}}}");
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_informers_relist(e->c.inf, &err), 0);
  json_object *node = ferry_informer_get(e->c.nodes, NULL, "node-a");
  assert_non_null(node);
  assert_string_equal(ferry_kube_str(node, "metadata.labels.zone"), "a");
  assert_true(json_object_get_boolean(ferry_kube_obj(node, "spec.unschedulable")));
  assert_non_null(ferry_kube_obj(node, "spec.taints"));
  assert_string_equal(ferry_kube_str(node, "status.allocatable.cpu"), "4");
  assert_string_equal(ferry_kube_str(node, "status.capacity.cpu"), "4");
  assert_string_equal(text(ferry_kube_obj(node, "status.conditions")), "[{\"type\":\"Ready\",\"status\":\"True\"}]");
  assert_null(ferry_kube_obj(node, "metadata.annotations"));
  assert_null(ferry_kube_obj(node, "spec.podCIDR"));
  assert_null(ferry_kube_obj(node, "status.images"));
  assert_null(ferry_kube_obj(node, "status.nodeInfo"));
}

/* services.c sends an edited copy of a cached Endpoints back: it is cached whole. */
static void test_controller_endpoints_are_cached_whole(void **state)
{
  struct env *e = *state;
  static const char EP[] = "{\"metadata\":{\"name\":\"db\",\"namespace\":\"default\",\"labels\":{\"a\":\"b\"},"
                           "\"annotations\":{\"x\":\"y\"}},\"subsets\":[{\"addresses\":[{\"ip\":\"10.0.0.5\","
                           "\"targetRef\":{\"kind\":\"Pod\",\"name\":\"web-1\"}}],\"ports\":[{\"port\":80}]}]}";
  json_object *stored = fake_api_put(e->f, &FERRY_KUBE_ENDPOINTS, EP);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_informers_relist(e->c.inf, &err), 0);
  json_object *ep = ferry_informer_get(e->c.endpoints, "default", "db");
  assert_string_equal(text(ep), text(stored));
}

static void test_keep_comes_before_the_first_list(void **state)
{
  struct env *e = *state;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_informers_relist(e->c.inf, &err), 0);
  assert_int_equal(ferry_informer_keep(e->c.pods, "{\"metadata\":{\"name\":true}}", &err), -1);
  assert_non_null(strstr(ferry_error_msg(&err), "before its first list"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_named_fields_kept_the_rest_dropped),
    cmocka_unit_test(test_emptied_objects_are_dropped),
    cmocka_unit_test(test_shared_values_are_one_copy),
    cmocka_unit_test(test_bad_specs_are_refused),
    cmocka_unit_test_setup_teardown(test_controller_pod_keeps_what_it_reads, setup, teardown),
    cmocka_unit_test_setup_teardown(test_controller_node_keeps_what_placement_reads, setup, teardown),
    cmocka_unit_test_setup_teardown(test_controller_endpoints_are_cached_whole, setup, teardown),
    cmocka_unit_test_setup_teardown(test_keep_comes_before_the_first_list, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
