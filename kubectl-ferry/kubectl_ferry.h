/* SPDX-License-Identifier: Apache-2.0 */
/* kubectl-ferry: the kubectl plugin. One file a command (migrate.c, status.c,
 * watch.c, cancel.c, nodes.c, plan.c, drain.c, completion.c); cli.c parses the
 * command line as kubectl does and prints each command's help; output.c prints
 * objects as JSON, YAML or names; format.c turns a PodMigration's status into
 * what people read (progress, rate, ETA, time frozen). */
#ifndef KUBECTL_FERRY_H
#define KUBECTL_FERRY_H

#include <stdint.h>
#include <stdio.h>

#include "kube/informer.h"
#include "kube/kube.h"
#include "api/podmigration.h"

/* -o: the default table, or wide, json, yaml, name. */
enum kf_output { KF_OUT_TABLE, KF_OUT_WIDE, KF_OUT_JSON, KF_OUT_YAML, KF_OUT_NAME, KF_OUT_COUNT };

/* What the command line said (cli.c). */
struct kf_opts {
  const char *kubeconfig, *context;
  const char *ns; /* -n; NULL: the context's namespace */
  int all_namespaces;
  enum kf_output output;
  int timeout_s; /* --timeout; 0: none given */
  const char *to;
  int strategy; /* an enum pm_strategy, -1 when not given */
  int wait;     /* --wait: 1, --wait=false: 0, not given: -1 */
  const char *shell;
  char **args; /* the command's arguments (names) */
  int nargs;
};

/* What a command runs with: the client and the namespace it works in. */
struct kf_env {
  struct ferry_kube *k;
  const struct ferry_kube_config *cfg;
  const char *ns; /* -n, else the context's namespace */
};

enum kf_command {
  KF_CMD_MIGRATE,
  KF_CMD_STATUS,
  KF_CMD_WATCH,
  KF_CMD_CANCEL,
  KF_CMD_NODES,
  KF_CMD_PLAN,
  KF_CMD_DRAIN,
  KF_CMD_COMPLETION,
  KF_CMD_COUNT
};

/* cli.c. Parses argv: 0 and *cmd, *o set; 1 when help was printed (exit 0);
 * -1 when the command line is wrong (said on stderr, kubectl's way: exit 1). */
int kf_parse(int argc, char **argv, enum kf_command *cmd, struct kf_opts *o);
/* "error: MSG" and "See 'kubectl ferry CMD --help' for usage." on stderr; returns 1. */
int kf_usage_error(enum kf_command cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The command's name; its flags' long names and -o formats (NULL-terminated, for completion). */
const char *kf_command_name(enum kf_command cmd);
int kf_command_lookup(const char *name, enum kf_command *out);
void kf_command_flags(enum kf_command cmd, const char **names, size_t max);
void kf_command_outputs(enum kf_command cmd, const char **names, size_t max);
/* The index of the command word in argv (argv[0] the program): the first word
 * that is neither a flag nor a flag's value; argc when there is none. */
int kf_command_index(int argc, char **argv);
/* A flag word ("-n", "--to") whose value is the next word. */
int kf_flag_takes_value(const char *word);
/* The API error the way kubectl says it: "Error from server (NotFound): ..." or "error: ...". */
void kf_api_error(const struct ferry_kube_status *st, const ferry_error *err);

/* The commands: each returns the process's exit code (0, or 1 with the reason on stderr). */
int kf_migrate(const struct kf_env *e, const struct kf_opts *o);
int kf_status(const struct kf_env *e, const struct kf_opts *o);
int kf_watch(const struct kf_env *e, const struct kf_opts *o);
int kf_cancel(const struct kf_env *e, const struct kf_opts *o);
int kf_nodes(const struct kf_env *e, const struct kf_opts *o);
int kf_plan(const struct kf_env *e, const struct kf_opts *o);
int kf_drain(const struct kf_env *e, const struct kf_opts *o);
/* `completion bash` (no API needed) and the completion protocol kubectl calls
 * (kubectl_complete-ferry: `kubectl-ferry __complete ARGS... PARTIAL`). */
int kf_completion_script(const char *shell);
int kf_complete(int argc, char **argv);

/* watch.c: follows the named PodMigrations of ns (names NULL: every one, in ns
 * or all namespaces when ns is NULL) until each named one ended, the timeout
 * (0: none) or an interrupt. Redraws on a terminal, a line per change
 * otherwise; output KF_OUT_JSON or KF_OUT_YAML: each change as the object.
 * 0 when every named one Succeeded (or none was named and it was
 * interrupted or timed out); 1 otherwise. */
int kf_follow(const struct kf_env *e, const char *ns, char **names, int n, int timeout_s, enum kf_output output,
              FILE *out);

/* output.c */
/* Prints obj as -o json or -o yaml; 0, or -1 (said on stderr). */
int kf_print_object(json_object *obj, enum kf_output output, FILE *out);
/* Prints items (an array) as kubectl prints a list: one object when single
 * (named on the command line), else a List; -o name: KIND.GROUP/NAME lines. */
int kf_print_items(json_object *items, int single, const char *resource, enum kf_output output, FILE *out);
/* YAML of a JSON value (libyaml's emitter): strings that would read back as
 * something else quoted. Caller frees; NULL when the emitter failed. */
char *kf_yaml(json_object *obj);
/* Column widths: a table of rows (each an array of strings) printed with three
 * spaces between columns, as kubectl prints them. */
struct kf_table;
struct kf_table *kf_table_new(size_t columns);
void kf_table_add(struct kf_table *t, const char *const *cells);
void kf_table_print(const struct kf_table *t, FILE *out);
void kf_table_free(struct kf_table *t);
static inline void kf_table_freep(struct kf_table **t) { kf_table_free(*t); }
#define cleanup_table __attribute__((cleanup(kf_table_freep)))

/* podmigrations.c: what status, watch and cancel share. */
/* The PodMigrations named (names given) or all of ns (NULL: every namespace);
 * *items a new array. 0, or -1 (said on stderr: a name not found, an API error). */
int kf_get_pms(const struct kf_env *e, const char *ns, char **names, int n, json_object **items);
/* An informer of the PodMigrations of ns (NULL: all namespaces) calling h:
 * 0, or -1 (said on stderr). Free *g with ferry_informers_free. */
int kf_pm_informer(const struct kf_env *e, const char *ns, const struct ferry_informer_handlers *h,
                   struct ferry_informers **g, struct ferry_informer **inf);
static inline void kf_informers_freep(struct ferry_informers **g) { ferry_informers_free(*g); }
#define cleanup_informers __attribute__((cleanup(kf_informers_freep)))
/* "podmigration.ferry.dev" */
#define KF_PM_RESOURCE "podmigration.ferry.dev"

/* One PodMigration as status and watch print it: strings borrowed from the
 * object ("-" when absent) and the progress formatted (format.h). */
struct kf_pm_view {
  const char *ns, *name, *pod, *phase, *stage, *strategy, *source, *target, *target_pod, *message;
  char moved[48], percent[8], rate[24], frozen[16], eta[16], age[16], before[16], during[16], after[16];
  double pct; /* -1 unknown */
};
/* rate: bytes a second seen by the caller, or -1 for the average since the start. */
void kf_pm_view(json_object *pm, int64_t now_ms, double rate, struct kf_pm_view *v);

#endif
