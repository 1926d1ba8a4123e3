#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

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
  const char *colon = strstr(url, "://");
  if (colon)
    return ferry_error_set(err, 0, "store URL %s: unsupported scheme %.*s (supported: dir://)", url,
                           (int)(colon - url), url);
  return ferry_error_set(err, 0, "store URL %s: expected dir:///PATH", url);
}

void ferry_store_free(struct ferry_store *s)
{
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

char *ferry_store_image_dir(const struct ferry_store *s, const char *name)
{
  return ferry_path_join(s->path, name);
}

int ferry_store_begin(const struct ferry_store *s, const char *name, char **tmpdir, ferry_error *err)
{
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
  if (mkdir(tmp, 0750) < 0) {
    ferry_error_set(err, errno, "store %s is not writable: mkdir %s", s->url, tmp);
    free(tmp);
    return -1;
  }
  *tmpdir = tmp;
  return 0;
}

int ferry_store_publish(const struct ferry_store *s, const char *name, const char *tmpdir, ferry_error *err)
{
  if (ferry_fsync_tree(tmpdir, err) < 0)
    return ferry_error_prefix(err, "publish image %s", name);
  char *dir = ferry_store_image_dir(s, name);
  int rc = 0;
  if (renameat2(AT_FDCWD, tmpdir, AT_FDCWD, dir, RENAME_NOREPLACE) < 0)
    rc = ferry_error_set(err, errno, "publish image %s: rename %s to %s", name, tmpdir, dir);
  else
    rc = ferry_fsync_path(s->path, err);
  free(dir);
  return rc;
}

void ferry_store_abort(const char *tmpdir)
{
  ferry_error err = FERRY_ERROR_INIT;
  if (tmpdir && ferry_rm_rf(tmpdir, &err) < 0)
    log_warn("could not remove %s: %s", tmpdir, ferry_error_msg(&err));
  ferry_error_clear(&err);
}

int ferry_store_open(const struct ferry_store *s, const char *name, char **dir, ferry_error *err)
{
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
