/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes protobuf messages to JSON through protobuf-c's descriptors (pbjson.h). */
#include "pbjson.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DEPTH 64
#define META "k8s.io.apimachinery.pkg.apis.meta.v1."
#define NS_PER_SEC 1000000000LL

struct walk {
  char *why;
  size_t why_len;
};

static json_object *message(struct walk *w, const ProtobufCMessage *m, int depth);

static void member_at(const ProtobufCMessage *m, unsigned offset, const void **p) { *p = (const char *)m + offset; }

static json_object *base64(const uint8_t *data, size_t len)
{
  char *out = malloc(4 * ((len + 2) / 3) + 1);
  if (!out)
    return NULL;
  EVP_EncodeBlock((unsigned char *)out, data, (int)len);
  json_object *s = json_object_new_string(out);
  free(out);
  return s;
}

/* metav1.Time (seconds) and MicroTime (microseconds) as RFC 3339 in UTC; NULL for the zero time (Go's null). */
static json_object *rfc3339(const ProtobufCMessage *m, int micro)
{
  const ProtobufCFieldDescriptor *fs = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "seconds"),
                                 *fn = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "nanos");
  const void *ps, *pn;
  member_at(m, fs->offset, &ps);
  member_at(m, fn->offset, &pn);
  int64_t sec = *(const int64_t *)ps;
  int32_t nanos = *(const int32_t *)pn;
  if (sec == 0 && nanos == 0)
    return NULL;
  time_t t = (time_t)sec;
  struct tm tm;
  char buf[64], frac[16] = "";
  if (!gmtime_r(&t, &tm))
    return NULL;
  if (micro)
    snprintf(frac, sizeof frac, ".%06d", nanos / 1000);
  char date[40];
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf, sizeof buf, "%s%sZ", date, frac);
  return json_object_new_string(buf);
}

/* "1.5s", "1h0m0s", "300ms": Go's time.Duration.String(). */
static void go_duration(int64_t d, char *buf, size_t len)
{
  const char *sign = d < 0 ? "-" : "";
  uint64_t u = d < 0 ? (uint64_t)0 - (uint64_t)d : (uint64_t)d;
  if (u == 0) {
    snprintf(buf, len, "0s");
    return;
  }
  if (u < (uint64_t)NS_PER_SEC) {
    static const char *const units[] = { "ns", "µs", "ms" };
    uint64_t scale = 1;
    int i = 0;
    while (i < 2 && u >= scale * 1000) {
      scale *= 1000;
      i++;
    }
    char f[16] = "";
    if (scale > 1 && u % scale) {
      snprintf(f, sizeof f, ".%0*" PRIu64, i * 3, u % scale);
      for (size_t l = strlen(f); l > 1 && f[l - 1] == '0'; l--)
        f[l - 1] = '\0';
    }
    snprintf(buf, len, "%s%" PRIu64 "%s%s", sign, u / scale, f, units[i]);
    return;
  }
  uint64_t secs = u / NS_PER_SEC, ns = u % NS_PER_SEC, h = secs / 3600, m = secs / 60 % 60, s = secs % 60;
  char f[16] = "";
  if (ns) {
    snprintf(f, sizeof f, ".%09" PRIu64, ns);
    for (size_t l = strlen(f); f[l - 1] == '0'; l--)
      f[l - 1] = '\0';
  }
  if (h)
    snprintf(buf, len, "%s%" PRIu64 "h%" PRIu64 "m%" PRIu64 "%ss", sign, h, m, s, f);
  else if (m)
    snprintf(buf, len, "%s%" PRIu64 "m%" PRIu64 "%ss", sign, m, s, f);
  else
    snprintf(buf, len, "%s%" PRIu64 "%ss", sign, s, f);
}

/* The JSON a RawExtension or FieldsV1 carries; NULL (omitted) when empty. */
static int embedded_json(struct walk *w, const ProtobufCMessage *m, const char *field, json_object **out)
{
  const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, field);
  const void *p;
  member_at(m, fd->offset, &p);
  const ProtobufCBinaryData *raw = p;
  *out = NULL;
  if (!raw->len)
    return 0;
  struct json_tokener *tok = json_tokener_new();
  if (!tok)
    return -1;
  *out = json_tokener_parse_ex(tok, (const char *)raw->data, (int)raw->len);
  int bad = !*out || tok->char_offset != (int)raw->len;
  json_tokener_free(tok);
  if (bad) {
    json_object_put(*out);
    *out = NULL;
    snprintf(w->why, w->why_len, "%s.%s is not JSON", m->descriptor->short_name, field);
    return -1;
  }
  return 0;
}

/* The special types: 1 with *out set (NULL: leave it out), 0 when m is an ordinary message, -1 on an error. */
static int special(struct walk *w, const ProtobufCMessage *m, int depth, json_object **out)
{
  const ProtobufCMessageDescriptor *d = m->descriptor;
  const void *p;
  if (!strcmp(d->name, META "Time") || !strcmp(d->name, META "MicroTime")) {
    *out = rfc3339(m, !strcmp(d->name, META "MicroTime"));
    return 1;
  }
  if (!strcmp(d->name, META "Duration")) {
    char buf[64];
    member_at(m, d->fields[0].offset, &p);
    go_duration(*(const int64_t *)p, buf, sizeof buf);
    *out = json_object_new_string(buf);
    return 1;
  }
  if (!strcmp(d->name, "k8s.io.apimachinery.pkg.api.resource.Quantity")) {
    member_at(m, d->fields[0].offset, &p);
    const char *s = *(char *const *)p;
    *out = s && *s ? json_object_new_string(s) : NULL;
    return 1;
  }
  if (!strcmp(d->name, "k8s.io.apimachinery.pkg.util.intstr.IntOrString")) {
    const ProtobufCFieldDescriptor *ft = protobuf_c_message_descriptor_get_field_by_name(d, "type"),
                                   *fi = protobuf_c_message_descriptor_get_field_by_name(d, "intVal"),
                                   *fs = protobuf_c_message_descriptor_get_field_by_name(d, "strVal");
    const void *pt, *pi, *ps;
    member_at(m, ft->offset, &pt);
    member_at(m, fi->offset, &pi);
    member_at(m, fs->offset, &ps);
    const char *s = *(char *const *)ps;
    *out = *(const int64_t *)pt == 1 ? json_object_new_string(s ? s : "") : json_object_new_int(*(const int32_t *)pi);
    return 1;
  }
  if (!strcmp(d->name, "k8s.io.apimachinery.pkg.runtime.RawExtension"))
    return embedded_json(w, m, "raw", out) < 0 ? -1 : 1;
  if (!strcmp(d->name, META "FieldsV1"))
    return embedded_json(w, m, "Raw", out) < 0 ? -1 : 1;
  (void)depth;
  return 0;
}

static json_object *scalar(struct walk *w, const ProtobufCFieldDescriptor *fd, const void *p, int depth)
{
  switch (fd->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_ENUM:
    return json_object_new_int(*(const int32_t *)p);
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    return json_object_new_int64(*(const uint32_t *)p);
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    return json_object_new_int64(*(const int64_t *)p);
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    return json_object_new_uint64(*(const uint64_t *)p);
  case PROTOBUF_C_TYPE_FLOAT:
    return json_object_new_double(*(const float *)p);
  case PROTOBUF_C_TYPE_DOUBLE:
    return json_object_new_double(*(const double *)p);
  case PROTOBUF_C_TYPE_BOOL:
    return json_object_new_boolean(*(const protobuf_c_boolean *)p);
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(char *const *)p;
    return json_object_new_string(s ? s : "");
  }
  case PROTOBUF_C_TYPE_BYTES: {
    const ProtobufCBinaryData *b = p;
    return base64(b->data, b->len);
  }
  case PROTOBUF_C_TYPE_MESSAGE:
    return message(w, *(ProtobufCMessage *const *)p, depth + 1);
  }
  return NULL;
}

static size_t scalar_size(ProtobufCType t)
{
  switch (t) {
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
  case PROTOBUF_C_TYPE_DOUBLE:
    return 8;
  case PROTOBUF_C_TYPE_STRING:
  case PROTOBUF_C_TYPE_MESSAGE:
    return sizeof(void *);
  case PROTOBUF_C_TYPE_BYTES:
    return sizeof(ProtobufCBinaryData);
  case PROTOBUF_C_TYPE_BOOL:
    return sizeof(protobuf_c_boolean);
  default:
    return 4;
  }
}

/* A map<K, V> field: protobuf-c's repeated KEntry messages (fields key = 1, value = 2). */
static int is_map_entry(const ProtobufCMessageDescriptor *d)
{
  size_t l = strlen(d->short_name);
  return d->n_fields == 2 && l > 5 && !strcmp(d->short_name + l - 5, "Entry") && !strcmp(d->fields[0].name, "key") &&
         !strcmp(d->fields[1].name, "value");
}

/* One entry of a map: its value converted as a field (empty values kept: a ConfigMap's "" is data). */
static int map_add(struct walk *w, json_object *obj, const ProtobufCMessage *e, int depth)
{
  const ProtobufCFieldDescriptor *kd = &e->descriptor->fields[0], *vd = &e->descriptor->fields[1];
  const void *kp, *vp;
  member_at(e, kd->offset, &kp);
  member_at(e, vd->offset, &vp);
  json_object *key = scalar(w, kd, kp, depth);
  if (!key)
    return -1;
  json_object *v = NULL;
  if (vd->type == PROTOBUF_C_TYPE_MESSAGE && !*(ProtobufCMessage *const *)vp)
    v = json_object_new_object();
  else if (!(v = scalar(w, vd, vp, depth)) && *w->why) {
    json_object_put(key);
    return -1;
  }
  json_object_object_add(obj, json_object_get_string(key), v);
  json_object_put(key);
  return 0;
}

static json_object *repeated(struct walk *w, const ProtobufCFieldDescriptor *fd, const ProtobufCMessage *m, int depth)
{
  const void *pn, *pa;
  member_at(m, fd->quantifier_offset, &pn);
  member_at(m, fd->offset, &pa);
  size_t n = *(const size_t *)pn;
  const char *items = *(const char *const *)pa;
  if (!n)
    return NULL;
  int map = fd->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry(fd->descriptor);
  json_object *out = map ? json_object_new_object() : json_object_new_array();
  size_t size = scalar_size(fd->type);
  for (size_t i = 0; i < n; i++) {
    const void *p = items + i * size;
    if (map) {
      if (map_add(w, out, *(ProtobufCMessage *const *)p, depth + 1) < 0)
        goto fail;
      continue;
    }
    json_object *v = scalar(w, fd, p, depth);
    if (!v && *w->why)
      goto fail;
    json_object_array_add(out, v);
  }
  return out;
fail:
  json_object_put(out);
  return NULL;
}

/* A field's JSON, or NULL when it is absent or empty (w->why set on an error). */
static json_object *field(struct walk *w, const ProtobufCFieldDescriptor *fd, const ProtobufCMessage *m, int depth)
{
  if (fd->label == PROTOBUF_C_LABEL_REPEATED)
    return repeated(w, fd, m, depth);
  const void *p;
  member_at(m, fd->offset, &p);
  if (fd->quantifier_offset && fd->type != PROTOBUF_C_TYPE_STRING && fd->type != PROTOBUF_C_TYPE_MESSAGE) {
    const void *has;
    member_at(m, fd->quantifier_offset, &has);
    if (!*(const protobuf_c_boolean *)has)
      return NULL;
  }
  if (fd->type == PROTOBUF_C_TYPE_STRING && !(*(char *const *)p && **(char *const *)p))
    return NULL;
  if (fd->type == PROTOBUF_C_TYPE_MESSAGE && !*(ProtobufCMessage *const *)p)
    return NULL;
  return scalar(w, fd, p, depth);
}

static json_object *message(struct walk *w, const ProtobufCMessage *m, int depth)
{
  if (depth > MAX_DEPTH) {
    snprintf(w->why, w->why_len, "the message nests deeper than %d levels", MAX_DEPTH);
    return NULL;
  }
  json_object *out = NULL;
  int sp = special(w, m, depth, &out);
  if (sp)
    return sp < 0 ? NULL : out;
  const ProtobufCMessageDescriptor *d = m->descriptor;
  /* ExtraValue, Verbs: a list in Go, a message of one repeated "items" on the wire */
  if (d->n_fields == 1 && d->fields[0].label == PROTOBUF_C_LABEL_REPEATED && !strcmp(d->fields[0].name, "items")) {
    out = repeated(w, &d->fields[0], m, depth);
    return out || *w->why ? out : json_object_new_array();
  }
  out = json_object_new_object();
  for (unsigned i = 0; i < d->n_fields; i++) {
    json_object *v = field(w, &d->fields[i], m, depth);
    if (!v && *w->why) {
      json_object_put(out);
      return NULL;
    }
    if (v)
      json_object_object_add(out, d->fields[i].name, v);
  }
  return out;
}

json_object *kl_pb_to_json(const ProtobufCMessage *m, char *why, size_t why_len)
{
  struct walk w = { why, why_len };
  why[0] = '\0';
  json_object *o = message(&w, m, 0);
  if (!o && !*why)
    snprintf(why, why_len, "out of memory");
  return o;
}
