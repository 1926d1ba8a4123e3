/* SPDX-License-Identifier: Apache-2.0 */
/* kube-lite's CEL evaluator: the kube-lite-cel helper (lite/kube-lite/cel, Go on
 * Google's cel-go), started as a child the first time a ValidatingAdmissionPolicy
 * needs it and kept, and spoken to in JSON lines over its stdin and stdout (one
 * request, one answer; callers hold the store's lock, so calls never overlap). A
 * helper that dies or hangs is killed and started again at the next call. */
#ifndef KL_CEL_H
#define KL_CEL_H

#include <json-c/json.h>
#include <stddef.h>
#include <sys/types.h>

#define KL_CEL_HELPER "kube-lite-cel"
#define KL_CEL_TIMEOUT_MS 10000

struct kl_cel {
  char path[4096]; /* the helper's binary */
  pid_t pid;       /* 0: not running */
  int to, from;    /* its stdin, its stdout */
  char *buf;       /* what was read past the last answer */
  size_t len, cap;
};

/* Sets up *c for the helper at path (NULL: kube-lite-cel beside kube-lite's own binary). */
void kl_cel_init(struct kl_cel *c, const char *path);
/* 0 when the helper is there to be run; -1 with why. */
int kl_cel_usable(const struct kl_cel *c, char *why, size_t len);
/* Sends request, returns the answer (new reference) or NULL with why (the helper
 * missing, dead, slow, or answering {"error": ...}). */
json_object *kl_cel_call(struct kl_cel *c, json_object *request, char *why, size_t len);
/* Ends the helper (closing its stdin; it exits) and frees *c's buffer. */
void kl_cel_stop(struct kl_cel *c);

#endif
