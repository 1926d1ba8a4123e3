/* SPDX-License-Identifier: Apache-2.0 */
/* The answer of checkpoint, restore, migrate, pages, send and receive: one JSON
 * object with --json (what the agent daemon reads), else a few lines of text. */
#include "cli/cli.h"

#include <stdio.h>

#include "base/log.h"

static json_object *timings_json(const struct engine_result *r)
{
  json_object *t = json_object_new_object();
  json_object_object_add(t, "dumpMs", json_object_new_int64(r->dump_ms));
  json_object_object_add(t, "rootfsMs", json_object_new_int64(r->rootfs_ms));
  json_object_object_add(t, "writeMs", json_object_new_int64(r->write_ms));
  json_object_object_add(t, "verifyMs", json_object_new_int64(r->verify_ms));
  json_object_object_add(t, "restoreMs", json_object_new_int64(r->restore_ms));
  json_object_object_add(t, "downtimeMs", json_object_new_int64(r->downtime_ms));
  json_object_object_add(t, "totalMs", json_object_new_int64(r->total_ms));
  json_object_object_add(t, "pagesMs", json_object_new_int64(r->pages_ms));
  json_object_object_add(t, "transferMs", json_object_new_int64(r->transfer_ms));
  return t;
}

static json_object *bytes_moved_json(const struct engine_result *r)
{
  json_object *b = json_object_new_object();
  json_object_object_add(b, "beforeFreeze", json_object_new_int64((int64_t)r->bytes_before_freeze));
  json_object_object_add(b, "duringFreeze", json_object_new_int64((int64_t)r->bytes_during_freeze));
  json_object_object_add(b, "afterRestore", json_object_new_int64((int64_t)r->bytes_after_restore));
  return b;
}

json_object *cli_result_json(const char *cmd, const char *container, const struct engine_result *r, json_object *extra)
{
  json_object *o = json_object_new_object();
  if (extra) {
    json_object_object_foreach(extra, ek, ev) { json_object_object_add(o, ek, json_object_get(ev)); }
  }
  json_object_object_add(o, "command", json_object_new_string(cmd));
  json_object_object_add(o, "outcome", json_object_new_string(r->outcome ? r->outcome : "failed"));
  json_object_object_add(o, "exitCode", json_object_new_int(r->exit_code));
  if (container)
    json_object_object_add(o, "container", json_object_new_string(container));
  if (r->image_dir)
    json_object_object_add(o, "image", json_object_new_string(r->image_dir));
  if (r->image_digest[0])
    json_object_object_add(o, "imageDigest", json_object_new_string(r->image_digest));
  json_object_object_add(o, "message", json_object_new_string(r->message ? r->message : ""));
  json_object_object_add(o, "timings", timings_json(r));
  json_object_object_add(o, "bytes", json_object_new_int64((int64_t)r->bytes));
  if (r->bytes_raw)
    json_object_object_add(o, "rawBytes", json_object_new_int64((int64_t)r->bytes_raw));
  json_object_object_add(o, "bytesMoved", bytes_moved_json(r));
  if (r->strategy)
    json_object_object_add(o, "strategy", json_object_new_string(r->strategy));
  if (r->strategy_note)
    json_object_object_add(o, "strategyNote", json_object_new_string(r->strategy_note));
  return o;
}

static void print_text(const struct engine_result *r)
{
  printf("%s: %s\n", r->outcome, r->message ? r->message : "");
  if (r->dump_ms)
    printf("  dump:      %6lld ms (container frozen and saved by CRIU)\n", (long long)r->dump_ms);
  if (r->rootfs_ms || r->write_ms)
    printf("  rootfs:    %6lld ms, image write %lld ms\n", (long long)r->rootfs_ms, (long long)r->write_ms);
  if (r->verify_ms)
    printf("  verify:    %6lld ms\n", (long long)r->verify_ms);
  if (r->restore_ms)
    printf("  restore:   %6lld ms\n", (long long)r->restore_ms);
  if (r->downtime_ms)
    printf("  downtime:  %6lld ms (frozen on the source to running here)\n", (long long)r->downtime_ms);
  if (r->transfer_ms)
    printf("  transfer:  %6lld ms (the image sent to the target's store)\n", (long long)r->transfer_ms);
  if (r->pages_ms)
    printf("  pages:     %6lld ms (running here to the last page from the source)\n", (long long)r->pages_ms);
  printf("  image:     %llu bytes\n", (unsigned long long)r->bytes);
  if (r->bytes_raw)
    printf("  encoded:   from %llu bytes\n", (unsigned long long)r->bytes_raw);
  if (r->bytes_after_restore)
    printf("  memory:    %llu bytes after the restore (post-copy)\n", (unsigned long long)r->bytes_after_restore);
  if (r->strategy)
    printf("  strategy:  %s%s%s\n", r->strategy, r->strategy_note ? ": " : "",
           r->strategy_note ? r->strategy_note : "");
}

void cli_print_result(const struct cli_globals *g, const char *cmd, const char *container,
                      const struct engine_result *r, json_object *extra)
{
  if (g->json) {
    json_object *o = cli_result_json(cmd, container, r, extra);
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    fflush(stdout);
    json_object_put(o);
  } else if (r->exit_code == ENGINE_OK) {
    print_text(r);
  }
  if (r->exit_code != ENGINE_OK)
    log_error("%s %s: %s", cmd, r->outcome ? r->outcome : "failed", r->message ? r->message : "failed");
  json_object_put(extra);
}
