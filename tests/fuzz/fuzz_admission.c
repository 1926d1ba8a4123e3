/* SPDX-License-Identifier: Apache-2.0 */
/* The pod webhook's AdmissionReview (what the API server POSTs to /mutate-pods):
 * webhook_answer, which decodes it and answers. */
#include <json-c/json.h>

#include "fuzz.h"
#include "controller.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  static struct webhook *w;
  if (!w && !(w = webhook_new()))
    abort();
  cleanup_free char *body = fuzz_text(data, len);
  unsigned code = 0;
  cleanup_free char *text = webhook_answer(w, body, &code);
  if (!text || (code != 200 && code != 400))
    abort();
  if (code == 200) { /* the answer is an AdmissionReview */
    cleanup_json json_object *out = json_tokener_parse(text);
    if (!json_object_is_type(out, json_type_object))
      abort();
  }
  return 0;
}
