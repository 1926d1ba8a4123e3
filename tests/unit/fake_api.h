/* SPDX-License-Identifier: Apache-2.0 */
/* A fake Kubernetes API server for unit tests, in the manner of client-go's
 * fake clientset: objects live in memory, and a ferry_kube (and informers)
 * opened on it send their requests here instead of over HTTP. It answers as
 * the API server does for the calls Ferry makes: get, list (label and field
 * selectors of the k=v, k!=v form), create (uid, resourceVersion,
 * generateName, 409 AlreadyExists), update and patch (merge, strategic as
 * merge, JSON patch; a resourceVersion that is not the stored one is a 409
 * Conflict), the status subresource, pods/binding, pods/eviction, delete (a
 * uid precondition; finalizers defer it). Every request is recorded, so a test
 * asserts which writes a step made. */
#ifndef FERRY_FAKE_API_H
#define FERRY_FAKE_API_H

#include <json-c/json.h>

#include "kube/informer.h"
#include "kube/kube.h"

struct fake_api;

struct fake_api *fake_api_new(void);
void fake_api_free(struct fake_api *f);
/* A client on the fake server (owned by the fake; valid until fake_api_free). */
struct ferry_kube *fake_api_kube(struct fake_api *f);
/* Informers on the fake server (owned by the caller: ferry_informers_free). */
struct ferry_informers *fake_api_informers(struct fake_api *f);

/* Stores obj (a JSON text) as if created through the API: r's collection,
 * the namespace from its metadata. Returns the stored object (borrowed). */
json_object *fake_api_put(struct fake_api *f, const struct ferry_kube_resource *r, const char *json);
/* The stored object, or NULL (borrowed). */
json_object *fake_api_obj(struct fake_api *f, const struct ferry_kube_resource *r, const char *ns, const char *name);

/* The n-th write (POST, PUT, PATCH, DELETE) whose method is method and whose
 * path ends with path_suffix ("/podmigrations/pm/status"); its body (a JSON
 * object, borrowed; an empty object for a DELETE), or NULL when there is none. */
json_object *fake_api_write(const struct fake_api *f, const char *method, const char *path_suffix, size_t n);
/* How many writes there were since the last fake_api_clear_log (events not
 * counted: they are recorded apart). */
size_t fake_api_nwrites(const struct fake_api *f);
/* Events created (their reasons, in order), as "Reason: message" strings. */
size_t fake_api_nevents(const struct fake_api *f);
const char *fake_api_event(const struct fake_api *f, size_t i);
void fake_api_clear_log(struct fake_api *f);
/* Every request as "METHOD PATH BODY" lines, for a failing test's message. */
void fake_api_dump(const struct fake_api *f);

#endif
