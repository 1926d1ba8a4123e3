/* SPDX-License-Identifier: Apache-2.0 */
/* Writes of ValidatingAdmissionPolicies and their bindings validated as the API
 * server validates them: a policy's expressions compiled by the CEL helper (each
 * that does not compile is a cause with the compiler's message), a binding's
 * policyName and validationActions. params are not implemented: a policy with
 * paramKind or a binding with paramRef is refused, saying so. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "base/cleanup.h"
#include "base/util.h"
#include "kube/kube.h"
#include "vap.h"

#define GROUP "admissionregistration.k8s.io"
#define MSG_MAX 8192

static void cause(json_object *causes, const char *field, const char *type, const char *message)
{
  json_object *c = json_object_new_object();
  json_object_object_add(c, "reason", json_object_new_string(type));
  json_object_object_add(c, "message", json_object_new_string(message));
  json_object_object_add(c, "field", json_object_new_string(field));
  json_object_array_add(causes, c);
}

/* apierrors.NewInvalid: "KIND.GROUP "NAME" is invalid: FIELD: MESSAGE" ("[..., ...]" for several). */
static unsigned invalid(const char *kind, json_object *obj, json_object *causes, json_object **status)
{
  const char *name = ferry_kube_str(obj, "metadata.name") ?: "";
  size_t n = json_object_array_length(causes);
  char msg[MSG_MAX];
  int l = snprintf(msg, sizeof msg, "%s.%s \"%s\" is invalid: %s", kind, GROUP, name, n > 1 ? "[" : "");
  for (size_t i = 0; i < n && l < (int)sizeof msg; i++) {
    json_object *c = json_object_array_get_idx(causes, i);
    l += snprintf(msg + l, sizeof msg - (size_t)l, "%s%s: %s", i ? ", " : "", ferry_kube_str(c, "field"),
                  ferry_kube_str(c, "message"));
  }
  if (n > 1 && l < (int)sizeof msg)
    snprintf(msg + l, sizeof msg - (size_t)l, "]");
  json_object *details;
  *status = kl_status(422, "Invalid", kind, name, msg);
  json_object_object_get_ex(*status, "details", &details);
  json_object_object_add(details, "group", json_object_new_string(GROUP));
  json_object_object_add(details, "causes", json_object_get(causes));
  return 422;
}

static void unsupported(json_object *causes, const char *field, const char *value, const char *supported)
{
  cleanup_free char *m = ferry_asprintf("Unsupported value: \"%s\": supported values: %s", value, supported);
  cause(causes, field, "FieldValueNotSupported", m);
}

/* spec.policyName, spec.validationActions (Deny, Warn, Audit; not both Deny and Warn), no paramRef. */
static void binding_causes(json_object *b, json_object *causes)
{
  json_object *acts = ferry_kube_obj(b, "spec.validationActions");
  const char *policy = ferry_kube_str(b, "spec.policyName");
  int deny = 0, warn = 0;
  if (!policy || !*policy)
    cause(causes, "spec.policyName", "FieldValueRequired", "Required value");
  if (ferry_kube_obj(b, "spec.paramRef"))
    cause(causes, "spec.paramRef", "FieldValueForbidden", "Forbidden: kube-lite does not implement params");
  if (!json_object_is_type(acts, json_type_array) || !json_object_array_length(acts))
    cause(causes, "spec.validationActions", "FieldValueRequired",
          "Required value: at least one validation action is required");
  for (size_t i = 0; json_object_is_type(acts, json_type_array) && i < json_object_array_length(acts); i++) {
    const char *a = json_object_get_string(json_object_array_get_idx(acts, i)) ?: "";
    deny |= !strcmp(a, "Deny");
    warn |= !strcmp(a, "Warn");
    if (strcmp(a, "Deny") && strcmp(a, "Warn") && strcmp(a, "Audit")) {
      char field[64];
      snprintf(field, sizeof field, "spec.validationActions[%zu]", i);
      unsupported(causes, field, a, "\"Audit\", \"Deny\", \"Warn\"");
    }
  }
  if (deny && warn)
    cause(causes, "spec.validationActions", "FieldValueInvalid",
          "Invalid value: [\"Deny\",\"Warn\"]: must not contain both Deny and Warn (repeating the same validation "
          "failure information in the API response and headers serves no purpose)");
}

/* The helper's check of the policy's spec; its causes appended. -1 with *status a 500 when it cannot be had. */
static int policy_causes(struct kl_cel *cel, json_object *p, json_object *causes, json_object **status)
{
  char why[1024] = "kube-lite has no CEL helper";
  if (ferry_kube_obj(p, "spec.paramKind"))
    cause(causes, "spec.paramKind", "FieldValueForbidden", "Forbidden: kube-lite does not implement params");
  cleanup_json json_object *ask = json_object_new_object();
  json_object_object_add(ask, "op", json_object_new_string("check"));
  json_object_object_add(ask, "policy", json_object_get(ferry_kube_obj(p, "spec")) ?: json_object_new_object());
  cleanup_json json_object *answer = cel ? kl_cel_call(cel, ask, why, sizeof why) : NULL;
  json_object *errs = answer ? ferry_kube_obj(answer, "errors") : NULL;
  if (!json_object_is_type(errs, json_type_array)) {
    cleanup_free char *msg =
        ferry_asprintf("Internal error occurred: %s", answer ? "the CEL helper answered no errors list" : why);
    *status = kl_status(500, "InternalError", NULL, NULL, msg);
    return -1;
  }
  for (size_t i = 0; i < json_object_array_length(errs); i++) {
    json_object *e = json_object_array_get_idx(errs, i);
    cause(causes, ferry_kube_str(e, "field") ?: "", ferry_kube_str(e, "type") ?: "",
          ferry_kube_str(e, "message") ?: "");
  }
  return 0;
}

unsigned kl_vap_check_object(struct kl_cel *cel, const struct kl_resource *r, json_object *obj, json_object **status)
{
  if (strcmp(r->group, GROUP) != 0)
    return 0;
  int policy = !strcmp(r->plural, "validatingadmissionpolicies");
  if (!policy && strcmp(r->plural, "validatingadmissionpolicybindings") != 0)
    return 0;
  cleanup_json json_object *causes = json_object_new_array();
  if (policy && policy_causes(cel, obj, causes, status) < 0)
    return 500;
  if (!policy)
    binding_causes(obj, causes);
  return json_object_array_length(causes) ? invalid(r->kind, obj, causes, status) : 0;
}
