/* SPDX-License-Identifier: Apache-2.0 */
/* kubeconfig and in-cluster configuration. */
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

#include "kube/kubeconfig.h"

/* "-----BEGIN CERTIFICATE-----\nCA\n" in base64 */
#define CA_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCg=="

static const char GOOD[] = "apiVersion: v1\n"
                           "kind: Config\n"
                           "current-context: dev\n"
                           "clusters:\n"
                           "- name: lite\n"
                           "  cluster:\n"
                           "    server: https://127.0.0.1:6443/\n"
                           "    certificate-authority-data: " CA_B64 "\n"
                           "- name: other\n"
                           "  cluster:\n"
                           "    server: http://127.0.0.1:8080\n"
                           "    insecure-skip-tls-verify: true\n"
                           "contexts:\n"
                           "- name: dev\n"
                           "  context: {cluster: lite, user: admin, namespace: ferry-system}\n"
                           "- name: plain\n"
                           "  context: {cluster: other, user: certs}\n"
                           "users:\n"
                           "- name: admin\n"
                           "  user:\n"
                           "    token: s3cr3t\n"
                           "- name: certs\n"
                           "  user:\n"
                           "    client-certificate: pki/client.crt\n"
                           "    client-key: /abs/client.key\n";

static void test_current_context(void **state)
{
  (void)state;
  struct ferry_kube_config c;
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_kubeconfig_parse(GOOD, sizeof GOOD - 1, "/etc/k/config", NULL, &c, &err), 0);
  assert_string_equal(c.context, "dev");
  assert_string_equal(c.server, "https://127.0.0.1:6443");
  assert_string_equal(c.namespace_, "ferry-system");
  assert_string_equal(c.token, "s3cr3t");
  assert_int_equal(c.ca_pem_len, 31);
  assert_memory_equal(c.ca_pem, "-----BEGIN CERTIFICATE-----\nCA\n", 31);
  assert_null(c.ca_file);
  assert_false(c.insecure_skip_tls_verify);
  ferry_kube_config_free(&c);
}

static void test_named_context_and_relative_paths(void **state)
{
  (void)state;
  struct ferry_kube_config c;
  ferry_error err = FERRY_ERROR_INIT;
  assert_int_equal(ferry_kubeconfig_parse(GOOD, sizeof GOOD - 1, "/etc/k/config", "plain", &c, &err), 0);
  assert_string_equal(c.server, "http://127.0.0.1:8080");
  assert_string_equal(c.namespace_, "default");
  assert_true(c.insecure_skip_tls_verify);
  assert_string_equal(c.cert_file, "/etc/k/pki/client.crt"); /* relative to the kubeconfig */
  assert_string_equal(c.key_file, "/abs/client.key");
  assert_null(c.token);
  ferry_kube_config_free(&c);
}

static void test_broken_configs_name_the_field(void **state)
{
  (void)state;
  struct {
    const char *yaml;
    const char *expect;
  } cases[] = {
    { "a: [unclosed", "YAML error at line" },
    { "- just\n- a list\n", "not a YAML mapping" },
    { "clusters: []\n", "current-context is not set" },
    { "current-context: x\ncontexts: []\n", "context \"x\" not found" },
    { "current-context: x\ncontexts:\n- name: x\n  context: {user: u}\n", "contexts[0].context.cluster is missing" },
    { "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n", "cluster \"c\" not found in clusters" },
    { "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n  cluster: {}\n",
      "clusters[0].cluster.server is missing" },
    { "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n  cluster: {server: "
      "ftp://h}\n",
      "expected an http:// or https:// URL" },
    { "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n  cluster: {server: "
      "https://h, certificate-authority-data: \"!!notbase64\"}\n",
      "clusters[0].cluster.certificate-authority-data is not valid base64" },
    { "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: "
      "{server: https://h}\n",
      "user \"u\" not found in users" },
    { "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: "
      "{server: https://h}\nusers:\n- name: u\n  user: {client-certificate: /c.crt}\n",
      "users[0].user has a client certificate without a client key" },
    { "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: "
      "{server: https://h}\nusers:\n- name: u\n  user: {exec: {command: aws}}\n",
      "exec or auth-provider" },
    { "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: "
      "{server: https://h}\nusers:\n- name: u\n  user: {tokenFile: /nonexistent/token}\n",
      "users[0].user.tokenFile" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct ferry_kube_config c;
    ferry_error err = FERRY_ERROR_INIT;
    assert_int_equal(ferry_kubeconfig_parse(cases[i].yaml, strlen(cases[i].yaml), "k.yaml", NULL, &c, &err), -1);
    if (!strstr(err.msg, cases[i].expect))
      fail_msg("case %zu: expected '%s' in '%s'", i, cases[i].expect, err.msg);
    ferry_error_clear(&err);
  }
}

static void test_load_from_env_and_token_file(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  tu_write(dir, "token", "from-file\n");
  char *cfg = ferry_asprintf("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                             "clusters:\n- name: c\n  cluster: {server: https://h:1}\n"
                             "users:\n- name: u\n  user: {tokenFile: token}\n");
  tu_write(dir, "config", cfg);
  char *path = ferry_path_join(dir, "config");
  char *env = ferry_asprintf("/nonexistent/first:%s", path);
  setenv("KUBECONFIG", env, 1);
  struct ferry_kube_config c;
  ferry_error err = FERRY_ERROR_INIT;
  if (ferry_kube_config_auto(NULL, NULL, &c, &err) < 0)
    fail_msg("%s", err.msg);
  assert_string_equal(c.token, "from-file");
  assert_string_equal(c.source, path);
  ferry_kube_config_free(&c);
  setenv("KUBECONFIG", "/nonexistent/a:/nonexistent/b", 1);
  assert_int_equal(ferry_kube_config_auto(NULL, NULL, &c, &err), -1);
  assert_non_null(strstr(err.msg, "no readable file"));
  ferry_error_clear(&err);
  unsetenv("KUBECONFIG");
  free(cfg);
  free(path);
  free(env);
  tu_rm(dir);
}

static void test_in_cluster(void **state)
{
  (void)state;
  char *dir = tu_mkdtemp();
  tu_write(dir, "token", "sa-token\n");
  tu_write(dir, "ca.crt", "PEM");
  tu_write(dir, "namespace", "ferry-system");
  struct ferry_kube_config c;
  ferry_error err = FERRY_ERROR_INIT;
  unsetenv("KUBERNETES_SERVICE_HOST");
  assert_int_equal(ferry_kube_config_in_cluster(dir, &c, &err), -1);
  assert_non_null(strstr(err.msg, "KUBERNETES_SERVICE_HOST"));
  ferry_error_clear(&err);
  setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  assert_int_equal(ferry_kube_config_in_cluster(dir, &c, &err), 0);
  assert_string_equal(c.server, "https://[fd00::1]:443");
  assert_string_equal(c.token, "sa-token");
  assert_string_equal(c.namespace_, "ferry-system");
  assert_non_null(strstr(c.ca_file, "ca.crt"));
  ferry_kube_config_free(&c);
  char *tok = ferry_path_join(dir, "token");
  unlink(tok);
  assert_int_equal(ferry_kube_config_in_cluster(dir, &c, &err), -1);
  assert_non_null(strstr(err.msg, "service account token"));
  ferry_error_clear(&err);
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  free(tok);
  tu_rm(dir);
}

static void test_base64(void **state)
{
  (void)state;
  char *out;
  size_t len;
  assert_int_equal(ferry_base64_decode("aGVsbG8=", &out, &len), 0);
  assert_int_equal(len, 5);
  assert_string_equal(out, "hello");
  free(out);
  assert_int_equal(ferry_base64_decode("aGVs\nbG8h", &out, &len), 0);
  assert_string_equal(out, "hello!");
  free(out);
  assert_int_equal(ferry_base64_decode("", &out, &len), 0);
  assert_int_equal(len, 0);
  free(out);
  assert_int_equal(ferry_base64_decode("abc", &out, &len), -1);
  assert_int_equal(ferry_base64_decode("!!!!", &out, &len), -1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_current_context),
    cmocka_unit_test(test_named_context_and_relative_paths),
    cmocka_unit_test(test_broken_configs_name_the_field),
    cmocka_unit_test(test_load_from_env_and_token_file),
    cmocka_unit_test(test_in_cluster),
    cmocka_unit_test(test_base64),
  };
  return cmocka_run_group_tests_name("kubeconfig", tests, NULL, NULL);
}
