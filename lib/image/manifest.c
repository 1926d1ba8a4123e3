/* SPDX-License-Identifier: Apache-2.0 */
#include "image/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/hash.h"
#include "base/path.h"
#include "base/util.h"

struct ferry_manifest_file *ferry_manifest_add(struct ferry_manifest *m, const char *path)
{
  struct ferry_manifest_file *f = realloc(m->files, (m->nfiles + 1) * sizeof *f);
  if (!f)
    abort();
  m->files = f;
  f = &m->files[m->nfiles++];
  memset(f, 0, sizeof *f);
  f->path = ferry_strdup(path);
  return f;
}

static void add_file(struct ferry_manifest *m, const char *rel, uint64_t size, const char *sha)
{
  struct ferry_manifest_file *f = ferry_manifest_add(m, rel);
  f->size = size;
  memcpy(f->sha256, sha, 65);
  m->total_bytes += size;
}

int ferry_manifest_encoded(const struct ferry_manifest *m) { return m->compression || m->encryption; }

struct ferry_manifest_file *ferry_manifest_find(const struct ferry_manifest *m, const char *path)
{
  for (size_t i = 0; i < m->nfiles; i++)
    if (!strcmp(m->files[i].path, path))
      return &m->files[i];
  return NULL;
}

/* Walks dir in sorted order; every regular file becomes an entry, anything else
 * but directories is an error (an image holds nothing else). hash: each file's
 * SHA-256 too, taken from known when it lists the file with its size. */
static int scan_rec(const char *root, const char *rel, struct ferry_manifest *m, int hash,
                    const struct ferry_manifest *known, ferry_error *err)
{
  char *dir = rel ? ferry_path_join(root, rel) : ferry_strdup(root);
  struct dirent **names = NULL;
  int n = scandir(dir, &names, NULL, alphasort);
  if (n < 0) {
    ferry_error_set(err, errno, "list %s", dir);
    free(dir);
    return -1;
  }
  int rc = 0;
  for (int i = 0; i < n; i++) {
    const char *nm = names[i]->d_name;
    if (rc == 0 && strcmp(nm, ".") && strcmp(nm, "..") &&
        !(rel == NULL && (!strcmp(nm, FERRY_MANIFEST_FILE) || !strcmp(nm, FERRY_MANIFEST_SUM_FILE)))) {
      char *r = rel ? ferry_path_join(rel, nm) : ferry_strdup(nm);
      char *full = ferry_path_join(root, r);
      struct stat st;
      if (lstat(full, &st) < 0) {
        rc = ferry_error_set(err, errno, "stat %s", full);
      } else if (S_ISDIR(st.st_mode)) {
        rc = scan_rec(root, r, m, hash, known, err);
      } else if (S_ISREG(st.st_mode)) {
        char sha[65] = "";
        uint64_t size = (uint64_t)st.st_size;
        const struct ferry_manifest_file *k = known ? ferry_manifest_find(known, r) : NULL;
        if (hash && k && k->size == size)
          memcpy(sha, k->sha256, sizeof sha);
        else if (hash)
          rc = ferry_sha256_file(full, sha, &size, err);
        if (rc == 0)
          add_file(m, r, size, sha);
      } else {
        rc = ferry_error_set(err, 0, "%s is not a regular file or directory", r);
      }
      free(r);
      free(full);
    }
    free(names[i]);
  }
  free(names);
  free(dir);
  return rc;
}

int ferry_manifest_scan(const char *dir, struct ferry_manifest *m, ferry_error *err)
{
  return scan_rec(dir, NULL, m, 1, NULL, err);
}

int ferry_manifest_scan_known(const char *dir, const struct ferry_manifest *known, struct ferry_manifest *m,
                              ferry_error *err)
{
  return scan_rec(dir, NULL, m, 1, known, err);
}

static void put_str(json_object *o, const char *k, const char *v)
{
  if (v)
    json_object_object_add(o, k, json_object_new_string(v));
}

char *ferry_manifest_to_json(const struct ferry_manifest *m)
{
  json_object *o = json_object_new_object();
  put_str(o, "apiVersion", "ferry.dev/v1alpha1");
  put_str(o, "kind", "CheckpointImage");
  put_str(o, "name", m->name);
  put_str(o, "containerId", m->container_id);
  put_str(o, "sourceNode", m->source_node);
  put_str(o, "strategy", m->strategy);
  char created[32];
  ferry_format_time(m->created_ms, created, sizeof created);
  put_str(o, "created", created);
  put_str(o, "criuVersion", m->criu_version);
  put_str(o, "runcVersion", m->runc_version);
  put_str(o, "kernel", m->kernel);
  put_str(o, "rootfsDiff", m->rootfs_diff);
  json_object *opts = json_object_new_object();
  json_object_object_add(opts, "leaveRunning", json_object_new_boolean(m->leave_running));
  json_object_object_add(opts, "tcpEstablished", json_object_new_boolean(m->tcp_established));
  json_object_object_add(opts, "tcpClose", json_object_new_boolean(m->tcp_close));
  json_object_object_add(opts, "fileLocks", json_object_new_boolean(m->file_locks));
  json_object_object_add(opts, "extUnixSk", json_object_new_boolean(m->ext_unix_sk));
  json_object_object_add(opts, "shellJob", json_object_new_boolean(m->shell_job));
  json_object_object_add(opts, "lazyPages", json_object_new_boolean(m->lazy_pages));
  put_str(opts, "pageServer", m->page_server);
  json_object_object_add(o, "options", opts);
  json_object *t = json_object_new_object();
  json_object_object_add(t, "freezeStartUnixMs", json_object_new_int64(m->freeze_start_ms));
  json_object_object_add(t, "dumpMs", json_object_new_int64(m->dump_ms));
  json_object_object_add(t, "rootfsMs", json_object_new_int64(m->rootfs_ms));
  json_object_object_add(t, "writeMs", json_object_new_int64(m->write_ms));
  json_object_object_add(o, "timings", t);
  if (ferry_manifest_encoded(m)) {
    json_object *e = json_object_new_object();
    put_str(e, "compression", m->compression);
    put_str(e, "encryption", m->encryption);
    put_str(e, "keyId", m->key_id);
    json_object_object_add(o, "encoding", e);
  }
  json_object_object_add(o, "totalBytes", json_object_new_int64((int64_t)m->total_bytes));
  json_object *files = json_object_new_array();
  for (size_t i = 0; i < m->nfiles; i++) {
    json_object *f = json_object_new_object();
    put_str(f, "path", m->files[i].path);
    json_object_object_add(f, "size", json_object_new_int64((int64_t)m->files[i].size));
    put_str(f, "sha256", m->files[i].sha256);
    if (m->files[i].raw_sha256[0]) {
      json_object_object_add(f, "rawSize", json_object_new_int64((int64_t)m->files[i].raw_size));
      put_str(f, "rawSha256", m->files[i].raw_sha256);
    }
    json_object_array_add(files, f);
  }
  json_object_object_add(o, "files", files);
  char *s = ferry_strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(o);
  return s;
}

static int get_str(json_object *o, const char *k, char **out, int required, ferry_error *err)
{
  json_object *v;
  if (!json_object_object_get_ex(o, k, &v)) {
    if (required)
      return ferry_error_set(err, 0, "manifest: field %s is missing", k);
    return 0;
  }
  if (!json_object_is_type(v, json_type_string))
    return ferry_error_set(err, 0, "manifest: field %s must be a string", k);
  *out = ferry_strdup(json_object_get_string(v));
  return 0;
}

static int get_i64(json_object *o, const char *k, int64_t *out, ferry_error *err)
{
  json_object *v;
  if (!json_object_object_get_ex(o, k, &v))
    return 0;
  if (!json_object_is_type(v, json_type_int))
    return ferry_error_set(err, 0, "manifest: field %s must be an integer", k);
  *out = json_object_get_int64(v);
  return 0;
}

static int get_bool(json_object *o, const char *k, int *out)
{
  json_object *v;
  if (o && json_object_object_get_ex(o, k, &v))
    *out = json_object_get_boolean(v);
  return 0;
}

static int is_hex64(const char *s)
{
  if (strlen(s) != 64)
    return 0;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
      return 0;
  return 1;
}

/* kind, the identifying strings and the creation time. */
static int parse_header(json_object *o, struct ferry_manifest *m, ferry_error *err)
{
  cleanup_free char *kind = NULL;
  if (get_str(o, "kind", &kind, 1, err) < 0)
    return -1;
  if (strcmp(kind, "CheckpointImage") != 0)
    return ferry_error_set(err, 0, "manifest: kind is %s, expected CheckpointImage", kind);
  if (get_str(o, "name", &m->name, 1, err) < 0 || get_str(o, "containerId", &m->container_id, 1, err) < 0 ||
      get_str(o, "sourceNode", &m->source_node, 0, err) < 0 || get_str(o, "strategy", &m->strategy, 1, err) < 0 ||
      get_str(o, "criuVersion", &m->criu_version, 0, err) < 0 ||
      get_str(o, "runcVersion", &m->runc_version, 0, err) < 0 || get_str(o, "kernel", &m->kernel, 0, err) < 0 ||
      get_str(o, "rootfsDiff", &m->rootfs_diff, 1, err) < 0)
    return -1;
  cleanup_free char *created = NULL;
  if (get_str(o, "created", &created, 0, err) < 0)
    return -1;
  m->created_ms = ferry_parse_time_ms(created);
  return 0;
}

/* options: CRIU's, and post-copy's page server. */
static int parse_options(json_object *o, struct ferry_manifest *m, ferry_error *err)
{
  json_object *opts = NULL;
  json_object_object_get_ex(o, "options", &opts);
  get_bool(opts, "leaveRunning", &m->leave_running);
  get_bool(opts, "tcpEstablished", &m->tcp_established);
  get_bool(opts, "tcpClose", &m->tcp_close);
  get_bool(opts, "fileLocks", &m->file_locks);
  get_bool(opts, "extUnixSk", &m->ext_unix_sk);
  get_bool(opts, "shellJob", &m->shell_job);
  get_bool(opts, "lazyPages", &m->lazy_pages);
  if (opts && get_str(opts, "pageServer", &m->page_server, 0, err) < 0)
    return -1;
  if (m->lazy_pages && !m->page_server)
    return ferry_error_set(err, 0, "manifest: options.lazyPages without options.pageServer");
  return 0;
}

/* encoding: a known compression and encryption (with its key's ID), if any. */
static int parse_encoding(json_object *o, struct ferry_manifest *m, ferry_error *err)
{
  json_object *enc = NULL;
  if (json_object_object_get_ex(o, "encoding", &enc) &&
      (get_str(enc, "compression", &m->compression, 0, err) < 0 ||
       get_str(enc, "encryption", &m->encryption, 0, err) < 0 || get_str(enc, "keyId", &m->key_id, 0, err) < 0))
    return -1;
  if ((m->compression && strcmp(m->compression, "zstd") && strcmp(m->compression, "lz4")) ||
      (m->encryption && (strcmp(m->encryption, "aes-256-gcm") || !m->key_id)))
    return ferry_error_set(err, 0, "manifest: unknown encoding (compression %s, encryption %s)",
                           m->compression ? m->compression : "none", m->encryption ? m->encryption : "none");
  return 0;
}

static int parse_timings(json_object *o, struct ferry_manifest *m, ferry_error *err)
{
  json_object *t = NULL;
  if (json_object_object_get_ex(o, "timings", &t) &&
      (get_i64(t, "freezeStartUnixMs", &m->freeze_start_ms, err) < 0 || get_i64(t, "dumpMs", &m->dump_ms, err) < 0 ||
       get_i64(t, "rootfsMs", &m->rootfs_ms, err) < 0 || get_i64(t, "writeMs", &m->write_ms, err) < 0))
    return -1;
  return 0;
}

/* files[i]: a path inside the image, a size and a SHA-256 (and, in an encoded
 * image, the raw size and SHA-256). */
static int parse_file(json_object *f, size_t i, struct ferry_manifest *m, ferry_error *err)
{
  json_object *p, *s, *h;
  if (!json_object_is_type(f, json_type_object) || !json_object_object_get_ex(f, "path", &p) ||
      !json_object_object_get_ex(f, "size", &s) || !json_object_object_get_ex(f, "sha256", &h) ||
      !json_object_is_type(p, json_type_string) || !json_object_is_type(s, json_type_int) ||
      !json_object_is_type(h, json_type_string))
    return ferry_error_set(err, 0, "manifest: files[%zu] needs a string path, an integer size and a string sha256", i);
  const char *path = json_object_get_string(p), *sha = json_object_get_string(h);
  if (ferry_path_rel_ok(path, err) < 0)
    return ferry_error_prefix(err, "manifest: files[%zu].path %s leaves the image", i, path);
  if (!is_hex64(sha) || json_object_get_int64(s) < 0)
    return ferry_error_set(err, 0, "manifest: files[%zu] (%s) has an invalid size or sha256", i, path);
  add_file(m, path, (uint64_t)json_object_get_int64(s), sha);
  json_object *rs, *rh;
  if (json_object_object_get_ex(f, "rawSha256", &rh) && json_object_object_get_ex(f, "rawSize", &rs)) {
    const char *raw = json_object_get_string(rh);
    if (!is_hex64(raw) || !json_object_is_type(rs, json_type_int) || json_object_get_int64(rs) < 0)
      return ferry_error_set(err, 0, "manifest: files[%zu] (%s) has an invalid rawSize or rawSha256", i, path);
    m->files[m->nfiles - 1].raw_size = (uint64_t)json_object_get_int64(rs);
    memcpy(m->files[m->nfiles - 1].raw_sha256, raw, 65);
  } else if (ferry_manifest_encoded(m)) {
    return ferry_error_set(err, 0, "manifest: files[%zu] (%s) of an encoded image has no rawSize and rawSha256", i,
                           path);
  }
  return 0;
}

static int parse_files(json_object *o, struct ferry_manifest *m, ferry_error *err)
{
  json_object *files = NULL;
  if (!json_object_object_get_ex(o, "files", &files) || !json_object_is_type(files, json_type_array))
    return ferry_error_set(err, 0, "manifest: field files is missing or not an array");
  for (size_t i = 0; i < json_object_array_length(files); i++)
    if (parse_file(json_object_array_get_idx(files, i), i, m, err) < 0)
      return -1;
  return 0;
}

int ferry_manifest_from_json(const char *text, struct ferry_manifest *m, ferry_error *err)
{
  memset(m, 0, sizeof *m);
  enum json_tokener_error jerr = json_tokener_success;
  cleanup_json json_object *o = json_tokener_parse_verbose(text, &jerr);
  if (!o)
    return ferry_error_set(err, 0, "manifest: not valid JSON (%s)", json_tokener_error_desc(jerr));
  if (!json_object_is_type(o, json_type_object))
    return ferry_error_set(err, 0, "manifest: not a JSON object");
  if (parse_header(o, m, err) < 0 || parse_options(o, m, err) < 0 || parse_encoding(o, m, err) < 0 ||
      parse_timings(o, m, err) < 0 || parse_files(o, m, err) < 0) {
    ferry_manifest_free(m);
    return -1;
  }
  return 0;
}

int ferry_manifest_write(const char *dir, const struct ferry_manifest *m, char digest[FERRY_DIGEST_LEN],
                         ferry_error *err)
{
  cleanup_free char *text = ferry_manifest_to_json(m);
  size_t len = strlen(text);
  cleanup_free char *p = ferry_path_join(dir, FERRY_MANIFEST_FILE);
  if (ferry_write_file(p, text, len, err) < 0)
    return -1;
  char sum[65], line[80];
  ferry_sha256_hex(text, len, sum);
  int n = snprintf(line, sizeof line, "%s  %s\n", sum, FERRY_MANIFEST_FILE);
  cleanup_free char *sp = ferry_path_join(dir, FERRY_MANIFEST_SUM_FILE);
  if (digest)
    snprintf(digest, FERRY_DIGEST_LEN, FERRY_DIGEST_PREFIX "%s", sum);
  return ferry_write_file(sp, line, (size_t)n, err);
}

/* manifest.json's text and its SHA-256. */
static int read_manifest(const char *dir, char **text, char got[65], ferry_error *err)
{
  cleanup_free char *p = ferry_path_join(dir, FERRY_MANIFEST_FILE);
  size_t len = 0;
  if (ferry_read_file(p, text, &len, err) < 0)
    return -1;
  ferry_sha256_hex(*text, len, got);
  return 0;
}

int ferry_manifest_load(const char *dir, struct ferry_manifest *m, ferry_error *err)
{
  return ferry_manifest_load_digest(dir, m, NULL, err);
}

int ferry_manifest_load_digest(const char *dir, struct ferry_manifest *m, char digest[FERRY_DIGEST_LEN],
                               ferry_error *err)
{
  memset(m, 0, sizeof *m);
  cleanup_free char *sp = ferry_path_join(dir, FERRY_MANIFEST_SUM_FILE);
  cleanup_free char *text = NULL, *sumtext = NULL;
  char want[65] = "", got[65];
  if (read_manifest(dir, &text, got, err) < 0 || ferry_read_file(sp, &sumtext, NULL, err) < 0)
    return -1;
  if (sscanf(sumtext, "%64s", want) != 1 || !is_hex64(want))
    return ferry_error_set(err, 0, "%s: not a SHA-256 line", FERRY_MANIFEST_SUM_FILE);
  if (strcmp(want, got) != 0)
    return ferry_error_set(err, 0, "%s was altered: sha256 %s, expected %s", FERRY_MANIFEST_FILE, got, want);
  if (digest)
    snprintf(digest, FERRY_DIGEST_LEN, FERRY_DIGEST_PREFIX "%s", got);
  return ferry_manifest_from_json(text, m, err);
}

int ferry_manifest_load_pinned(const char *dir, const char *digest, struct ferry_manifest *m, ferry_error *err)
{
  memset(m, 0, sizeof *m);
  size_t pl = strlen(FERRY_DIGEST_PREFIX);
  if (!digest || strncmp(digest, FERRY_DIGEST_PREFIX, pl) != 0 || !is_hex64(digest + pl))
    return ferry_error_set(err, EINVAL, "image digest %s is not sha256: and 64 hex characters",
                           digest ? digest : "(none)");
  cleanup_free char *text = NULL;
  char got[65];
  if (read_manifest(dir, &text, got, err) < 0)
    return -1;
  if (strcmp(digest + pl, got) != 0)
    return ferry_error_set(err, 0, "%s is not the image's: sha256:%s, its migration recorded %s", FERRY_MANIFEST_FILE,
                           got, digest);
  return ferry_manifest_from_json(text, m, err);
}

static int cmp_path(const void *a, const void *b)
{
  return strcmp(((const struct ferry_manifest_file *)a)->path, ((const struct ferry_manifest_file *)b)->path);
}

int ferry_manifest_is_memory(const char *path)
{
  size_t n = strlen(path);
  return !strncmp(path, "criu/pages-", 11) && n > 15 && !strcmp(path + n - 4, ".img");
}

/* What a verification found wrong: the first few said, all counted. */
#define PROBLEMS_SAID 5
struct problems {
  char *text;
  int n;
};

static void problem(struct problems *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct problems *p, const char *fmt, ...)
{
  if (p->n++ >= PROBLEMS_SAID)
    return;
  va_list ap;
  va_start(ap, fmt);
  cleanup_free char *one = NULL;
  if (vasprintf(&one, fmt, ap) < 0)
    abort();
  va_end(ap);
  char *all = p->text ? ferry_asprintf("%s; %s", p->text, one) : ferry_strdup(one);
  free(p->text);
  p->text = all;
}

/* One file against its entry: its size, then (when hash) its SHA-256. */
static void check_file(const char *dir, const struct ferry_manifest_file *want, uint64_t size, int hash,
                       struct problems *p)
{
  if (size != want->size) {
    problem(p, "%s has %llu bytes, the manifest says %llu", want->path, (unsigned long long)size,
            (unsigned long long)want->size);
    return;
  }
  if (!hash)
    return;
  cleanup_free char *full = ferry_path_join(dir, want->path);
  cleanup_error ferry_error e = FERRY_ERROR_INIT;
  char sha[65];
  if (ferry_sha256_file(full, sha, NULL, &e) < 0)
    problem(p, "%s", ferry_error_msg(&e));
  else if (strcmp(sha, want->sha256) != 0)
    problem(p, "%s was altered: sha256 %.12s..., the manifest says %.12s...", want->path, sha, want->sha256);
}

/* The listing: every listed file present, nothing else, each checked (and
 * hashed unless it is memory and hash_memory is 0). */
static int check_listing(const char *dir, const struct ferry_manifest *m, int hash_memory, struct problems *p,
                         ferry_error *err)
{
  struct ferry_manifest found = { 0 };
  if (scan_rec(dir, NULL, &found, 0, NULL, err) < 0) {
    ferry_manifest_free(&found);
    return -1;
  }
  cleanup_free struct ferry_manifest_file *want = malloc((m->nfiles ? m->nfiles : 1) * sizeof *want);
  if (!want)
    abort();
  if (m->nfiles) /* an empty list has no array to copy from */
    memcpy(want, m->files, m->nfiles * sizeof *want);
  qsort(want, m->nfiles, sizeof *want, cmp_path);
  size_t i = 0, j = 0;
  while (i < m->nfiles || j < found.nfiles) {
    int c = i == m->nfiles ? 1 : j == found.nfiles ? -1 : strcmp(want[i].path, found.files[j].path);
    if (c < 0)
      problem(p, "%s is missing", want[i++].path);
    else if (c > 0)
      problem(p, "%s is not in the manifest", found.files[j++].path);
    else {
      check_file(dir, &want[i], found.files[j].size, hash_memory || !ferry_manifest_is_memory(want[i].path), p);
      i++;
      j++;
    }
  }
  ferry_manifest_free(&found);
  return 0;
}

/* The memory files only, by their entries (other files may have appeared since). */
static void check_memory(const char *dir, const struct ferry_manifest *m, struct problems *p)
{
  for (size_t i = 0; i < m->nfiles; i++) {
    if (!ferry_manifest_is_memory(m->files[i].path))
      continue;
    cleanup_free char *full = ferry_path_join(dir, m->files[i].path);
    struct stat st;
    if (stat(full, &st) < 0)
      problem(p, "%s: %s", m->files[i].path, strerror(errno));
    else
      check_file(dir, &m->files[i], (uint64_t)st.st_size, 1, p);
  }
}

int ferry_manifest_verify_scope(const char *dir, const struct ferry_manifest *m, enum ferry_verify_scope scope,
                                ferry_error *err)
{
  struct problems p = { 0 };
  if (scope == FERRY_VERIFY_MEMORY)
    check_memory(dir, m, &p);
  else if (check_listing(dir, m, scope == FERRY_VERIFY_ALL, &p, err) < 0)
    return -1;
  if (!p.n)
    return 0;
  ferry_error_set(err, 0, "image %s failed verification (%d problem%s): %s%s", dir, p.n, p.n == 1 ? "" : "s", p.text,
                  p.n > PROBLEMS_SAID ? "; ..." : "");
  free(p.text);
  return -1;
}

int ferry_manifest_verify(const char *dir, const struct ferry_manifest *m, ferry_error *err)
{
  return ferry_manifest_verify_scope(dir, m, FERRY_VERIFY_ALL, err);
}

void ferry_manifest_free(struct ferry_manifest *m)
{
  free(m->name);
  free(m->container_id);
  free(m->source_node);
  free(m->strategy);
  free(m->page_server);
  free(m->compression);
  free(m->encryption);
  free(m->key_id);
  free(m->criu_version);
  free(m->runc_version);
  free(m->kernel);
  free(m->rootfs_diff);
  for (size_t i = 0; i < m->nfiles; i++)
    free(m->files[i].path);
  free(m->files);
  memset(m, 0, sizeof *m);
}
