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

#include "base/cmdline.h"

struct cli_verb;

/* The global options (before the verb). */
struct cli_globals {
  const char *criu, *runc, *work_dir, *node;
  int json;
  char hostname[HOST_NAME_MAX + 1];
  const struct cli_verb *verb; /* the one running */
};

typedef int cli_verb_fn(const struct cli_globals *g, int argc, char **argv);

/* A row of the verb table: its command line (name, one-line summary, options,
 * help page; opts NULL: the verb parses and answers --help itself) and what runs it. */
struct cli_verb {
  const struct ferry_cmd *cmd;
  cli_verb_fn *run; /* argv[0] is the verb; returns the exit code */
};

cli_verb_fn cli_check, cli_run, cli_checkpoint, cli_restore, cli_migrate, cli_pages, cli_send, cli_receive, cli_inspect;
extern const struct ferry_cmd cli_check_cmd, cli_run_cmd, cli_checkpoint_cmd, cli_restore_cmd, cli_migrate_cmd,
    cli_pages_cmd, cli_send_cmd, cli_receive_cmd, cli_inspect_cmd;

/* A verb's struct ferry_cmd: its name, how messages and the synopsis name it, where the rest is said. */
#define CLI_VERB(NAME)                                                                                                 \
  .name = NAME, .prog = "ferry-agent " NAME, .synopsis = "ferry-agent [GLOBAL OPTIONS] " NAME,                         \
  .more = "docs/agent-cli.md"

/* The exit codes of the verbs that freeze a container (checkpoint, migrate). */
#define CLI_EXITS_FREEZE                                                                                               \
  "  0  done\n"                                                                                                        \
  "  1  failed before the freeze; nothing changed\n"                                                                   \
  "  2  usage error\n"                                                                                                 \
  "  3  failed after the freeze and rolled back: the container runs again on the source\n"                             \
  "  4  the rollback failed too: the container is NOT running (the message says where the image is)\n"

/* Rows several verbs' option tables share. */
#define CLI_OPT_STORE                                                                                                  \
  FERRY_CMD_REQ("store", OPT_STORE, "URL", "dir:///PATH (shared by the nodes) or s3://BUCKET[/PREFIX]")
#define CLI_OPT_IMAGE                                                                                                  \
  FERRY_CMD_REQ("image", OPT_IMAGE, "NAME", "the image's name in the store ([A-Za-z0-9._-], up to 128)")
#define CLI_STR_(X) #X
#define CLI_STR(X) CLI_STR_(X)
/* --timeout, DFLT_S its default in seconds (a number or a macro of one). */
#define CLI_OPT_TIMEOUT(HELP, DFLT_S) FERRY_CMD_ARG("timeout", OPT_TIMEOUT, "SECONDS", HELP, CLI_STR(DFLT_S))
#define CLI_OPT_KEY                                                                                                    \
  FERRY_CMD_ARG("encryption-key-file", OPT_KEY_FILE, "FILE", "the image's key (32 bytes, raw, hex or base64)",         \
                "none: not encrypted")
#define CLI_OPT_COMPRESS                                                                                               \
  FERRY_CMD_ARG("compress", OPT_COMPRESS, "zstd|lz4[:LEVEL]", "store the image compressed", "not compressed")
#define CLI_OPT_DIFF                                                                                                   \
  FERRY_CMD_ARG(                                                                                                       \
      "rootfs-diff", OPT_ROOTFS_DIFF, "M",                                                                             \
      "overlay, scan, none or auto (overlay on an overlay mount, else scan): how the rootfs changes are found",        \
      "auto")
/* How a checkpoint writes its image: the rootfs changes, compressed, encrypted. */
#define CLI_OPTS_IMAGE_OUT CLI_OPT_DIFF, CLI_OPT_COMPRESS, CLI_OPT_KEY
#define CLI_OPT_STRATEGY FERRY_CMD_ARG("strategy", OPT_STRATEGY, "S", "stopAndCopy, preCopy or postCopy", "stopAndCopy")
#define CLI_OPT_PAGE_SERVER                                                                                            \
  FERRY_CMD_ARG("page-server", OPT_PAGE_SERVER, "ADDR:PORT", "postCopy: where the memory is served (port 0: any)", NULL)
#define CLI_OPT_CRIU                                                                                                   \
  FERRY_CMD_FLAG("tcp-established", OPT_TCP_EST, "CRIU: dump and restore established TCP connections"),                \
      FERRY_CMD_FLAG("tcp-close", OPT_TCP_CLOSE, "CRIU: restore established connections closed"),                      \
      FERRY_CMD_FLAG("file-locks", OPT_FILE_LOCKS, "CRIU: dump and restore file locks"),                               \
      FERRY_CMD_FLAG("ext-unix-sk", OPT_EXT_UNIX, "CRIU: allow unix sockets connected outside the container"),         \
      FERRY_CMD_FLAG("shell-job", OPT_SHELL_JOB, "CRIU: the container was started from a shell job"),                  \
      FERRY_CMD_ARG("manage-cgroups-mode", OPT_CGROUPS_MODE, "M", "CRIU: soft, full or strict", NULL)

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
  OPT_HOLD,
  OPT_FINISH,
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
  OPT_TOKEN_FILE
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
  int hold;   /* checkpoint --hold */
  int finish; /* checkpoint --finish */
};

/* options.c. Parses argv (argv[0]: the verb) into c by the verb's option
 * table; --help and -h print the verb's help page and exit 0. Returns 0, or 2
 * for a usage error (said on stderr); optind is then the first operand. */
int cli_parse(const struct cli_globals *g, int argc, char **argv, struct cli_opts *c);
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
