#include "image/codec.h"

#include <errno.h>
#include <fcntl.h>
#include <lz4frame.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include <dirent.h>

#include "image/manifest.h"
#include "base/util.h"

#define CHUNK (256 * 1024)
#define MAGIC "FRYE\x01"
#define MAGIC_LEN 5
#define NONCE_LEN 12
#define TAG_LEN 16

int ferry_codec_parse_compression(const char *text, struct ferry_codec *c, ferry_error *err)
{
  const char *colon = strchr(text ? text : "", ':');
  size_t nl = colon ? (size_t)(colon - text) : strlen(text ? text : "");
  int level = -1;
  if (colon) {
    char *end;
    long v = strtol(colon + 1, &end, 10);
    if (*end || !colon[1] || v < 0 || v > 19)
      return ferry_error_set(err, 0, "compression %s: the level must be 0 to 19", text);
    level = (int)v;
  }
  if (nl == 4 && !strncmp(text, "none", 4))
    c->comp = FERRY_COMP_NONE;
  else if (nl == 4 && !strncmp(text, "zstd", 4))
    c->comp = FERRY_COMP_ZSTD;
  else if (nl == 3 && !strncmp(text, "lz4", 3))
    c->comp = FERRY_COMP_LZ4;
  else
    return ferry_error_set(err, 0, "compression %s: none, zstd or lz4 (with :LEVEL)", text ? text : "");
  c->level = level >= 0 ? level : c->comp == FERRY_COMP_ZSTD ? 3 : 0;
  return 0;
}

const char *ferry_codec_compression_name(enum ferry_compression c)
{
  return c == FERRY_COMP_ZSTD ? "zstd" : c == FERRY_COMP_LZ4 ? "lz4" : "none";
}

int ferry_codec_active(const struct ferry_codec *c) { return c && (c->comp != FERRY_COMP_NONE || c->encrypt); }

static int hexval(int ch)
{
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

int ferry_codec_load_key(const char *path, struct ferry_codec *c, ferry_error *err)
{
  char *text = NULL;
  size_t len = 0;
  if (ferry_read_file(path, &text, &len, err) < 0)
    return ferry_error_prefix(err, "encryption key");
  int ok = 0;
  size_t l = len;
  if (len == 32) {
    memcpy(c->key, text, 32);
    ok = 1;
  } else {
    while (l && (text[l - 1] == '\n' || text[l - 1] == '\r'))
      l--;
    if (l == 64) {
      ok = 1;
      for (size_t i = 0; i < 32 && ok; i++) {
        int h = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
        if (h < 0 || lo < 0)
          ok = 0;
        else
          c->key[i] = (unsigned char)(h << 4 | lo);
      }
    } else if (l == 44) {
      unsigned char out[34];
      int n = EVP_DecodeBlock(out, (const unsigned char *)text, 44);
      if (n == 33 && text[43] == '=' && text[42] != '=') { /* 32 bytes: one '=' of padding */
        memcpy(c->key, out, 32);
        ok = 1;
      }
    }
  }
  OPENSSL_cleanse(text, len);
  free(text);
  if (!ok)
    return ferry_error_set(err, 0, "encryption key %s: expected 32 bytes, 64 hex characters or 44 base64 characters", path);
  unsigned char tagged[42];
  memcpy(tagged, "ferry-key:", 10);
  memcpy(tagged + 10, c->key, 32);
  char sum[65];
  ferry_sha256_hex(tagged, sizeof tagged, sum);
  OPENSSL_cleanse(tagged, sizeof tagged);
  memcpy(c->key_id, sum, 16);
  c->key_id[16] = '\0';
  c->encrypt = 1;
  return 0;
}

/* ---------- the output end: encrypt (or not), write ---------- */

struct out {
  int fd;
  EVP_CIPHER_CTX *enc; /* NULL: plain */
  unsigned char *buf;
  const char *path;
};

static int write_all(int fd, const void *p, size_t n, const char *path, ferry_error *err)
{
  return ferry_write_all(fd, p, n) < 0 ? ferry_error_set(err, errno, "write %s", path) : 0;
}

static int out_put(struct out *o, const void *p, size_t n, ferry_error *err)
{
  if (!o->enc)
    return write_all(o->fd, p, n, o->path, err);
  const unsigned char *in = p;
  while (n) {
    int k = n > CHUNK ? CHUNK : (int)n, outl = 0;
    if (!EVP_EncryptUpdate(o->enc, o->buf, &outl, in, k))
      return ferry_error_set(err, 0, "encrypt %s", o->path);
    if (write_all(o->fd, o->buf, (size_t)outl, o->path, err) < 0)
      return -1;
    in += k;
    n -= (size_t)k;
  }
  return 0;
}

static int out_finish(struct out *o, ferry_error *err)
{
  if (!o->enc)
    return 0;
  int outl = 0;
  unsigned char tag[TAG_LEN];
  if (!EVP_EncryptFinal_ex(o->enc, o->buf, &outl) || !EVP_CIPHER_CTX_ctrl(o->enc, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag))
    return ferry_error_set(err, 0, "encrypt %s: final", o->path);
  if (write_all(o->fd, o->buf, (size_t)outl, o->path, err) < 0 || write_all(o->fd, tag, TAG_LEN, o->path, err) < 0)
    return -1;
  return 0;
}

int ferry_codec_encode_file(const struct ferry_codec *c, const char *src, const char *dst, char raw_sha256[65],
                            uint64_t *raw_size, ferry_error *err)
{
  int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (in < 0)
    return ferry_error_set(err, errno, "open %s", src);
  int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno;
    close(in);
    return ferry_error_set(err, e, "create %s", dst);
  }
  struct out o = { fd, NULL, malloc(CHUNK + 64), dst };
  unsigned char *rbuf = malloc(CHUNK), *cbuf = NULL;
  size_t cap = 0;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  ZSTD_CCtx *z = NULL;
  LZ4F_cctx *lz = NULL;
  int rc = -1;
  uint64_t total = 0;
  if (!o.buf || !rbuf || !md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
    ferry_error_set(err, ENOMEM, "encode %s", src);
    goto out;
  }
  if (c->encrypt) {
    unsigned char nonce[NONCE_LEN];
    if (RAND_bytes(nonce, NONCE_LEN) != 1 || !(o.enc = EVP_CIPHER_CTX_new()) ||
        !EVP_EncryptInit_ex(o.enc, EVP_aes_256_gcm(), NULL, NULL, NULL) ||
        !EVP_CIPHER_CTX_ctrl(o.enc, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) ||
        !EVP_EncryptInit_ex(o.enc, NULL, NULL, c->key, nonce)) {
      ferry_error_set(err, 0, "encrypt %s: cannot set up AES-256-GCM", dst);
      goto out;
    }
    if (write_all(fd, MAGIC, MAGIC_LEN, dst, err) < 0 || write_all(fd, nonce, NONCE_LEN, dst, err) < 0)
      goto out;
  }
  if (c->comp == FERRY_COMP_ZSTD) {
    cap = ZSTD_CStreamOutSize();
    z = ZSTD_createCCtx();
    if (!z || ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, c->level))) {
      ferry_error_set(err, 0, "zstd: cannot set up");
      goto out;
    }
  } else if (c->comp == FERRY_COMP_LZ4) {
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof prefs);
    prefs.compressionLevel = c->level;
    prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
    cap = LZ4F_compressBound(CHUNK, &prefs);
    if (LZ4F_isError(LZ4F_createCompressionContext(&lz, LZ4F_VERSION)) || !(cbuf = malloc(cap))) {
      ferry_error_set(err, 0, "lz4: cannot set up");
      goto out;
    }
    size_t h = LZ4F_compressBegin(lz, cbuf, cap, &prefs);
    if (LZ4F_isError(h) || out_put(&o, cbuf, h, err) < 0) {
      if (LZ4F_isError(h))
        ferry_error_set(err, 0, "lz4: %s", LZ4F_getErrorName(h));
      goto out;
    }
  }
  if (c->comp == FERRY_COMP_ZSTD && !(cbuf = malloc(cap))) {
    ferry_error_set(err, ENOMEM, "zstd buffer");
    goto out;
  }
  for (;;) {
    ssize_t n = read(in, rbuf, CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      ferry_error_set(err, errno, "read %s", src);
      goto out;
    }
    int last = n == 0;
    if (n > 0) {
      EVP_DigestUpdate(md, rbuf, (size_t)n);
      total += (uint64_t)n;
    }
    if (c->comp == FERRY_COMP_NONE) {
      if (n > 0 && out_put(&o, rbuf, (size_t)n, err) < 0)
        goto out;
    } else if (c->comp == FERRY_COMP_ZSTD) {
      ZSTD_inBuffer ib = { rbuf, (size_t)n, 0 };
      size_t left;
      do {
        ZSTD_outBuffer ob = { cbuf, cap, 0 };
        left = ZSTD_compressStream2(z, &ob, &ib, last ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(left)) {
          ferry_error_set(err, 0, "zstd: %s", ZSTD_getErrorName(left));
          goto out;
        }
        if (out_put(&o, cbuf, ob.pos, err) < 0)
          goto out;
      } while (last ? left != 0 : ib.pos < ib.size);
    } else {
      size_t k = last ? LZ4F_compressEnd(lz, cbuf, cap, NULL) : LZ4F_compressUpdate(lz, cbuf, cap, rbuf, (size_t)n, NULL);
      if (LZ4F_isError(k)) {
        ferry_error_set(err, 0, "lz4: %s", LZ4F_getErrorName(k));
        goto out;
      }
      if (out_put(&o, cbuf, k, err) < 0)
        goto out;
    }
    if (last)
      break;
  }
  unsigned char sum[EVP_MAX_MD_SIZE];
  unsigned int sl = 0;
  if (out_finish(&o, err) < 0 || !EVP_DigestFinal_ex(md, sum, &sl))
    goto out;
  ferry_hex(sum, 32, raw_sha256);
  *raw_size = total;
  if (fsync(fd) < 0) {
    ferry_error_set(err, errno, "fsync %s", dst);
    goto out;
  }
  rc = 0;
out:
  if (close(fd) < 0 && rc == 0)
    rc = ferry_error_set(err, errno, "close %s", dst);
  close(in);
  if (rc < 0)
    unlink(dst);
  EVP_CIPHER_CTX_free(o.enc);
  EVP_MD_CTX_free(md);
  ZSTD_freeCCtx(z);
  LZ4F_freeCompressionContext(lz);
  free(o.buf);
  free(rbuf);
  free(cbuf);
  return rc;
}

/* ---------- decode ---------- */

struct dec {
  const struct ferry_codec *c;
  int fd;
  const char *path;
  EVP_MD_CTX *md;
  uint64_t total;
  ZSTD_DCtx *z;
  LZ4F_dctx *lz;
  unsigned char *dbuf;
  size_t dcap;
};

/* Plain (decrypted) stored bytes in: decompress, hash, write. */
static int dec_put(struct dec *d, const unsigned char *p, size_t n, ferry_error *err)
{
  if (d->c->comp == FERRY_COMP_NONE) {
    EVP_DigestUpdate(d->md, p, n);
    d->total += n;
    return write_all(d->fd, p, n, d->path, err);
  }
  if (d->c->comp == FERRY_COMP_ZSTD) {
    ZSTD_inBuffer ib = { p, n, 0 };
    while (ib.pos < ib.size) {
      ZSTD_outBuffer ob = { d->dbuf, d->dcap, 0 };
      size_t r = ZSTD_decompressStream(d->z, &ob, &ib);
      if (ZSTD_isError(r))
        return ferry_error_set(err, 0, "%s: zstd: %s", d->path, ZSTD_getErrorName(r));
      EVP_DigestUpdate(d->md, d->dbuf, ob.pos);
      d->total += ob.pos;
      if (write_all(d->fd, d->dbuf, ob.pos, d->path, err) < 0)
        return -1;
    }
    return 0;
  }
  while (n) {
    size_t dst = d->dcap, src = n;
    size_t r = LZ4F_decompress(d->lz, d->dbuf, &dst, p, &src, NULL);
    if (LZ4F_isError(r))
      return ferry_error_set(err, 0, "%s: lz4: %s", d->path, LZ4F_getErrorName(r));
    EVP_DigestUpdate(d->md, d->dbuf, dst);
    d->total += dst;
    if (write_all(d->fd, d->dbuf, dst, d->path, err) < 0)
      return -1;
    p += src;
    n -= src;
    if (src == 0 && dst == 0)
      break;
  }
  return 0;
}

static int read_full(int fd, void *p, size_t n)
{
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)p + got, n - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    got += (size_t)r;
  }
  return 0;
}

int ferry_codec_decode_file(const struct ferry_codec *c, const char *src, const char *dst, const char *raw_sha256,
                            uint64_t raw_size, ferry_error *err)
{
  int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (in < 0)
    return ferry_error_set(err, errno, "open %s", src);
  struct stat st;
  if (fstat(in, &st) < 0) {
    int e = errno;
    close(in);
    return ferry_error_set(err, e, "stat %s", src);
  }
  int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno;
    close(in);
    return ferry_error_set(err, e, "create %s", dst);
  }
  struct dec d = { .c = c, .fd = fd, .path = dst, .md = EVP_MD_CTX_new() };
  unsigned char *rbuf = malloc(CHUNK), *pbuf = malloc(CHUNK + 32);
  EVP_CIPHER_CTX *dc = NULL;
  int rc = -1;
  uint64_t body = (uint64_t)st.st_size;
  if (!rbuf || !pbuf || !d.md || !EVP_DigestInit_ex(d.md, EVP_sha256(), NULL)) {
    ferry_error_set(err, ENOMEM, "decode %s", src);
    goto out;
  }
  if (c->comp == FERRY_COMP_ZSTD) {
    d.dcap = ZSTD_DStreamOutSize();
    if (!(d.z = ZSTD_createDCtx()) || !(d.dbuf = malloc(d.dcap))) {
      ferry_error_set(err, 0, "zstd: cannot set up");
      goto out;
    }
  } else if (c->comp == FERRY_COMP_LZ4) {
    d.dcap = 4 << 20;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&d.lz, LZ4F_VERSION)) || !(d.dbuf = malloc(d.dcap))) {
      ferry_error_set(err, 0, "lz4: cannot set up");
      goto out;
    }
  }
  if (c->encrypt) {
    unsigned char head[MAGIC_LEN + NONCE_LEN];
    if (body < sizeof head + TAG_LEN || read_full(in, head, sizeof head) < 0 || memcmp(head, MAGIC, MAGIC_LEN) != 0) {
      ferry_error_set(err, 0, "%s: not a file encrypted by Ferry", src);
      goto out;
    }
    body -= sizeof head + TAG_LEN;
    if (!(dc = EVP_CIPHER_CTX_new()) || !EVP_DecryptInit_ex(dc, EVP_aes_256_gcm(), NULL, NULL, NULL) ||
        !EVP_CIPHER_CTX_ctrl(dc, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) ||
        !EVP_DecryptInit_ex(dc, NULL, NULL, c->key, head + MAGIC_LEN)) {
      ferry_error_set(err, 0, "decrypt %s: cannot set up AES-256-GCM", src);
      goto out;
    }
  }
  while (body > 0) {
    size_t want = body > CHUNK ? CHUNK : (size_t)body;
    if (read_full(in, rbuf, want) < 0) {
      ferry_error_set(err, errno ? errno : EIO, "read %s", src);
      goto out;
    }
    body -= want;
    if (dc) {
      int outl = 0;
      if (!EVP_DecryptUpdate(dc, pbuf, &outl, rbuf, (int)want)) {
        ferry_error_set(err, 0, "decrypt %s", src);
        goto out;
      }
      if (dec_put(&d, pbuf, (size_t)outl, err) < 0)
        goto out;
    } else if (dec_put(&d, rbuf, want, err) < 0) {
      goto out;
    }
  }
  if (dc) {
    unsigned char tag[TAG_LEN];
    int outl = 0;
    if (read_full(in, tag, TAG_LEN) < 0 || !EVP_CIPHER_CTX_ctrl(dc, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) ||
        EVP_DecryptFinal_ex(dc, pbuf, &outl) <= 0) {
      ferry_error_set(err, 0, "%s: authentication failed (a wrong key, or the file was altered)", src);
      goto out;
    }
  }
  unsigned char sum[EVP_MAX_MD_SIZE];
  unsigned int sl = 0;
  char hex[65];
  if (!EVP_DigestFinal_ex(d.md, sum, &sl)) {
    ferry_error_set(err, 0, "SHA-256 of %s", dst);
    goto out;
  }
  ferry_hex(sum, 32, hex);
  if (d.total != raw_size || strcmp(hex, raw_sha256) != 0) {
    ferry_error_set(err, 0, "%s: decoded to %llu bytes with SHA-256 %.12s..., the manifest says %llu bytes, %.12s...",
                    src, (unsigned long long)d.total, hex, (unsigned long long)raw_size, raw_sha256);
    goto out;
  }
  rc = 0;
out:
  if (close(fd) < 0 && rc == 0)
    rc = ferry_error_set(err, errno, "close %s", dst);
  close(in);
  if (rc < 0)
    unlink(dst);
  EVP_CIPHER_CTX_free(dc);
  EVP_MD_CTX_free(d.md);
  ZSTD_freeDCtx(d.z);
  LZ4F_freeDecompressionContext(d.lz);
  free(d.dbuf);
  free(rbuf);
  free(pbuf);
  return rc;
}

/* ---------- whole images ---------- */

static int encode_rec(const struct ferry_codec *c, const char *src_root, const char *dst_root, const char *rel,
                      struct ferry_manifest *raw, ferry_error *err)
{
  char *sdir = rel ? ferry_path_join(src_root, rel) : ferry_strdup(src_root);
  char *ddir = rel ? ferry_path_join(dst_root, rel) : ferry_strdup(dst_root);
  int rc = -1;
  DIR *d = NULL;
  if (ferry_mkdir_p(ddir, 0750, err) < 0)
    goto out;
  if (!(d = opendir(sdir))) {
    ferry_error_set(err, errno, "opendir %s", sdir);
    goto out;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    char *r = rel ? ferry_path_join(rel, e->d_name) : ferry_strdup(e->d_name);
    char *sp = ferry_path_join(src_root, r), *dp = ferry_path_join(dst_root, r);
    struct stat st;
    int ok = lstat(sp, &st) == 0 ? 0 : ferry_error_set(err, errno, "stat %s", sp);
    if (ok == 0 && S_ISDIR(st.st_mode)) {
      ok = encode_rec(c, src_root, dst_root, r, raw, err);
    } else if (ok == 0 && S_ISREG(st.st_mode)) {
      char sha[65];
      uint64_t size = 0;
      ok = ferry_codec_encode_file(c, sp, dp, sha, &size, err);
      if (ok == 0) {
        struct ferry_manifest_file *f = realloc(raw->files, (raw->nfiles + 1) * sizeof *f);
        if (!f)
          abort();
        raw->files = f;
        f = &raw->files[raw->nfiles++];
        memset(f, 0, sizeof *f);
        f->path = ferry_strdup(r);
        f->raw_size = size;
        memcpy(f->raw_sha256, sha, 65);
      }
    } else if (ok == 0) {
      ok = ferry_error_set(err, 0, "%s: only regular files and directories can be encoded", sp);
    }
    free(r);
    free(sp);
    free(dp);
    if (ok < 0)
      goto out;
  }
  rc = 0;
out:
  if (d)
    closedir(d);
  free(sdir);
  free(ddir);
  return rc;
}

int ferry_codec_encode_tree(const struct ferry_codec *c, const char *src_dir, const char *dst_dir,
                            struct ferry_manifest *raw, ferry_error *err)
{
  return encode_rec(c, src_dir, dst_dir, NULL, raw, err);
}

int ferry_codec_decode_tree(const struct ferry_codec *c, const struct ferry_manifest *m, const char *src_dir,
                            const char *dst_dir, ferry_error *err)
{
  struct ferry_codec use = { 0 };
  if (m->encryption) {
    if (!c || !c->encrypt)
      return ferry_error_set(err, 0, "image %s is encrypted (key %s) and this node has no key (--encryption-key-file)",
                             m->name, m->key_id);
    if (strcmp(c->key_id, m->key_id) != 0)
      return ferry_error_set(err, 0, "image %s is encrypted with key %s; this node's key is %s", m->name, m->key_id,
                             c->key_id);
    use = *c;
  }
  use.encrypt = m->encryption != NULL;
  use.comp = !m->compression ? FERRY_COMP_NONE : !strcmp(m->compression, "zstd") ? FERRY_COMP_ZSTD : FERRY_COMP_LZ4;
  int rc = 0;
  for (size_t i = 0; i < m->nfiles && rc == 0; i++) {
    const struct ferry_manifest_file *f = &m->files[i];
    char *sp = ferry_path_join(src_dir, f->path), *dp = ferry_path_join(dst_dir, f->path);
    char *parent = ferry_strdup(dp);
    *strrchr(parent, '/') = '\0';
    rc = ferry_mkdir_p(parent, 0750, err);
    if (rc == 0)
      rc = ferry_codec_decode_file(&use, sp, dp, f->raw_sha256, f->raw_size, err);
    free(parent);
    free(sp);
    free(dp);
  }
  OPENSSL_cleanse(&use, sizeof use);
  return rc;
}
