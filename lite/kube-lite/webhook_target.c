/* SPDX-License-Identifier: Apache-2.0 */
/* A webhook's Service resolved to an endpoint (see webhook_target.h). */
#include "webhook_target.h"

#include <stdio.h>
#include <string.h>

#include "kube/kube.h"

#define DEFAULT_WEBHOOK_PORT 443

/* The Service's port entry for port, NULL when it has none. */
static json_object *service_port(json_object *svc, int port)
{
  json_object *ports = ferry_kube_obj(svc, "spec.ports");
  for (size_t i = 0; ports && json_object_is_type(ports, json_type_array) && i < json_object_array_length(ports); i++) {
    json_object *p = json_object_array_get_idx(ports, i), *n = ferry_kube_obj(p, "port");
    if (n && json_object_get_int(n) == port)
      return p;
  }
  return NULL;
}

/* The slice's port for the Service's port sp: by name (a named targetPort or
 * the port's name), else the only one; 0 when none fits. */
static int slice_port(json_object *slice, json_object *sp)
{
  json_object *ports = ferry_kube_obj(slice, "ports");
  const char *want = ferry_kube_str(sp, "name") ?: "";
  size_t n = ports && json_object_is_type(ports, json_type_array) ? json_object_array_length(ports) : 0;
  for (size_t i = 0; i < n; i++) {
    json_object *p = json_object_array_get_idx(ports, i), *num = ferry_kube_obj(p, "port");
    if (num && (n == 1 || !strcmp(ferry_kube_str(p, "name") ?: "", want)))
      return json_object_get_int(num);
  }
  return 0;
}

/* The first ready address of the slice ("" when none). */
static const char *ready_address(json_object *slice)
{
  json_object *eps = ferry_kube_obj(slice, "endpoints");
  for (size_t i = 0; eps && json_object_is_type(eps, json_type_array) && i < json_object_array_length(eps); i++) {
    json_object *ep = json_object_array_get_idx(eps, i), *ready = ferry_kube_obj(ep, "conditions.ready"),
                *addrs = ferry_kube_obj(ep, "addresses");
    if ((!ready || json_object_get_boolean(ready)) && addrs && json_object_array_length(addrs))
      return json_object_get_string(json_object_array_get_idx(addrs, 0));
  }
  return "";
}

/* A ready endpoint of Service ns/name for its port entry sp: 0 with addr and *port set. */
static int endpoint_of(struct kl_store *s, const char *ns, const char *name, json_object *sp, char *addr,
                       size_t addr_len, int *port)
{
  json_object *slices = kl_store_kind(s, "discovery.k8s.io/endpointslices");
  json_object_object_foreach(slices, key, slice)
  {
    (void)key;
    json_object *labels = ferry_kube_obj(slice, "metadata.labels");
    const char *svc = labels ? ferry_kube_key(labels, "kubernetes.io/service-name")
                                   ? json_object_get_string(ferry_kube_key(labels, "kubernetes.io/service-name"))
                                   : NULL
                             : NULL;
    const char *a;
    if (!svc || strcmp(svc, name) != 0 || strcmp(ferry_kube_str(slice, "metadata.namespace") ?: "", ns) != 0 ||
        !*(a = ready_address(slice)) || !(*port = slice_port(slice, sp)))
      continue;
    snprintf(addr, addr_len, "%s", a);
    return 0;
  }
  return -1;
}

int kl_webhook_target(struct kl_store *s, json_object *cc, struct kl_webhook_target *t, char *why, size_t why_len)
{
  memset(t, 0, sizeof *t);
  const char *url = ferry_kube_str(cc, "url");
  if (url) {
    snprintf(t->url, sizeof t->url, "%s", url);
    return 0;
  }
  const char *ns = ferry_kube_str(cc, "service.namespace"), *name = ferry_kube_str(cc, "service.name"),
             *path = ferry_kube_str(cc, "service.path") ?: "/";
  json_object *p = ferry_kube_obj(cc, "service.port");
  int port = p ? json_object_get_int(p) : DEFAULT_WEBHOOK_PORT;
  if (!ns || !name) {
    snprintf(why, why_len, "clientConfig: neither url nor service (namespace and name) is given");
    return -1;
  }
  char key[600], addr[128];
  snprintf(key, sizeof key, "%s/%s", ns, name);
  json_object *svc = NULL, *sp;
  int ep_port = 0;
  if (!json_object_object_get_ex(kl_store_kind(s, "/services"), key, &svc)) {
    snprintf(why, why_len, "service \"%s\" not found", name);
    return -1;
  }
  if (!(sp = service_port(svc, port))) {
    snprintf(why, why_len, "service \"%s\" has no port %d", name, port);
    return -1;
  }
  if (endpoint_of(s, ns, name, sp, addr, sizeof addr, &ep_port) < 0) {
    snprintf(why, why_len, "no endpoints available for service \"%s\"", name);
    return -1;
  }
  snprintf(t->url, sizeof t->url, "https://%s.%s.svc:%d%s", name, ns, port, path);
  snprintf(t->connect_to, sizeof t->connect_to, "%s.%s.svc:%d:%s:%d", name, ns, port, addr, ep_port);
  return 0;
}
