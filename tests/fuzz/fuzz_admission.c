/* SPDX-License-Identifier: Apache-2.0 */
/* The pod webhook: the input is the PodMigrations the main loop publishes (a
 * JSON array, webhook_publish_list), then the AdmissionReview the API server
 * POSTs to /mutate-pods, which webhook_answer decodes and answers. */
#include "fuzz.h"
#include "controller.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  static struct webhook *w;
  if (!w && !(w = webhook_new()))
    abort();
  cleanup_free char *text = fuzz_text(data, len);
  size_t at = 0;
  cleanup_json json_object *pms = fuzz_json_next(text, len, &at);
  webhook_publish_list(w, pms);
  unsigned code = 0;
  cleanup_free char *answer = webhook_answer(w, text + at, &code);
  if (!answer || (code != 200 && code != 400))
    abort();
  if (code == 200) { /* the answer is an AdmissionReview */
    cleanup_json json_object *out = json_tokener_parse(answer);
    if (!json_object_is_type(out, json_type_object))
      abort();
  }
  return 0;
}
