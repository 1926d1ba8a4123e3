/* SPDX-License-Identifier: Apache-2.0 */
/* kube-lite's protobuf request bodies: messages packed with the generated
 * protobuf-c code, wrapped in the Kubernetes envelope as client-go wraps them,
 * come out as the JSON the API server would store (maps, base64 bytes, Time,
 * Quantity, IntOrString, RawExtension, Duration, omitted empties); truncated,
 * garbage and mistyped bodies are refused with a message, never a crash (and
 * tests/fuzz/fuzz_kl_protobuf.c fuzzes it). */
#include <stdint.h>

#include "testutil.h"

#include "k8s.io/api/apps/v1/generated.pb-c.h"
#include "k8s.io/api/core/v1/generated.pb-c.h"
#include "k8s.io/apimachinery/pkg/apis/meta/v1/generated.pb-c.h"
#include "k8s.io/apimachinery/pkg/runtime/generated.pb-c.h"
#include "../../lite/kube-lite/protobuf.h"

/* The envelope: "k8s\0" + runtime.Unknown{typeMeta, raw}; *len set. */
static uint8_t *envelope(const char *api_version, const char *kind, const ProtobufCMessage *m, size_t *len)
{
  K8s__Io__Apimachinery__Pkg__Runtime__TypeMeta tm = K8S__IO__APIMACHINERY__PKG__RUNTIME__TYPE_META__INIT;
  K8s__Io__Apimachinery__Pkg__Runtime__Unknown u = K8S__IO__APIMACHINERY__PKG__RUNTIME__UNKNOWN__INIT;
  tm.apiversion = (char *)api_version;
  tm.kind = (char *)kind;
  u.typemeta = &tm;
  size_t raw_len = m ? protobuf_c_message_get_packed_size(m) : 0;
  uint8_t *raw = malloc(raw_len + 1);
  if (m)
    protobuf_c_message_pack(m, raw);
  u.has_raw = 1;
  u.raw.data = raw;
  u.raw.len = raw_len;
  u.contenttype = (char *)"";
  u.contentencoding = (char *)"";
  size_t n = k8s__io__apimachinery__pkg__runtime__unknown__get_packed_size(&u);
  uint8_t *out = malloc(4 + n);
  memcpy(out, "k8s\0", 4);
  k8s__io__apimachinery__pkg__runtime__unknown__pack(&u, out + 4);
  free(raw);
  *len = 4 + n;
  return out;
}

static json_object *decode_ok(const uint8_t *buf, size_t len)
{
  json_object *o = NULL;
  char why[512] = "";
  int rc = kl_protobuf_decode(buf, len, &o, why, sizeof why);
  if (rc != 0)
    fail_msg("decode failed: %s", why);
  assert_non_null(o);
  return o;
}

static const char *at(json_object *o, const char *path)
{
  json_object *cur = o;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  char *save = NULL;
  for (char *k = strtok_r(buf, ".", &save); k && cur; k = strtok_r(NULL, ".", &save))
    if (!json_object_object_get_ex(cur, k, &cur))
      return NULL;
  return cur ? json_object_get_string(cur) : NULL;
}

static void test_secret(void **state)
{
  (void)state;
  K8s__Io__Api__Core__V1__Secret s = K8S__IO__API__CORE__V1__SECRET__INIT;
  K8s__Io__Apimachinery__Pkg__Apis__Meta__V1__ObjectMeta meta =
      K8S__IO__APIMACHINERY__PKG__APIS__META__V1__OBJECT_META__INIT;
  K8s__Io__Apimachinery__Pkg__Apis__Meta__V1__Time ts = K8S__IO__APIMACHINERY__PKG__APIS__META__V1__TIME__INIT;
  K8s__Io__Api__Core__V1__Secret__DataEntry d1 = K8S__IO__API__CORE__V1__SECRET__DATA_ENTRY__INIT,
                                            d2 = K8S__IO__API__CORE__V1__SECRET__DATA_ENTRY__INIT;
  K8s__Io__Apimachinery__Pkg__Apis__Meta__V1__ObjectMeta__LabelsEntry l1 =
      K8S__IO__APIMACHINERY__PKG__APIS__META__V1__OBJECT_META__LABELS_ENTRY__INIT;
  meta.name = (char *)"sh.helm.release.v1.t1.v1";
  meta.namespace_ = (char *)"default";
  meta.generatename = (char *)""; /* Go writes empty strings: left out as omitempty does */
  meta.has_generation = 1;
  meta.generation = 0;
  meta.creationtimestamp = &ts; /* the zero time: Go's null, left out */
  l1.key = (char *)"owner";
  l1.value = (char *)"helm";
  K8s__Io__Apimachinery__Pkg__Apis__Meta__V1__ObjectMeta__LabelsEntry *labels[] = { &l1 };
  meta.n_labels = 1;
  meta.labels = labels;
  d1.key = (char *)"release";
  d1.has_value = 1;
  d1.value.data = (uint8_t *)"hi!";
  d1.value.len = 3;
  d2.key = (char *)"empty";
  d2.has_value = 1;
  d2.value.len = 0;
  K8s__Io__Api__Core__V1__Secret__DataEntry *data[] = { &d1, &d2 };
  s.metadata = &meta;
  s.n_data = 2;
  s.data = data;
  s.type = (char *)"helm.sh/release.v1";
  size_t len;
  uint8_t *buf = envelope("v1", "Secret", &s.base, &len);
  json_object *o = decode_ok(buf, len);
  assert_string_equal(at(o, "apiVersion"), "v1");
  assert_string_equal(at(o, "kind"), "Secret");
  assert_string_equal(at(o, "metadata.name"), "sh.helm.release.v1.t1.v1");
  assert_string_equal(at(o, "metadata.labels.owner"), "helm");
  assert_null(at(o, "metadata.generateName"));
  assert_null(at(o, "metadata.creationTimestamp"));
  assert_string_equal(at(o, "data.release"), "aGkh");
  assert_string_equal(at(o, "data.empty"), "");
  assert_string_equal(at(o, "type"), "helm.sh/release.v1");
  json_object_put(o);
  free(buf);
}

static void test_daemonset_special_types(void **state)
{
  (void)state;
  K8s__Io__Api__Apps__V1__DaemonSet ds = K8S__IO__API__APPS__V1__DAEMON_SET__INIT;
  K8s__Io__Apimachinery__Pkg__Apis__Meta__V1__ObjectMeta meta =
      K8S__IO__APIMACHINERY__PKG__APIS__META__V1__OBJECT_META__INIT;
  K8s__Io__Apimachinery__Pkg__Apis__Meta__V1__Time ts = K8S__IO__APIMACHINERY__PKG__APIS__META__V1__TIME__INIT;
  K8s__Io__Api__Apps__V1__DaemonSetSpec spec = K8S__IO__API__APPS__V1__DAEMON_SET_SPEC__INIT;
  K8s__Io__Api__Apps__V1__DaemonSetUpdateStrategy st = K8S__IO__API__APPS__V1__DAEMON_SET_UPDATE_STRATEGY__INIT;
  K8s__Io__Api__Apps__V1__RollingUpdateDaemonSet ru = K8S__IO__API__APPS__V1__ROLLING_UPDATE_DAEMON_SET__INIT;
  K8s__Io__Apimachinery__Pkg__Util__Intstr__IntOrString
      mu = K8S__IO__APIMACHINERY__PKG__UTIL__INTSTR__INT_OR_STRING__INIT,
      ms = K8S__IO__APIMACHINERY__PKG__UTIL__INTSTR__INT_OR_STRING__INIT;
  K8s__Io__Api__Core__V1__PodTemplateSpec tmpl = K8S__IO__API__CORE__V1__POD_TEMPLATE_SPEC__INIT;
  K8s__Io__Api__Core__V1__PodSpec ps = K8S__IO__API__CORE__V1__POD_SPEC__INIT;
  K8s__Io__Api__Core__V1__Container c = K8S__IO__API__CORE__V1__CONTAINER__INIT;
  K8s__Io__Api__Core__V1__ResourceRequirements rr = K8S__IO__API__CORE__V1__RESOURCE_REQUIREMENTS__INIT;
  K8s__Io__Api__Core__V1__ResourceRequirements__LimitsEntry le =
      K8S__IO__API__CORE__V1__RESOURCE_REQUIREMENTS__LIMITS_ENTRY__INIT;
  K8s__Io__Apimachinery__Pkg__Api__Resource__Quantity q = K8S__IO__APIMACHINERY__PKG__API__RESOURCE__QUANTITY__INIT;
  meta.name = (char *)"agent";
  ts.has_seconds = 1;
  ts.seconds = 1700000000; /* 2023-11-14T22:13:20Z */
  meta.creationtimestamp = &ts;
  mu.has_type = 1;
  mu.type = 0;
  mu.has_intval = 1;
  mu.intval = 1;
  ms.has_type = 1;
  ms.type = 1;
  ms.strval = (char *)"25%";
  ru.maxunavailable = &mu;
  ru.maxsurge = &ms;
  st.type = (char *)"RollingUpdate";
  st.rollingupdate = &ru;
  q.string = (char *)"500m";
  le.key = (char *)"cpu";
  le.value = &q;
  K8s__Io__Api__Core__V1__ResourceRequirements__LimitsEntry *limits[] = { &le };
  rr.n_limits = 1;
  rr.limits = limits;
  c.name = (char *)"c";
  c.image = (char *)"busybox";
  c.resources = &rr;
  c.has_stdin = 1; /* a bool Go always writes: kept, as Go decodes it */
  K8s__Io__Api__Core__V1__Container *cs[] = { &c };
  ps.n_containers = 1;
  ps.containers = cs;
  ps.has_hostnetwork = 1;
  ps.hostnetwork = 1;
  tmpl.spec = &ps;
  spec.template_ = &tmpl;
  spec.updatestrategy = &st;
  ds.metadata = &meta;
  ds.spec = &spec;
  size_t len;
  uint8_t *buf = envelope("apps/v1", "DaemonSet", &ds.base, &len);
  json_object *o = decode_ok(buf, len);
  assert_string_equal(at(o, "metadata.creationTimestamp"), "2023-11-14T22:13:20Z");
  json_object *v = NULL;
  assert_true(json_pointer_get(o, "/spec/updateStrategy/rollingUpdate/maxUnavailable", &v) == 0);
  assert_true(json_object_is_type(v, json_type_int));
  assert_int_equal(json_object_get_int(v), 1);
  assert_string_equal(at(o, "spec.updateStrategy.rollingUpdate.maxSurge"), "25%");
  assert_true(json_pointer_get(o, "/spec/template/spec/containers/0/resources/limits/cpu", &v) == 0);
  assert_string_equal(json_object_get_string(v), "500m");
  assert_true(json_pointer_get(o, "/spec/template/spec/hostNetwork", &v) == 0);
  assert_true(json_object_get_boolean(v));
  assert_true(json_pointer_get(o, "/spec/template/spec/containers/0/stdin", &v) == 0);
  assert_false(json_object_get_boolean(v));
  assert_null(at(o, "spec.minReadySeconds"));
  json_object_put(o);
  free(buf);
}

static void test_delete_options_and_raw_extension(void **state)
{
  (void)state;
  K8s__Io__Apimachinery__Pkg__Apis__Meta__V1__DeleteOptions d =
      K8S__IO__APIMACHINERY__PKG__APIS__META__V1__DELETE_OPTIONS__INIT;
  d.has_graceperiodseconds = 1;
  d.graceperiodseconds = 0; /* a pointer in Go: 0 is meaningful and kept */
  d.propagationpolicy = (char *)"Background";
  char *dry[] = { (char *)"All" };
  d.n_dryrun = 1;
  d.dryrun = dry;
  size_t len;
  uint8_t *buf = envelope("v1", "DeleteOptions", &d.base, &len); /* client-go sends the group's version */
  json_object *o = decode_ok(buf, len);
  assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                      "{\"apiVersion\":\"v1\",\"kind\":\"DeleteOptions\",\"gracePeriodSeconds\":0,"
                      "\"propagationPolicy\":\"Background\",\"dryRun\":[\"All\"]}");
  json_object_put(o);
  free(buf);

  K8s__Io__Apimachinery__Pkg__Apis__Meta__V1__WatchEvent ev =
      K8S__IO__APIMACHINERY__PKG__APIS__META__V1__WATCH_EVENT__INIT;
  K8s__Io__Apimachinery__Pkg__Runtime__RawExtension raw = K8S__IO__APIMACHINERY__PKG__RUNTIME__RAW_EXTENSION__INIT;
  ev.type = (char *)"ADDED";
  raw.has_raw = 1;
  raw.raw.data = (uint8_t *)"{\"a\":[1,2]}";
  raw.raw.len = strlen("{\"a\":[1,2]}");
  ev.object = &raw;
  buf = envelope("meta.k8s.io/v1", "WatchEvent", &ev.base, &len);
  o = decode_ok(buf, len);
  json_object *v = NULL;
  assert_true(json_pointer_get(o, "/object/a/1", &v) == 0);
  assert_int_equal(json_object_get_int(v), 2);
  json_object_put(o);
  free(buf);
  raw.raw.data = (uint8_t *)"{not json";
  raw.raw.len = strlen("{not json");
  buf = envelope("meta.k8s.io/v1", "WatchEvent", &ev.base, &len);
  char why[512];
  assert_int_equal(kl_protobuf_decode(buf, len, &o, why, sizeof why), -1);
  assert_non_null(strstr(why, "RawExtension.raw is not JSON"));
  free(buf);
}

static void expect_refused(const uint8_t *buf, size_t len, const char *want)
{
  json_object *o = NULL;
  char why[512] = "";
  assert_int_equal(kl_protobuf_decode(buf, len, &o, why, sizeof why), -1);
  assert_null(o);
  if (!strstr(why, want))
    fail_msg("wanted \"%s\" in \"%s\"", want, why);
}

static void test_bad_bodies(void **state)
{
  (void)state;
  expect_refused((const uint8_t *)"", 0, "empty data");
  expect_refused((const uint8_t *)"{\"kind\":\"Secret\"}", 17, "does not appear to be a protobuf message");
  expect_refused((const uint8_t *)"k8s", 3, "does not appear to be a protobuf message");
  K8s__Io__Api__Core__V1__ConfigMap cm = K8S__IO__API__CORE__V1__CONFIG_MAP__INIT;
  K8s__Io__Apimachinery__Pkg__Apis__Meta__V1__ObjectMeta meta =
      K8S__IO__APIMACHINERY__PKG__APIS__META__V1__OBJECT_META__INIT;
  meta.name = (char *)"a-config-map-with-a-long-enough-name";
  cm.metadata = &meta;
  size_t len;
  uint8_t *buf = envelope("v1", "ConfigMap", &cm.base, &len);
  for (size_t cut = 5; cut < len; cut++) { /* every truncation: refused or (at a field boundary) decoded */
    json_object *o = NULL;
    char why[512];
    if (kl_protobuf_decode(buf, cut, &o, why, sizeof why) == 0)
      assert_non_null(o);
    json_object_put(o);
  }
  expect_refused(buf, len - 3, "malformed");
  uint8_t garbage[64] = { 'k', '8', 's', 0 };
  for (size_t i = 4; i < sizeof garbage; i++)
    garbage[i] = (uint8_t)(0xff - i * 7);
  expect_refused(garbage, sizeof garbage, "malformed");
  free(buf);
  buf = envelope("v1", "NoSuchKind", &cm.base, &len);
  expect_refused(buf, len, "no kind \"NoSuchKind\" is registered for version \"v1\"");
  free(buf);
  buf = envelope("", "", &cm.base, &len);
  expect_refused(buf, len, "Object 'Kind' is missing");
  free(buf);
  buf =
      envelope("apps/v1", "DaemonSet", &cm.base, &len); /* a ConfigMap's bytes read as a DaemonSet: a wire-type clash */
  json_object *o = NULL;
  char why[512];
  if (kl_protobuf_decode(buf, len, &o, why, sizeof why) == 0)
    json_object_put(o);
  free(buf);
}

static void test_message_names(void **state)
{
  (void)state;
  char buf[256];
  kl_protobuf_message_name("v1", "Secret", buf, sizeof buf);
  assert_string_equal(buf, "k8s.io.api.core.v1.Secret");
  kl_protobuf_message_name("rbac.authorization.k8s.io/v1", "Role", buf, sizeof buf);
  assert_string_equal(buf, "k8s.io.api.rbac.v1.Role");
  kl_protobuf_message_name("meta.k8s.io/v1", "DeleteOptions", buf, sizeof buf);
  assert_string_equal(buf, "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions");
  kl_protobuf_message_name("authentication.k8s.io/v1", "TokenRequest", buf, sizeof buf);
  assert_string_equal(buf, "k8s.io.api.authentication.v1.TokenRequest");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_secret),
    cmocka_unit_test(test_daemonset_special_types),
    cmocka_unit_test(test_delete_options_and_raw_extension),
    cmocka_unit_test(test_bad_bodies),
    cmocka_unit_test(test_message_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
