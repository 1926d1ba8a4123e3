/* SPDX-License-Identifier: Apache-2.0 */
/* CRIU's cache of what the running kernel can do (/run/criu.kdat). Without it
 * every CRIU run (each dump, restore and lazy-pages daemon) probes the kernel
 * first: about 100 ms each on a small node, inside a migration's downtime for
 * the restore and the lazy-pages daemon. CRIU writes the cache only when /run
 * is a tmpfs, which it is not in the agent's container (the image's overlay)
 * nor on every host; there the agent has a CRIU write it in a private mount
 * namespace whose /run is a tmpfs, and copies it to /run. CRIU reads the cache
 * wherever it lies, checking that the same CRIU build wrote it. */
#ifndef FERRY_KDAT_H
#define FERRY_KDAT_H

#include "base/error.h"

enum ferry_kdat_state {
  FERRY_KDAT_CACHED, /* a cache written since this boot was there */
  FERRY_KDAT_CRIU,   /* /run is a tmpfs: CRIU wrote it itself */
  FERRY_KDAT_SEEDED, /* written by a CRIU in a private mount namespace, copied to /run */
};

/* Makes sure /run/criu.kdat holds this boot's cache for criu: removes one older
 * than the boot and a `criu.kdat.tmp` CRIU left behind (it blocks every later
 * write), then has CRIU write it. -1 (err says why) when it cannot be made; CRIU
 * still works then, only slower. */
int ferry_criu_kdat_ensure(const char *criu, enum ferry_kdat_state *state, ferry_error *err);
const char *ferry_kdat_state_name(enum ferry_kdat_state s);
/* ferry_criu_kdat_ensure before CRIU runs, its outcome logged (a warning when
 * the cache cannot be made: CRIU then runs without it). */
void ferry_criu_kdat_prepare(const char *criu);

#endif
