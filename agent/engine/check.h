/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry-agent check`: what this node can do, found out rather than assumed. */
#ifndef FERRY_CHECK_H
#define FERRY_CHECK_H

#include <json-c/json.h>

/* Fills a JSON object with the findings; returns 0 when migrations can work here
 * (the self-test passed), -1 otherwise. */
int ferry_check_node(const char *criu, const char *runc, const char *work_dir, int timeout_ms, json_object *out);

#endif
