/* SPDX-License-Identifier: Apache-2.0 */
/* Label and field selectors, with the real API server's syntax. */
#ifndef KL_SELECT_H
#define KL_SELECT_H

#include <json-c/json.h>

struct kl_selector;

/* NULL or "" selects everything. Returns NULL and sets *why on a syntax error. */
struct kl_selector *kl_selector_parse(const char *labels, const char *fields, char *why, size_t why_len);
int kl_selector_matches(const struct kl_selector *s, json_object *obj);
void kl_selector_free(struct kl_selector *s);

/* Whether a LabelSelector object (matchLabels, matchExpressions with In, NotIn,
 * Exists, DoesNotExist; NULL or empty: everything) selects labels (a labels map, or NULL). */
int kl_label_selector_matches(json_object *sel, json_object *labels);

#endif
