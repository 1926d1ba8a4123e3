/* SPDX-License-Identifier: Apache-2.0 */
#include "regex.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"

/* The translation under way: RE2 in, POSIX ERE out. */
struct tr {
  const char *start, *p;
  char *out;
  size_t n, cap;
  int icase;
  char *why;
  size_t why_len;
};

static int refuse(struct tr *t, const char *what)
{
  snprintf(t->why, t->why_len, "kube-lite cannot translate %s at offset %td to a POSIX regular expression", what,
           t->p - t->start);
  return -1;
}

static int put(struct tr *t, const char *s, size_t len)
{
  if (t->n + len + 1 > t->cap)
    return refuse(t, "a pattern this long");
  memcpy(t->out + t->n, s, len);
  t->n += len;
  t->out[t->n] = '\0';
  return 0;
}

static int puts_(struct tr *t, const char *s) { return put(t, s, strlen(s)); }

/* What \c stands for inside a bracket expression: a set of members, or NULL. */
static const char *class_escape(char c)
{
  switch (c) {
  case 'd':
    return "0-9";
  case 'w':
    return "0-9A-Za-z_";
  case 's':
    return "\t\n\f\r ";
  }
  return NULL;
}

static int control_escape(char c)
{
  static const char from[] = "tnrfv", to[] = "\t\n\r\f\v";
  const char *at = c ? strchr(from, c) : NULL;
  return at ? to[at - from] : 0;
}

/* RE2 escapes any punctuation to itself. */
static int punct_escape(char c) { return c && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", c) != NULL; }

/* The literal character an escape inside a bracket stands for, or 0. */
static int literal_escape(char c)
{
  if (punct_escape(c))
    return c;
  return control_escape(c);
}

struct bracket {
  int neg, rbracket, dash, caret;
  char body[512];
  size_t n;
};

static int member(struct tr *t, struct bracket *b, const char *s)
{
  size_t len = strlen(s);
  if (b->n + len + 1 > sizeof b->body)
    return refuse(t, "a bracket expression this long");
  memcpy(b->body + b->n, s, len + 1);
  b->n += len;
  return 0;
}

/* One literal character of a bracket; ], - and ^ go where POSIX wants them. */
static int member_char(struct tr *t, struct bracket *b, char c)
{
  if (c == ']')
    b->rbracket = 1;
  else if (c == '-')
    b->dash = 1;
  else if (c == '^')
    b->caret = 1;
  else
    return member(t, b, (char[]){ c, '\0' });
  return 0;
}

/* Reads one character of a bracket at t->p (a literal or an escaped one); 0 on \d and the like. */
static int bracket_char(struct tr *t, char *c)
{
  if (*t->p != '\\') {
    *c = *t->p++;
    return 0;
  }
  char e = t->p[1];
  if (class_escape(e)) {
    *c = '\0';
    return 0;
  }
  if (!(*c = (char)literal_escape(e)))
    return refuse(t, "this escape in a bracket expression");
  t->p += 2;
  return 0;
}

static int bracket_item(struct tr *t, struct bracket *b)
{
  if (!strncmp(t->p, "[:", 2)) { /* [:alpha:] is POSIX's too */
    const char *end = strstr(t->p + 2, ":]");
    if (!end)
      return refuse(t, "an unterminated character class name");
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(end + 2 - t->p), t->p);
    t->p = end + 2;
    return member(t, b, name);
  }
  if (t->p[0] == '\\' && class_escape(t->p[1])) {
    const char *set = class_escape(t->p[1]);
    t->p += 2;
    return member(t, b, set);
  }
  char lo, hi;
  if (bracket_char(t, &lo) < 0)
    return -1;
  if (t->p[0] != '-' || t->p[1] == ']' || !t->p[1])
    return member_char(t, b, lo);
  t->p++;
  if (bracket_char(t, &hi) < 0)
    return -1;
  if (!hi || strchr("]-^", lo) || strchr("]-^", hi))
    return refuse(t, "this range in a bracket expression");
  return member(t, b, (char[]){ lo, '-', hi, '\0' });
}

static int bracket_emit(struct tr *t, const struct bracket *b)
{
  if (!b->neg && !b->rbracket && !b->n && !b->dash && b->caret)
    return puts_(t, "\\^"); /* [\^] alone: a POSIX bracket cannot start with it */
  char out[sizeof b->body + 8];
  snprintf(out, sizeof out, "[%s%s%s%s%s]", b->neg ? "^" : "", b->rbracket ? "]" : "", b->body, b->caret ? "^" : "",
           b->dash ? "-" : "");
  if (b->caret && !b->neg && !b->rbracket && !b->n) /* [-^] would be [^-]: the dash first then */
    snprintf(out, sizeof out, "[-^]");
  return puts_(t, out);
}

static int translate_bracket(struct tr *t)
{
  struct bracket b = { 0 };
  t->p++;
  if (*t->p == '^') {
    b.neg = 1;
    t->p++;
  }
  if (*t->p == ']') { /* a ] first is a member, in RE2 as in POSIX */
    b.rbracket = 1;
    t->p++;
  }
  while (*t->p && *t->p != ']')
    if (bracket_item(t, &b) < 0)
      return -1;
  if (*t->p != ']')
    return refuse(t, "an unterminated bracket expression");
  t->p++;
  return bracket_emit(t, &b);
}

/* An escape outside brackets. */
static int translate_escape(struct tr *t)
{
  char e = t->p[1];
  static const struct {
    char e;
    const char *posix;
  } classes[] = { { 'd', "[0-9]" },         { 'D', "[^0-9]" },      { 'w', "[0-9A-Za-z_]" },
                  { 'W', "[^0-9A-Za-z_]" }, { 's', "[\t\n\f\r ]" }, { 'S', "[^\t\n\f\r ]" } };
  for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
    if (classes[i].e == e) {
      t->p += 2;
      return puts_(t, classes[i].posix);
    }
  if (e && strchr(".[]{}()*+?^$|\\", e)) { /* ERE's own specials: escaped there too */
    t->p += 2;
    return put(t, (char[]){ '\\', e }, 2);
  }
  int c = punct_escape(e) ? e : control_escape(e);
  if (!c)
    return refuse(t, "this escape");
  t->p += 2;
  return put(t, (char[]){ (char)c }, 1);
}

/* (?:...) is a plain group; (?i) only at the start (after a ^) makes the match ignore case. */
static int translate_group(struct tr *t)
{
  if (t->p[1] != '?') {
    t->p++;
    return puts_(t, "(");
  }
  if (t->p[2] == ':') {
    t->p += 3;
    return puts_(t, "(");
  }
  if (!strncmp(t->p, "(?i)", 4) && (t->n == 0 || !strcmp(t->out, "^"))) {
    t->icase = 1;
    t->p += 4;
    return 0;
  }
  return refuse(t, "this group or flag");
}

/* The length of a repetition {n}, {n,} or {n,m} at p, or 0 (RE2 then takes the { as itself). */
static size_t repetition(const char *p)
{
  size_t i = 1, digits = 0;
  while (p[i] >= '0' && p[i] <= '9')
    i++, digits++;
  if (!digits)
    return 0;
  if (p[i] == ',') {
    i++;
    while (p[i] >= '0' && p[i] <= '9')
      i++;
  }
  return p[i] == '}' ? i + 1 : 0;
}

/* A quantifier; a lazy one (x*?) matches where the greedy one does, so it becomes that. */
static int translate_quantifier(struct tr *t, size_t len)
{
  if (put(t, t->p, len) < 0)
    return -1;
  t->p += len;
  if (*t->p == '?')
    t->p++;
  return 0;
}

static int translate_one(struct tr *t)
{
  size_t rep;
  switch (*t->p) {
  case '\\':
    return translate_escape(t);
  case '[':
    return translate_bracket(t);
  case '(':
    return translate_group(t);
  case '*':
  case '+':
  case '?':
    return translate_quantifier(t, 1);
  case '{':
    if ((rep = repetition(t->p)))
      return translate_quantifier(t, rep);
    t->p++;
    return puts_(t, "\\{");
  case '}':
    t->p++;
    return puts_(t, "\\}");
  }
  return put(t, t->p++, 1);
}

enum kl_match kl_regex_match(const char *pattern, const char *s, char *why, size_t why_len)
{
  size_t cap = strlen(pattern) * 16 + 16;
  cleanup_free char *out = calloc(1, cap);
  if (!out) {
    snprintf(why, why_len, "out of memory");
    return KL_MATCH_BAD_PATTERN;
  }
  struct tr t = { .start = pattern, .p = pattern, .out = out, .cap = cap, .why = why, .why_len = why_len };
  while (*t.p)
    if (translate_one(&t) < 0)
      return KL_MATCH_BAD_PATTERN;
  regex_t re;
  int rc = regcomp(&re, out, REG_EXTENDED | REG_NOSUB | (t.icase ? REG_ICASE : 0));
  if (rc) {
    char msg[128];
    regerror(rc, &re, msg, sizeof msg);
    snprintf(why, why_len, "error parsing regexp: %s", msg);
    return KL_MATCH_BAD_PATTERN;
  }
  rc = regexec(&re, s, 0, NULL, 0);
  regfree(&re);
  return rc == 0 ? KL_MATCH_YES : KL_MATCH_NO;
}
