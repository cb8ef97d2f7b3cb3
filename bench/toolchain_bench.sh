#!/usr/bin/env bash
# Toolchain build times per binary: once into an empty cache (cold for our cache; Go's module
# and build caches as they are, or empty too with --empty-go-caches), then again (warm).
#
#   bench/toolchain_bench.sh [--empty-go-caches]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
scratch="$(mktemp -d /tmp/kafka-tls-toolchain-bench.XXXXXX)"
trap 'chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch"' EXIT
export KAFKA_TLS_CACHE="$scratch/cache"
if [[ "${1:-}" == --empty-go-caches ]]; then
  export GOCACHE="$scratch/gocache" GOMODCACHE="$scratch/gomodcache"
fi
for run in cold warm; do
  start=$(date +%s)
  "$here/toolchain/build.sh" 2> "$scratch/$run.log" >/dev/null
  echo "== $run: $(($(date +%s) - start)) s in all"
  grep -E "built in|up to date|cached|reusing" "$scratch/$run.log" || true
done
