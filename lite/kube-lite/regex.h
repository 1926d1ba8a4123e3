/* SPDX-License-Identifier: Apache-2.0 */
/* A CRD schema's `pattern` (Go's RE2 syntax, as the API server compiles it)
 * matched with libc's POSIX extended regular expressions: the pattern is
 * translated first (\d \w \s, escapes, (?:...), a leading (?i), lazy
 * quantifiers, bracket expressions rebuilt in POSIX form). What has no POSIX
 * equal (\b, \pL, \x41, named groups, other flags) is refused with a reason. */
#ifndef KL_REGEX_H
#define KL_REGEX_H

#include <stddef.h>

enum kl_match {
  KL_MATCH_NO = 0,
  KL_MATCH_YES = 1,
  KL_MATCH_BAD_PATTERN = -1, /* why says why */
};

/* Whether s has a match of the RE2 pattern anywhere (the API server's
 * regexp.MatchString: anchors are the pattern's own). */
enum kl_match kl_regex_match(const char *pattern, const char *s, char *why, size_t why_len);

#endif
