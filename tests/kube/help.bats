#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Every command of every binary (kubectl-ferry aside) answers --help and -h
# with a page of its own: exit 0, stdout, a synopsis naming it, and every long
# option its parser takes. The options are checked twice: each one the page
# lists is tried on the binary (it must not be refused as unknown), and the
# page's list must equal the one in the source table the parser is built from
# (read through the C preprocessor, so the shared rows' macros count). No
# kube-lite here: only the binaries.
bats_require_minimum_version 1.5.0

load ../lib/common

# COMMAND: how it is run, the source file, the table's name in it.
commands() {
  cat <<EOF
ferry-agent|agent/main.c|global_opts
ferry-agent check|agent/cli/check.c|check_opts
ferry-agent run|agent/cli/run.c|run_opts
ferry-agent checkpoint|agent/cli/checkpoint.c|checkpoint_opts
ferry-agent restore|agent/cli/restore.c|restore_opts
ferry-agent migrate|agent/cli/migrate.c|migrate_opts
ferry-agent pages|agent/cli/pages.c|pages_opts
ferry-agent send|agent/cli/transfer.c|send_opts
ferry-agent receive|agent/cli/transfer.c|receive_opts
ferry-agent inspect|agent/cli/inspect.c|inspect_opts
ferry-agent daemon|agent/daemon/loop.c|daemon_opts
ferry-controller|controller/main.c|ctl_opts
kube-lite|lite/kube-lite/main.c|kl_opts
kubelet-lite|lite/kubelet-lite/main.c|klet_opts
controller-manager-lite|lite/controller-manager-lite/main.c|kcm_opts
ferry-runc|ferry-runc/main.c|rt_opts
EOF
}

# bin CMD...: the binary under test ("ferry-agent migrate" -> $FERRY_BIN/ferry-agent migrate).
bin() {
  local b=$1
  shift
  "$FERRY_BIN/$b" "$@"
}

# page_options CMD...: the long options on CMD's help page (cmdline.h's pages:
# a line an option), sorted, each with the name of its argument when it takes one.
page_options() {
  bin "$@" --help | sed -nE 's/^  (-[a-zA-Z], |    )--([a-z0-9-]+)( ([^ ]+))?.*/\2 \4/p' | sort
}

# source_options FILE TABLE: the long names in the table TABLE of FILE, after the preprocessor.
source_options() {
  # shellcheck disable=SC2046 # (the flags are words)
  cc -E -P -D_GNU_SOURCE -I"$FERRY_TOP/lib" -I"$FERRY_TOP/agent" -I"$FERRY_TOP/controller" \
    -I"$FERRY_TOP/build/gen" -I"$FERRY_TOP/build/gen/k8s" -Ulinux \
    $(pkg-config --cflags json-c libcurl libmicrohttpd) "$FERRY_TOP/$1" |
    python3 -c '
import re, sys
text = sys.stdin.read()
start = re.search(r"\b" + re.escape(sys.argv[1]) + r"\[\] = \{", text)
rows = text[start.end():text.index("{ ((void *)0)", start.end())]
print("\n".join(sorted(re.findall(r"\{\s*\"([a-z0-9-]+)\"\s*,", rows))))' "$2" | sort
}

@test "the list of commands: agent/main.c's verb table is what ferry-agent --help lists, and every one is checked here" {
  run bin ferry-agent --help
  assert_success
  listed=$(sed -n '/^commands:/,/^$/p' <<<"$output" | awk 'NR > 1 && NF && $1 != "help" {print $1}' | sort)
  in_source=$(grep -oE '\{ &cli_[a-z]+_cmd|\{ &daemon_cmd' "$FERRY_TOP/agent/main.c" | sed -E 's/.*&(cli_)?//; s/_cmd//' | sort)
  checked=$(commands | sed -nE 's/^ferry-agent ([a-z]+)\|.*/\1/p' | sort)
  [ -n "$listed" ]
  assert_equal "$listed" "$in_source"
  assert_equal "$checked" "$in_source"
  assert_output --partial "Use 'ferry-agent CMD --help' for a command's options."
}

@test "every command: --help and -h print its page on stdout and exit 0; the synopsis names it" {
  local line cmd
  while IFS='|' read -r cmd _ _; do
    # shellcheck disable=SC2086 # (cmd is the binary and the verb)
    run --separate-stderr bin $cmd --help
    [ "$status" -eq 0 ] || fail "$cmd --help exited $status: $stderr"
    [ -z "$stderr" ] || fail "$cmd --help wrote to stderr: $stderr"
    line=$(head -1 <<<"$output")
    [[ "$line" == "usage: ${cmd%% *}"* && "$line" == *"${cmd##* }"* ]] || fail "$cmd: synopsis $line"
    local page=$output
    # shellcheck disable=SC2086
    run --separate-stderr bin $cmd -h
    [ "$status" -eq 0 ] || fail "$cmd -h exited $status"
    [ "$output" = "$page" ] || fail "$cmd -h is not its --help page"
    [[ "$cmd" == ferry-agent\ * ]] || continue
    run --separate-stderr bin ferry-agent help "${cmd#* }"
    [ "$status" -eq 0 ] && [ "$output" = "$page" ] || fail "ferry-agent help ${cmd#* } is not its --help page"
  done < <(commands)
}

@test "every command's page lists exactly the long options of its parser's table" {
  local cmd file table
  while IFS='|' read -r cmd file table; do
    # shellcheck disable=SC2086
    on_page=$(page_options $cmd | cut -d' ' -f1)
    in_source=$(source_options "$file" "$table")
    [ -n "$in_source" ] || fail "$cmd: no options read from $table in $file"
    [ "$on_page" = "$in_source" ] || fail "$cmd: the page lists ${on_page//$'\n'/ } but $file's $table has ${in_source//$'\n'/ }"
  done < <(commands)
}

@test "every long option a page lists is taken by that command's parser" {
  local cmd opt arg tried=0
  while IFS='|' read -r cmd _ _; do
    [ "$cmd" != ferry-runc ] || continue # every flag passes on to runc: nothing is refused
    # shellcheck disable=SC2086
    while read -r opt arg; do
      [ "$opt" != help ] && [ "$opt" != version ] || continue
      # the option, a value when it takes one, then something that stops the command before it runs
      local args=("--$opt")
      [ -z "$arg" ] || args+=("bogus-value")
      # shellcheck disable=SC2086
      run bin $cmd "${args[@]}" --zz-not-an-option
      [ "$status" -eq 2 ] || fail "$cmd --$opt: exit $status: $output"
      [[ "$output" != *"option --$opt"* ]] || fail "$cmd: --$opt is on the page but the parser refuses it: $output"
      tried=$((tried + 1))
    done < <(page_options $cmd)
  done < <(commands)
  [ "$tried" -gt 50 ]
}

@test "an unknown option: a one-line error and the pointer to --help on stderr, exit 2" {
  local cmd
  while IFS='|' read -r cmd _ _; do
    case $cmd in
      ferry-runc) continue ;; # runc's flags
    esac
    # shellcheck disable=SC2086
    run --separate-stderr bin $cmd --no-such-option
    [ "$status" -eq 2 ] || fail "$cmd --no-such-option: exit $status"
    [ -z "$output" ] || fail "$cmd --no-such-option wrote to stdout: $output"
    [ "$stderr" = "$cmd: unknown or misplaced option --no-such-option
Run '$cmd --help' for usage." ] || fail "$cmd --no-such-option: $stderr"
  done < <(commands)
  run --separate-stderr bin ferry-agent no-such-command
  assert_equal "$status" 2
  assert_equal "$stderr" "ferry-agent: unknown command no-such-command
Run 'ferry-agent --help' for usage."
  run --separate-stderr bin ferry-agent help no-such-command
  assert_equal "$status" 2
}

@test "a missing argument and a missing required option are said in one line with the pointer, exit 2" {
  run --separate-stderr bin ferry-agent migrate --store
  assert_equal "$status" 2
  assert_equal "$stderr" "ferry-agent migrate: option --store needs an argument
Run 'ferry-agent migrate --help' for usage."
  run --separate-stderr bin ferry-agent inspect --image x
  assert_equal "$status" 2
  assert_equal "$stderr" "ferry-agent inspect: --store is required
Run 'ferry-agent inspect --help' for usage."
}

@test "ferry-runc: its page only before a command; 'ferry-runc COMMAND --help' is runc's" {
  run --separate-stderr env FERRY_RUNC_BINARY=echo "$FERRY_BIN/ferry-runc" --root /r state --help
  assert_success
  assert_equal "$output" "--root /r state --help"
}
