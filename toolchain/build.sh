#!/usr/bin/env bash
# Provides the kafka-tls Pulumi toolchain and prints its bin dir (pulumi,
# pulumi-language-python, pulumi-language-python-exec) as the last line of
# stdout; the resource plugins command and tls are registered in a
# PULUMI_HOME (see env.sh). Progress goes to stderr.
#
#   toolchain/build.sh                 # build (or reuse) and print the bin dir
#   KAFKA_TLS_UPSTREAM=/dir            # source archives (default <repo>/../shared/upstream)
#   KAFKA_TLS_CACHE=/dir               # cache root (default ~/.cache/kafka-tls)
#   KAFKA_TLS_SYSTEM_PULUMI=0          # never use a pulumi found on PATH
#
# Two paths, logged:
#  - system: `pulumi` on PATH has its bundled pulumi-language-python beside it
#    and `pulumi plugin ls` (the caller's PULUMI_HOME) shows command 1.2.1 and
#    tls 5.6.2. That is used as it is; nothing is built.
#  - build: the CLI from the Go module proxy (go.mod here), the language host
#    and the two providers from the upstream archives, as
#    <upstream>/README.md says. Each binary is cached on its own under
#    $cache/parts/<name>/<version>-<key>, linked into
#    $cache/toolchain/<key>/{bin,plugins}; the providers are registered in
#    $cache/pulumi-home. See toolchain/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
upstream="${KAFKA_TLS_UPSTREAM:-$(dirname "$here")/../shared/upstream}"
cache="${KAFKA_TLS_CACHE:-$HOME/.cache/kafka-tls}"

export GOFLAGS=-mod=mod
export CGO_ENABLED=0

t_start=$(date +%s)
log() { printf '[toolchain %3ss] %s\n' "$(($(date +%s) - t_start))" "$*" >&2; }

# ---- pins ------------------------------------------------------------------
# The CLI version is the one go.mod requires (checked against sdk/v3 below).
PULUMI_VERSION="$(awk '$1 == "github.com/pulumi/pulumi/pkg/v3" {print $2}' "$here/go.mod")"
MIN_SYSTEM_PULUMI=3.272.0 # the Python SDK pinned in requirements.txt

LANG_VERSION=v3.259.0 # pulumi/pulumi tag v3.259.0 = 0ac56e876614aedf12771d73ef7e80959b8a6fd4
LANG_ARCHIVE=pulumi-language-python-v3.259.0.tar.gz
LANG_SHA256=e623e513acca1518c35b41d993bf1491e9217dc026b8465250642a2468ca1bf8

COMMAND_VERSION=1.2.1 # pulumi/pulumi-command tag v1.2.1 = 7f3eb6f3b77cd0fa3895ba437a695dd393f7dd25
COMMAND_ARCHIVE=pulumi-command-v1.2.1.tar.gz
COMMAND_SHA256=b73b66042c9ecdbea088ce8bb38accd1ff8214ffeb8db05a65e706e233b039a3

TLS_VERSION=5.6.2 # pulumi/pulumi-tls f7db93b22b29b3fbd12ddbdac228293fcb30db8b, built as 5.6.2
TLS_ARCHIVE=pulumi-tls-f7db93b.tar.gz
TLS_SHA256=7325d9b31e13bec3ae46b337fb1d2148eb27660fc3da7093501b4f6c93e0b414
# The shim's terraform-provider-tls pseudo-version is not served by the proxy; this one is.
TLS_UPSTREAM_TF=v1.2.1-0.20260819085117-d044ca7c6f52

# ---- build recipes (each function's text is part of its binary's cache key) --
# $1 = output dir, $2 = extracted archive (none for the CLI). Run in a subshell.
build_pulumi() {
  cd "$here"
  go mod download
  go build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
    -o "$1/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
}

build_language_python() {
  cd "$2/sdk/python/cmd/pulumi-language-python"
  # Its go.mod replaces pkg/v3 and sdk/v3 with in-repo paths; use the served releases.
  go mod edit -dropreplace github.com/pulumi/pulumi/pkg/v3 -dropreplace github.com/pulumi/pulumi/sdk/v3 \
    -require "github.com/pulumi/pulumi/pkg/v3@$LANG_VERSION" -require "github.com/pulumi/pulumi/sdk/v3@$LANG_VERSION"
  go mod tidy
  go build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$LANG_VERSION" \
    -o "$1/pulumi-language-python" .
  install -m 0755 ../pulumi-language-python-exec "$1/"
}

build_command() {
  cd "$2/provider"
  go build -ldflags "-s -w -X github.com/pulumi/pulumi-command/provider/pkg/version.Version=$COMMAND_VERSION" \
    -o "$1/pulumi-resource-command" ./cmd/pulumi-resource-command
}

build_tls() {
  cd "$2/provider"
  go mod edit -replace "github.com/hashicorp/terraform-provider-tls=github.com/hashicorp/terraform-provider-tls@$TLS_UPSTREAM_TF"
  go mod tidy
  # As the Makefile's schema target: tfgen writes schema.json, go generate embeds it with the version.
  go build -ldflags "-X github.com/pulumi/pulumi-tls/provider/v5/pkg/version.Version=$TLS_VERSION" \
    -o "$2/bin/pulumi-tfgen-tls" ./cmd/pulumi-tfgen-tls
  # PULUMI_CONVERT=0: the default 1 needs a pulumi CLI and a converter plugin.
  (cd "$2" && PULUMI_HOME="$2/.pulumi" PULUMI_CONVERT=0 PULUMI_MISSING_DOCS_ERROR=false \
    ./bin/pulumi-tfgen-tls schema --out provider/cmd/pulumi-resource-tls)
  VERSION="$TLS_VERSION" go generate cmd/pulumi-resource-tls/main.go
  go build -ldflags "-s -w -X github.com/pulumi/pulumi-tls/provider/v5/pkg/version.Version=$TLS_VERSION" \
    -o "$1/pulumi-resource-tls" ./cmd/pulumi-resource-tls
}

# ---- the system path (requirement: use an installed Pulumi, build nothing) --
has_plugin() { # plugin-ls-output name version
  printf '%s\n' "$1" | awk -v n="$2" -v v="$3" '$1 == n && $2 == "resource" && $3 == v {f = 1} END {exit !f}'
}

version_ok() { # $1 >= $2 ?
  [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]
}

why_not_system=""
system_dir=""
system_pulumi() { # sets system_dir, or why_not_system
  local sp real dir ver listed lacks
  if [[ "${KAFKA_TLS_SYSTEM_PULUMI:-}" == 0 ]]; then why_not_system="KAFKA_TLS_SYSTEM_PULUMI=0"; return 1; fi
  sp="$(command -v pulumi)" || { why_not_system="no pulumi on PATH"; return 1; }
  real="$(readlink -f "$sp")"
  dir="$(dirname "$real")"
  # A pulumi from this cache (env.sh already sourced) is not a system install.
  if [[ -d "$cache" && "$real" == "$(readlink -f "$cache")"/* ]]; then
    why_not_system="the pulumi on PATH is this cache's own"; return 1
  fi
  if [[ ! -x "$dir/pulumi-language-python" || ! -x "$dir/pulumi-language-python-exec" ]]; then
    why_not_system="$sp has no bundled pulumi-language-python beside it"; return 1
  fi
  ver="$(PULUMI_SKIP_UPDATE_CHECK=true "$sp" version 2>/dev/null | sed 's/^v//')" || ver=0
  if ! version_ok "${ver:-0}" "$MIN_SYSTEM_PULUMI"; then
    why_not_system="$sp is v${ver:-?}, need >= $MIN_SYSTEM_PULUMI"; return 1
  fi
  listed="$(PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true "$sp" plugin ls 2>/dev/null)" || listed=""
  lacks=""
  has_plugin "$listed" command "$COMMAND_VERSION" || lacks+=", command $COMMAND_VERSION"
  has_plugin "$listed" tls "$TLS_VERSION" || lacks+=", tls $TLS_VERSION"
  if [[ -n "$lacks" ]]; then
    why_not_system="\`$sp plugin ls\` (PULUMI_HOME=${PULUMI_HOME:-~/.pulumi}) does not show ${lacks#, }"
    return 1
  fi
  log "using the installed Pulumi v$ver at $real with its bundled language host and the plugins in PULUMI_HOME=${PULUMI_HOME:-~/.pulumi}; building nothing"
  system_dir="$dir"
}

if system_pulumi; then
  echo "$system_dir"
  exit 0
fi
log "not using a system pulumi: $why_not_system"

# ---- the build path ----------------------------------------------------------
[[ -n "$PULUMI_VERSION" ]] || { log "toolchain/go.mod requires no github.com/pulumi/pulumi/pkg/v3"; exit 1; }
sdk_version="$(awk '$1 == "github.com/pulumi/pulumi/sdk/v3" {print $2}' "$here/go.mod")"
[[ "$sdk_version" == "$PULUMI_VERSION" ]] || { log "go.mod pins pkg/v3 $PULUMI_VERSION but sdk/v3 $sdk_version; they must match"; exit 1; }

sha() { sha256sum | cut -c1-16; }

# name|version|archive|sha256|builder|binaries, one line per cache entry
parts=(
  "pulumi|$PULUMI_VERSION|||build_pulumi|pulumi"
  "pulumi-language-python|$LANG_VERSION|$LANG_ARCHIVE|$LANG_SHA256|build_language_python|pulumi-language-python pulumi-language-python-exec"
  "pulumi-resource-command|$COMMAND_VERSION|$COMMAND_ARCHIVE|$COMMAND_SHA256|build_command|pulumi-resource-command"
  "pulumi-resource-tls|$TLS_VERSION|$TLS_ARCHIVE|$TLS_SHA256|build_tls|pulumi-resource-tls"
)

part_key() { # name version sha256 builder: what decides the binary
  {
    printf '%s\n' "$1" "$2" "$3" "$GOFLAGS" "$CGO_ENABLED"
    declare -f "$4"
    case "$4" in
      build_pulumi) cat "$here/go.mod" "$here/go.sum" "$here/tools.go" ;;
      build_tls) echo "$TLS_UPSTREAM_TF" ;;
    esac
  } | sha
}

part_dir() { echo "$cache/parts/$1/$2-$(part_key "$1" "$2" "$4" "$5")"; }

complete() { # dir binaries...
  local d=$1 f; shift
  for f in "$@"; do [[ -x "$d/$f" ]] || return 1; done
}

# Before building anything: archives must match their pins, and whatever
# cannot be built is said in one message.
missing=()
for p in "${parts[@]}"; do
  IFS='|' read -r name ver archive sum builder files <<<"$p"
  # shellcheck disable=SC2086
  complete "$(part_dir "$name" "$ver" "$archive" "$sum" "$builder")" $files && continue
  [[ -z "$archive" ]] && continue
  if [[ -f "$upstream/$archive" ]]; then
    # Refuse a changed archive before building anything.
    got="$(sha256sum "$upstream/$archive" | cut -d' ' -f1)"
    if [[ "$got" != "$sum" ]]; then
      log "$upstream/$archive: sha256 $got, expected $sum (pinned in toolchain/build.sh); refusing to build $name from it"
      exit 1
    fi
    continue
  fi
  case "$name" in
    pulumi-language-python) missing+=("$upstream/$archive (for the Python language host $LANG_VERSION)") ;;
    *) missing+=("$upstream/$archive (for the resource plugin ${name#pulumi-resource-} $ver)") ;;
  esac
done
if ((${#missing[@]})); then
  {
    echo "toolchain: cannot provide the Pulumi plugins. Missing:"
    [[ -d "$upstream" ]] || echo "  the upstream dir $upstream itself (KAFKA_TLS_UPSTREAM), so:"
    printf '  %s\n' "${missing[@]}"
    echo "and no usable installed Pulumi ($why_not_system). Either:"
    echo "  (a) put the archives into $upstream, or set KAFKA_TLS_UPSTREAM to the directory that holds them"
    echo "      (the archive set is described in its README.md); or"
    echo "  (b) install Pulumi >= $MIN_SYSTEM_PULUMI (with its bundled pulumi-language-python) on PATH and the plugins:"
    echo "      with internet: pulumi plugin install resource command $COMMAND_VERSION"
    echo "                     pulumi plugin install resource tls $TLS_VERSION"
    echo "      air-gapped:    pulumi plugin install resource command $COMMAND_VERSION --file <pulumi-resource-command binary>"
    echo "                     pulumi plugin install resource tls $TLS_VERSION --file <pulumi-resource-tls binary>"
  } >&2
  exit 1
fi

tmps=()
building=""
beat=""
cleanup() {
  local rc=$? d
  [[ -z "$beat" ]] || kill "$beat" 2>/dev/null || true
  [[ $rc -eq 0 || -z "$building" ]] || log "$building: build failed (exit $rc)"
  for d in "${tmps[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT

command -v go >/dev/null || need_go=1
# A Go build prints nothing for minutes: say which binary is building and for how long.
heartbeat() {
  while sleep 30; do log "$1: still building ($(($(date +%s) - $2))s so far)"; done
}
dirs=()
n=0
for p in "${parts[@]}"; do
  IFS='|' read -r name ver archive sum builder files <<<"$p"
  n=$((n + 1))
  dir="$(part_dir "$name" "$ver" "$archive" "$sum" "$builder")"
  dirs+=("$dir")
  # shellcheck disable=SC2086
  if complete "$dir" $files; then
    log "$name $ver: cached in $dir"
    continue
  fi
  [[ -z "${need_go:-}" ]] || { log "go not found on PATH; it is needed to build $name"; exit 1; }
  t=$(date +%s)
  log "$name $ver ($n of ${#parts[@]}): building into $dir ($(go env GOVERSION))"
  mkdir -p "$cache/parts/$name"
  # Build next to the entry and rename it into place: no half entry on interrupt.
  tmp="$(mktemp -d "$cache/parts/$name/.tmp.XXXXXX")"
  tmps+=("$tmp")
  mkdir "$tmp/out"
  if [[ -n "$archive" ]]; then
    mkdir "$tmp/src"
    tar -xzf "$upstream/$archive" -C "$tmp/src" --strip-components=1
  fi
  # Not under `||`/`if`: that would switch off `set -e` inside the recipe.
  building="$name $ver"
  heartbeat "$building" "$t" &
  beat=$!
  ("$builder" "$tmp/out" "$tmp/src") >&2
  kill "$beat" 2>/dev/null || true
  beat="" building=""
  # shellcheck disable=SC2086
  complete "$tmp/out" $files || { log "$name $ver: build did not produce $files"; exit 1; }
  mv -T "$tmp/out" "$dir"
  rm -rf "$tmp" # the extracted sources
  log "$name $ver: built in $(($(date +%s) - t))s ($(du -sh "$dir" | cut -f1))"
done

# <root>/bin (what goes on PATH): pulumi with its language host beside it, as
# a regular install. <root>/plugins: the providers, used only through their
# registration in PULUMI_HOME; on PATH the engine would take them as ambient
# plugins, bypass PULUMI_HOME and warn "using pulumi-resource-tls from $PATH".
# Hard links (same file system), not symlinks: pulumi looks for its bundled
# language host beside its resolved path and warns when PATH's differs.
root="$cache/toolchain/$(printf '%s\n' bin+plugins "${dirs[@]}" | sha)"
bin="$root/bin"
if [[ ! -d "$root" ]]; then
  mkdir -p "$cache/toolchain"
  tmp="$(mktemp -d "$cache/toolchain/.tmp.XXXXXX")"
  tmps+=("$tmp")
  chmod 755 "$tmp"
  mkdir "$tmp/bin" "$tmp/plugins"
  for d in "${dirs[@]}"; do
    for f in "$d"/*; do
      case "${f##*/}" in pulumi-resource-*) to="$tmp/plugins" ;; *) to="$tmp/bin" ;; esac
      ln "$f" "$to/" 2>/dev/null || cp -p "$f" "$to/"
    done
  done
  mv -T "$tmp" "$root"
  log "toolchain assembled: $root/{bin,plugins}"
fi

# Register the providers in the project's own PULUMI_HOME, again whenever the
# registered binary is not the one built.
home="$cache/pulumi-home"
mkdir -p "$home"
for pv in "command $COMMAND_VERSION" "tls $TLS_VERSION"; do
  read -r name ver <<<"$pv"
  file="$root/plugins/pulumi-resource-$name"
  plugin="$home/plugins/resource-$name-v$ver"
  if [[ ! -e "$plugin.partial" ]] && cmp -s "$plugin/pulumi-resource-$name" "$file"; then
    log "resource plugin $name $ver: registered in $home"
    continue
  fi
  log "resource plugin $name $ver: registering $file in $home"
  PULUMI_HOME="$home" PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true \
    "$bin/pulumi" plugin install resource "$name" "$ver" --file "$file" --reinstall >&2
  cmp -s "$plugin/pulumi-resource-$name" "$file" \
    || { log "resource plugin $name $ver: $plugin does not hold the built binary after install"; exit 1; }
done

log "done: $bin"
echo "$bin"
