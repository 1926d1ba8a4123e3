/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry-agent check`: what this node can do (engine/check.c finds out), printed
 * and recorded in STATE_DIR/check.json for the daemon and for operators. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "engine/check.h"

/* check's own default --timeout (seconds). */
#define CHECK_TIMEOUT_S 30

static const struct ferry_cmd_opt check_opts[] = {
  CLI_OPT_TIMEOUT("for each step of the self-test", CHECK_TIMEOUT_S),
  FERRY_CMD_OPT_HELP,
  FERRY_CMD_OPT_END,
};

const struct ferry_cmd cli_check_cmd = {
  CLI_VERB("check"),
  .summary = "what this node can do, with a checkpoint/restore self-test",
  .details = "Reports the kernel, CRIU and runc versions and features, and checkpoints and restores a child process\n"
             "as a self-test. The result is also written to WORK_DIR/../check.json.\n",
  .exits = "  0  the self-test passed\n  1  it failed\n  2  usage error\n",
  .opts = check_opts,
};

/* STATE_DIR/check.json, STATE_DIR being the work directory's parent. */
static void record(const struct cli_globals *g, const char *text)
{
  cleanup_free char *state = ferry_strdup(g->work_dir);
  char *slash = strrchr(state, '/');
  if (slash && slash != state)
    *slash = '\0';
  cleanup_free char *rec = ferry_path_join(state, "check.json");
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_write_file_atomic(rec, text, strlen(text), &err) < 0)
    log_warn("could not record the check result: %s", ferry_error_msg(&err));
}

/* The findings as text: one line a finding, nested objects indented. */
static void print_text(json_object *o)
{
  struct json_object_iterator it = json_object_iter_begin(o), end = json_object_iter_end(o);
  for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
    const char *key = json_object_iter_peek_name(&it);
    json_object *val = json_object_iter_peek_value(&it);
    if (!json_object_is_type(val, json_type_object)) {
      printf("%-20s %s\n", key, json_object_get_string(val));
      continue;
    }
    printf("%s\n", key);
    struct json_object_iterator i2 = json_object_iter_begin(val), e2 = json_object_iter_end(val);
    for (; !json_object_iter_equal(&i2, &e2); json_object_iter_next(&i2))
      printf("  %-18s %s\n", json_object_iter_peek_name(&i2), json_object_get_string(json_object_iter_peek_value(&i2)));
  }
}

int cli_check(const struct cli_globals *g, int argc, char **argv)
{
  struct cli_opts c;
  int rc = cli_parse(g, argc, argv, &c);
  if (rc)
    return rc;
  if (c.timeout_s == CLI_DEFAULT_TIMEOUT_S)
    c.timeout_s = CHECK_TIMEOUT_S;
  cleanup_json json_object *o = json_object_new_object();
  json_object_object_add(o, "node", json_object_new_string(g->node));
  rc = ferry_check_node(g->criu, g->runc, g->work_dir, c.timeout_s * 1000, o) == 0 ? 0 : 1;
  const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
  record(g, text);
  if (g->json)
    printf("%s\n", text);
  else
    print_text(o);
  if (rc)
    log_error("check: this node cannot migrate containers (see selfTest above)");
  return rc;
}
