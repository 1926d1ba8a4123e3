/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry-agent inspect`: print an image's manifest and verify it. */
#include "cli/cli.h"

#include <stdio.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "image/manifest.h"

static const struct ferry_cmd_opt inspect_opts[] = {
  CLI_OPT_STORE,
  CLI_OPT_IMAGE,
  FERRY_CMD_OPT_HELP,
  FERRY_CMD_OPT_END,
};

const struct ferry_cmd cli_inspect_cmd = {
  CLI_VERB("inspect"),
  .summary = "print and verify an image",
  .details = "Prints the image's manifest, sizes and whether it verifies.\n",
  .exits = "  0  the image verifies\n  1  it does not (or cannot be read)\n  2  usage error\n",
  .opts = inspect_opts,
};

static void print_json(const char *dir, const struct ferry_manifest *m, int ok, const ferry_error *err,
                       int64_t verify_ms)
{
  cleanup_free char *text = ferry_manifest_to_json(m);
  cleanup_json json_object *o = json_object_new_object();
  json_object_object_add(o, "image", json_object_new_string(dir));
  json_object_object_add(o, "verified", json_object_new_boolean(ok));
  if (!ok)
    json_object_object_add(o, "error", json_object_new_string(ferry_error_msg(err)));
  json_object_object_add(o, "verifyMs", json_object_new_int64(verify_ms));
  json_object_object_add(o, "manifest", json_tokener_parse(text));
  printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
}

static void print_text(const char *dir, const struct ferry_manifest *m, int ok, int64_t verify_ms)
{
  char created[32];
  ferry_format_time(m->created_ms, created, sizeof created);
  printf("image:       %s\ncontainer:   %s\nsource node: %s\nstrategy:    %s\ncreated:     %s\n", dir, m->container_id,
         m->source_node ? m->source_node : "-", m->strategy, created);
  printf("criu:        %s\nrunc:        %s\nkernel:      %s\nrootfs diff: %s\n",
         m->criu_version ? m->criu_version : "-", m->runc_version ? m->runc_version : "-", m->kernel ? m->kernel : "-",
         m->rootfs_diff);
  printf("timings:     dump %lld ms, rootfs %lld ms, write %lld ms\n", (long long)m->dump_ms, (long long)m->rootfs_ms,
         (long long)m->write_ms);
  if (ferry_manifest_encoded(m))
    printf("encoding:    compression %s, encryption %s%s%s\n", m->compression ? m->compression : "none",
           m->encryption ? m->encryption : "none", m->key_id ? ", key " : "", m->key_id ? m->key_id : "");
  printf("files:       %zu, %llu bytes\n", m->nfiles, (unsigned long long)m->total_bytes);
  for (size_t i = 0; i < m->nfiles; i++)
    printf("  %12llu  %.16s  %s\n", (unsigned long long)m->files[i].size, m->files[i].sha256, m->files[i].path);
  printf("verified:    %s (%lld ms)\n", ok ? "yes" : "NO", (long long)verify_ms);
}

/* Loads, verifies and prints image NAME: 0 when it verifies, else 1. */
static int inspect(const struct cli_globals *g, const struct ferry_store *s, const char *name)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  struct ferry_manifest m = { 0 };
  cleanup_free char *dir = NULL;
  int rc = 0;
  if (ferry_store_open(s, name, &dir, &err) < 0 || ferry_manifest_load(dir, &m, &err) < 0) {
    log_error("inspect: %s", ferry_error_msg(&err));
    ferry_manifest_free(&m);
    return 1;
  }
  int64_t t0 = ferry_now_mono_ms();
  int ok = ferry_manifest_verify(dir, &m, &err) == 0;
  int64_t verify_ms = ferry_now_mono_ms() - t0;
  if (g->json)
    print_json(dir, &m, ok, &err, verify_ms);
  else
    print_text(dir, &m, ok, verify_ms);
  if (!ok) {
    log_error("inspect: %s", ferry_error_msg(&err));
    rc = 1;
  }
  ferry_manifest_free(&m);
  return rc;
}

int cli_inspect(const struct cli_globals *g, int argc, char **argv)
{
  struct cli_opts c;
  int rc = cli_parse(g, argc, argv, &c);
  if (rc || (rc = cli_check_image(c.cmd, c.image)))
    return rc;
  struct ferry_store s;
  if ((rc = cli_open_store(c.cmd, c.store, &s)))
    return rc;
  rc = inspect(g, &s, c.image);
  ferry_store_free(&s);
  return rc;
}
