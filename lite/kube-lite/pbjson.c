/* SPDX-License-Identifier: Apache-2.0 */
/* The protobuf wire format read into JSON by a table of fields (no generated code). */
#include "pbjson.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define ENVELOPE_MAGIC "k8s\0"
#define ENVELOPE_MAGIC_LEN 4
#define MAX_DEPTH 8

enum wire { WIRE_VARINT = 0, WIRE_64 = 1, WIRE_LEN = 2, WIRE_32 = 5 };

struct reader {
  const unsigned char *p, *end;
};

static int varint(struct reader *r, uint64_t *out)
{
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
    unsigned char b = *r->p++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return -1;
}

/* One field: its number, wire type and (for WIRE_LEN) its bytes, or its varint. */
struct field {
  unsigned num;
  enum wire wire;
  uint64_t value;
  const unsigned char *data;
  size_t len;
};

static int next_field(struct reader *r, struct field *f)
{
  uint64_t tag;
  if (varint(r, &tag) < 0 || tag >> 3 == 0 || tag >> 3 > UINT32_MAX)
    return -1;
  f->num = (unsigned)(tag >> 3);
  f->wire = (enum wire)(tag & 7);
  switch (f->wire) {
  case WIRE_VARINT:
    return varint(r, &f->value);
  case WIRE_64:
  case WIRE_32: {
    size_t n = f->wire == WIRE_64 ? 8 : 4;
    if ((size_t)(r->end - r->p) < n)
      return -1;
    r->p += n;
    return 0;
  }
  case WIRE_LEN:
    if (varint(r, &f->value) < 0 || f->value > (uint64_t)(r->end - r->p))
      return -1;
    f->data = r->p;
    f->len = (size_t)f->value;
    r->p += f->len;
    return 0;
  default:
    return -1;
  }
}

static const struct kl_pb_field *field_of(const struct kl_pb_field *t, unsigned num)
{
  for (; t->num; t++)
    if (t->num == num)
      return t;
  return NULL;
}

static json_object *decode(const unsigned char *buf, size_t len, const struct kl_pb_field *t, int depth);

/* The JSON value of f as d says, added to o; -1 when the wire type does not fit. */
static int add_value(json_object *o, const struct kl_pb_field *d, const struct field *f, int depth)
{
  json_object *v, *l;
  if ((d->kind == KL_PB_INT64 || d->kind == KL_PB_BOOL) != (f->wire == WIRE_VARINT))
    return -1;
  switch (d->kind) {
  case KL_PB_INT64:
    json_object_object_add(o, d->name, json_object_new_int64((int64_t)f->value));
    return 0;
  case KL_PB_BOOL:
    json_object_object_add(o, d->name, json_object_new_boolean(f->value != 0));
    return 0;
  case KL_PB_STRING:
  case KL_PB_STRINGS:
    v = json_object_new_string_len((const char *)f->data, (int)f->len);
    if (d->kind == KL_PB_STRING) {
      json_object_object_add(o, d->name, v);
      return 0;
    }
    if (!json_object_object_get_ex(o, d->name, &l)) {
      l = json_object_new_array();
      json_object_object_add(o, d->name, l);
    }
    json_object_array_add(l, v);
    return 0;
  case KL_PB_MESSAGE:
    v = decode(f->data, f->len, d->sub, depth + 1);
    if (!v)
      return -1;
    json_object_object_add(o, d->name, v);
    return 0;
  }
  return -1;
}

static json_object *decode(const unsigned char *buf, size_t len, const struct kl_pb_field *t, int depth)
{
  if (depth > MAX_DEPTH)
    return NULL;
  struct reader r = { buf, buf + len };
  json_object *o = json_object_new_object();
  while (r.p < r.end) {
    struct field f = { 0 };
    const struct kl_pb_field *d;
    if (next_field(&r, &f) < 0 || ((d = field_of(t, f.num)) && add_value(o, d, &f, depth) < 0)) {
      json_object_put(o);
      return NULL;
    }
  }
  return o;
}

static const struct kl_pb_field TYPE_META[] = { { 1, "apiVersion", KL_PB_STRING, NULL },
                                                { 2, "kind", KL_PB_STRING, NULL },
                                                { 0, NULL, 0, NULL } };

/* runtime.Unknown: typeMeta 1, raw 2 (contentEncoding 3 and contentType 4 are empty for protobuf). */
json_object *kl_pb_body(const unsigned char *buf, size_t len, const struct kl_pb_field *fields, char *why,
                        size_t why_len)
{
  if (len < ENVELOPE_MAGIC_LEN || memcmp(buf, ENVELOPE_MAGIC, ENVELOPE_MAGIC_LEN) != 0) {
    snprintf(why, why_len, "the protobuf body does not start with the Kubernetes envelope");
    return NULL;
  }
  struct reader r = { buf + ENVELOPE_MAGIC_LEN, buf + len };
  json_object *meta = NULL, *obj = NULL;
  while (r.p < r.end) {
    struct field f = { 0 };
    if (next_field(&r, &f) < 0)
      break;
    if (f.num == 1 && f.wire == WIRE_LEN && !meta)
      meta = decode(f.data, f.len, TYPE_META, 0);
    else if (f.num == 2 && f.wire == WIRE_LEN && !obj)
      obj = decode(f.data, f.len, fields, 0);
  }
  if (!obj || r.p < r.end) {
    json_object_put(meta);
    json_object_put(obj);
    snprintf(why, why_len, "the protobuf body could not be decoded");
    return NULL;
  }
  if (meta) {
    json_object_object_foreach(meta, k, v) { json_object_object_add(obj, k, json_object_get(v)); }
    json_object_put(meta);
  }
  return obj;
}
