/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry-agent send` and `receive`: one image from this node's store straight
 * into another node's, over TCP, opened with a one-time token. */
#include "cli/cli.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "image/stream.h"
#include "runtime/relay.h"

/* A token: 64 hex characters. */
#define TOKEN_LEN 64

static const struct ferry_cmd_opt receive_opts[] = {
  CLI_OPT_STORE,
  FERRY_CMD_REQ("listen", OPT_LISTEN, "ADDR:PORT", "where to listen (port 0: any)"),
  FERRY_CMD_REQ("token-file", OPT_TOKEN_FILE, "F", "the transfer's token (64 hex characters)"),
  FERRY_CMD_ARG("ready-file", OPT_READY_FILE, "R", "gets {\"listen\": \"ADDR:PORT\"} once listening",
                "none: said on stderr"),
  CLI_OPT_TIMEOUT("for the transfer", CLI_DEFAULT_TIMEOUT_S),
  FERRY_CMD_OPT_HELP,
  FERRY_CMD_OPT_END,
};

const struct ferry_cmd cli_receive_cmd = {
  CLI_VERB("receive"),
  .summary = "receive one image from another node's send into this node's store",
  .details = "Receives one image from another node's send, verifies it and publishes it in the store.\n",
  .opts = receive_opts,
};

static const struct ferry_cmd_opt send_opts[] = {
  CLI_OPT_STORE,
  CLI_OPT_IMAGE,
  FERRY_CMD_REQ("to", OPT_TO, "ADDR:PORT", "where the receiver listens"),
  FERRY_CMD_REQ("token-file", OPT_TOKEN_FILE, "F", "the transfer's token (64 hex characters)"),
  FERRY_CMD_ARG("bandwidth", OPT_BANDWIDTH, "Q", "at most Q bytes per second (e.g. 100Mi)", "unlimited"),
  CLI_OPT_TIMEOUT("accepted, not used: a send ends when the receiver has the image or closes", CLI_DEFAULT_TIMEOUT_S),
  FERRY_CMD_OPT_HELP,
  FERRY_CMD_OPT_END,
};

const struct ferry_cmd cli_send_cmd = {
  CLI_VERB("send"),
  .summary = "send an image straight to another node's receive (no shared storage)",
  .details = "Sends one image to another node's receive.\n",
  .opts = send_opts,
};

/* A transfer's token from its file (64 hex characters). */
static int read_token(const char *cmd, const char *path, char out[TOKEN_LEN + 1])
{
  cleanup_free char *text = NULL;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (cli_require(cmd, "--token-file", path))
    return 2;
  if (ferry_read_file(path, &text, NULL, &err) < 0) {
    fprintf(stderr, "ferry-agent %s: %s\n", cmd, ferry_error_msg(&err));
    return 2;
  }
  size_t l = strcspn(text, "\r\n");
  int ok = l == TOKEN_LEN;
  if (ok)
    memcpy(out, text, TOKEN_LEN + 1), out[TOKEN_LEN] = '\0';
  OPENSSL_cleanse(text, strlen(text));
  if (!ok) {
    fprintf(stderr, "ferry-agent %s: %s: expected a 64-character token\n", cmd, path);
    return 2;
  }
  return 0;
}

/* Listens, says where (--ready-file, else stderr) and receives one image. */
static void receive_one(const struct cli_opts *c, const char *token, const struct ferry_store *s, json_object *extra,
                        struct engine_result *r)
{
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  cleanup_close int fd = -1;
  cleanup_free char *bound = NULL;
  cleanup_free char *name = NULL;
  uint64_t bytes = 0;
  int64_t t0 = ferry_now_mono_ms();
  if (ferry_relay_listen(c->listen, &fd, &bound, &err) < 0) {
    r->exit_code = ENGINE_FAILED_UNTOUCHED;
    r->message = ferry_strdup(ferry_error_msg(&err));
    return;
  }
  json_object_object_add(extra, "listen", json_object_new_string(bound));
  const char *text = json_object_to_json_string(extra);
  if (c->ready_file && ferry_write_file_atomic(c->ready_file, text, strlen(text), &err) < 0)
    log_error("%s", ferry_error_msg(&err));
  else if (!c->ready_file)
    fprintf(stderr, "receiving on %s\n", bound);
  ferry_error_clear(&err);
  if (ferry_stream_receive(fd, token, s, c->timeout_s * 1000, &name, &bytes, &err) < 0) {
    r->exit_code = ENGINE_FAILED_UNTOUCHED;
    r->message = ferry_strdup(ferry_error_msg(&err));
    return;
  }
  r->outcome = "received";
  r->image_dir = ferry_store_image_dir(s, name);
  r->bytes = bytes;
  r->transfer_ms = ferry_now_mono_ms() - t0;
  r->message = ferry_asprintf("image %s received into %s (%llu bytes)", name, s->url, (unsigned long long)bytes);
}

/* The target's half of a direct transfer: one image, received into --store. */
int cli_receive(const struct cli_globals *g, int argc, char **argv)
{
  struct cli_opts c;
  char token[TOKEN_LEN + 1];
  int rc = cli_parse(g, argc, argv, &c);
  if (rc || (rc = read_token(c.cmd, c.token_file, token)))
    return rc;
  struct ferry_store s;
  if ((rc = cli_open_store(c.cmd, c.store, &s)))
    return rc;
  struct engine_result r = { 0 };
  json_object *extra = json_object_new_object();
  receive_one(&c, token, &s, extra, &r);
  cli_print_result(g, "receive", NULL, &r, extra);
  rc = (int)r.exit_code;
  OPENSSL_cleanse(token, sizeof token);
  engine_result_free(&r);
  ferry_store_free(&s);
  return rc;
}

/* The source's half of a direct transfer. */
int cli_send(const struct cli_globals *g, int argc, char **argv)
{
  struct cli_opts c;
  char token[TOKEN_LEN + 1];
  int rc = cli_parse(g, argc, argv, &c);
  if (rc || (rc = cli_check_image(c.cmd, c.image)) || (rc = read_token(c.cmd, c.token_file, token)))
    return rc;
  struct ferry_store s;
  if ((rc = cli_open_store(c.cmd, c.store, &s)))
    return rc;
  struct engine_result r = { 0 };
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  cleanup_free char *dir = NULL;
  uint64_t bytes = 0;
  int64_t t0 = ferry_now_mono_ms();
  if (ferry_store_open(&s, c.image, &dir, &err) < 0 ||
      ferry_stream_send(dir, c.image, c.to, token, c.bandwidth, &bytes, &err) < 0) {
    r.exit_code = ENGINE_FAILED_UNTOUCHED;
    r.message = ferry_strdup(ferry_error_msg(&err));
  } else {
    r.outcome = "sent";
    r.bytes = bytes;
    r.bytes_during_freeze = bytes;
    r.transfer_ms = ferry_now_mono_ms() - t0;
    r.message = ferry_asprintf("image %s sent to %s (%llu bytes)", c.image, c.to, (unsigned long long)bytes);
  }
  cli_print_result(g, "send", NULL, &r, NULL);
  rc = (int)r.exit_code;
  OPENSSL_cleanse(token, sizeof token);
  engine_result_free(&r);
  ferry_store_free(&s);
  return rc;
}
