/* SPDX-License-Identifier: Apache-2.0 */
/* The ValidatingAdmissionPolicy dispatcher: policies and bindings that select a
 * request, their expressions evaluated, validationActions applied, the first
 * denial answered in the API server's words. */
#include "vap.h"

#include <stdio.h>
#include <string.h>

#include "api.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "kube/kube.h"

#define MSG_MAX 4096

/* The first denial: which policy and binding, the message and the reason. */
struct denial {
  char policy[256], binding[256];
  char message[MSG_MAX];
  char reason[32];
  int set;
};

/* The admission configuration kinds are exempt (the API server's IsExemptAdmissionConfigurationResource). */
static int exempt(const struct kl_admission *a)
{
  return !strcmp(a->r->group, "admissionregistration.k8s.io") &&
         (strstr(a->r->plural, "webhookconfigurations") || strstr(a->r->plural, "validatingadmissionpolic"));
}

int kl_vap_any(struct kl_store *s) { return json_object_object_length(kl_store_kind(s, KL_VAP_KIND_KEY)) > 0; }

/* The bindings of policy that select a: a new array (empty when none). */
static json_object *bindings_for(struct kl_store *s, const char *policy, const struct kl_admission *a)
{
  json_object *out = json_object_new_array();
  json_object_object_foreach(kl_store_kind(s, KL_VAPB_KIND_KEY), key, b)
  {
    (void)key;
    json_object *m = ferry_kube_obj(b, "spec.matchResources");
    if (!strcmp(ferry_kube_str(b, "spec.policyName") ?: "", policy) && (!m || kl_vap_matches(s, m, a)))
      json_object_array_add(out, json_object_get(b));
  }
  return out;
}

/* The helper's decisions for policy on a (the input made once per request); NULL with why. */
static json_object *evaluate(struct kl_cel *cel, json_object *policy, json_object *input, char *why, size_t len)
{
  char key[160];
  snprintf(key, sizeof key, "%s/%s", ferry_kube_str(policy, "metadata.uid") ?: "",
           ferry_kube_str(policy, "metadata.resourceVersion") ?: "");
  cleanup_json json_object *ask = json_object_new_object();
  json_object_object_add(ask, "op", json_object_new_string("eval"));
  json_object_object_add(ask, "key", json_object_new_string(key));
  json_object_object_add(ask, "policy", json_object_get(ferry_kube_obj(policy, "spec")));
  json_object_object_add(ask, "input", json_object_get(input));
  json_object *answer = kl_cel_call(cel, ask, why, len);
  json_object *d = answer ? ferry_kube_obj(answer, "decisions") : NULL;
  if (answer && !json_object_is_type(d, json_type_array)) {
    snprintf(why, len, "the CEL helper answered no decisions");
    json_object_put(answer);
    return NULL;
  }
  return answer;
}

/* One binding's actions on one denying decision. */
static void apply(json_object *binding, const char *policy, json_object *decision, struct denial *deny,
                  json_object **warnings)
{
  json_object *actions = ferry_kube_obj(binding, "spec.validationActions");
  const char *bname = ferry_kube_str(binding, "metadata.name") ?: "", *msg = ferry_kube_str(decision, "message") ?: "";
  for (size_t i = 0; json_object_is_type(actions, json_type_array) && i < json_object_array_length(actions); i++) {
    const char *action = json_object_get_string(json_object_array_get_idx(actions, i)) ?: "";
    if (!strcmp(action, "Deny") && !deny->set) {
      deny->set = 1;
      snprintf(deny->policy, sizeof deny->policy, "%s", policy);
      snprintf(deny->binding, sizeof deny->binding, "%s", bname);
      snprintf(deny->message, sizeof deny->message, "%s", msg);
      snprintf(deny->reason, sizeof deny->reason, "%s", ferry_kube_str(decision, "reason") ?: "");
    } else if (!strcmp(action, "Warn")) {
      cleanup_free char *w = ferry_asprintf(
          "Validation failed for ValidatingAdmissionPolicy '%s' with binding '%s': %s", policy, bname, msg);
      if (!*warnings)
        *warnings = json_object_new_array();
      json_object_array_add(*warnings, json_object_new_string(w));
    } else if (!strcmp(action, "Audit")) {
      log_info("kube-lite: ValidatingAdmissionPolicy '%s' with binding '%s' (Audit): %s", policy, bname, msg);
    }
  }
}

static unsigned reason_code(const char *reason)
{
  if (!strcmp(reason, "Forbidden"))
    return 403;
  if (!strcmp(reason, "Unauthorized"))
    return 401;
  if (!strcmp(reason, "RequestEntityTooLarge"))
    return 413;
  return 422;
}

/* admission.NewForbidden's Status with the decision's reason and code, and the message as its cause. */
static json_object *denial_status(const struct kl_admission *a, const struct denial *d, unsigned *code)
{
  char message[MSG_MAX + 600], full[sizeof message + 600], resource[256];
  snprintf(message, sizeof message, "ValidatingAdmissionPolicy '%s' with binding '%s' denied request: %s", d->policy,
           d->binding, d->message);
  snprintf(resource, sizeof resource, "%s%s%s", a->r->plural, a->r->group[0] ? "." : "", a->r->group);
  const char *name = a->name[0] ? a->name
                     : a->object && ferry_kube_str(a->object, "metadata.name")
                         ? ferry_kube_str(a->object, "metadata.name")
                     : a->object && ferry_kube_str(a->object, "metadata.generateName")
                         ? ferry_kube_str(a->object, "metadata.generateName")
                         : "Unknown";
  snprintf(full, sizeof full, "%s \"%s\" is forbidden: %s", resource, name, message);
  const char *reason = d->reason[0] ? d->reason : "Invalid";
  *code = reason_code(reason);
  json_object *st = kl_status(*code, reason, a->r->plural, name, full), *details, *causes = json_object_new_array(),
              *cause = json_object_new_object();
  json_object_object_get_ex(st, "details", &details);
  json_object_object_add(details, "group", json_object_new_string(a->r->group));
  json_object_object_add(cause, "message", json_object_new_string(message));
  json_object_array_add(causes, cause);
  json_object_object_add(details, "causes", causes);
  return st;
}

/* One policy: 0 when it had its say (into deny, warnings), -1 with why when the helper failed. */
static int run_policy(struct kl_cel *cel, struct kl_store *s, json_object *policy, const struct kl_admission *a,
                      json_object **input, struct denial *deny, json_object **warnings, char *why, size_t len)
{
  const char *name = ferry_kube_str(policy, "metadata.name") ?: "";
  if (!kl_vap_matches(s, ferry_kube_obj(policy, "spec.matchConstraints"), a))
    return 0;
  cleanup_json json_object *bindings = bindings_for(s, name, a);
  if (!json_object_array_length(bindings))
    return 0;
  if (!*input)
    *input = kl_vap_input(s, a);
  cleanup_json json_object *answer = evaluate(cel, policy, *input, why, len);
  if (!answer)
    return -1;
  json_object *decisions = ferry_kube_obj(answer, "decisions");
  for (size_t b = 0; b < json_object_array_length(bindings); b++)
    for (size_t i = 0; i < json_object_array_length(decisions); i++)
      apply(json_object_array_get_idx(bindings, b), name, json_object_array_get_idx(decisions, i), deny, warnings);
  return 0;
}

unsigned kl_vap_admit(struct kl_cel *cel, struct kl_store *s, const struct kl_admission *a, json_object **warnings,
                      json_object **status)
{
  struct denial deny = { .set = 0 };
  char why[1024] = "";
  if (exempt(a) || !kl_vap_any(s))
    return 0;
  cleanup_json json_object *input = NULL;
  json_object_object_foreach(kl_store_kind(s, KL_VAP_KIND_KEY), key, policy)
  {
    (void)key;
    if ((!cel && snprintf(why, sizeof why, "kube-lite has no CEL helper") > 0) ||
        run_policy(cel, s, policy, a, &input, &deny, warnings, why, sizeof why) < 0) {
      log_error("kube-lite: ValidatingAdmissionPolicy %s: %s", ferry_kube_str(policy, "metadata.name") ?: "", why);
      cleanup_free char *msg = ferry_asprintf("Internal error occurred: %s", why);
      *status = kl_status(500, "InternalError", NULL, NULL, msg);
      return 500;
    }
  }
  if (!deny.set)
    return 0;
  unsigned code = 422;
  *status = denial_status(a, &deny, &code);
  return code;
}
