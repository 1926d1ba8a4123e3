/* SPDX-License-Identifier: Apache-2.0 */
/* A watch event line of the API (ferry_watch_event_parse, as the informers read
 * them) whose object the rebalancer decodes: a Pod (rb_pod_from_json: labels,
 * requests, affinity terms and their selectors) or a Node (rb_node_from_json). */
#include <json-c/json.h>

#include "fuzz.h"
#include "kube/informer.h"
#include "rebalance/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  cleanup_free char *line = fuzz_text(data, len);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  cleanup_json json_object *obj = NULL;
  char type[16];
  if (ferry_watch_event_parse(line, type, sizeof type, &obj, &err) < 0)
    return 0;
  struct rb_arena a = { 0 };
  struct rb_pod pod;
  struct rb_node node;
  if (rb_pod_from_json(&a, obj, &pod, &err) < 0 && !err.msg)
    abort();
  ferry_error_clear(&err);
  if (rb_node_from_json(&a, obj, &node, &err) < 0 && !err.msg)
    abort();
  rb_arena_free(&a);
  return 0;
}
