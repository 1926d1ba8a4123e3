/* SPDX-License-Identifier: Apache-2.0 */
/* An S3 service's error answer (XML) as ferry_s3_error_text reads it. */
#include "fuzz.h"
#include "base/cleanup.h"
#include "image/s3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  cleanup_free char *body = fuzz_text(data, len);
  cleanup_free char *text = ferry_s3_error_text(body);
  if (text && strlen(text) > 2 * len + 2)
    abort(); /* "CODE: MESSAGE", both out of the body */
  return 0;
}
