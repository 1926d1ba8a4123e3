/* SPDX-License-Identifier: Apache-2.0 */
/* kube-lite's chunked lists: every page at the first page's resourceVersion,
 * the next page starting after the last key given, not at an index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/util.h"
#include "jwt.h"
#include "kube/kube.h"
#include "paging.h"

/* ConfigMaps named after names, in namespace ns, in that (sorted) order. */
static json_object *items_of(const char *ns, const char *const *names)
{
  json_object *a = json_object_new_array();
  for (size_t i = 0; names[i]; i++) {
    json_object *o = json_object_new_object(), *m = json_object_new_object();
    json_object_object_add(m, "namespace", json_object_new_string(ns));
    json_object_object_add(m, "name", json_object_new_string(names[i]));
    json_object_object_add(o, "metadata", m);
    json_object_array_add(a, o);
  }
  return a;
}

static const char *name_at(json_object *items, size_t i)
{
  return ferry_kube_str(json_object_array_get_idx(items, i), "metadata.name");
}

static void test_pages_keep_the_first_rv_and_the_key(void **state)
{
  (void)state;
  static const char *const five[] = { "a", "b", "c", "d", "e", NULL };
  cleanup_json json_object *items = items_of("ns", five);
  struct kl_page p;
  char why[256];
  assert_int_equal(kl_page_of(items, "2", NULL, 40, 1, &p, why, sizeof why), 0);
  assert_int_equal(p.from, 0);
  assert_int_equal(p.to, 2);
  assert_int_equal(p.rv, 40);
  assert_non_null(p.next);
  cleanup_free char *token = ferry_strdup(p.next);
  kl_page_free(&p);
  /* the token is the API server's: {"v":"meta.k8s.io/v1","rv":40,"start":"ns/b"} */
  cleanup_free unsigned char *raw = NULL;
  size_t n;
  assert_int_equal(kl_b64url_decode(token, strlen(token), &raw, &n), 0);
  assert_string_equal((char *)raw, "{\"v\":\"meta.k8s.io/v1\",\"rv\":40,\"start\":\"ns/b\"}");

  /* "a" removed and "bb" made between the pages: the next page starts after
   * "b" (an index would skip "c"), at resourceVersion 40 still */
  static const char *const changed[] = { "b", "bb", "c", "d", "e", NULL };
  cleanup_json json_object *now = items_of("ns", changed);
  assert_int_equal(kl_page_of(now, "2", token, 47, 1, &p, why, sizeof why), 0);
  assert_int_equal(p.rv, 40);
  assert_int_equal(p.to - p.from, 2);
  assert_string_equal(name_at(now, p.from), "bb");
  assert_string_equal(name_at(now, p.from + 1), "c");
  cleanup_free char *third = ferry_strdup(p.next);
  kl_page_free(&p);
  assert_int_equal(kl_page_of(now, "2", third, 47, 1, &p, why, sizeof why), 0);
  assert_string_equal(name_at(now, p.from), "d");
  assert_int_equal(p.to, 5);
  assert_null(p.next); /* the last page */
  kl_page_free(&p);
}

static void test_namespaces_sort_before_names(void **state)
{
  (void)state;
  static const char *const one[] = { "x", NULL };
  cleanup_json json_object *items = json_object_new_array();
  cleanup_json json_object *a = items_of("a", one), *ab = items_of("ab", one), *b = items_of("b", one);
  json_object_array_add(items, json_object_get(json_object_array_get_idx(a, 0)));
  json_object_array_add(items, json_object_get(json_object_array_get_idx(ab, 0)));
  json_object_array_add(items, json_object_get(json_object_array_get_idx(b, 0)));
  struct kl_page p;
  char why[256];
  assert_int_equal(kl_page_of(items, "1", NULL, 9, 1, &p, why, sizeof why), 0);
  cleanup_free char *t = ferry_strdup(p.next);
  kl_page_free(&p);
  assert_int_equal(kl_page_of(items, "1", t, 9, 1, &p, why, sizeof why), 0);
  assert_string_equal(ferry_kube_str(json_object_array_get_idx(items, p.from), "metadata.namespace"), "ab");
  kl_page_free(&p);
}

static void test_refusals(void **state)
{
  (void)state;
  static const char *const two[] = { "a", "b", NULL };
  cleanup_json json_object *items = items_of("ns", two);
  struct kl_page p;
  char why[256];
  assert_int_equal(kl_page_of(items, "x", NULL, 9, 1, &p, why, sizeof why), 400);
  assert_non_null(strstr(why, "limit"));
  assert_int_equal(kl_page_of(items, "1", "!!not base64", 9, 1, &p, why, sizeof why), 400);
  assert_non_null(strstr(why, "continue key is not valid"));
  cleanup_free char *json = kl_b64url_encode((const unsigned char *)"{\"rv\":3}", 8);
  assert_int_equal(kl_page_of(items, "1", json, 9, 1, &p, why, sizeof why), 400);
  /* older than the history (compacted, or before a restart): 410 */
  assert_int_equal(kl_page_of(items, "1", NULL, 9, 1, &p, why, sizeof why), 0);
  cleanup_free char *old = ferry_strdup(p.next);
  kl_page_free(&p);
  assert_int_equal(kl_page_of(items, "1", old, 30, 20, &p, why, sizeof why), 410);
  assert_non_null(strstr(why, "too old"));
  /* no limit: the whole list, no token */
  assert_int_equal(kl_page_of(items, NULL, NULL, 9, 1, &p, why, sizeof why), 0);
  assert_int_equal(p.to, 2);
  assert_null(p.next);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_pages_keep_the_first_rv_and_the_key),
    cmocka_unit_test(test_namespaces_sort_before_names),
    cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
