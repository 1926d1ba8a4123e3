/* SPDX-License-Identifier: Apache-2.0 */
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

#include "base/cleanup.h"
#include "base/util.h"
#include "image/manifest.h"

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
    return ferry_error_set(err, 0, "encryption key %s: expected 32 bytes, 64 hex characters or 44 base64 characters",
                           path);
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

/* ---------- both ways: the source and the file made from it ---------- */

struct file_pair {
  int in, out;
  const char *src, *dst;
};

/* Opens src (never through a final symlink) and creates dst (out_flags, 0600);
 * st (optional) gets src's stat. */
static int open_pair(struct file_pair *fp, const char *src, const char *dst, int out_flags, struct stat *st,
                     ferry_error *err)
{
  *fp = (struct file_pair){ -1, -1, src, dst };
  cleanup_close int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (in < 0)
    return ferry_error_set(err, errno, "open %s", src);
  if (st && fstat(in, st) < 0)
    return ferry_error_set(err, errno, "stat %s", src);
  fp->out = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC | out_flags, 0600);
  if (fp->out < 0)
    return ferry_error_set(err, errno, "create %s", dst);
  fp->in = ferry_steal_fd(&in);
  return 0;
}

/* Closes both; dst is removed unless all went well (rc 0 and dst closed). */
static int close_pair(struct file_pair *fp, int rc, ferry_error *err)
{
  if (close(fp->out) < 0 && rc == 0)
    rc = ferry_error_set(err, errno, "close %s", fp->dst);
  close(fp->in);
  if (rc < 0)
    unlink(fp->dst);
  return rc;
}

/* ---------- encode ---------- */

struct encoder {
  const struct ferry_codec *c;
  struct out o;
  EVP_MD_CTX *md;
  ZSTD_CCtx *z;
  LZ4F_cctx *lz;
  unsigned char *rbuf, *cbuf; /* read from the source; compressed */
  size_t cap;                 /* of cbuf */
  uint64_t total;             /* raw bytes read */
};

static void encoder_free(struct encoder *e)
{
  EVP_CIPHER_CTX_free(e->o.enc);
  EVP_MD_CTX_free(e->md);
  ZSTD_freeCCtx(e->z);
  LZ4F_freeCompressionContext(e->lz);
  free(e->o.buf);
  free(e->rbuf);
  free(e->cbuf);
}

/* AES-256-GCM with a fresh nonce; the magic and the nonce start the file. */
static int encoder_start_cipher(struct encoder *e, ferry_error *err)
{
  unsigned char nonce[NONCE_LEN];
  if (RAND_bytes(nonce, NONCE_LEN) != 1 || !(e->o.enc = EVP_CIPHER_CTX_new()) ||
      !EVP_EncryptInit_ex(e->o.enc, EVP_aes_256_gcm(), NULL, NULL, NULL) ||
      !EVP_CIPHER_CTX_ctrl(e->o.enc, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) ||
      !EVP_EncryptInit_ex(e->o.enc, NULL, NULL, e->c->key, nonce))
    return ferry_error_set(err, 0, "encrypt %s: cannot set up AES-256-GCM", e->o.path);
  if (write_all(e->o.fd, MAGIC, MAGIC_LEN, e->o.path, err) < 0 ||
      write_all(e->o.fd, nonce, NONCE_LEN, e->o.path, err) < 0)
    return -1;
  return 0;
}

/* The compressor (an lz4 frame starts with its header). */
static int encoder_start_compression(struct encoder *e, ferry_error *err)
{
  if (e->c->comp == FERRY_COMP_ZSTD) {
    e->cap = ZSTD_CStreamOutSize();
    e->z = ZSTD_createCCtx();
    if (!e->z || ZSTD_isError(ZSTD_CCtx_setParameter(e->z, ZSTD_c_compressionLevel, e->c->level)))
      return ferry_error_set(err, 0, "zstd: cannot set up");
    if (!(e->cbuf = malloc(e->cap)))
      return ferry_error_set(err, ENOMEM, "zstd buffer");
  } else if (e->c->comp == FERRY_COMP_LZ4) {
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof prefs);
    prefs.compressionLevel = e->c->level;
    prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
    e->cap = LZ4F_compressBound(CHUNK, &prefs);
    if (LZ4F_isError(LZ4F_createCompressionContext(&e->lz, LZ4F_VERSION)) || !(e->cbuf = malloc(e->cap)))
      return ferry_error_set(err, 0, "lz4: cannot set up");
    size_t h = LZ4F_compressBegin(e->lz, e->cbuf, e->cap, &prefs);
    if (LZ4F_isError(h))
      return ferry_error_set(err, 0, "lz4: %s", LZ4F_getErrorName(h));
    return out_put(&e->o, e->cbuf, h, err);
  }
  return 0;
}

/* n raw bytes from rbuf (0 and last at the end) compressed and written. */
static int encode_chunk(struct encoder *e, size_t n, int last, ferry_error *err)
{
  if (e->c->comp == FERRY_COMP_NONE)
    return n > 0 ? out_put(&e->o, e->rbuf, n, err) : 0;
  if (e->c->comp == FERRY_COMP_ZSTD) {
    ZSTD_inBuffer ib = { e->rbuf, n, 0 };
    size_t left;
    do {
      ZSTD_outBuffer ob = { e->cbuf, e->cap, 0 };
      left = ZSTD_compressStream2(e->z, &ob, &ib, last ? ZSTD_e_end : ZSTD_e_continue);
      if (ZSTD_isError(left))
        return ferry_error_set(err, 0, "zstd: %s", ZSTD_getErrorName(left));
      if (out_put(&e->o, e->cbuf, ob.pos, err) < 0)
        return -1;
    } while (last ? left != 0 : ib.pos < ib.size);
    return 0;
  }
  size_t k = last ? LZ4F_compressEnd(e->lz, e->cbuf, e->cap, NULL)
                  : LZ4F_compressUpdate(e->lz, e->cbuf, e->cap, e->rbuf, n, NULL);
  if (LZ4F_isError(k))
    return ferry_error_set(err, 0, "lz4: %s", LZ4F_getErrorName(k));
  return out_put(&e->o, e->cbuf, k, err);
}

/* The whole source, hashed as it is read, encoded to its end. */
static int encode_stream(struct encoder *e, int in, const char *src, ferry_error *err)
{
  for (;;) {
    ssize_t n = read(in, e->rbuf, CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return ferry_error_set(err, errno, "read %s", src);
    if (n > 0) {
      EVP_DigestUpdate(e->md, e->rbuf, (size_t)n);
      e->total += (uint64_t)n;
    }
    if (encode_chunk(e, (size_t)n, n == 0, err) < 0)
      return -1;
    if (n == 0)
      return 0;
  }
}

static int encode(struct encoder *e, struct file_pair *fp, char raw_sha256[65], uint64_t *raw_size, ferry_error *err)
{
  if (!e->o.buf || !e->rbuf || !e->md || !EVP_DigestInit_ex(e->md, EVP_sha256(), NULL))
    return ferry_error_set(err, ENOMEM, "encode %s", fp->src);
  if ((e->c->encrypt && encoder_start_cipher(e, err) < 0) || encoder_start_compression(e, err) < 0 ||
      encode_stream(e, fp->in, fp->src, err) < 0)
    return -1;
  unsigned char sum[EVP_MAX_MD_SIZE];
  unsigned int sl = 0;
  if (out_finish(&e->o, err) < 0 || !EVP_DigestFinal_ex(e->md, sum, &sl))
    return -1;
  ferry_hex(sum, 32, raw_sha256);
  *raw_size = e->total;
  if (fsync(fp->out) < 0)
    return ferry_error_set(err, errno, "fsync %s", fp->dst);
  return 0;
}

int ferry_codec_encode_file(const struct ferry_codec *c, const char *src, const char *dst, char raw_sha256[65],
                            uint64_t *raw_size, ferry_error *err)
{
  struct file_pair fp;
  if (open_pair(&fp, src, dst, O_EXCL, NULL, err) < 0)
    return -1;
  __attribute__((cleanup(encoder_free))) struct encoder e = {
    .c = c, .o = { fp.out, NULL, malloc(CHUNK + 64), dst }, .md = EVP_MD_CTX_new(), .rbuf = malloc(CHUNK)
  };
  return close_pair(&fp, encode(&e, &fp, raw_sha256, raw_size, err), err);
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
  EVP_CIPHER_CTX *dc;         /* NULL: not encrypted */
  unsigned char *rbuf, *pbuf; /* stored bytes read; decrypted */
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

static void dec_free(struct dec *d)
{
  EVP_CIPHER_CTX_free(d->dc);
  EVP_MD_CTX_free(d->md);
  ZSTD_freeDCtx(d->z);
  LZ4F_freeDecompressionContext(d->lz);
  free(d->dbuf);
  free(d->rbuf);
  free(d->pbuf);
}

#define LZ4_DECODE_BUF (4 << 20)

static int dec_start_decompression(struct dec *d, ferry_error *err)
{
  if (d->c->comp == FERRY_COMP_ZSTD) {
    d->dcap = ZSTD_DStreamOutSize();
    if (!(d->z = ZSTD_createDCtx()) || !(d->dbuf = malloc(d->dcap)))
      return ferry_error_set(err, 0, "zstd: cannot set up");
  } else if (d->c->comp == FERRY_COMP_LZ4) {
    d->dcap = LZ4_DECODE_BUF;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&d->lz, LZ4F_VERSION)) || !(d->dbuf = malloc(d->dcap)))
      return ferry_error_set(err, 0, "lz4: cannot set up");
  }
  return 0;
}

/* Reads the magic and the nonce; *body shrinks to the ciphertext's length. */
static int dec_start_cipher(struct dec *d, int in, const char *src, uint64_t *body, ferry_error *err)
{
  unsigned char head[MAGIC_LEN + NONCE_LEN];
  if (*body < sizeof head + TAG_LEN || read_full(in, head, sizeof head) < 0 || memcmp(head, MAGIC, MAGIC_LEN) != 0)
    return ferry_error_set(err, 0, "%s: not a file encrypted by Ferry", src);
  *body -= sizeof head + TAG_LEN;
  if (!(d->dc = EVP_CIPHER_CTX_new()) || !EVP_DecryptInit_ex(d->dc, EVP_aes_256_gcm(), NULL, NULL, NULL) ||
      !EVP_CIPHER_CTX_ctrl(d->dc, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) ||
      !EVP_DecryptInit_ex(d->dc, NULL, NULL, d->c->key, head + MAGIC_LEN))
    return ferry_error_set(err, 0, "decrypt %s: cannot set up AES-256-GCM", src);
  return 0;
}

/* body stored bytes: decrypted (when encrypted), then decoded and written. */
static int dec_body(struct dec *d, int in, const char *src, uint64_t body, ferry_error *err)
{
  while (body > 0) {
    size_t want = body > CHUNK ? CHUNK : (size_t)body;
    if (read_full(in, d->rbuf, want) < 0)
      return ferry_error_set(err, errno ? errno : EIO, "read %s", src);
    body -= want;
    if (!d->dc) {
      if (dec_put(d, d->rbuf, want, err) < 0)
        return -1;
      continue;
    }
    int outl = 0;
    if (!EVP_DecryptUpdate(d->dc, d->pbuf, &outl, d->rbuf, (int)want))
      return ferry_error_set(err, 0, "decrypt %s", src);
    if (dec_put(d, d->pbuf, (size_t)outl, err) < 0)
      return -1;
  }
  return 0;
}

/* The GCM tag at the end of an encrypted file. */
static int dec_check_tag(struct dec *d, int in, const char *src, ferry_error *err)
{
  unsigned char tag[TAG_LEN];
  int outl = 0;
  if (read_full(in, tag, TAG_LEN) < 0 || !EVP_CIPHER_CTX_ctrl(d->dc, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) ||
      EVP_DecryptFinal_ex(d->dc, d->pbuf, &outl) <= 0)
    return ferry_error_set(err, 0, "%s: authentication failed (a wrong key, or the file was altered)", src);
  return 0;
}

/* The decoded bytes against the manifest's raw size and SHA-256. */
static int dec_check_sum(struct dec *d, const char *src, const char *raw_sha256, uint64_t raw_size, ferry_error *err)
{
  unsigned char sum[EVP_MAX_MD_SIZE];
  unsigned int sl = 0;
  char hex[65];
  if (!EVP_DigestFinal_ex(d->md, sum, &sl))
    return ferry_error_set(err, 0, "SHA-256 of %s", d->path);
  ferry_hex(sum, 32, hex);
  if (d->total != raw_size || strcmp(hex, raw_sha256) != 0)
    return ferry_error_set(err, 0,
                           "%s: decoded to %llu bytes with SHA-256 %.12s..., the manifest says %llu bytes, %.12s...",
                           src, (unsigned long long)d->total, hex, (unsigned long long)raw_size, raw_sha256);
  return 0;
}

static int decode(struct dec *d, struct file_pair *fp, uint64_t body, const char *raw_sha256, uint64_t raw_size,
                  ferry_error *err)
{
  if (!d->rbuf || !d->pbuf || !d->md || !EVP_DigestInit_ex(d->md, EVP_sha256(), NULL))
    return ferry_error_set(err, ENOMEM, "decode %s", fp->src);
  if (dec_start_decompression(d, err) < 0 || (d->c->encrypt && dec_start_cipher(d, fp->in, fp->src, &body, err) < 0) ||
      dec_body(d, fp->in, fp->src, body, err) < 0 || (d->dc && dec_check_tag(d, fp->in, fp->src, err) < 0))
    return -1;
  return dec_check_sum(d, fp->src, raw_sha256, raw_size, err);
}

int ferry_codec_decode_file(const struct ferry_codec *c, const char *src, const char *dst, const char *raw_sha256,
                            uint64_t raw_size, ferry_error *err)
{
  struct file_pair fp;
  struct stat st;
  if (open_pair(&fp, src, dst, O_TRUNC, &st, err) < 0)
    return -1;
  __attribute__((cleanup(dec_free))) struct dec d = {
    .c = c, .fd = fp.out, .path = dst, .md = EVP_MD_CTX_new(), .rbuf = malloc(CHUNK), .pbuf = malloc(CHUNK + 32)
  };
  return close_pair(&fp, decode(&d, &fp, (uint64_t)st.st_size, raw_sha256, raw_size, err), err);
}

/* ---------- whole images ---------- */

static int encode_rec(const struct ferry_codec *c, const char *src_root, const char *dst_root, const char *rel,
                      struct ferry_manifest *raw, ferry_error *err);

/* One directory entry rel: a directory recursed into, a regular file encoded. */
static int encode_entry(const struct ferry_codec *c, const char *src_root, const char *dst_root, const char *rel,
                        struct ferry_manifest *raw, ferry_error *err)
{
  cleanup_free char *sp = ferry_path_join(src_root, rel);
  cleanup_free char *dp = ferry_path_join(dst_root, rel);
  struct stat st;
  if (lstat(sp, &st) < 0)
    return ferry_error_set(err, errno, "stat %s", sp);
  if (S_ISDIR(st.st_mode))
    return encode_rec(c, src_root, dst_root, rel, raw, err);
  if (!S_ISREG(st.st_mode))
    return ferry_error_set(err, 0, "%s: only regular files and directories can be encoded", sp);
  char sha[65];
  uint64_t size = 0;
  if (ferry_codec_encode_file(c, sp, dp, sha, &size, err) < 0)
    return -1;
  struct ferry_manifest_file *f = ferry_manifest_add(raw, rel);
  f->raw_size = size;
  memcpy(f->raw_sha256, sha, 65);
  return 0;
}

static int encode_rec(const struct ferry_codec *c, const char *src_root, const char *dst_root, const char *rel,
                      struct ferry_manifest *raw, ferry_error *err)
{
  cleanup_free char *sdir = rel ? ferry_path_join(src_root, rel) : ferry_strdup(src_root);
  cleanup_free char *ddir = rel ? ferry_path_join(dst_root, rel) : ferry_strdup(dst_root);
  if (ferry_mkdir_p(ddir, 0700, err) < 0)
    return -1;
  cleanup_dir DIR *d = opendir(sdir);
  if (!d)
    return ferry_error_set(err, errno, "opendir %s", sdir);
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    cleanup_free char *r = rel ? ferry_path_join(rel, e->d_name) : ferry_strdup(e->d_name);
    if (encode_entry(c, src_root, dst_root, r, raw, err) < 0)
      return -1;
  }
  return 0;
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
    cleanup_free char *sp = ferry_path_join(src_dir, f->path);
    cleanup_free char *dp = ferry_path_join(dst_dir, f->path);
    cleanup_free char *parent = ferry_strdup(dp);
    *strrchr(parent, '/') = '\0';
    rc = ferry_mkdir_p(parent, 0700, err);
    /* (an image stored as it is: its files copied, each checked as it is written) */
    int raw = f->raw_sha256[0] != '\0';
    if (rc == 0)
      rc = ferry_codec_decode_file(&use, sp, dp, raw ? f->raw_sha256 : f->sha256, raw ? f->raw_size : f->size, err);
  }
  OPENSSL_cleanse(&use, sizeof use);
  return rc;
}
