/* SPDX-License-Identifier: Apache-2.0 */
/* Where a webhook's clientConfig points: its url, or its Service resolved to
 * one of the Service's ready endpoints (as the API server with endpoint
 * routing: no cluster IPs here), the TLS name staying the Service's DNS name
 * NAME.NS.svc, which the serving certificate must carry. */
#ifndef KL_WEBHOOK_TARGET_H
#define KL_WEBHOOK_TARGET_H

#include <json-c/json.h>
#include <stddef.h>

#include "store.h"

struct kl_webhook_target {
  char url[1024];
  char connect_to[512]; /* libcurl CONNECT_TO: "NAME.NS.svc:PORT:ADDRESS:ENDPOINT_PORT", "" for a url */
};

/* With s->mu held: 0 with *t set, or -1 with why (the Service or a ready endpoint missing). */
int kl_webhook_target(struct kl_store *s, json_object *client_config, struct kl_webhook_target *t, char *why,
                      size_t why_len);

#endif
