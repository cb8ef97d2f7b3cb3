#!/usr/bin/env bash
# Builds the kafka-tls Pulumi toolchain from Go modules into a cache directory
# keyed by the pinned inputs, and prints that bin directory as the last line of
# stdout. Idempotent: a complete bin directory is reused and nothing is built.
#
#   toolchain/build.sh            # build (or reuse) and print the bin dir
#   KAFKA_TLS_CACHE=/some/dir     # cache root (default ~/.cache/kafka-tls)
#   KAFKA_TLS_SYSTEM_PULUMI=1     # reuse a `pulumi` >= 3.272 found on PATH
#                                 # (its bundled pulumi-language-python too)
#
# Progress goes to stderr. See toolchain/README.md for what is pinned.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

# The pinned modules need go >= 1.26 (pulumi pkg/v3 v3.274.1 says go 1.26.6).
# Should a pin ever need Go 1.27, uncomment: export GOTOOLCHAIN=go1.27.3
export GOFLAGS=-mod=mod
export CGO_ENABLED=0

MIN_PULUMI=3.272.0
t_start=$(date +%s)
log() { printf '[toolchain %3ss] %s\n' "$(($(date +%s) - t_start))" "$*" >&2; }

# Inputs that decide what gets built: the module pins, this script, and the
# sources of the language host that lives in this folder.
key="$(cat go.mod go.sum build.sh cmd/pulumi-language-python/*.go | sha256sum | cut -c1-16)"
cache_root="${KAFKA_TLS_CACHE:-$HOME/.cache/kafka-tls}"
bin="$cache_root/toolchain/$key/bin"

# What a complete bin dir holds. The two resource providers are wanted too, but
# cannot be built here yet (see README "Providers"); they are installed when
# present and reported when absent.
engine_files=(pulumi pulumi-language-python pulumi-language-python-exec pulumi-resource-pulumi-python)
provider_files=(pulumi-resource-command pulumi-resource-tls)

complete() {
  local f
  for f in "${engine_files[@]}"; do [[ -x "$1/$f" ]] || return 1; done
}

report_providers() {
  local f
  for f in "${provider_files[@]}"; do
    if [[ ! -x "$bin/$f" ]]; then
      log "WARNING: $f not built: its Go module is not served by the reachable Go module proxy (README: Providers)"
    fi
  done
}

if complete "$bin"; then
  log "up to date, nothing to build: $bin"
  report_providers
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { log "go not found on PATH"; exit 1; }
log "building into $bin ($(go version | cut -d' ' -f3))"
mkdir -p "$cache_root/toolchain/$key"
work="$(mktemp -d "$cache_root/toolchain/$key/bin.tmp.XXXXXX")"
trap 'rm -rf "$work"' EXIT

pulumi_version="$(go list -m -f '{{.Version}}' github.com/pulumi/pulumi/pkg/v3)"
sdk_version="$(go list -m -f '{{.Version}}' github.com/pulumi/pulumi/sdk/v3)"
if [[ "$pulumi_version" != "$sdk_version" ]]; then
  log "go.mod pins pkg/v3 $pulumi_version but sdk/v3 $sdk_version; they must match"
  exit 1
fi

version_ok() { # $1 >= $2 ?
  [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]
}

system_pulumi=""
if [[ "${KAFKA_TLS_SYSTEM_PULUMI:-}" == 1 ]] && command -v pulumi >/dev/null; then
  sp="$(command -v pulumi)"
  sv="$("$sp" version 2>/dev/null | sed 's/^v//')"
  sdir="$(dirname "$(readlink -f "$sp")")"
  if [[ "$sp" != "$bin/pulumi" ]] && version_ok "${sv:-0}" "$MIN_PULUMI" \
     && [[ -x "$sdir/pulumi-language-python" && -x "$sdir/pulumi-language-python-exec" ]]; then
    system_pulumi="$sp"
    log "reusing system pulumi v$sv at $sp (and its bundled Python language host)"
    for f in pulumi pulumi-language-python pulumi-language-python-exec pulumi-resource-pulumi-python; do
      [[ -e "$sdir/$f" ]] && ln -s "$sdir/$f" "$work/$f"
    done
  else
    log "system pulumi not usable (need >= $MIN_PULUMI with its language host beside it); building"
  fi
fi

log "downloading modules (cached in $(go env GOMODCACHE))"
t=$(date +%s)
go mod download
log "modules ready in $(($(date +%s) - t))s"

if [[ -z "$system_pulumi" ]]; then
  t=$(date +%s)
  log "building pulumi $pulumi_version (CLI, several minutes on 2 cores)"
  go build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$pulumi_version" \
    -o "$work/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  log "pulumi built in $(($(date +%s) - t))s"

  t=$(date +%s)
  log "building pulumi-language-python (own host, ./cmd/pulumi-language-python)"
  go build -trimpath -tags osusergo,grpcnotrace -o "$work/pulumi-language-python" ./cmd/pulumi-language-python
  log "pulumi-language-python built in $(($(date +%s) - t))s"

  sdk_dir="$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
  install -m 0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$work/"
  install -m 0755 "$sdk_dir/python/dist/pulumi-resource-pulumi-python" "$work/"
  log "copied pulumi-language-python-exec and pulumi-resource-pulumi-python from sdk/v3 $sdk_version"
fi

complete "$work" || { log "build incomplete in $work"; exit 1; }
rm -rf "$bin"
mv "$work" "$bin"
trap - EXIT
log "done: $(du -sh "$bin" | cut -f1) in $bin"
report_providers
echo "$bin"
