/* SPDX-License-Identifier: Apache-2.0 */
/* Chunked lists (limit, continue) as the API server serves them: every page
 * of a list is the list at its first page's resourceVersion, and the continue
 * token says which key the next page starts after, not an index (an object
 * made or removed between two pages does not shift the rest). The token is
 * the API server's: base64url of {"v":"meta.k8s.io/v1","rv":N,"start":KEY}. */
#ifndef KL_PAGING_H
#define KL_PAGING_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

struct kl_page {
  int64_t rv;  /* the list's resourceVersion: its first page's */
  size_t from; /* the page: items[from, to) */
  size_t to;
  char *next; /* the continue token of the next page, or NULL: the last page */
};

/* The page limit and cont ask for (either may be NULL) of items, sorted by
 * namespace and name, as the store is now at resourceVersion rv_now with
 * history back to oldest_rv. 0; or the HTTP code refusing it with why filled:
 * 400 for a token that is not one, 410 for one older than the history. */
unsigned kl_page_of(json_object *items, const char *limit, const char *cont, int64_t rv_now, int64_t oldest_rv,
                    struct kl_page *p, char *why, size_t len);
void kl_page_free(struct kl_page *p);

#endif
