/* SPDX-License-Identifier: Apache-2.0 */
/* kube-lite's PATCH bodies, applied as api.c's do_patch applies them: the input
 * is the patch type (its first byte: JSON patch, merge patch, strategic merge
 * patch), the stored object (JSON) and the patch (JSON), one after the other. */
#include "fuzz.h"
#include "patch.h"

enum patch_type { JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, PATCH_TYPES };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  if (len < 1 || len > 1 << 20)
    return 0;
  enum patch_type type = data[0] % PATCH_TYPES;
  cleanup_free char *text = fuzz_text(data + 1, len - 1);
  size_t at = 0;
  json_object *doc = fuzz_json_next(text, len - 1, &at);
  cleanup_json json_object *patch = fuzz_json_next(text, len - 1, &at);
  char why[256] = "";
  if (type == JSON_PATCH)
    kl_json_patch(&doc, patch, why, sizeof why);
  else if (type == MERGE_PATCH)
    kl_merge_patch(&doc, patch);
  else
    kl_strategic_patch(&doc, patch);
  json_object_put(doc);
  return 0;
}
