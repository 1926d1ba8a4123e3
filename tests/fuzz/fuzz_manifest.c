/* SPDX-License-Identifier: Apache-2.0 */
/* An image's manifest.json (it comes with the image, from another node or S3):
 * ferry_manifest_from_json, then every verification scope against a small image
 * directory (criu/pages-1.img, criu/core-1.img, rootfs-diff.tar). */
#include "fuzz.h"
#include "image/manifest.h"

static const char *files[][2] = {
  { "criu/pages-1.img", "pages" },
  { "criu/core-1.img", "core" },
  { "rootfs-diff.tar", "" },
};

static const char *image_dir(void)
{
  static char *dir;
  if (dir)
    return dir;
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  dir = ferry_path_join(fuzz_tmpdir(), "image");
  cleanup_free char *criu = ferry_path_join(dir, "criu");
  if (ferry_mkdir_p(criu, 0750, &err) < 0)
    abort();
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    cleanup_free char *p = ferry_path_join(dir, files[i][0]);
    if (ferry_write_file(p, files[i][1], strlen(files[i][1]), &err) < 0)
      abort();
  }
  return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  cleanup_free char *text = fuzz_text(data, len);
  struct ferry_manifest m = { 0 };
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  if (ferry_manifest_from_json(text, &m, &err) == 0) {
    enum ferry_verify_scope scopes[] = { FERRY_VERIFY_ALL, FERRY_VERIFY_ALL_BUT_MEMORY, FERRY_VERIFY_MEMORY };
    for (size_t i = 0; i < sizeof scopes / sizeof scopes[0]; i++) {
      ferry_error_clear(&err);
      if (ferry_manifest_verify_scope(image_dir(), &m, scopes[i], &err) < 0 && !err.msg)
        abort();
    }
    cleanup_free char *again = ferry_manifest_to_json(&m);
    if (!again)
      abort();
  }
  ferry_manifest_free(&m);
  return 0;
}
