/* SPDX-License-Identifier: Apache-2.0 */
#include "image/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/log.h"
#include "image/manifest.h"
#include "image/s3.h"
#include "base/util.h"

int ferry_store_parse(const char *url, struct ferry_store *s, ferry_error *err)
{
  memset(s, 0, sizeof *s);
  if (!url || !*url)
    return ferry_error_set(err, 0, "store URL is empty (expected dir:///PATH)");
  if (strncmp(url, "dir://", 6) == 0) {
    const char *p = url + 6;
    if (*p != '/')
      return ferry_error_set(err, 0, "store URL %s: the path must be absolute (dir:///PATH)", url);
    s->url = ferry_strdup(url);
    s->path = ferry_strdup(p);
    size_t l = strlen(s->path);
    while (l > 1 && s->path[l - 1] == '/')
      s->path[--l] = '\0';
    return 0;
  }
  if (strncmp(url, "s3://", 5) == 0) {
    const char *b = url + 5, *slash = strchr(b, '/');
    size_t bl = slash ? (size_t)(slash - b) : strlen(b);
    if (bl < 3 || bl > 63)
      return ferry_error_set(err, 0, "store URL %s: the bucket name must be 3 to 63 characters", url);
    for (size_t i = 0; i < bl; i++)
      if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '-' || b[i] == '.'))
        return ferry_error_set(err, 0, "store URL %s: bucket names hold a-z 0-9 . - only", url);
    char *bucket = strndup(b, bl);
    if (!bucket)
      abort();
    const char *prefix = slash ? slash + 1 : "";
    for (const char *p = prefix; *p; p++)
      if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._/", *p)) ||
          (p[0] == '/' && p[1] == '/')) {
        free(bucket);
        return ferry_error_set(err, 0, "store URL %s: the prefix holds A-Z a-z 0-9 - . _ / only", url);
      }
    s->s3 = calloc(1, sizeof *s->s3);
    if (!s->s3)
      abort();
    if (ferry_s3_from_env(bucket, s->s3, err) < 0) {
      free(bucket);
      free(s->s3);
      s->s3 = NULL;
      return ferry_error_prefix(err, "store %s", url);
    }
    size_t pl = strlen(prefix);
    s->prefix = pl ? ferry_asprintf("%.*s/", (int)(prefix[pl - 1] == '/' ? pl - 1 : pl), prefix) : ferry_strdup("");
    const char *cache = getenv("FERRY_S3_CACHE");
    s->path = ferry_asprintf("%s/%s", cache && *cache ? cache : "/var/lib/ferry/s3-cache", bucket);
    s->url = ferry_strdup(url);
    free(bucket);
    return 0;
  }
  const char *colon = strstr(url, "://");
  if (colon)
    return ferry_error_set(err, 0, "store URL %s: unsupported scheme %.*s (supported: dir://, s3://)", url,
                           (int)(colon - url), url);
  return ferry_error_set(err, 0, "store URL %s: expected dir:///PATH or s3://BUCKET[/PREFIX]", url);
}

/* PREFIX/NAME/REL */
static char *object_key(const struct ferry_store *s, const char *name, const char *rel)
{
  return ferry_asprintf("%s%s/%s", s->prefix, name, rel);
}

void ferry_store_free(struct ferry_store *s)
{
  if (s->s3) {
    ferry_s3_free(s->s3);
    free(s->s3);
  }
  free(s->prefix);
  free(s->url);
  free(s->path);
  memset(s, 0, sizeof *s);
}

int ferry_image_name_valid(const char *name, ferry_error *err)
{
  size_t l = name ? strlen(name) : 0;
  if (l == 0 || l > 128)
    return ferry_error_set(err, 0, "image name must be 1 to 128 characters");
  if (name[0] == '.' || name[0] == '-')
    return ferry_error_set(err, 0, "image name %s must not start with '.' or '-'", name);
  for (size_t i = 0; i < l; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
          c == '-'))
      return ferry_error_set(err, 0, "image name %s: character '%c' not allowed (only A-Z a-z 0-9 . _ -)", name, c);
  }
  return 0;
}

char *ferry_store_image_dir(const struct ferry_store *s, const char *name) { return ferry_path_join(s->path, name); }

int ferry_store_begin(const struct ferry_store *s, const char *name, char **tmpdir, ferry_error *err)
{
  if (s->s3) {
    char *key = object_key(s, name, FERRY_MANIFEST_SUM_FILE);
    int exists = ferry_s3_exists(s->s3, key, err);
    free(key);
    if (exists < 0)
      return ferry_error_prefix(err, "store %s", s->url);
    if (exists)
      return ferry_error_set(err, EEXIST, "image %s already exists in store %s", name, s->url);
    if (ferry_mkdir_p(s->path, 0700, err) < 0)
      return ferry_error_prefix(err, "store %s: local copies", s->url);
  }
  struct stat st;
  if (stat(s->path, &st) < 0)
    return ferry_error_set(err, errno, "store %s", s->url);
  if (!S_ISDIR(st.st_mode))
    return ferry_error_set(err, ENOTDIR, "store %s", s->url);
  char *dir = ferry_store_image_dir(s, name);
  int exists = ferry_path_exists(dir);
  free(dir);
  if (exists)
    return ferry_error_set(err, EEXIST, "image %s already exists in store %s", name, s->url);
  char *tmp = ferry_asprintf("%s/.%s.tmp-%d", s->path, name, (int)getpid());
  if (mkdir(tmp, 0700) < 0) {
    ferry_error_set(err, errno, "store %s is not writable: mkdir %s", s->url, tmp);
    free(tmp);
    return -1;
  }
  *tmpdir = tmp;
  return 0;
}

/* Every file of the image at dir, the manifest's two files last; on failure
 * what was uploaded is deleted again. */
static int upload(const struct ferry_store *s, const char *name, const char *dir, ferry_error *err)
{
  struct ferry_manifest m = { 0 };
  if (ferry_manifest_load(dir, &m, err) < 0)
    return ferry_error_prefix(err, "upload image %s", name);
  size_t n = m.nfiles + 2, done = 0;
  const char **rel = calloc(n, sizeof *rel);
  if (!rel)
    abort();
  for (size_t i = 0; i < m.nfiles; i++)
    rel[i] = m.files[i].path;
  rel[m.nfiles] = FERRY_MANIFEST_FILE;
  rel[m.nfiles + 1] = FERRY_MANIFEST_SUM_FILE;
  int rc = 0;
  for (; done < n && rc == 0; done++) {
    char *key = object_key(s, name, rel[done]), *path = ferry_path_join(dir, rel[done]);
    rc = ferry_s3_put_file(s->s3, key, path, err);
    free(key);
    free(path);
  }
  if (rc < 0) {
    ferry_error_prefix(err, "upload image %s to %s", name, s->url);
    for (size_t i = 0; i + 1 < done; i++) {
      ferry_error e2 = FERRY_ERROR_INIT;
      char *key = object_key(s, name, rel[i]);
      if (ferry_s3_delete(s->s3, key, &e2) < 0)
        log_warn("%s", ferry_error_msg(&e2));
      ferry_error_clear(&e2);
      free(key);
    }
  }
  free(rel);
  ferry_manifest_free(&m);
  return rc;
}

int ferry_store_publish(const struct ferry_store *s, const char *name, const char *tmpdir, enum ferry_publish how,
                        ferry_error *err)
{
  int durable = how == FERRY_PUBLISH_DURABLE;
  if (durable && ferry_fsync_tree(tmpdir, err) < 0)
    return ferry_error_prefix(err, "publish image %s", name);
  char *dir = ferry_store_image_dir(s, name);
  int rc = 0;
  if (renameat2(AT_FDCWD, tmpdir, AT_FDCWD, dir, RENAME_NOREPLACE) < 0)
    rc = ferry_error_set(err, errno, "publish image %s: rename %s to %s", name, tmpdir, dir);
  else if (durable)
    rc = ferry_fsync_path(s->path, err);
  if (rc == 0 && s->s3 && (rc = upload(s, name, dir, err)) < 0) {
    /* not published: the local copy goes too, so the name is free again */
    ferry_error e2 = FERRY_ERROR_INIT;
    if (ferry_rm_rf(dir, &e2) < 0)
      log_warn("removing %s: %s", dir, ferry_error_msg(&e2));
    ferry_error_clear(&e2);
  }
  free(dir);
  return rc;
}

int ferry_store_find_unpublished(const struct ferry_store *s, const char *name, char **tmpdir, ferry_error *err)
{
  DIR *dir = opendir(s->path);
  if (!dir)
    return ferry_error_set(err, errno, "store %s", s->url);
  char *prefix = ferry_asprintf(".%s.tmp-", name);
  struct timespec newest = { 0, 0 };
  char *found = NULL;
  struct dirent *e;
  while ((e = readdir(dir))) {
    struct stat st;
    if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 ||
        fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
      continue;
    if (found && (st.st_mtim.tv_sec < newest.tv_sec ||
                  (st.st_mtim.tv_sec == newest.tv_sec && st.st_mtim.tv_nsec <= newest.tv_nsec)))
      continue;
    free(found);
    found = ferry_path_join(s->path, e->d_name);
    newest = st.st_mtim;
  }
  closedir(dir);
  free(prefix);
  if (!found)
    return ferry_error_set(err, ENOENT, "store %s holds no unpublished image %s", s->url, name);
  *tmpdir = found;
  return 0;
}

void ferry_store_abort(const char *tmpdir)
{
  ferry_error err = FERRY_ERROR_INIT;
  if (tmpdir && ferry_rm_rf(tmpdir, &err) < 0)
    log_warn("could not remove %s: %s", tmpdir, ferry_error_msg(&err));
  ferry_error_clear(&err);
}

/* The image from S3 into this node's copy (unless it is there already, complete). */
static int download(const struct ferry_store *s, const char *name, ferry_error *err)
{
  char *dir = ferry_store_image_dir(s, name), *sum = ferry_path_join(dir, FERRY_MANIFEST_SUM_FILE);
  int have = ferry_path_exists(sum);
  free(sum);
  if (have) {
    free(dir);
    return 0;
  }
  char *tmp = ferry_asprintf("%s/.%s.dl-%d", s->path, name, (int)getpid());
  struct ferry_manifest m = { 0 };
  int rc = -1;
  if (ferry_mkdir_p(s->path, 0700, err) < 0 || ferry_rm_rf(tmp, err) < 0 || ferry_mkdir_p(tmp, 0700, err) < 0)
    goto out;
  const char *meta[] = { FERRY_MANIFEST_SUM_FILE, FERRY_MANIFEST_FILE };
  for (int i = 0; i < 2; i++) {
    char *key = object_key(s, name, meta[i]), *path = ferry_path_join(tmp, meta[i]);
    int r = ferry_s3_get_file(s->s3, key, path, err);
    free(key);
    free(path);
    if (r < 0) {
      if (err->errnum == ENOENT)
        ferry_error_set(err, ENOENT, "image %s not found in store %s", name, s->url);
      goto out;
    }
  }
  if (ferry_manifest_load(tmp, &m, err) < 0)
    goto out;
  for (size_t i = 0; i < m.nfiles; i++) {
    char *key = object_key(s, name, m.files[i].path), *path = ferry_path_join(tmp, m.files[i].path);
    char *parent = ferry_strdup(path);
    *strrchr(parent, '/') = '\0';
    int r = ferry_mkdir_p(parent, 0700, err) == 0 ? ferry_s3_get_file(s->s3, key, path, err) : -1;
    free(parent);
    free(key);
    free(path);
    if (r < 0)
      goto out;
  }
  if (ferry_fsync_tree(tmp, err) < 0)
    goto out;
  if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_NOREPLACE) < 0 && errno != EEXIST && errno != ENOTEMPTY) {
    ferry_error_set(err, errno, "rename %s to %s", tmp, dir);
    goto out;
  }
  rc = 0;
out:
  if (rc < 0) {
    ferry_error_prefix(err, "download image %s", name);
  }
  ferry_error e2 = FERRY_ERROR_INIT;
  if (ferry_path_exists(tmp) && ferry_rm_rf(tmp, &e2) < 0)
    log_warn("removing %s: %s", tmp, ferry_error_msg(&e2));
  ferry_error_clear(&e2);
  ferry_manifest_free(&m);
  free(tmp);
  free(dir);
  return rc;
}

int ferry_store_open(const struct ferry_store *s, const char *name, char **dir, ferry_error *err)
{
  if (s->s3 && download(s, name, err) < 0)
    return -1;
  if (!ferry_is_dir(s->path))
    return ferry_error_set(err, ENOENT, "store %s", s->url);
  char *d = ferry_store_image_dir(s, name);
  if (!ferry_is_dir(d)) {
    free(d);
    return ferry_error_set(err, ENOENT, "image %s not found in store %s", name, s->url);
  }
  *dir = d;
  return 0;
}

int ferry_store_space(const struct ferry_store *s, uint64_t *free_bytes, uint64_t *total_bytes, ferry_error *err)
{
  struct statvfs v;
  if (statvfs(s->path, &v) < 0)
    return ferry_error_set(err, errno, "store %s: statvfs %s", s->url, s->path);
  *free_bytes = (uint64_t)v.f_bavail * v.f_frsize;
  *total_bytes = (uint64_t)v.f_blocks * v.f_frsize;
  return 0;
}
