#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# add-ferry-runtime.sh: adds the runtime handler "ferry" (runc's shim calling
# ferry-runc, config-v2.toml / config-v3.toml next to this script) to a node's
# EXISTING containerd configuration, keeping everything else; the Helm chart's
# node setup runs it. Run it again and nothing changes (not a byte).
#
#   add-ferry-runtime.sh [--config /etc/containerd/config.toml]
#       [--ferry-runc /usr/local/bin/ferry-runc] [--runc-root /run/containerd/runc]
#       [--systemd-cgroup true|false] [--restrict-oom-score-adj]
#       [--containerd BINARY | --config-version 2|3] [--fragments DIR]
#       [--set 'TABLE.KEY = TOML-VALUE']...
#
# - The config's `version` says where the handler goes: 2 (containerd 1.6, 1.7)
#   under plugins."io.containerd.grpc.v1.cri", 3 (2.x) under
#   plugins.'io.containerd.cri.v1.runtime'. A missing or empty (comments only)
#   file gets a minimal config of the version containerd reads natively
#   (`containerd --version`: 1.x gives 2, 2.x gives 3; or --config-version). A
#   version 1 config (no `version` key) is refused: migrate it first
#   (`containerd config migrate`).
# - For version 2, runc's runtime is added too when the default runtime
#   (default_runtime_name, "runc" unless set) has no table: 1.6 and 1.7 refuse
#   the CRI plugin otherwise.
# - --systemd-cgroup: the cgroup driver, which must be the kubelet's. Without it
#   the handler follows the SystemdCgroup of the config's runc runtime, else
#   false (cgroupfs; containerd's own default, and the only choice without systemd).
# - --restrict-oom-score-adj: sets restrict_oom_score_adj = true in the CRI
#   plugin, for a containerd without CAP_SYS_RESOURCE (in a user namespace or a
#   VM that drops it): the sandboxes' oom_score_adj -998 fails there otherwise.
# - --set: any other single setting, e.g.
#   --set 'plugins."io.containerd.grpc.v1.cri".sandbox_image = "pause:3.9"'.
# It says whether the file changed: containerd reads it only when it starts.
#
# How the file is edited: TOML is not line-based (quoted keys, tables defined
# implicitly, inline tables, multi-line arrays), so sed or awk would corrupt
# some valid configs. python3's tomllib (standard library since 3.11, bookworm's
# python3; or the tomli module) reads TOML but cannot write it, and writing the
# whole file anew would lose the operator's comments and layout. So the edit is
# made on the text, one setting at a time: a value already right is left alone;
# a key present in its table's [header] section has its value replaced (a
# multi-line value too); a missing key goes after its table's last key; a
# table without a [header] of its own gets one, before its sub-tables or after
# the tables nearest to it (else at the end). Then the new text is parsed again
# and must equal the old configuration plus exactly those settings. When it does not (a layout this cannot edit, such
# as an inline table), the file is left untouched and the script fails with
# the settings to add by hand.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
config=/etc/containerd/config.toml
ferry_runc=""
runc_root=""
systemd_cgroup=auto
restrict=false
containerd=containerd
config_version=""
fragments=$here
sets=()

usage() {
  sed -n '/^#   add-ferry-runtime.sh/,/^#       \[--set/p' "$0" | sed 's/^# //' >&2
  exit 2
}

die() {
  echo "add-ferry-runtime: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case $1 in
    --config) config=${2:?}; shift ;;
    --ferry-runc) ferry_runc=${2:?}; shift ;;
    --runc-root) runc_root=${2:?}; shift ;;
    --systemd-cgroup)
      systemd_cgroup=${2:?}; shift
      case $systemd_cgroup in true | false) ;; *) die "--systemd-cgroup takes true or false" ;; esac ;;
    --restrict-oom-score-adj) restrict=true ;;
    --containerd) containerd=${2:?}; shift ;;
    --config-version)
      config_version=${2:?}; shift
      case $config_version in 2 | 3) ;; *) die "--config-version takes 2 or 3" ;; esac ;;
    --fragments) fragments=${2:?}; shift ;;
    --set) sets+=("${2:?}"); shift ;;
    -h | --help) usage ;;
    *) echo "add-ferry-runtime: unknown argument $1" >&2; usage ;;
  esac
  shift
done

# The config version a new file gets: containerd's major version says it.
if [ -z "$config_version" ] && ! grep -qvE '^[[:space:]]*(#.*)?$' "$config" 2>/dev/null; then
  out=$("$containerd" --version 2>/dev/null) || die "$config is empty and '$containerd --version' failed: give --containerd BINARY or --config-version 2|3"
  major=$(awk '{ sub(/^v/, "", $3); split($3, v, "."); print v[1] }' <<<"$out")
  case $major in
    1) config_version=2 ;;
    [2-9]) config_version=3 ;;
    *) die "cannot read containerd's version in: $out" ;;
  esac
fi

python=${FERRY_PYTHON:-python3}
[ -x /usr/bin/python3 ] && python=${FERRY_PYTHON:-/usr/bin/python3}

exec "$python" - "$config" "$fragments" "$ferry_runc" "$runc_root" "$systemd_cgroup" "$restrict" \
  "$config_version" ${sets[@]+"${sets[@]}"} <<'PY'
"""The edit itself (see the script's header)."""
import copy
import os
import re
import sys

try:
    import tomllib
except ImportError:
    try:
        import tomli as tomllib
    except ImportError:
        sys.exit("add-ferry-runtime: needs python3 >= 3.11 (tomllib) or the tomli module")

# Where the CRI plugin's runtime settings live in each config version.
CRI_PLUGIN = {2: ("plugins", "io.containerd.grpc.v1.cri"), 3: ("plugins", "io.containerd.cri.v1.runtime")}
BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
KEY_LINE = re.compile(r"""^\s*(?:"([^"\\]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*=""")


def die(msg):
    sys.exit(f"add-ferry-runtime: {msg}")


def dig(d, path):
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def same(a, b):
    return type(a) is type(b) and a == b


def toml_key(k):
    return k if BARE_KEY.match(k) else '"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"'


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    die(f"cannot write the value {v!r}")


def header_path(line):
    """The table a [header] line opens, () for none; None for [[arrays]]."""
    s = line.strip()
    if not s.startswith("["):
        return ()
    if s.startswith("[["):
        return None
    try:
        d = tomllib.loads(s)
    except tomllib.TOMLDecodeError:
        return ()
    path = []
    while isinstance(d, dict) and len(d) == 1:
        k = next(iter(d))
        path.append(k)
        d = d[k]
    return tuple(path)


class Text:
    """The config's lines, edited one setting at a time."""

    def __init__(self, text):
        self.lines = text.splitlines(keepends=True)
        if self.lines and not self.lines[-1].endswith("\n"):
            self.lines[-1] += "\n"

    def headers(self):
        out = []
        for i, line in enumerate(self.lines):
            p = header_path(line)
            if p != ():
                out.append((i, p))
        return out

    def section(self, path):
        """(first line, end) of the keys under path's header; (None, None) without one."""
        hs = self.headers()
        if path == ():
            return 0, hs[0][0] if hs else len(self.lines)
        for n, (i, p) in enumerate(hs):
            if p == path:
                return i + 1, hs[n + 1][0] if n + 1 < len(hs) else len(self.lines)
        return None, None

    def value_span(self, start, end, key):
        """(first, last + 1) of the lines of key = value in [start, end), or None."""
        for j in range(start, end):
            m = KEY_LINE.match(self.lines[j])
            if not m or key not in m.groups():
                continue
            for e in range(j + 1, end + 1):
                try:
                    tomllib.loads("".join(self.lines[j:e]))
                    return j, e
                except tomllib.TOMLDecodeError:
                    pass
            return None
        return None

    def set(self, path, key, value):
        line = f"{toml_key(key)} = {toml_value(value)}\n"
        start, end = self.section(path)
        if start is None:
            self.add_table(path, line)
            return
        span = self.value_span(start, end, key)
        if span:
            indent = re.match(r"\s*", self.lines[span[0]]).group(0)
            self.lines[span[0]:span[1]] = [indent + line]
            return
        at, indent = start, ""
        if start > 0:
            indent = re.match(r"\s*", self.lines[start - 1]).group(0) + "  "
        for j in range(start, end):
            if self.lines[j].strip() and not self.lines[j].lstrip().startswith("#"):
                at = j + 1
                if KEY_LINE.match(self.lines[j]):
                    indent = re.match(r"\s*", self.lines[j]).group(0)
        self.lines.insert(at, indent + line)

    def add_table(self, path, line):
        """A [header] for path with its first key: before its first sub-table, else after
        the last table sharing most of its path, else at the end."""
        hs = self.headers()
        at, indent, best = len(self.lines), "", 0
        for n, (i, p) in enumerate(hs):
            common = len(os.path.commonprefix([p, path])) if p else 0
            if common >= best and common > 0:
                best, indent = common, re.match(r"\s*", self.lines[i]).group(0)
                at = hs[n + 1][0] if n + 1 < len(hs) else len(self.lines)
        subs = [i for i, p in hs if p and p[: len(path)] == path]
        if subs:
            at, indent = subs[0], re.match(r"\s*", self.lines[subs[0]]).group(0)
        blank = at > 0 and not self.lines[at - 1].strip()
        block = [indent + "[" + ".".join(toml_key(k) for k in path) + "]\n", indent + "  " + line]
        if at == len(self.lines) and self.lines and not blank:
            block.insert(0, "\n")
        elif at < len(self.lines) and blank:
            block.append("\n")
        self.lines[at:at] = block

    def text(self):
        return "".join(self.lines)


def config_version(old, new_version):
    if not old:
        return int(new_version), [((), "version", int(new_version))]
    v = old.get("version")
    if v is None:
        die("the config has no `version`: a version 1 config; migrate it first (containerd config migrate)")
    if v not in CRI_PLUGIN:
        die(f"config version {v} is not 2 or 3")
    return v, []


def load_fragment(fragments, version):
    path = os.path.join(fragments, f"config-v{version}.toml")
    try:
        with open(path, "rb") as f:
            frag = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        die(f"{path}: {e}")
    runtimes = dig(frag, CRI_PLUGIN[version] + ("containerd", "runtimes"))
    if frag.get("version") != version or not isinstance(dig(runtimes, ("ferry", "options")), dict):
        die(f"{path}: no version {version} runtimes.ferry.options table")
    return runtimes


def runtime_settings(path, runtime, options):
    out = [(path, k, v) for k, v in runtime.items() if not isinstance(v, dict)]
    return out + [(path + ("options",), k, v) for k, v in options.items()]


def ferry_settings(old, version, runtimes, args):
    """The (table, key, value) settings the handler needs."""
    ferry_runc, runc_root, systemd, restrict = args
    base = CRI_PLUGIN[version] + ("containerd", "runtimes")
    if systemd == "auto":
        runc_cgroup = dig(old, base + ("runc", "options", "SystemdCgroup"))
        systemd = runc_cgroup if isinstance(runc_cgroup, bool) else runtimes["ferry"]["options"]["SystemdCgroup"]
    else:
        systemd = systemd == "true"
    options = dict(runtimes["ferry"]["options"], SystemdCgroup=systemd)
    if ferry_runc:
        options["BinaryName"] = ferry_runc
    if runc_root:
        options["Root"] = runc_root
    out = runtime_settings(base + ("ferry",), runtimes["ferry"], options)
    default = dig(old, CRI_PLUGIN[version] + ("containerd", "default_runtime_name")) or "runc"
    if version == 2 and default == "runc" and dig(old, base + ("runc",)) is None:
        runc = runtimes.get("runc")
        if not isinstance(runc, dict):
            die("config-v2.toml has no runtimes.runc table")
        out += runtime_settings(base + ("runc",), runc, dict(runc.get("options", {}), SystemdCgroup=systemd))
    if restrict == "true":
        out.append((CRI_PLUGIN[version], "restrict_oom_score_adj", True))
    return out


def parse_set(arg):
    """--set 'a.b."c.d".key = value': ((a, b, c.d), key, value)."""
    try:
        d = tomllib.loads(arg)
    except tomllib.TOMLDecodeError as e:
        die(f"--set {arg}: {e}")
    path = []
    while isinstance(d, dict) and len(d) == 1:
        k = next(iter(d))
        path.append(k)
        d = d[k]
    if isinstance(d, dict) or not path:
        die(f"--set {arg}: one KEY = VALUE")
    return tuple(path[:-1]), path[-1], d


def apply_settings(old, text, settings):
    """The new text and what it must parse to."""
    expected = copy.deepcopy(old)
    edit = Text(text)
    for path, key, value in settings:
        if same(dig(old, path + (key,)), value):
            continue
        edit.set(path, key, value)
        d = expected
        for k in path:
            d = d.setdefault(k, {})
        d[key] = value
    return edit.text(), expected


def write(config, text):
    os.makedirs(os.path.dirname(os.path.abspath(config)), exist_ok=True)
    tmp = config + ".ferry-new"
    try:
        with open(tmp, "w") as f:
            f.write(text)
        if os.path.exists(config):
            os.chmod(tmp, os.stat(config).st_mode & 0o7777)
        os.replace(tmp, config)
    except OSError:
        # A file bind-mounted on its own cannot be replaced: write it in place.
        if os.path.exists(tmp):
            os.unlink(tmp)
        with open(config, "w") as f:
            f.write(text)


def main(argv):
    config, fragments, ferry_runc, runc_root, systemd, restrict, new_version = argv[:7]
    try:
        with open(config) as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    try:
        old = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        die(f"{config}: not valid TOML: {e}")
    version, settings = config_version(old, new_version)
    runtimes = load_fragment(fragments, version)
    settings += ferry_settings(old, version, runtimes, (ferry_runc, runc_root, systemd, restrict))
    settings += [parse_set(s) for s in argv[7:]]
    new_text, expected = apply_settings(old, text, settings)
    if new_text == text:
        print(f"add-ferry-runtime: {config}: the ferry runtime is there already; nothing changed")
        return
    try:
        ok = tomllib.loads(new_text) == expected
    except tomllib.TOMLDecodeError:
        ok = False
    if not ok:
        wanted = "".join(f"  {'.'.join(toml_key(k) for k in p + (key,))} = {toml_value(v)}\n" for p, key, v in settings)
        die(f"{config}: cannot add the settings safely to this layout; nothing written. Add by hand:\n{wanted}")
    write(config, new_text)
    print(f"add-ferry-runtime: {config}: the ferry runtime added (config version {version}); restart containerd")


main(sys.argv[1:])
PY
