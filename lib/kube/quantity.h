/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes resource quantities ("100m", "1.5", "128Mi", "2G", "1e3"), as
 * resource.Quantity parses them, in thousandths of the unit (milli-CPU, or
 * milli-bytes for memory) so that both fit one integer type. */
#ifndef FERRY_QUANTITY_H
#define FERRY_QUANTITY_H

#include <stdint.h>

#include "base/error.h"

/* Parses s into *milli. Fails (err names the text) on anything the API server
 * would refuse, and on values beyond int64 range. */
int ferry_quantity_milli(const char *s, int64_t *milli, ferry_error *err);

#endif
