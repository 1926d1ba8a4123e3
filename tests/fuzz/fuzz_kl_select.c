/* SPDX-License-Identifier: Apache-2.0 */
/* kube-lite's list and watch selectors (?labelSelector=, ?fieldSelector=): the
 * input is the label selector, a newline, the field selector, a newline and an
 * object (JSON) to match; a LabelSelector object is matched against its labels too. */
#include <json-c/json.h>

#include "fuzz.h"
#include "kube/kube.h"
#include "select.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  cleanup_free char *text = fuzz_text(data, len);
  char *fields = strchr(text, '\n'), *object = NULL;
  if (fields) {
    *fields++ = '\0';
    object = strchr(fields, '\n');
    if (object)
      *object++ = '\0';
  }
  cleanup_json json_object *obj = object ? json_tokener_parse(object) : NULL;
  char why[256] = "";
  struct kl_selector *s = kl_selector_parse(text, fields, why, sizeof why);
  if (!s && !why[0])
    abort(); /* a refused selector says why */
  if (s && obj)
    kl_selector_matches(s, obj);
  kl_selector_free(s);
  json_object *labels = ferry_kube_obj(obj, "metadata.labels");
  kl_label_selector_matches(ferry_kube_obj(obj, "spec.selector"), labels);
  return 0;
}
