/* SPDX-License-Identifier: Apache-2.0 */
/* kube-lite's authorizer (lite/kube-lite/rbac.h, requestinfo.h): rules matched
 * as the API server's RBAC matches them, request paths read as its RequestInfo
 * reads them, bindings resolved, and the 403 worded as it words it. */
#include "testutil.h"

#include "rbac.h"
#include "requestinfo.h"
#include "store.h"

static struct kl_user sa_user;

static json_object *J(const char *text)
{
  json_object *o = json_tokener_parse(text);
  assert_non_null(o);
  return o;
}

static struct kl_attrs attrs(const char *method, const char *path, const char *watch, const char *fs)
{
  struct kl_attrs a;
  memset(&a, 0, sizeof a);
  a.user = &sa_user;
  kl_request_info(path, method, watch, fs, &a);
  return a;
}

static int allows(const char *rule, const char *method, const char *path)
{
  json_object *r = J(rule);
  struct kl_attrs a = attrs(method, path, NULL, NULL);
  int ok = kl_rbac_rule_allows(r, &a);
  json_object_put(r);
  return ok;
}

static void test_request_info(void **state)
{
  (void)state;
  struct kl_attrs a = attrs("GET", "/api/v1/namespaces/default/pods/web", NULL, NULL);
  assert_true(a.resource_request);
  assert_string_equal(a.verb, "get");
  assert_string_equal(a.group, "");
  assert_string_equal(a.resource, "pods");
  assert_string_equal(a.ns, "default");
  assert_string_equal(a.name, "web");
  a = attrs("GET", "/api/v1/namespaces/default/pods", "true", NULL);
  assert_string_equal(a.verb, "watch");
  a = attrs("GET", "/api/v1/pods", "0", "spec.nodeName=a,metadata.name=web");
  assert_string_equal(a.verb, "list");
  assert_string_equal(a.name, "web");
  a = attrs("DELETE", "/apis/apps/v1/namespaces/x/deployments", NULL, NULL);
  assert_string_equal(a.verb, "deletecollection");
  assert_string_equal(a.group, "apps");
  a = attrs("POST", "/api/v1/namespaces/ferry-system/serviceaccounts/agent/token", NULL, NULL);
  assert_string_equal(a.verb, "create");
  assert_string_equal(a.resource, "serviceaccounts");
  assert_string_equal(a.subresource, "token");
  a = attrs("PATCH", "/apis/ferry.dev/v1alpha1/namespaces/x/podmigrations/m/status", NULL, NULL);
  assert_string_equal(a.verb, "patch");
  assert_string_equal(a.subresource, "status");
  a = attrs("GET", "/api/v1/namespaces/team", NULL, NULL); /* a namespace is its own namespace */
  assert_string_equal(a.resource, "namespaces");
  assert_string_equal(a.name, "team");
  assert_string_equal(a.ns, "team");
  a = attrs("PUT", "/api/v1/namespaces/team/finalize", NULL, NULL);
  assert_string_equal(a.subresource, "finalize");
  a = attrs("GET", "/api/v1/watch/namespaces/x/pods", NULL, NULL);
  assert_string_equal(a.verb, "watch");
  assert_string_equal(a.resource, "pods");
  static const char *const non_resource[] = { "/healthz",   "/api",          "/api/v1",           "/apis",
                                              "/apis/apps", "/apis/apps/v1", "/openapi/v3/api/v1" };
  for (size_t i = 0; i < sizeof non_resource / sizeof non_resource[0]; i++) {
    a = attrs("GET", non_resource[i], NULL, NULL);
    assert_false(a.resource_request);
    assert_string_equal(a.verb, "get");
    assert_string_equal(a.path, non_resource[i]);
  }
}

static void test_rule_matching(void **state)
{
  (void)state;
  const char *pods = "{\"apiGroups\":[\"\"],\"resources\":[\"pods\"],\"verbs\":[\"get\",\"list\"]}";
  assert_true(allows(pods, "GET", "/api/v1/namespaces/x/pods/p"));
  assert_true(allows(pods, "GET", "/api/v1/namespaces/x/pods"));
  assert_false(allows(pods, "DELETE", "/api/v1/namespaces/x/pods/p")); /* verb */
  assert_false(allows(pods, "GET", "/api/v1/namespaces/x/pods/p/status"));
  assert_false(allows(pods, "GET", "/apis/apps/v1/namespaces/x/pods/p")); /* group */
  const char *status = "{\"apiGroups\":[\"*\"],\"resources\":[\"*/status\"],\"verbs\":[\"*\"]}";
  assert_true(allows(status, "PATCH", "/apis/ferry.dev/v1alpha1/namespaces/x/podmigrations/m/status"));
  assert_false(allows(status, "PATCH", "/apis/ferry.dev/v1alpha1/namespaces/x/podmigrations/m"));
  const char *binding = "{\"apiGroups\":[\"\"],\"resources\":[\"pods/binding\",\"pods/eviction\"],"
                        "\"verbs\":[\"create\"]}";
  assert_true(allows(binding, "POST", "/api/v1/namespaces/x/pods/p/binding"));
  assert_true(allows(binding, "POST", "/api/v1/namespaces/x/pods/p/eviction"));
  assert_false(allows(binding, "POST", "/api/v1/namespaces/x/pods"));
  const char *all = "{\"apiGroups\":[\"*\"],\"resources\":[\"*\"],\"verbs\":[\"*\"]}";
  assert_true(allows(all, "DELETE", "/api/v1/namespaces/x/pods/p/status"));
  assert_false(allows(all, "GET", "/healthz")); /* resource rules do not cover paths */
  const char *named = "{\"apiGroups\":[\"\"],\"resources\":[\"secrets\"],\"resourceNames\":[\"key\"],"
                      "\"verbs\":[\"get\",\"list\",\"watch\"]}";
  assert_true(allows(named, "GET", "/api/v1/namespaces/x/secrets/key"));
  assert_false(allows(named, "GET", "/api/v1/namespaces/x/secrets/other"));
  assert_false(allows(named, "GET", "/api/v1/namespaces/x/secrets")); /* a list has no name */
  const char *urls = "{\"nonResourceURLs\":[\"/healthz\",\"/apis/*\"],\"verbs\":[\"get\"]}";
  assert_true(allows(urls, "GET", "/healthz"));
  assert_true(allows(urls, "GET", "/apis/apps/v1"));
  assert_false(allows(urls, "GET", "/apis"));
  assert_false(allows(urls, "POST", "/healthz"));
  assert_false(allows(urls, "GET", "/api/v1/namespaces/x/pods")); /* URL rules do not cover resources */
  assert_true(allows("{\"nonResourceURLs\":[\"*\"],\"verbs\":[\"*\"]}", "PUT", "/anything"));
}

static void test_subjects(void **state)
{
  (void)state;
  json_object *sa = J("{\"kind\":\"ServiceAccount\",\"name\":\"agent\",\"namespace\":\"ferry-system\"}");
  json_object *sa_bare = J("{\"kind\":\"ServiceAccount\",\"name\":\"agent\"}");
  json_object *group = J("{\"kind\":\"Group\",\"name\":\"system:serviceaccounts:ferry-system\"}");
  json_object *user = J("{\"kind\":\"User\",\"name\":\"system:serviceaccount:ferry-system:agent\"}");
  assert_true(kl_rbac_subject_matches(sa, &sa_user, ""));
  assert_true(kl_rbac_subject_matches(sa_bare, &sa_user, "ferry-system")); /* the binding's namespace */
  assert_false(kl_rbac_subject_matches(sa_bare, &sa_user, ""));            /* a ClusterRoleBinding needs one */
  assert_false(kl_rbac_subject_matches(sa_bare, &sa_user, "default"));
  assert_true(kl_rbac_subject_matches(group, &sa_user, ""));
  assert_true(kl_rbac_subject_matches(user, &sa_user, ""));
  json_object_put(sa);
  json_object_put(sa_bare);
  json_object_put(group);
  json_object_put(user);
}

static void put(struct kl_store *s, const char *kind_key, const char *key, const char *text)
{
  json_object_object_add(kl_store_kind(s, kind_key), key, J(text));
}

static void test_authorize(void **state)
{
  (void)state;
  struct kl_store s;
  kl_store_init(&s);
  put(&s, KL_RBAC_GROUP "/roles", "default/reader",
      "{\"metadata\":{\"name\":\"reader\",\"namespace\":\"default\"},\"rules\":[{\"apiGroups\":[\"\"],"
      "\"resources\":[\"pods\"],\"verbs\":[\"get\"]}]}");
  put(&s, KL_RBAC_GROUP "/rolebindings", "default/b",
      "{\"metadata\":{\"name\":\"b\",\"namespace\":\"default\"},\"roleRef\":{\"kind\":\"Role\",\"name\":\"reader\"},"
      "\"subjects\":[{\"kind\":\"ServiceAccount\",\"name\":\"agent\",\"namespace\":\"ferry-system\"}]}");
  put(&s, KL_RBAC_GROUP "/rolebindings", "default/dangling",
      "{\"metadata\":{\"name\":\"dangling\",\"namespace\":\"default\"},\"roleRef\":{\"kind\":\"ClusterRole\","
      "\"name\":\"gone\"},\"subjects\":[{\"kind\":\"Group\",\"name\":\"system:serviceaccounts\"}]}");
  char reason[512], msg[1024];
  struct kl_attrs a = attrs("GET", "/api/v1/namespaces/default/pods/p", NULL, NULL);
  assert_true(kl_authorize(&s, &a, reason, sizeof reason));
  assert_string_equal(reason, "RBAC: allowed by RoleBinding \"b/default\" of Role \"reader\" to ServiceAccount "
                              "\"agent/ferry-system\"");
  a = attrs("GET", "/api/v1/namespaces/other/pods/p", NULL, NULL); /* a Role is one namespace's */
  assert_false(kl_authorize(&s, &a, reason, sizeof reason));
  assert_string_equal(reason, "");
  a = attrs("GET", "/api/v1/namespaces/default/secrets/x", NULL, NULL);
  assert_false(kl_authorize(&s, &a, reason, sizeof reason));
  assert_string_equal(reason, "RBAC: clusterrole.rbac.authorization.k8s.io \"gone\" not found");
  kl_forbidden_message(&a, "", msg, sizeof msg);
  assert_string_equal(msg, "secrets \"x\" is forbidden: User \"system:serviceaccount:ferry-system:agent\" cannot get "
                           "resource \"secrets\" in API group \"\" in the namespace \"default\"");
  a = attrs("GET", "/apis/coordination.k8s.io/v1/leases", NULL, NULL);
  kl_forbidden_message(&a, "", msg, sizeof msg);
  assert_string_equal(msg, "leases.coordination.k8s.io is forbidden: User \"system:serviceaccount:ferry-system:agent\" "
                           "cannot list resource \"leases\" in API group \"coordination.k8s.io\" at the cluster scope");
  a = attrs("POST", "/api/v1/namespaces/default/pods/p/eviction", NULL, NULL);
  kl_forbidden_message(&a, "RBAC: x", msg, sizeof msg);
  assert_string_equal(msg, "pods \"p\" is forbidden: User \"system:serviceaccount:ferry-system:agent\" cannot create "
                           "resource \"pods/eviction\" in API group \"\" in the namespace \"default\": RBAC: x");
  a = attrs("GET", "/metrics", NULL, NULL);
  kl_forbidden_message(&a, "", msg, sizeof msg);
  assert_string_equal(msg, "forbidden: User \"system:serviceaccount:ferry-system:agent\" cannot get path \"/metrics\"");
  struct kl_user admin = { .name = "root" };
  kl_user_add_group(&admin, KL_GROUP_MASTERS);
  a.user = &admin;
  assert_true(kl_authorize(&s, &a, reason, sizeof reason)); /* system:masters, before RBAC */
  kl_store_free(&s);
}

int main(void)
{
  kl_user_service_account(&sa_user, "ferry-system", "agent", "u-1");
  kl_user_add_group(&sa_user, KL_GROUP_AUTHENTICATED);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_request_info),
    cmocka_unit_test(test_rule_matching),
    cmocka_unit_test(test_subjects),
    cmocka_unit_test(test_authorize),
  };
  return cmocka_run_group_tests_name("kube-lite RBAC", tests, NULL, NULL);
}
