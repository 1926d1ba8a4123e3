/* SPDX-License-Identifier: Apache-2.0 */
/* A direct transfer's token (the image sent straight from the source's agent
 * to the target's): both agents derive it from the key every node shares
 * (--transfer-key-file) and the migration's UID, so it never appears in the
 * PodMigration, an event or a log. The steps read it from a root-only file. */
#include "daemon.h"

#include <openssl/crypto.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/util.h"
#include "image/codec.h"
#include "image/stream.h"

int transfer_key_load(struct daemon *d, const char *path, ferry_error *err)
{
  struct ferry_codec c = { 0 };
  if (ferry_codec_load_key(path, &c, err) < 0)
    return -1;
  memcpy(d->transfer.key, c.key, sizeof d->transfer.key);
  d->transfer.set = 1;
  OPENSSL_cleanse(&c, sizeof c);
  struct stat st;
  if (stat(path, &st) == 0 && (st.st_mode & 077))
    log_warn("--transfer-key-file %s is readable by others than its owner (mode %04o): make it 0600 (a Secret "
             "volume's defaultMode 0400)",
             path, (unsigned)(st.st_mode & 07777));
  return 0;
}

void transfer_key_forget(struct daemon *d) { OPENSSL_cleanse(&d->transfer, sizeof d->transfer); }

char *transfer_token_file(struct daemon *d, json_object *pm, const char *step, ferry_error *err)
{
  if (!d->transfer.set) {
    ferry_error_set(err, 0, "node %s has no --transfer-key-file to derive the transfer's token from", d->g->node);
    return NULL;
  }
  const char *uid = ferry_kube_str(pm, "metadata.uid");
  char token[65];
  cleanup_free char *path = op_path(d, uid, step, "token");
  int rc = ferry_stream_token_for(d->transfer.key, uid, token, err);
  if (rc == 0)
    rc = ferry_write_file_mode(path, token, 64, 0600, err);
  OPENSSL_cleanse(token, sizeof token);
  return rc == 0 ? ferry_steal(&path) : NULL;
}
