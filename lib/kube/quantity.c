/* SPDX-License-Identifier: Apache-2.0 */
#include "kube/quantity.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *suffix;
  double factor;
} SUFFIXES[] = {
  { "Ki", 1024.0 },
  { "Mi", 1048576.0 },
  { "Gi", 1073741824.0 },
  { "Ti", 1099511627776.0 },
  { "Pi", 1125899906842624.0 },
  { "Ei", 1152921504606846976.0 },
  { "n", 1e-9 },
  { "u", 1e-6 },
  { "m", 1e-3 },
  { "", 1.0 },
  { "k", 1e3 },
  { "M", 1e6 },
  { "G", 1e9 },
  { "T", 1e12 },
  { "P", 1e15 },
  { "E", 1e18 },
};

int ferry_quantity_milli(const char *s, int64_t *milli, ferry_error *err)
{
  if (!s || !*s)
    return ferry_error_set(err, 0, "quantity: empty");
  const char *p = s;
  if (*p == '+' || *p == '-')
    p++;
  const char *digits = p;
  while (isdigit((unsigned char)*p))
    p++;
  if (*p == '.') {
    p++;
    while (isdigit((unsigned char)*p))
      p++;
  }
  if (p == digits || (p == digits + 1 && *digits == '.'))
    return ferry_error_set(err, 0, "quantity %s: no number", s);
  double exp10 = 0;
  const char *suffix = p;
  if ((*p == 'e' || *p == 'E') &&
      (isdigit((unsigned char)p[1]) || ((p[1] == '+' || p[1] == '-') && isdigit((unsigned char)p[2])))) {
    char *end;
    exp10 = strtod(p + 1, &end);
    suffix = end;
  }
  double factor = -1;
  for (size_t i = 0; i < sizeof SUFFIXES / sizeof SUFFIXES[0]; i++)
    if (!strcmp(suffix, SUFFIXES[i].suffix)) {
      factor = SUFFIXES[i].factor;
      break;
    }
  if (factor < 0 || (exp10 != 0 && *suffix))
    return ferry_error_set(err, 0, "quantity %s: unknown suffix \"%s\"", s, suffix);
  char num[64];
  if ((size_t)(p - s) >= sizeof num)
    return ferry_error_set(err, 0, "quantity %s: too long", s);
  memcpy(num, s, (size_t)(p - s));
  num[p - s] = '\0';
  double v = strtod(num, NULL) * pow(10.0, exp10) * factor * 1000.0;
  if (!isfinite(v) || v > 9.2e18 || v < -9.2e18)
    return ferry_error_set(err, 0, "quantity %s: out of range", s);
  *milli = (int64_t)ceil(v - 1e-9); /* the API server rounds up */
  return 0;
}
