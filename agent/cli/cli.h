/* SPDX-License-Identifier: Apache-2.0 */
/* ferry-agent's command line: the verbs (one file each under agent/cli/, listed
 * in main.c's verb table), the options they share (options.c) and the answer
 * they print (result.c). docs/agent-cli.md describes every option. */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <json-c/json.h>
#include <limits.h>
#include <stdint.h>

#include "engine/engine.h"
#include "image/codec.h"
#include "image/store.h"
#include "runtime/runc.h"

struct cli_verb;

/* The global options (before the verb). */
struct cli_globals {
  const char *criu, *runc, *work_dir, *node;
  int json;
  char hostname[HOST_NAME_MAX + 1];
  const struct cli_verb *verb; /* the one running */
};

typedef int cli_verb_fn(const struct cli_globals *g, int argc, char **argv);

/* A row of the verb table. */
struct cli_verb {
  const char *name;
  cli_verb_fn *run;    /* argv[0] is the verb; returns the exit code */
  const char *summary; /* one line, in the global usage */
  const char *usage;   /* `ferry-agent VERB --help`; NULL: the verb answers --help itself */
};

cli_verb_fn cli_check, cli_run, cli_checkpoint, cli_restore, cli_migrate, cli_pages, cli_send, cli_receive, cli_inspect;
extern const char cli_check_usage[], cli_run_usage[], cli_checkpoint_usage[], cli_restore_usage[], cli_migrate_usage[],
    cli_pages_usage[], cli_send_usage[], cli_receive_usage[], cli_inspect_usage[];

/* Pieces of the verbs' usage texts that several verbs share. */
#define CLI_USAGE_STORE "  --store URL                    dir:///PATH (shared by the nodes) or s3://BUCKET[/PREFIX]\n"
#define CLI_USAGE_IMAGE "  --image NAME                   the image's name in the store ([A-Za-z0-9._-], up to 128)\n"
#define CLI_USAGE_TIMEOUT "  --timeout SECONDS              per runc call and per transfer (default 300)\n"
#define CLI_USAGE_KEY "  --encryption-key-file FILE     the image's key (32 bytes, raw, hex or base64)\n"
#define CLI_USAGE_COMPRESS "  --compress zstd|lz4[:LEVEL]    store the image compressed\n"
#define CLI_USAGE_CRIU                                                                                                 \
  "CRIU options:\n"                                                                                                    \
  "  --tcp-established              dump and restore established TCP connections\n"                                    \
  "  --tcp-close                    restore established connections closed\n"                                          \
  "  --file-locks                   dump and restore file locks\n"                                                     \
  "  --ext-unix-sk                  allow unix sockets connected outside the container\n"                              \
  "  --shell-job                    the container was started from a shell job\n"                                      \
  "  --manage-cgroups-mode M        soft, full or strict\n"
#define CLI_USAGE_DIFF                                                                                                 \
  "  --rootfs-diff M                auto (default), overlay, scan or none: how the rootfs changes are found\n"
#define CLI_USAGE_MORE "See docs/agent-cli.md.\n"

/* --timeout when not given (seconds). */
#define CLI_DEFAULT_TIMEOUT_S 300

/* The verbs' options (getopt codes). */
enum cli_option {
  OPT_ROOT = 256,
  OPT_STORE,
  OPT_IMAGE,
  OPT_BUNDLE,
  OPT_NETNS,
  OPT_ID,
  OPT_LOG,
  OPT_TO_ROOT,
  OPT_TO_BUNDLE,
  OPT_TO_NETNS,
  OPT_TIMEOUT,
  OPT_TCP_EST,
  OPT_TCP_CLOSE,
  OPT_FILE_LOCKS,
  OPT_EXT_UNIX,
  OPT_SHELL_JOB,
  OPT_LEAVE_RUNNING,
  OPT_CGROUPS_MODE,
  OPT_ROOTFS_DIFF,
  OPT_STRATEGY,
  OPT_PAGE_SERVER,
  OPT_BANDWIDTH,
  OPT_READY_FILE,
  OPT_LAZY_DIR,
  OPT_COMPRESS,
  OPT_KEY_FILE,
  OPT_TO_STORE,
  OPT_LISTEN,
  OPT_TO,
  OPT_TOKEN_FILE,
  OPT_HELP
};

/* A verb's options, parsed. */
struct cli_opts {
  const char *cmd; /* the verb, for messages */
  const char *root, *store, *image, *bundle, *netns, *id, *log;
  const char *to_root, *to_bundle, *to_netns, *to_store;
  int timeout_s;
  struct ferry_criu_flags flags;
  const char *rootfs_diff;
  const char *strategy, *page_server, *ready_file, *lazy_dir, *listen, *to, *token_file;
  uint64_t bandwidth;
  struct ferry_codec codec;
};

/* options.c. Parses argv (argv[0]: the verb) into c, taking only the options in
 * allowed (0-terminated); --help prints the verb's usage and exits 0. Returns
 * 0, or 2 for a usage error (said on stderr); optind is then the first operand. */
int cli_parse(const struct cli_globals *g, int argc, char **argv, const int *allowed, struct cli_opts *c);
/* 2 (said on stderr) when the option `what` was not given. */
int cli_require(const char *cmd, const char *what, const char *v);
/* 2 when --image is missing or not a valid image name. */
int cli_check_image(const char *cmd, const char *name);
/* --store URL parsed into s (the caller frees it); 2 when it is missing or wrong. */
int cli_open_store(const char *cmd, const char *url, struct ferry_store *s);
struct engine_opts cli_engine_opts(const struct cli_globals *g, const struct cli_opts *c);

/* result.c. The JSON answer; extra (may be NULL, not taken): more fields. */
json_object *cli_result_json(const char *cmd, const char *container, const struct engine_result *r, json_object *extra);
/* Prints the answer (JSON with --json, else text) and logs a failure. extra
 * (may be NULL, taken): more fields for the JSON answer. */
void cli_print_result(const struct cli_globals *g, const char *cmd, const char *container,
                      const struct engine_result *r, json_object *extra);

#endif
