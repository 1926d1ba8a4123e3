/* SPDX-License-Identifier: Apache-2.0 */
/* Objects as kubectl prints them: -o json (indented), -o yaml (libyaml's
 * emitter, from the JSON tree), -o name, and tables with columns as wide as
 * their widest cell. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "kubectl_ferry.h"
#include "base/cleanup.h"
#include "base/util.h"

/* ---------- YAML ---------- */

/* A plain scalar YAML would read as a bool, null, number or timestamp: such a
 * string is quoted (as go-yaml does, over-quoting rather than under). */
static int needs_quotes(const char *s)
{
  static const char *const words[] = { "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~" };
  if (!*s || isdigit((unsigned char)s[0]) || strchr("+-.", s[0]))
    return 1;
  for (size_t i = 0; i < sizeof words / sizeof *words; i++)
    if (!strcasecmp(s, words[i]))
      return 1;
  return 0;
}

static int emit_scalar(yaml_emitter_t *em, const char *text, int string)
{
  yaml_event_t ev;
  int quote = string && needs_quotes(text);
  if (!yaml_scalar_event_initialize(&ev, NULL, (yaml_char_t *)YAML_STR_TAG, (yaml_char_t *)text, (int)strlen(text),
                                    !quote, 1, quote ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE))
    return -1;
  return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

static int emit_value(yaml_emitter_t *em, json_object *v);

static int emit_mapping(yaml_emitter_t *em, json_object *v)
{
  yaml_event_t ev;
  yaml_mapping_start_event_initialize(&ev, NULL, (yaml_char_t *)YAML_MAP_TAG, 1, YAML_BLOCK_MAPPING_STYLE);
  if (!yaml_emitter_emit(em, &ev))
    return -1;
  json_object_object_foreach(v, key, val)
  {
    if (emit_scalar(em, key, 1) < 0 || emit_value(em, val) < 0)
      return -1;
  }
  yaml_mapping_end_event_initialize(&ev);
  return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

static int emit_sequence(yaml_emitter_t *em, json_object *v)
{
  yaml_event_t ev;
  yaml_sequence_start_event_initialize(&ev, NULL, (yaml_char_t *)YAML_SEQ_TAG, 1, YAML_BLOCK_SEQUENCE_STYLE);
  if (!yaml_emitter_emit(em, &ev))
    return -1;
  for (size_t i = 0; i < json_object_array_length(v); i++)
    if (emit_value(em, json_object_array_get_idx(v, i)) < 0)
      return -1;
  yaml_sequence_end_event_initialize(&ev);
  return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

static int emit_value(yaml_emitter_t *em, json_object *v)
{
  switch (json_object_get_type(v)) {
  case json_type_object:
    return emit_mapping(em, v);
  case json_type_array:
    return emit_sequence(em, v);
  case json_type_string:
    return emit_scalar(em, json_object_get_string(v), 1);
  case json_type_null:
    return emit_scalar(em, "null", 0);
  case json_type_boolean:
  case json_type_int:
  case json_type_double:
    return emit_scalar(em, json_object_to_json_string(v), 0);
  }
  return -1;
}

struct buf {
  char *data;
  size_t len;
};

static int buf_write(void *ctx, unsigned char *data, size_t size)
{
  struct buf *b = ctx;
  char *grown = realloc(b->data, b->len + size + 1);
  if (!grown)
    return 0;
  memcpy(grown + b->len, data, size);
  b->len += size;
  grown[b->len] = '\0';
  b->data = grown;
  return 1;
}

static int emit_document(yaml_emitter_t *em, json_object *obj)
{
  yaml_event_t ev;
  yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
  if (!yaml_emitter_emit(em, &ev))
    return -1;
  yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
  if (!yaml_emitter_emit(em, &ev) || emit_value(em, obj) < 0)
    return -1;
  yaml_document_end_event_initialize(&ev, 1);
  if (!yaml_emitter_emit(em, &ev))
    return -1;
  yaml_stream_end_event_initialize(&ev);
  return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

char *kf_yaml(json_object *obj)
{
  yaml_emitter_t em;
  struct buf b = { NULL, 0 };
  if (!yaml_emitter_initialize(&em))
    return NULL;
  yaml_emitter_set_output(&em, buf_write, &b);
  yaml_emitter_set_unicode(&em, 1);
  yaml_emitter_set_width(&em, -1);
  yaml_emitter_set_indent(&em, 2);
  int rc = emit_document(&em, obj);
  yaml_emitter_delete(&em);
  if (rc < 0) {
    free(b.data);
    return NULL;
  }
  return b.data;
}

/* ---------- objects ---------- */

int kf_print_object(json_object *obj, enum kf_output output, FILE *out)
{
  if (output == KF_OUT_JSON) {
    fprintf(out, "%s\n",
            json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                    JSON_C_TO_STRING_NOSLASHESCAPE));
    return 0;
  }
  cleanup_free char *y = kf_yaml(obj);
  if (!y) {
    fputs("error: could not write YAML\n", stderr);
    return -1;
  }
  fputs(y, out);
  return 0;
}

int kf_print_items(json_object *items, int single, const char *resource, enum kf_output output, FILE *out)
{
  size_t n = json_object_array_length(items);
  if (output == KF_OUT_NAME) {
    for (size_t i = 0; i < n; i++)
      fprintf(out, "%s/%s\n", resource, ferry_kube_str(json_object_array_get_idx(items, i), "metadata.name") ?: "");
    return 0;
  }
  if (single && n == 1)
    return kf_print_object(json_object_array_get_idx(items, 0), output, out);
  cleanup_json json_object *list = json_object_new_object();
  json_object_object_add(list, "apiVersion", json_object_new_string("v1"));
  json_object_object_add(list, "kind", json_object_new_string("List"));
  json_object_object_add(list, "items", json_object_get(items));
  json_object *meta = json_object_new_object();
  json_object_object_add(meta, "resourceVersion", json_object_new_string(""));
  json_object_object_add(list, "metadata", meta);
  return kf_print_object(list, output, out);
}

/* ---------- tables ---------- */

struct kf_table {
  size_t columns, rows, cap;
  char **cells; /* rows * columns */
};

struct kf_table *kf_table_new(size_t columns)
{
  struct kf_table *t = ferry_malloc(sizeof *t);
  *t = (struct kf_table){ .columns = columns };
  return t;
}

void kf_table_add(struct kf_table *t, const char *const *cells)
{
  if (t->rows == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 8;
    char **grown = realloc(t->cells, sizeof *grown * t->cap * t->columns);
    if (!grown)
      abort();
    t->cells = grown;
  }
  for (size_t c = 0; c < t->columns; c++)
    t->cells[t->rows * t->columns + c] = ferry_strdup(cells[c] && *cells[c] ? cells[c] : "-");
  t->rows++;
}

void kf_table_print(const struct kf_table *t, FILE *out)
{
  cleanup_free size_t *width = calloc(t->columns, sizeof *width);
  if (!width)
    return;
  for (size_t r = 0; r < t->rows; r++)
    for (size_t c = 0; c < t->columns; c++) {
      size_t w = strlen(t->cells[r * t->columns + c]);
      width[c] = w > width[c] ? w : width[c];
    }
  for (size_t r = 0; r < t->rows; r++) {
    for (size_t c = 0; c < t->columns; c++) {
      const char *cell = t->cells[r * t->columns + c];
      if (c + 1 == t->columns)
        fprintf(out, "%s\n", cell);
      else
        fprintf(out, "%-*s   ", (int)width[c], cell);
    }
  }
}

void kf_table_free(struct kf_table *t)
{
  if (!t)
    return;
  for (size_t i = 0; i < t->rows * t->columns; i++)
    free(t->cells[i]);
  free(t->cells);
  free(t);
}
