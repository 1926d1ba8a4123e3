/* SPDX-License-Identifier: Apache-2.0 */
/* kube-lite's chunked lists (?limit=, ?continue=): the input is the limit, a
 * newline and the continue token, paged over a list of three objects. */
#include <json-c/json.h>

#include "fuzz.h"
#include "kube/kube.h"
#include "paging.h"

static json_object *three(void)
{
  static const char *const names[] = { "a", "b", "c" };
  json_object *items = json_object_new_array();
  for (size_t i = 0; i < 3; i++) {
    json_object *o = json_object_new_object(), *m = json_object_new_object();
    json_object_object_add(m, "namespace", json_object_new_string("ns"));
    json_object_object_add(m, "name", json_object_new_string(names[i]));
    json_object_object_add(o, "metadata", m);
    json_object_array_add(items, o);
  }
  return items;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  cleanup_free char *text = fuzz_text(data, len);
  char *cont = strchr(text, '\n');
  if (cont)
    *cont++ = '\0';
  cleanup_json json_object *items = three();
  struct kl_page p;
  char why[256] = "";
  unsigned code = kl_page_of(items, text, cont, 50, 10, &p, why, sizeof why);
  if (code && !why[0])
    abort(); /* a refusal says why */
  if (!code && (p.from > p.to || p.to > json_object_array_length(items)))
    abort(); /* a page lies within the list */
  kl_page_free(&p);
  return 0;
}
