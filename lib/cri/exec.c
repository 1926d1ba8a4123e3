/* SPDX-License-Identifier: Apache-2.0 */
/* Commands in a running container (ExecSync) and images (ImageStatus) through the CRI. */
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/util.h"
#include "cri/internal.h"

/* A heap copy of a bytes field, NUL-terminated. */
static uint8_t *copy_bytes(const ProtobufCBinaryData *b, size_t *len)
{
  uint8_t *out = ferry_malloc(b->len + 1);
  if (b->len)
    memcpy(out, b->data, b->len);
  out[b->len] = 0;
  *len = b->len;
  return out;
}

int ferry_cri_exec_sync(struct ferry_cri *c, const char *id, const char *const *cmd, int64_t timeout_s,
                        struct ferry_cri_exec_result *out, ferry_error *err)
{
  Runtime__V1__ExecSyncRequest req;
  runtime__v1__exec_sync_request__init(&req);
  req.container_id = cri_in(id);
  req.cmd = (char **)cmd;
  req.n_cmd = cri_strv_len(cmd);
  req.timeout = timeout_s;
  cleanup_pb Runtime__V1__ExecSyncResponse *r =
      cri_call(c, CRI_RUNTIME_SERVICE, "ExecSync", &req.base, &runtime__v1__exec_sync_response__descriptor,
               c->timeout_ms + timeout_s * CRI_MS_PER_S, err);
  if (!r)
    return -1;
  out->out = copy_bytes(&r->stdout, &out->out_len);
  out->errout = copy_bytes(&r->stderr, &out->errout_len);
  out->exit_code = r->exit_code;
  return 0;
}

void ferry_cri_exec_result_free(struct ferry_cri_exec_result *r)
{
  free(r->out);
  free(r->errout);
  memset(r, 0, sizeof *r);
}

int ferry_cri_image_present(struct ferry_cri *c, const char *image, bool *present, char **id, ferry_error *err)
{
  Runtime__V1__ImageSpec spec;
  runtime__v1__image_spec__init(&spec);
  spec.image = cri_in(image);
  Runtime__V1__ImageStatusRequest req;
  runtime__v1__image_status_request__init(&req);
  req.image = &spec;
  cleanup_pb Runtime__V1__ImageStatusResponse *r =
      cri_call(c, CRI_IMAGE_SERVICE, "ImageStatus", &req.base, &runtime__v1__image_status_response__descriptor, 0, err);
  if (!r)
    return -1;
  *present = r->image != NULL;
  if (id)
    *id = r->image ? cri_out(r->image->id) : NULL;
  return 0;
}
