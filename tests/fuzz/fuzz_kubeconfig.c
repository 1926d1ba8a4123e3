/* SPDX-License-Identifier: Apache-2.0 */
/* A kubeconfig (YAML) as ferry_kubeconfig_load reads it: the current context, then a named one. */
#include "fuzz.h"
#include "base/cleanup.h"
#include "kube/kubeconfig.h"

static void parse(const uint8_t *data, size_t len, const char *context)
{
  struct ferry_kube_config c = { 0 };
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_kubeconfig_parse((const char *)data, len, "fuzz", context, &c, &err) == 0 && !c.server)
    abort(); /* a parsed config always says where the API is */
  ferry_kube_config_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  parse(data, len, NULL);
  parse(data, len, "fuzz");
  return 0;
}
