/* SPDX-License-Identifier: Apache-2.0 */
/* Shell completion. `kubectl-ferry __complete WORDS... PARTIAL` answers in
 * Cobra's protocol (a candidate a line, then ":DIRECTIVE"), which is what
 * kubectl 1.26 and later ask a plugin's kubectl_complete-ferry executable
 * (that executable runs this); `kubectl ferry completion bash` prints a bash
 * script that asks the same for kubectl-ferry typed alone. Candidates: the
 * commands, their flags, -o's formats, strategies, and from the API the pods,
 * PodMigrations, nodes, namespaces and MigrationPolicies. */
#include <stdio.h>
#include <string.h>

#include "kubectl_ferry.h"
#include "kube/kubeconfig.h"
#include "base/cleanup.h"
#include "base/util.h"

/* Cobra's ShellCompDirective values. */
enum directive { DIRECTIVE_DEFAULT = 0, DIRECTIVE_NO_FILE = 4 };

static const char BASH_SCRIPT[] =
    "# bash completion for kubectl-ferry (kubectl ferry completion bash)\n"
    "_kubectl_ferry() {\n"
    "  local cur=${COMP_WORDS[COMP_CWORD]} out line\n"
    "  out=$(\"${COMP_WORDS[0]}\" __complete \"${COMP_WORDS[@]:1:COMP_CWORD}\" 2>/dev/null) || return\n"
    "  COMPREPLY=()\n"
    "  while IFS= read -r line; do\n"
    "    case $line in :*) [ \"$line\" = :0 ] && [ ${#COMPREPLY[@]} -eq 0 ] && compopt -o default ;;\n"
    "      *) COMPREPLY+=(\"${line%%$'\\t'*}\") ;; esac\n"
    "  done <<<\"$out\"\n"
    "}\n"
    "complete -F _kubectl_ferry kubectl-ferry\n";

int kf_completion_script(const char *shell)
{
  if (strcmp(shell, "bash") != 0)
    return kf_usage_error(KF_CMD_COMPLETION, "unsupported shell type \"%s\" (bash is)", shell);
  fputs(BASH_SCRIPT, stdout);
  return 0;
}

static void candidate(const char *word, const char *partial)
{
  if (word && !strncmp(word, partial, strlen(partial)))
    printf("%s\n", word);
}

/* What the words say of where the API is. */
struct where {
  const char *kubeconfig, *context, *ns;
};

static void read_where(int n, char **words, struct where *w)
{
  for (int i = 0; i + 1 < n; i++) {
    if (!strcmp(words[i], "--kubeconfig"))
      w->kubeconfig = words[i + 1];
    else if (!strcmp(words[i], "--context"))
      w->context = words[i + 1];
    else if (!strcmp(words[i], "-n") || !strcmp(words[i], "--namespace"))
      w->ns = words[i + 1];
  }
}

/* The names of the resource's objects (the namespace's when namespaced). */
static void api_names(const struct where *w, const struct ferry_kube_resource *r, const char *partial)
{
  struct ferry_kube_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cleanup_error ferry_error err = FERRY_ERROR_INIT;
  struct ferry_kube *k = NULL;
  cleanup_json json_object *items = NULL;
  ferry_kube_global_init();
  if (ferry_kube_config_auto(w->kubeconfig, w->context, &cfg, &err) == 0 && ferry_kube_open(&cfg, &k, &err) == 0) {
    ferry_kube_set_timeout_ms(k, 5000);
    const char *ns = r->namespaced ? w->ns ?: cfg.namespace_ ?: "default" : NULL;
    if (ferry_kube_list(k, r, ns, NULL, NULL, 500, &items, NULL, &err) == 0)
      for (size_t i = 0; i < json_object_array_length(items); i++)
        candidate(ferry_kube_str(json_object_array_get_idx(items, i), "metadata.name"), partial);
  }
  ferry_kube_close(k);
  ferry_kube_config_free(&cfg);
}

/* The value of the flag before partial; -1 when prev is no flag that takes one. */
static int flag_value(enum kf_command cmd, int have_cmd, const char *prev, const struct where *w, const char *partial)
{
  static const char *const strategies[] = { "stopAndCopy", "preCopy", "postCopy", "auto", NULL };
  if (!strcmp(prev, "-n") || !strcmp(prev, "--namespace"))
    api_names(w, &FERRY_KUBE_NAMESPACES, partial);
  else if (!strcmp(prev, "--to"))
    api_names(w, &FERRY_KUBE_NODES, partial);
  else if (!strcmp(prev, "--strategy"))
    for (size_t i = 0; strategies[i]; i++)
      candidate(strategies[i], partial);
  else if ((!strcmp(prev, "-o") || !strcmp(prev, "--output")) && have_cmd) {
    const char *formats[8];
    kf_command_outputs(cmd, formats, 8);
    for (size_t i = 0; formats[i]; i++)
      candidate(formats[i], partial);
  } else if (!strcmp(prev, "--kubeconfig"))
    return DIRECTIVE_DEFAULT;
  else if (!kf_flag_takes_value(prev))
    return -1;
  return DIRECTIVE_NO_FILE;
}

static void flag_names(enum kf_command cmd, const char *partial)
{
  const char *names[16];
  char word[64];
  kf_command_flags(cmd, names, 16);
  for (size_t i = 0; names[i]; i++) {
    snprintf(word, sizeof word, "--%s", names[i]);
    candidate(word, partial);
  }
}

/* A command's arguments: what each names. */
static void arguments(enum kf_command cmd, const struct where *w, const char *partial)
{
  switch (cmd) {
  case KF_CMD_MIGRATE:
    api_names(w, &FERRY_KUBE_PODS, partial);
    break;
  case KF_CMD_STATUS:
  case KF_CMD_WATCH:
  case KF_CMD_CANCEL:
    api_names(w, &FERRY_KUBE_PODMIGRATIONS, partial);
    break;
  case KF_CMD_NODES:
  case KF_CMD_DRAIN:
    api_names(w, &FERRY_KUBE_NODES, partial);
    break;
  case KF_CMD_PLAN:
    api_names(w, &FERRY_KUBE_MIGRATIONPOLICIES, partial);
    break;
  case KF_CMD_COMPLETION:
    candidate("bash", partial);
    break;
  case KF_CMD_COUNT:
    break;
  }
}

static int complete(int n, char **words, const char *partial)
{
  struct where w = { 0 };
  read_where(n, words, &w);
  /* kf_command_index counts from 1, as in argv */
  cleanup_free char **argv = ferry_malloc(sizeof *argv * (size_t)(n + 1));
  argv[0] = "kubectl-ferry";
  for (int i = 0; i < n; i++)
    argv[i + 1] = words[i];
  int at = kf_command_index(n + 1, argv);
  enum kf_command cmd = KF_CMD_COUNT;
  int have_cmd = at <= n && kf_command_lookup(argv[at], &cmd) == 0;
  int d = n ? flag_value(cmd, have_cmd, words[n - 1], &w, partial) : -1;
  if (d >= 0)
    return d;
  if (!have_cmd) {
    for (int c = 0; c < KF_CMD_COUNT; c++)
      candidate(kf_command_name((enum kf_command)c), partial);
    candidate("help", partial);
  } else if (partial[0] == '-') {
    flag_names(cmd, partial);
  } else {
    arguments(cmd, &w, partial);
  }
  return DIRECTIVE_NO_FILE;
}

int kf_complete(int argc, char **argv)
{
  const char *partial = argc > 0 ? argv[argc - 1] : "";
  int d = complete(argc > 0 ? argc - 1 : 0, argv, partial);
  printf(":%d\n", d);
  return 0;
}
